"""`chorus --self-test`: two in-process peers over loopback TCP co-edit and must converge.

It exercises the real stack the installed program ships with: pycrdt, rsocket over TCP, the
runtime, and, when Qt can start (offscreen is enough), the editor widgets and their binding,
typing into one window and watching the text appear in the other.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

SELF_TEST_TIMEOUT = 20.0
SAMPLE = "Hello from Chorus 😀 中文\n"


async def _converge_nodes(report) -> None:
    from editor.core.document import SharedDocument
    from editor.runtime.events import SyncStatus
    from editor.runtime.node import Node, NodeConfig

    loopback = {"listen_host": "127.0.0.1", "listen_port": 0}
    async with Node(NodeConfig(name="self-test A", **loopback)) as alice, \
            Node(NodeConfig(name="self-test B", **loopback)) as bob:
        report(f"peer A listening on 127.0.0.1:{alice.port}")
        document = SharedDocument("selftest")
        alice.add_document(document, "self-test.txt", shared=True)
        document.insert(0, SAMPLE)
        link = await bob.dial("127.0.0.1", alice.port)
        report(f"peer B connected to {link.peer.name}")
        await bob.wait_until(lambda: alice.peer_id in bob.peer_documents, SELF_TEST_TIMEOUT)
        joined = bob.join(alice.peer_id, bob.find_remote_document(alice.peer_id, "self-test.txt"))
        await bob.wait_until(lambda: joined.sync_status == SyncStatus.SYNCED, SELF_TEST_TIMEOUT)
        # Concurrent edits at both ends, then both must hold the same text.
        document.insert(0, "A> ")
        joined.document.insert(len(joined.document), "B> 👍🏽\n")
        expected = "A> " + SAMPLE + "B> 👍🏽\n"
        await bob.wait_until(
            lambda: document.text == joined.document.text == expected, SELF_TEST_TIMEOUT)
        report(f"converged on {len(expected)} characters over TCP")


def _qt_round_trip(report) -> None:
    """Type into one editor widget; the bound document of the other widget must follow."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from editor.qt.selftest import widgets_converge

    widgets_converge(report, SAMPLE)


def run_self_test() -> int:
    started = time.monotonic()

    def report(message: str) -> None:
        print(f"self-test: {message}", flush=True)

    try:
        asyncio.run(asyncio.wait_for(_converge_nodes(report), SELF_TEST_TIMEOUT))
        _qt_round_trip(report)
    except Exception as error:  # the self-test's whole job is to turn any failure into a verdict
        print(f"self-test: FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1
    report(f"passed in {time.monotonic() - started:.2f} s")
    return 0
