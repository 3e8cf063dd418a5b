"""The widget <-> SharedDocument binding: minimal local edits, remote patches, caret, undo."""

from __future__ import annotations

import os
import random
import statistics
import time

import pytest
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtWidgets import QPlainTextEdit

from editor.core.document import SharedDocument
from editor.core.offsets import utf16_offset
from editor.qt.binding import DocumentBinding
from tests.qt.helpers import link_documents, place_caret, send_key, shortcut, type_text

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


class Peer:
    """One replica bound to its own editor widget."""

    def __init__(self, qtbot, text: str = "", client_id: int | None = None) -> None:
        self.document = SharedDocument("doc", client_id=client_id)
        if text:
            seed = SharedDocument("seed")
            seed.set_text(text)
            self.document.apply_update(seed.encode_state(), "file")
        self.editor = QPlainTextEdit()
        qtbot.addWidget(self.editor)
        self.binding = DocumentBinding(self.editor, self.document)

    def caret(self) -> tuple[int, int]:
        cursor = self.editor.textCursor()
        return cursor.anchor(), cursor.position()

    def check(self) -> None:
        assert self.binding.mismatch() is None


@pytest.fixture
def peer(qtbot) -> Peer:
    return Peer(qtbot)


@pytest.fixture
def pair(qtbot) -> tuple[Peer, Peer]:
    first, second = Peer(qtbot, client_id=1), Peer(qtbot, client_id=2)
    link_documents(first.document, second.document)
    return first, second


def test_initial_text_is_shown_and_edits_are_minimal(qtbot):
    edits = []
    peer = Peer(qtbot, "h\u00e9llo \U0001F600 w\u00f6rld\n\u4e2d\u6587\n")
    peer.binding.local_edit.connect(lambda *edit: edits.append(edit))
    assert peer.editor.toPlainText() == peer.document.text
    place_caret(peer.editor, utf16_offset(peer.document.text, 8))
    type_text(peer.editor, "x")
    assert edits == [(8, 0, "x")]
    peer.check()


def test_typing_ascii_emoji_cjk_and_newlines(peer):
    text = "abc \U0001F600\U0001F44D\U0001F3FD \u4e2d\u6587\n\u00e9\nend"
    type_text(peer.editor, text)
    assert peer.document.text == text
    peer.check()


def test_backspace_over_an_emoji(peer):
    type_text(peer.editor, "a\U0001F600b")
    send_key(peer.editor, Qt.Key.Key_Left)
    send_key(peer.editor, Qt.Key.Key_Backspace)
    assert peer.document.text == "ab"
    peer.check()


def test_selection_replace_across_lines(qtbot):
    peer = Peer(qtbot, "one \U0001F600\ntwo \u4e2d\nthree")
    start = utf16_offset(peer.document.text, 4)
    end = utf16_offset(peer.document.text, 11)
    place_caret(peer.editor, end, anchor=start)
    type_text(peer.editor, "\u00e9")
    assert peer.document.text == "one \u00e9\nthree"
    peer.check()


def test_paste_normalises_crlf_and_separators(peer):
    mime = QMimeData()
    mime.setText("a\r\nb\rc\u2029d\U0001F600\r\n")
    peer.editor.insertFromMimeData(mime)
    assert peer.document.text == "a\nb\nc\nd\U0001F600\n"
    peer.check()


def test_replacing_the_whole_text_is_a_minimal_edit(qtbot):
    peer = Peer(qtbot, "keep this \U0001F600 line\n")
    edits = []
    peer.binding.local_edit.connect(lambda *edit: edits.append(edit))
    peer.binding.set_text("keep that \U0001F600 line\n")
    assert edits == [(7, 2, "at")]
    peer.check()


def test_set_plain_text_from_outside_still_converges(qtbot):
    peer = Peer(qtbot, "old \U0001F600\n")
    peer.editor.setPlainText("new \u4e2d")
    assert peer.document.text == "new \u4e2d"
    peer.check()


def test_remote_edits_reach_the_widget_without_echo(pair):
    first, second = pair
    updates = []
    first.document.subscribe_updates(lambda update, source: updates.append(source))
    type_text(second.editor, "x\U0001F600y\n\u4e2d")
    assert first.editor.toPlainText() == "x\U0001F600y\n\u4e2d"
    # Only the remote updates themselves: applying them to the widget sent nothing back.
    assert updates and set(updates) == {"peer1"}
    first.check()
    second.check()


def test_remote_insert_at_the_caret_leaves_the_caret_before_it(pair):
    first, second = pair
    type_text(first.editor, "ab\U0001F600cd")
    caret = utf16_offset("ab\U0001F600cd", 3)
    place_caret(first.editor, caret)
    second.document.insert(3, "REMOTE")
    assert first.document.text == "ab\U0001F600REMOTEcd"
    assert first.caret() == (caret, caret)
    type_text(first.editor, "!")
    assert second.document.text == "ab\U0001F600!REMOTEcd"
    first.check()


def test_remote_edits_before_the_caret_keep_it_on_its_text(pair):
    first, second = pair
    type_text(first.editor, "hello world")
    place_caret(first.editor, 11, anchor=6)  # "world" selected
    second.document.insert(0, "\U0001F600\U0001F600 ")
    second.document.delete(3, 6)  # "hello " goes away
    cursor = first.editor.textCursor()
    assert cursor.selectedText() == "world"
    first.check()


def test_selection_upper_end_at_remote_insert_does_not_grow(pair):
    first, second = pair
    type_text(first.editor, "abcdef")
    place_caret(first.editor, 4, anchor=2)  # "cd" selected, caret at 4
    second.document.insert(4, "XY")
    assert first.editor.textCursor().selectedText() == "cd"
    place_caret(first.editor, 0, anchor=2)  # "ab" selected backwards, anchor at 2
    second.document.insert(2, "Z")
    assert first.editor.textCursor().selectedText() == "ab"


def test_undo_and_redo_only_touch_own_edits(pair):
    first, second = pair
    type_text(first.editor, "mine ")
    type_text(second.editor, "theirs")
    assert first.document.text == second.document.text
    shortcut(first.editor, Qt.Key.Key_Z, CTRL)
    assert first.document.text == "theirs"
    assert second.editor.toPlainText() == "theirs"
    shortcut(first.editor, Qt.Key.Key_Z, CTRL | SHIFT)
    assert first.document.text == second.document.text
    assert "mine " in first.document.text and "theirs" in first.document.text
    first.check()
    second.check()


def test_widget_undo_stack_is_disabled(peer):
    type_text(peer.editor, "abc")
    assert not peer.editor.document().isUndoAvailable()


def test_detach_stops_syncing(pair):
    first, second = pair
    first.binding.detach()
    type_text(first.editor, "local only")
    second.document.insert(0, "remote only")
    assert first.document.text == "remote only"
    assert first.editor.toPlainText() == "local only"


@pytest.mark.parametrize("seed", [int(os.environ.get("CHORUS_SEED", 0)) or random.randrange(2**32)])
def test_random_local_and_remote_edits_converge(qtbot, seed):
    print(f"seed={seed} (replay with CHORUS_SEED={seed})")
    rng = random.Random(seed)
    first, second = Peer(qtbot, client_id=1), Peer(qtbot, client_id=2)
    headless = SharedDocument("doc", client_id=3)  # a peer without a widget
    link_documents(first.document, second.document, headless)
    alphabet = ["a", "b", " ", "\n", "\u00e9", "\u4e2d", "\U0001F600", "\U0001F44D\U0001F3FD"]
    for _ in range(150):
        peer = rng.choice([first, second])
        action = rng.random()
        if action < 0.5:
            place_caret(peer.editor, peer.binding.utf16_of(rng.randint(0, len(peer.document))))
            type_text(peer.editor, "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))))
        elif action < 0.7:
            send_key(peer.editor, rng.choice([Qt.Key.Key_Backspace, Qt.Key.Key_Delete]))
        elif action < 0.85:
            size = len(headless)
            index = rng.randint(0, size)
            headless.replace(index, rng.randint(0, min(3, size - index)), rng.choice(alphabet))
        elif action < 0.95:
            shortcut(peer.editor, Qt.Key.Key_Z, CTRL)
        else:
            shortcut(peer.editor, Qt.Key.Key_Z, CTRL | SHIFT)
        first.check()
        second.check()
        assert first.document.text == second.document.text == headless.text


class _TimedBinding(DocumentBinding):
    """Records how long each local edit takes the binding (conversion, diff, CRDT edit)."""

    durations: list[float]

    def _on_contents_change(self, position: int, removed: int, added: int) -> None:
        started = time.perf_counter()
        super()._on_contents_change(position, removed, added)
        if not self._applying:
            self.durations.append(time.perf_counter() - started)


def test_keystroke_cost_on_a_large_emoji_cjk_document(qtbot):
    line = "\u4e2d\u6587\u6df7\u6392 \U0001F600 emoji \U0001F44D\U0001F3FD text \u00e9\u00e8 " * 2
    text = (line + "\n") * (1_000_000 // len((line + "\n").encode()))
    seed = SharedDocument("seed")
    seed.set_text(text)
    document = SharedDocument("doc")
    document.apply_update(seed.encode_state(), "file")
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    binding = _TimedBinding.__new__(_TimedBinding)
    binding.durations = []
    _TimedBinding.__init__(binding, editor, document)
    middle = binding.utf16_of(len(text) // 2)
    place_caret(editor, middle)
    type_text(editor, "typing in the middle \U0001F600\u4e2d\n" * 3)
    for _ in range(20):
        send_key(editor, Qt.Key.Key_Backspace)
    median = statistics.median(binding.durations)
    print(f"binding cost per keystroke on {len(text.encode()) / 1e6:.1f} MB: median "
          f"{median * 1e3:.3f} ms, max {max(binding.durations) * 1e3:.3f} ms")
    assert median < 0.002
    assert binding.mismatch() is None


def test_an_embed_from_a_rich_text_client_never_shows_and_the_caret_stays(qtbot):
    from pycrdt import Doc, Text

    peer = Peer(qtbot, "caf\u00e9 \U0001F600 bar\n")
    place_caret(peer.editor, utf16_offset(peer.document.text, 9))  # before "bar"
    foreign = Doc()
    ftext = foreign.get("text", type=Text)
    foreign.apply_update(peer.document.encode_state())
    before = foreign.get_state()
    ftext.insert_embed(2, {"image": "cat.png"})  # pycrdt offsets: after "ca"
    ftext.insert(0, "\u4e2d ")
    peer.document.apply_update(foreign.get_update(before), "foreign")
    assert peer.editor.toPlainText() == "\u4e2d caf\u00e9 \U0001F600 bar\n" == peer.document.text
    assert peer.caret() == (utf16_offset(peer.document.text, 11),) * 2
    peer.check()
