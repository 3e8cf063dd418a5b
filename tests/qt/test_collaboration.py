"""Two real app windows in one process, each with its own node, co-editing over loopback TCP."""

from __future__ import annotations

import random
import socket

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QGuiApplication, QTextCursor

from editor.core.offsets import utf16_offset
from editor.qt.links import parse_link
from editor.qt.main_window import UnsavedChoice
from editor.qt.preferences import Preferences
from tests.qt.collab_helpers import converged, peers, run_on_qt_loop, share_and_join, shown, until
from tests.qt.helpers import place_caret, send_key, shortcut, type_text

CTRL = Qt.KeyboardModifier.ControlModifier


def end_of(editor) -> None:
    editor.moveCursor(QTextCursor.MoveOperation.End)


def test_typing_in_one_window_shows_in_the_other(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            tab_a, tab_b = await share_and_join(alice, bob)
            type_text(tab_a.editor, "héllo 😀 中文\nnext line\n")
            await converged(tab_a, tab_b, expected="héllo 😀 中文\nnext line\n")

            # Backspace right after the emoji removes the whole emoji on both sides.
            place_caret(tab_a.editor, utf16_offset(shown(tab_a), len("héllo 😀")))
            send_key(tab_a.editor, Qt.Key.Key_Backspace)
            await converged(tab_a, tab_b, expected="héllo  中文\nnext line\n")

            # Replacing a selection, typed in the other window.
            start = utf16_offset(shown(tab_b), len("héllo  "))
            place_caret(tab_b.editor, start + 2, anchor=start)
            type_text(tab_b.editor, "👍🏽")
            await converged(tab_a, tab_b, expected="héllo  👍🏽\nnext line\n")

            # Pasting text with CRLF line ends: the document holds "\n" only.
            end_of(tab_b.editor)
            mime = QMimeData()
            mime.setText("pasted\r\nlines\r\n")
            tab_b.editor.insertFromMimeData(mime)
            await converged(tab_a, tab_b, expected="héllo  👍🏽\nnext line\npasted\nlines\n")
            assert tab_a.document.text == tab_b.document.text == shown(tab_a)

    run_on_qt_loop(scenario)


def test_concurrent_typing_in_both_windows_converges(qtbot, tmp_path):
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)

    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            tab_a, tab_b = await share_and_join(alice, bob, "0123456789\n")
            alphabet = "abcxyz 😀中\n"
            for _round in range(8):
                for tab in (tab_a, tab_b):
                    text = shown(tab)
                    index = rng.randrange(len(text) + 1)
                    place_caret(tab.editor, utf16_offset(text, index))
                    type_text(tab.editor, "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))))
                    if rng.random() < 0.3 and len(shown(tab)) > 0:
                        send_key(tab.editor, Qt.Key.Key_Backspace)
            final = await converged(tab_a, tab_b)
            assert final == tab_a.document.text == tab_b.document.text

    run_on_qt_loop(scenario)


def test_undo_takes_back_only_this_windows_edits_on_both(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            tab_a, tab_b = await share_and_join(alice, bob, "base\n")
            end_of(tab_a.editor)
            type_text(tab_a.editor, "from alice\n")
            await converged(tab_a, tab_b, expected="base\nfrom alice\n")
            end_of(tab_b.editor)
            type_text(tab_b.editor, "from bob\n")
            await converged(tab_a, tab_b, expected="base\nfrom alice\nfrom bob\n")
            shortcut(tab_a.editor, Qt.Key.Key_Z, CTRL)
            await converged(tab_a, tab_b, expected="base\nfrom bob\n")
            shortcut(tab_b.editor, Qt.Key.Key_Z, CTRL)
            await converged(tab_a, tab_b, expected="base\n")

    run_on_qt_loop(scenario)


def test_local_caret_stays_when_a_remote_insert_lands_on_it(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            tab_a, tab_b = await share_and_join(alice, bob, "ab😀cd")
            caret = utf16_offset("ab😀cd", 3)
            place_caret(tab_b.editor, caret)
            place_caret(tab_a.editor, caret)
            type_text(tab_a.editor, "XYZ")
            await converged(tab_a, tab_b, expected="ab😀XYZcd")
            assert tab_b.editor.textCursor().position() == caret
            type_text(tab_b.editor, "b")  # bob keeps typing where he was, not after XYZ
            await converged(tab_a, tab_b, expected="ab😀bXYZcd")

    run_on_qt_loop(scenario)


def test_remote_carets_and_selections_are_drawn_and_removed_when_they_leave(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            text = "😀 first line\n中文 second line\n"
            tab_a, tab_b = await share_and_join(alice, bob, text)
            # Alice selects "second" (code points 17..23) with her caret at its end.
            start, end = text.index("second"), text.index("second") + len("second")
            place_caret(tab_a.editor, utf16_offset(text, end), anchor=utf16_offset(text, start))

            def drawn():
                return [(r.name, a, p) for r, a, p in tab_b.editor.remote_cursors()]

            expected = ("alice", utf16_offset(text, start), utf16_offset(text, end))
            await until(lambda: drawn() == [expected], "bob's editor to draw alice's selection")
            await until(lambda: any("alice" in row and "2:10" in row
                                    for row in bob.window.participants_panel.names()),
                        "the participants list to show alice at line 2, column 10")
            assert bob.window.participants_panel.names()[0].startswith("bob (you)")

            # Bob types before alice's selection: her selection moves with the text, and since
            # she did nothing, her name flag does not come back (the same activity).
            activity = tab_b.editor.remote_cursors()[0][0].activity
            assert tab_b.editor.flag_shown(tab_b.editor.remote_cursors()[0][0].client_id)
            place_caret(tab_b.editor, 0)
            type_text(tab_b.editor, ">>")
            moved = (expected[0], expected[1] + 2, expected[2] + 2)
            await until(lambda: drawn() == [moved], "alice's selection to move with the text")
            assert tab_b.editor.remote_cursors()[0][0].activity == activity
            place_caret(tab_a.editor, 0)  # alice moves: a new activity
            await until(lambda: tab_b.editor.remote_cursors()[0][0].activity != activity,
                        "alice's move to reach bob")
            place_caret(tab_a.editor, utf16_offset(">>" + text, end + 2),
                        anchor=utf16_offset(">>" + text, start + 2))
            await until(lambda: drawn() == [moved], "alice's selection to be back")

            # A new name and colour reach the other window.
            alice.collaboration.apply_preferences(Preferences("Alice L.", "#009E73", 0, False))
            await until(lambda: [r.name for r, _a, _p in tab_b.editor.remote_cursors()] == ["Alice L."],
                        "the new name on alice's caret")
            assert tab_b.editor.remote_cursors()[0][0].color == "#009E73"

            # Alice closes the document: her caret disappears within a second.
            alice.window.close_tab(tab_a)
            await until(lambda: tab_b.editor.remote_cursors() == [], "alice's caret to go", timeout=1.0)
            assert all("Alice" not in row for row in bob.window.participants_panel.names())

    run_on_qt_loop(scenario)


def test_following_a_participant_scrolls_until_the_user_types(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            text = "".join(f"line {n}\n" for n in range(400))
            tab_a, tab_b = await share_and_join(alice, bob, text)
            await until(lambda: len(bob.collaboration.participants(tab_b)) == 1, "alice to appear")
            client = bob.collaboration.participants(tab_b)[0].client_id
            assert bob.window.participants_panel.select_client(client)
            bob.window.participants_panel.follow_button.click()
            assert bob.collaboration.following == client
            place_caret(tab_a.editor, len(text) - 3)  # alice jumps to the end
            bar = tab_b.editor.verticalScrollBar()
            await until(lambda: bar.value() > 300, "bob's view to follow alice down")
            send_key(tab_b.editor, Qt.Key.Key_Home)  # bob does something himself
            assert bob.collaboration.following is None
            assert not bob.window.participants_panel.follow_button.isChecked()
            resting = bar.value()  # Home brought bob's own caret (line 1) into view
            middle = text.index("line 200")
            place_caret(tab_a.editor, middle)
            await until(lambda: bob.collaboration.participants(tab_b)[0].head == middle, "alice's move")
            assert bar.value() == resting  # no longer following

    run_on_qt_loop(scenario)


def test_joining_from_the_network_panel_and_connecting_by_address(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            tab_a = alice.window.new_document()
            tab_a.binding.set_text("shared from the panel 🎉\n")
            alice.window.share_action.trigger()  # Network > Share Document on the current tab
            assert alice.collaboration.is_shared(tab_a) and alice.window.share_action.isChecked()
            panel = bob.window.network_panel
            panel.ask_address = lambda: f"127.0.0.1:{alice.node.port}"
            panel.connect_button.click()
            await until(lambda: panel.peer_states().get("alice") == "connected", "alice listed as connected")
            doc_id = tab_a.document.doc_id
            await until(lambda: panel.select_document(doc_id), "alice's document in the panel")
            panel.open_button.click()
            tab_b = bob.tab(doc_id)
            await converged(tab_a, tab_b, expected="shared from the panel 🎉\n")
            # The status bar follows node events on the next loop turn, not with the text.
            await until(lambda: bob.window.sync_label.text() == "Synced with 1 peer", "bob's sync status")
            assert "alice: connected" in bob.collaboration._peers_label.text()
            # Stop sharing: bob's copy goes offline, keeps working, and the panel drops it.
            alice.window.share_action.trigger()
            await until(lambda: bob.window.sync_label.text().startswith("Offline"), "bob to see offline")
            type_text(tab_b.editor, "offline edit ")
            await until(lambda: "local changes waiting" in bob.window.sync_label.text(), "waiting changes")
            await until(lambda: not any(d == doc_id for _p, d in
                                        ((p, r.doc_id) for p, r in panel.document_items())),
                        "the document to leave the panel")
            alice.window.share_action.trigger()  # shared again: bob's offline edit merges
            await until(lambda: "offline edit" in shown(tab_a), "the offline edit to merge")
            await converged(tab_a, tab_b)

    run_on_qt_loop(scenario)


def test_an_address_that_does_not_answer_is_listed_until_the_user_stops_it(qtbot, tmp_path):
    blocker = socket.socket()  # bound, not listening: connections are refused
    blocker.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{blocker.getsockname()[1]}"

    async def scenario():
        async with peers(tmp_path, "bob") as (bob,):
            panel = bob.window.network_panel
            panel.ask_address = lambda: address
            panel.connect_button.click()
            await until(lambda: panel.peer_states().get(address) == "cannot reach", "the address listed")
            assert "connection refused" in bob.window.statusBar().currentMessage()
            row = panel.tree.topLevelItem(0)
            assert "connection refused" in row.toolTip(1)
            (stop,) = [action for action in panel.context_actions(row) if action.text() == "Stop Connecting"]
            stop.trigger()
            await until(lambda: address not in panel.peer_states(), "the address to leave the list")
            assert address not in bob.node.unreachable

    try:
        run_on_qt_loop(scenario)
    finally:
        blocker.close()


def test_copy_link_and_join_by_link(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            tab_a = alice.window.new_document()
            tab_a.binding.set_text("linked ✓")
            alice.window.copy_link_action.trigger()
            link = QGuiApplication.clipboard().text()
            assert link == f"chorus://127.0.0.1:{alice.node.port}/{tab_a.document.doc_id}"
            parsed = parse_link(link)
            assert (parsed.host, parsed.port, parsed.doc_id) == ("127.0.0.1", alice.node.port,
                                                                 tab_a.document.doc_id)
            assert alice.collaboration.is_shared(tab_a)  # copying a link shares the document
            tab_b = await bob.collaboration.open_link(link)
            assert tab_b is not None
            await converged(tab_a, tab_b, expected="linked ✓")
            missing = await bob.collaboration.open_link(f"chorus://127.0.0.1:{alice.node.port}/nope")
            assert missing is None and "Cannot join" in bob.window.statusBar().currentMessage()

    run_on_qt_loop(scenario)


def test_closing_a_joined_document_asks_to_save_only_when_no_peer_has_every_change(qtbot, tmp_path):
    async def scenario():
        async with peers(tmp_path, "alice", "bob") as (alice, bob):
            asked: list[list[str]] = []

            def ask(tabs):
                asked.append([tab.title for tab in tabs])
                return UnsavedChoice.DISCARD

            bob.window.ask_unsaved = ask
            tab_a, tab_b = await share_and_join(alice, bob, "shared text\n")
            end_of(tab_b.editor)
            type_text(tab_b.editor, "bob was here\n")
            await converged(tab_a, tab_b, expected="shared text\nbob was here\n")
            entry = bob.node.documents[tab_b.document.doc_id]
            await until(lambda: all(sync.idle for sync in entry.channels.values()), "bob's edits to be sent")
            assert tab_b.modified
            assert bob.window.close_tab(tab_b)
            assert asked == []  # alice holds every change: nothing to lose

            # Joined again, then cut off from alice: bob's next edit lives only with bob.
            _, tab_b = await share_and_join(alice, bob, "second\n")
            await bob.node.links[alice.node.peer_id].close("cable cut")
            await until(lambda: alice.node.peer_id not in bob.node.links, "the link to close")
            type_text(tab_b.editor, "offline ")
            assert bob.window.close_tab(tab_b)
            assert asked == [[tab_b.title]]

    run_on_qt_loop(scenario)
