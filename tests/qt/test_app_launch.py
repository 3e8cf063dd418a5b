"""The app as launched: `chorus chorus://...` handed to a running instance, co-editing with a
headless `chorus serve` process, and the no-display error."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys

import pytest

from editor.qt.application import display_problem, open_arguments, start_node
from editor.qt.single_instance import SingleInstance
from editor.runtime.events import SyncStatus
from editor.runtime.node import NodeConfig
from tests.e2e.peers import REPO, ServeProcess, child_environment, read_text
from tests.qt.collab_helpers import converged, peers, run_on_qt_loop, shown, until
from tests.qt.helpers import type_text


def _run_blocking(*args, **kwargs):
    """subprocess.run off the event loop's thread, so the loop keeps serving sockets."""
    return asyncio.get_running_loop().run_in_executor(None, lambda: subprocess.run(*args, **kwargs))


def test_a_link_given_to_a_second_launch_opens_in_the_running_window(qtbot, tmp_path):
    server_name = str(tmp_path / "chorus.socket")

    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            tab_a = alice.window.new_document()
            tab_a.binding.set_text("handed over 📎")
            link = alice.collaboration.copy_link(tab_a)
            instance = SingleInstance(server_name)
            assert instance.listen()
            instance.arguments_received.connect(
                lambda arguments: open_arguments(bob.window, bob.collaboration, arguments))
            try:
                env = child_environment() | {"XDG_RUNTIME_DIR": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
                launched = await _run_blocking([sys.executable, "-m", "editor", link], cwd=REPO, env=env,
                                               capture_output=True, text=True, timeout=60)
                assert launched.returncode == 0, launched.stderr
                assert "running Chorus window" in launched.stderr
                await until(lambda: any(t.document.doc_id == tab_a.document.doc_id for t in bob.window.tab_list()),
                            "the running window to join the linked document")
                await converged(tab_a, bob.tab(tab_a.document.doc_id), expected="handed over 📎")
            finally:
                instance.close()

    run_on_qt_loop(scenario)


@pytest.mark.slow
def test_window_co_edits_with_a_headless_serve_process(qtbot, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    notes = shared / "notes.txt"
    notes.write_text("served text\n", encoding="utf-8")
    server = ServeProcess(["--listen", "127.0.0.1:0", str(notes)], name="headless", cwd=tmp_path).start()

    async def scenario():
        async with peers(tmp_path, "alice") as (alice,):
            alice.collaboration.connect_to("127.0.0.1", server.port)
            await until(lambda: server.peer_id in alice.node.peer_documents, "the served documents")
            remote = alice.node.find_remote_document(server.peer_id, "notes.txt")
            tab = alice.collaboration.join(server.peer_id, remote)
            entry = alice.node.documents[remote.doc_id]
            await until(lambda: entry.sync_status is SyncStatus.SYNCED, "the join")
            await until(lambda: shown(tab) == "served text\n", "the served text in the window")
            tab.editor.moveCursor(tab.editor.textCursor().MoveOperation.End)
            type_text(tab.editor, "typed in the window 😀\n")
            await until(lambda: read_text(notes) == "served text\ntyped in the window 😀\n",
                        "the headless peer to write the window's typing to its file", timeout=15)
            edited = await _run_blocking(
                [sys.executable, "-m", "editor", "edit", f"127.0.0.1:{server.port}", "notes.txt",
                 "--append", "from the cli 中\n"],
                cwd=REPO, env=child_environment(), capture_output=True, text=True, timeout=60)
            assert edited.returncode == 0, edited.stderr
            await until(lambda: shown(tab).endswith("from the cli 中\n"), "the cli's edit in the window")
            assert tab.binding.mismatch() is None

    try:
        run_on_qt_loop(scenario)
    finally:
        assert server.stop() == 0, server.log()


def test_the_network_panel_shows_peers_found_on_the_lan(qtbot, tmp_path):
    """No address given: a headless peer advertising on loopback appears in the window's
    Network panel with its document, and is gone from it once it stops (it said goodbye on
    mDNS and closed its link: nothing is left to show)."""
    notes = tmp_path / "found.txt"
    notes.write_text("found by mDNS\n", encoding="utf-8")
    server = ServeProcess(["--listen", "127.0.0.1:0", "--interface", "lo", str(notes)],
                          name="advertiser", cwd=tmp_path, discovery=True).start()

    def panel(window) -> dict[str, tuple[str, list[str]]]:
        """Network panel rows: peer name -> (state, document titles)."""
        tree = window.network_panel.tree
        rows = {}
        for i in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(i)
            rows[item.text(0)] = (item.text(1), [item.child(j).text(0) for j in range(item.childCount())])
        return rows

    async def scenario():
        async with peers(tmp_path, "alice", discovery_on=("lo",)) as (alice,):
            await until(lambda: "found.txt" in panel(alice.window).get("advertiser", ("", []))[1],
                        "the advertised peer and its document in the Network panel", timeout=15)
            server.stop()
            await until(lambda: "advertiser" not in panel(alice.window),
                        "the peer to leave the panel", timeout=15)

    try:
        run_on_qt_loop(scenario)
    finally:
        server.stop()


def test_the_app_listens_on_a_free_port_when_its_port_is_taken(qtbot):
    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            first, note = await start_node(NodeConfig(name="first", listen_host="127.0.0.1", listen_port=0), stack)
            assert note is None
            second, note = await start_node(
                NodeConfig(name="second", listen_host="127.0.0.1", listen_port=first.port), stack)
            assert second.port != first.port
            assert note is not None and str(first.port) in note and str(second.port) in note

    run_on_qt_loop(scenario)


def test_no_display_is_a_clear_one_line_error_not_an_abort(tmp_path):
    env = {k: v for k, v in child_environment().items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "editor"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chorus: cannot open a window: no display")
    assert "chorus serve" in lines[0]


def test_display_problem_reads_the_environment():
    assert display_problem({}, platform="linux") is not None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, platform="linux") is None
    assert display_problem({}, platform="darwin") is None
    if os.path.exists("/usr/lib/x86_64-linux-gnu/libxcb-cursor.so.0"):
        assert display_problem({"DISPLAY": ":99"}, platform="linux") is None
