"""Headless helper peers for the benchmarks, one role per process.

Run as `python bench/peer.py ROLE ...`. A role talks to the benchmark that started it through
lines: it writes `WORD values...` lines on stdout (`ready PORT PEER_ID`, `done T`, `result
{json}`) and reads commands on stdin. Times are `time.monotonic()`, which on Linux is one
system-wide clock, so a time stamped here compares with one stamped in the parent.
Loopback only: every role listens on or dials 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from editor.core.document import SharedDocument, TextInserted  # noqa: E402
from editor.protocol import Link, LinkSettings, silence_rsocket_logs  # noqa: E402
from editor.runtime.documents import ChannelSync, HeldDocument  # noqa: E402
from editor.runtime.events import NodeEvent, ParticipantsChanged, SyncStatus  # noqa: E402
from editor.runtime.node import Node, NodeConfig  # noqa: E402

from benchlib import load_trace, rss_bytes  # noqa: E402

LOOPBACK = "127.0.0.1"
JOIN_TIMEOUT = 60.0
ECHO_TRIGGER, ECHO_ANSWER = "p", "a"


def say(word: str, *values: object) -> None:
    """One line to the parent benchmark."""
    print(word, *values, flush=True)


async def stdin_lines() -> asyncio.StreamReader:
    """Commands from the parent, readable without blocking the loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def next_command(reader: asyncio.StreamReader) -> list[str]:
    """The next command's words; ["quit"] at end of input (the parent went away)."""
    line = await reader.readline()
    return line.decode().split() or ["quit"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def linked(node: Node, port: int) -> Link:
    """Dial the peer at loopback `port` once and wait for its document list."""
    link = await node.dial(LOOPBACK, port)
    await node.wait_until(lambda: link.peer.peer_id in node.peer_documents, JOIN_TIMEOUT)
    return link


async def join_title(node: Node, link: Link, title: str) -> HeldDocument:
    """Join the linked peer's document `title` and wait until it is synced."""
    entry = node.join(link.peer.peer_id, node.find_remote_document(link.peer.peer_id, title))
    await node.wait_until(lambda: entry.sync_status is SyncStatus.SYNCED, JOIN_TIMEOUT)
    return entry


async def joined(node: Node, port: int, title: str) -> HeldDocument:
    """Dial the peer at loopback `port`, join its document `title`, wait until synced.
    (Dialing a peer that is already linked replaces the link: join more through `join_title`.)"""
    return await join_title(node, await linked(node, port), title)


# ---------------------------------------------------------------------------- hold


async def hold(args: argparse.Namespace) -> None:
    """Share one document (empty, or loaded from `--state`), answer `--echo`, report `--expect`."""
    document = SharedDocument(args.doc)
    if args.state is not None:
        document.apply_update(args.state.read_bytes(), "state file")
    expected = args.expect.read_text(encoding="utf-8") if args.expect is not None else None

    def on_changes(changes: list[Any], origin: object) -> None:
        if args.echo and any(isinstance(c, TextInserted) and ECHO_TRIGGER in c.text for c in changes):
            # The acknowledgement keystroke: typed as soon as the trigger is seen.
            document.insert(len(document), ECHO_ANSWER)
        if expected is not None and len(document) == len(expected) and document.text == expected:
            say("done", repr(time.monotonic()))

    document.subscribe_changes(on_changes)
    commands = await stdin_lines()
    settings = LinkSettings(fragment_size=args.fragment_size) if args.fragment_size else None
    async with Node(NodeConfig(name="bench-holder", listen_host=LOOPBACK, listen_port=0,
                               link_settings=settings)) as node:
        node.add_document(document, args.doc, shared=True)
        say("ready", node.port, node.peer_id)
        while (await next_command(commands))[0] != "quit":
            pass


# ---------------------------------------------------------------------------- idle clients


async def idle_clients(args: argparse.Namespace) -> None:
    """Many idle peers in this one process, each its own Node with one link and one channel.
    `add N` connects N more and answers `added TOTAL`; `quit` leaves."""
    commands = await stdin_lines()
    nodes: list[Node] = []
    try:
        while True:
            words = await next_command(commands)
            if words[0] == "quit":
                break
            if words[0] == "add":
                for _ in range(int(words[1])):
                    node = Node(NodeConfig(name=f"idle-{len(nodes)}", listen_host=None))
                    await node.__aenter__()
                    nodes.append(node)
                    await joined(node, args.port, args.doc)
                say("added", len(nodes))
    finally:
        for node in reversed(nodes):
            await node.__aexit__(None, None, None)


# ---------------------------------------------------------------------------- raw TCP baseline


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def tcp_echo(args: argparse.Namespace) -> None:
    """A bare asyncio TCP echo server: the floor of what one idle Python connection costs."""
    commands = await stdin_lines()
    server = await asyncio.get_running_loop().create_server(_Echo, LOOPBACK, 0)
    async with server:
        say("ready", server.sockets[0].getsockname()[1], "-")
        while (await next_command(commands))[0] != "quit":
            pass


# ---------------------------------------------------------------------------- stalled receiver


STALLED_DOC, SIDE_DOC = "stalled.txt", "side.txt"


async def stall_sender(args: argparse.Namespace) -> None:
    """Type `--rate` edits/s into STALLED_DOC for `--seconds` (the trace's patches, then typing
    on at the last caret),
    one keystroke per `--side-interval` into SIDE_DOC and a presence update per
    `--presence-interval`; sample this process's RSS; print `result {json}`."""
    trace = load_trace(Path(args.traces))
    commands = await stdin_lines()
    stalled = SharedDocument(STALLED_DOC)
    side = SharedDocument(SIDE_DOC)
    async with Node(NodeConfig(name="bench-sender", listen_host=LOOPBACK, listen_port=0)) as node:
        stalled_entry = node.add_document(stalled, STALLED_DOC, shared=True)
        side_entry = node.add_document(side, SIDE_DOC, shared=True)
        say("ready", node.port, node.peer_id)
        if args.peers:
            await node.wait_until(lambda: all(e.sync_status is SyncStatus.SYNCED and len(e.channels) == args.peers
                                              for e in (stalled_entry, side_entry)), JOIN_TIMEOUT)
        say("synced")
        await _await_command(commands, "go")
        gc.collect()
        loop = asyncio.get_running_loop()
        rss_before = rss_bytes()
        samples: list[tuple[float, int]] = []
        side_sent: list[float] = []
        typed = 0
        caret = 0
        start = loop.time()
        end = start + args.seconds
        next_sample = next_side = next_presence = start
        while (now := loop.time()) < end:
            due = min(int((now - start) * args.rate), typed + args.rate // 100)
            while typed < due:
                if typed < len(trace.patches):
                    position, deleted, inserted = trace.patches[typed]
                    stalled.replace(position, deleted, inserted)
                    caret = position + len(inserted)
                else:
                    # Past the trace the typist goes on where they were, as a person does.
                    # (Appending at the very end of this fragmented document is bounded by
                    # pycrdt itself: about 4,000 inserts/s, measured.)
                    stalled.insert(caret, "x")
                    caret += 1
                typed += 1
            if now >= next_side:
                side.insert(len(side), "s")
                side_sent.append(time.monotonic())
                next_side += args.side_interval
            if now >= next_presence:
                # Not at the very end: that anchor is the same whatever the text, so an
                # unchanged state would not count as news at the receiver.
                position = max(0, min(caret, len(stalled) - 1))
                node.set_local_cursor(STALLED_DOC, position, position)
                next_presence += args.presence_interval
            if now >= next_sample:
                samples.append((now - start, rss_bytes()))
                next_sample += 0.25
            # Pace to the rate; the pause also lets the network and the flushes run.
            await asyncio.sleep(0.001 if typed >= int((loop.time() - start) * args.rate) else 0)
        elapsed = loop.time() - start
        samples.append((elapsed, rss_bytes()))
        channels = [sync.session for sync in stalled_entry.channels.values()]
        say("result", json.dumps({
            "typed": typed, "elapsed": elapsed, "rss_before": rss_before,
            "rss_samples": samples, "encoded_size": len(stalled.encode_state()),
            "stalled_sha": sha(stalled.text), "side_sha": sha(side.text),
            "side_sent": side_sent, "stalled_length": len(stalled),
            "session_dirty": [session.dirty for session in channels],
            "channel_credit": [sync.channel.credit for sync in stalled_entry.channels.values()
                               if sync.channel is not None],
        }))
        await _await_command(commands, "quit")


async def stall_receiver(args: argparse.Namespace) -> None:
    """Join both documents, then stop handing STALLED_DOC's messages to the application (the
    endpoint's `message_received` never returns until `release`), so its sender runs out of
    credit. Records when each SIDE_DOC keystroke and each presence update arrived."""
    commands = await stdin_lines()
    async with Node(NodeConfig(name="bench-receiver", listen_host=None)) as node:
        link = await linked(node, args.port)
        stalled_entry = await join_title(node, link, STALLED_DOC)
        side_entry = await join_title(node, link, SIDE_DOC)
        release = asyncio.Event()
        held = {"messages": 0}
        deliver = ChannelSync.message_received

        def stalled_delivery(sync: ChannelSync, data: bytes) -> Awaitable[None] | None:
            if sync.entry is not stalled_entry or release.is_set():
                return deliver(sync, data)
            held["messages"] += 1

            async def after_release() -> None:
                await release.wait()
                deliver(sync, data)

            return after_release()

        # Patched on the class, in this helper process only: the runtime may replace the
        # document's channel (and its endpoint) after the join, and the stall must hold for
        # whichever channel carries the document. The protocol awaits a delivery that does not
        # finish, and grants no more credit meanwhile.
        ChannelSync.message_received = stalled_delivery  # type: ignore[method-assign]
        side_arrivals: list[tuple[int, float]] = []
        presence_arrivals: list[float] = []
        side_entry.document.subscribe_changes(
            lambda changes, origin: side_arrivals.append((len(side_entry.document), time.monotonic())))

        def on_event(event: NodeEvent) -> None:
            if isinstance(event, ParticipantsChanged) and event.doc_id == STALLED_DOC:
                presence_arrivals.append(time.monotonic())

        node.subscribe(on_event)
        say("stalled")
        while True:
            words = await next_command(commands)
            if words[0] == "quit":
                break
            if words[0] == "report":
                say("report", json.dumps({
                    "stalled_length": len(stalled_entry.document), "held_messages": held["messages"],
                    "side_arrivals": side_arrivals, "presence_arrivals": presence_arrivals,
                    "side_sha": sha(side_entry.document.text)}))
            elif words[0] == "release":
                wanted = words[1]
                released_at = time.monotonic()
                release.set()
                await node.wait_until(lambda: sha(stalled_entry.document.text) == wanted, JOIN_TIMEOUT)
                say("caught_up", repr(time.monotonic() - released_at))


async def _await_command(commands: asyncio.StreamReader, wanted: str) -> None:
    while (words := await next_command(commands))[0] != wanted:
        if words[0] == "quit":
            raise SystemExit(0)


# ---------------------------------------------------------------------------- main

ROLES: dict[str, Callable[[argparse.Namespace], Awaitable[None]]] = {
    "hold": hold, "idle-clients": idle_clients, "tcp-echo": tcp_echo,
    "stall-sender": stall_sender, "stall-receiver": stall_receiver,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("--doc", default="bench.txt", help="document id and title")
    parser.add_argument("--state", type=Path, help="hold: load this encoded CRDT state")
    parser.add_argument("--expect", type=Path, help="hold: print `done T` once the text equals this file")
    parser.add_argument("--echo", action="store_true", help="hold: answer every remote 'p' with an 'a'")
    parser.add_argument("--fragment-size", type=int, default=None,
                        help="hold: fragment outgoing frames at this size instead of 64 KiB")
    parser.add_argument("--verbose", action="store_true", help="log the runtime's INFO records")
    parser.add_argument("--port", type=int, help="the peer to dial on 127.0.0.1")
    parser.add_argument("--traces", help="stall-sender: editing traces folder")
    parser.add_argument("--peers", type=int, default=0, help="stall-sender: wait for this many peers")
    parser.add_argument("--rate", type=int, default=10_000, help="stall-sender: edits per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--side-interval", type=float, default=0.1)
    parser.add_argument("--presence-interval", type=float, default=0.05)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format=f"{args.role} %(levelname)s %(name)s: %(message)s")
    silence_rsocket_logs()
    asyncio.run(ROLES[args.role](args))


if __name__ == "__main__":
    main()
