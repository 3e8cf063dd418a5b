"""Unsaved work kept while the window runs and offered back at the next start."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QTextCursor

from editor.qt.main_window import MainWindow, UnsavedChoice
from editor.qt.recovery import RecoveryKeeper, RestoreChoice, restore_unsaved_work
from editor.runtime.recovery import RecoverySession, claim_orphaned_sessions
from editor.runtime.events import SyncStatus
from tests.qt.collab_helpers import converged, peers, run_on_qt_loop, share_and_join, until
from tests.qt.helpers import type_text


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    def make() -> MainWindow:
        window = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        monkeypatch.setattr(window, "ask_unsaved", lambda tabs: UnsavedChoice.DISCARD)
        return window

    return make


@pytest.fixture
def ended_app(make_window):
    """A window with its recovery keeper, edited by `work`, then ended as SIGTERM ends the app:
    its unsaved documents stay in the recovery folder `root` for the next start."""

    def run(root, work) -> None:
        window = make_window()
        keeper = RecoveryKeeper(window, RecoverySession(root))
        work(window)
        window.close_without_asking()
        keeper.finish(keep=True)

    return run


def kept_texts(session: RecoverySession) -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in session.folder.glob("*.json")}


def claimed_documents(root):
    sessions = claim_orphaned_sessions(root)
    documents = [d for s in sessions for d in s.documents()]
    for session in sessions:
        session.release()
    return documents


def test_unsaved_tabs_are_kept_a_moment_after_each_change_and_forgotten_once_saved(make_window, qtbot, tmp_path):
    window = make_window()
    session = RecoverySession(tmp_path / "recovery")
    keeper = RecoveryKeeper(window, session)
    path = tmp_path / "notes.txt"
    path.write_text("on disk\n", encoding="utf-8")
    tab = window.open_file(path)
    untitled = window.new_document()
    qtbot.waitUntil(lambda: True)
    assert session.keys() == set()  # nothing unsaved yet
    type_text(tab.editor, "typed 😀 ")
    type_text(untitled.editor, "scratch 中文")
    qtbot.waitUntil(lambda: len(session.keys()) == 2, timeout=5000)
    texts = list(kept_texts(session).values())
    assert any('"text": "typed 😀 on disk\\n"' in t and '"base": "on disk\\n"' in t for t in texts)
    assert any('"text": "scratch 中文"' in t and '"path": null' in t for t in texts)
    assert window.save(tab)
    qtbot.waitUntil(lambda: len(session.keys()) == 1, timeout=5000)  # the saved file is forgotten
    assert window.close_tab(untitled)  # (the fixture discards) closing forgets it at once
    assert session.keys() == set()
    keeper.finish(keep=False)
    assert not session.folder.exists()


def test_a_kill_keeps_everything_unsaved_and_the_next_start_restores_it(make_window, ended_app, tmp_path):
    root = tmp_path / "recovery"
    path = tmp_path / "notes.txt"
    path.write_text("line one\nline two\n", encoding="utf-8")

    def work(first: MainWindow) -> None:
        type_text(first.open_file(path).editor, "mine ")
        type_text(first.new_document().editor, "never saved")

    ended_app(root, work)  # as on SIGTERM: no question
    assert len(claimed_documents(root)) == 2

    # Another program saves the file before the next start: both changes are kept.
    path.write_text("line one\nline two\ntheirs\n", encoding="utf-8")
    second = make_window()
    second.new_document()  # the empty tab a start opens
    asked = []

    def answer(_window, documents):
        asked.append(sorted(d.title for d in documents))
        return RestoreChoice.RESTORE

    sessions = claim_orphaned_sessions(root)
    restored = restore_unsaved_work(second, sessions, ask=answer)
    assert asked == [["Untitled", "notes.txt"]]
    by_title = {t.title: t for t in restored}
    assert by_title["notes.txt"].document.text == "mine line one\nline two\ntheirs\n"
    assert by_title["notes.txt"].modified and by_title["notes.txt"].path == path
    assert by_title["Untitled"].document.text == "never saved" and by_title["Untitled"].modified
    assert [t.title for t in second.tab_list()] == ["notes.txt", "Untitled"]  # the empty tab went
    assert claim_orphaned_sessions(root) == []  # restored: the old session is gone
    assert second.save(by_title["notes.txt"])
    assert path.read_text(encoding="utf-8") == "mine line one\nline two\ntheirs\n"


def test_a_restored_file_already_open_gets_the_text_in_its_tab(make_window, ended_app, tmp_path):
    root = tmp_path / "recovery"
    path = tmp_path / "a.txt"
    path.write_text("base\n", encoding="utf-8")
    ended_app(root, lambda first: type_text(first.open_file(path).editor, "unsaved "))

    second = make_window()
    opened = second.open_file(path)  # `chorus a.txt` after the crash
    (restored,) = restore_unsaved_work(second, claim_orphaned_sessions(root),
                                       ask=lambda _w, _d: RestoreChoice.RESTORE)
    assert restored is opened and len(second.tab_list()) == 1
    assert opened.document.text == "unsaved base\n" and opened.modified


def test_discard_deletes_and_later_keeps_for_the_next_start(make_window, ended_app, tmp_path):
    root = tmp_path / "recovery"
    ended_app(root, lambda first: type_text(first.new_document().editor, "maybe later"))

    second = make_window()
    assert restore_unsaved_work(second, claim_orphaned_sessions(root), ask=lambda _w, _d: RestoreChoice.LATER) == []
    assert [d.text for d in claimed_documents(root)] == ["maybe later"]
    assert restore_unsaved_work(second, claim_orphaned_sessions(root), ask=lambda _w, _d: RestoreChoice.DISCARD) == []
    assert claimed_documents(root) == [] and second.tab_list() == []


def test_offline_edits_to_a_joined_document_survive_a_restart_and_reach_the_peer(qtbot, tmp_path):
    """Bob edits alice's document while she is away, and his app ends; his next start holds
    the document again, from its CRDT state, and merges with alice when they meet (real TCP)."""
    root = tmp_path / "bob-recovery"

    async def scenario():
        async with peers(tmp_path, "alice") as (alice,):
            async with peers(tmp_path, "bob") as (bob,):
                keeper = RecoveryKeeper(bob.window, RecoverySession(root))
                tab_a, tab_b = await share_and_join(alice, bob, "shared line\n")
                doc_id = tab_a.document.doc_id
                alice.collaboration.set_shared(tab_a, False)  # alice goes away
                await until(lambda: bob.node.documents[doc_id].sync_status is SyncStatus.OFFLINE,
                            "bob's copy to go offline")
                tab_b.editor.moveCursor(QTextCursor.MoveOperation.End)
                type_text(tab_b.editor, "bob offline 😀")
                type_text(tab_a.editor, "alice meanwhile ")
                keeper.finish(keep=True)  # bob's app ends; his node goes with this block
            assert "bob offline" not in tab_a.document.text

            async with peers(tmp_path, "bob-again") as (bob_again,):
                (restored,) = restore_unsaved_work(bob_again.window, claim_orphaned_sessions(root),
                                                   node=bob_again.node, ask=lambda _w, _d: RestoreChoice.RESTORE)
                assert restored.document.doc_id == doc_id
                assert restored.document.text == "shared line\nbob offline 😀"
                assert bob_again.node.documents[doc_id].sync_status is SyncStatus.OFFLINE
                alice.collaboration.set_shared(tab_a, True)  # alice is back: they meet
                await bob_again.node.dial("127.0.0.1", alice.node.port)
                await converged(tab_a, restored, expected="alice meanwhile shared line\nbob offline 😀")

    run_on_qt_loop(scenario)
