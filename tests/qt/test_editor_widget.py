"""The editor widget: find & replace, go to line, zoom, wrap, remote cursors, highlighting."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QTextCursor
from PySide6.QtWidgets import QApplication

from editor.core.document import SharedDocument
from editor.core.offsets import utf16_offset
from editor.qt.editor_widget import FLAG_SHOWN_SECONDS, CodeEditor, RemoteCursor
from editor.qt.find_bar import FindBar
from editor.qt.highlighter import LANGUAGES, PROGRESSIVE_LINES, SyntaxHighlighter, language_for_filename
from editor.qt.binding import DocumentBinding
from editor.qt.main_window import document_with_text


@pytest.fixture
def bound(qtbot):
    """A CodeEditor bound to a SharedDocument, with its find bar."""

    def make(text: str):
        editor = CodeEditor()
        qtbot.addWidget(editor)
        document = document_with_text(text)
        binding = DocumentBinding(editor, document)
        editor.position_of_index = binding.utf16_of
        return editor, document, FindBar(editor)

    return make


def selected(editor: CodeEditor) -> str:
    return editor.textCursor().selectedText()


def test_find_next_previous_and_wrap(bound):
    editor, _, bar = bound("Foo \U0001F600 foo\nfood FOO")
    bar.find_field.setText("foo")
    assert bar.find_next() and selected(editor) == "Foo"
    assert bar.message.text() == "1 of 4"
    bar.find_next()
    assert editor.textCursor().selectionStart() == utf16_offset("Foo \U0001F600 ", 6)
    bar.find_previous()
    assert editor.textCursor().selectionStart() == 0
    bar.find_previous()  # wraps to the last match
    assert selected(editor) == "FOO" and bar.message.text() == "4 of 4"


def test_match_case_whole_word_and_no_match(bound):
    editor, _, bar = bound("foo food Foo")
    bar.find_field.setText("foo")
    bar.whole_word.setChecked(True)
    bar.match_case.setChecked(True)
    assert bar.find_next() and bar.message.text() == "1 of 1"
    bar.find_field.setText("bar")
    assert not bar.find_next()
    assert bar.message.text() == "No match" and "background" in bar.find_field.styleSheet()


def test_regex_replace_and_replace_all_reach_the_document(bound):
    editor, document, bar = bound("a1 \U0001F600 b22\nc333")
    bar.regex.setChecked(True)
    bar.find_field.setText(r"([a-z])(\d+)")
    bar.replace_field.setText(r"\2\1")
    assert bar.find_next() and selected(editor) == "a1"
    bar.replace()
    assert document.text == "1a \U0001F600 b22\nc333"
    assert bar.replace_all() == 2
    assert document.text == "1a \U0001F600 22b\n333c"


def test_bad_regex_is_reported(bound):
    _, _, bar = bound("text")
    bar.regex.setChecked(True)
    bar.find_field.setText("(unclosed")
    assert not bar.find_next()
    assert bar.message.text().startswith("Bad pattern")


def test_go_to_line_counts_code_points(bound):
    editor, _, _ = bound("one\n\U0001F600\U0001F600x\nthree")
    editor.go_to_line(2, 3)
    assert editor.cursor_location() == (2, 3)
    assert editor.textCursor().position() == 4 + 4
    editor.go_to_line(99, 99)  # clamped to the end
    assert editor.cursor_location() == (3, 6)


def test_zoom_and_word_wrap(bound):
    editor, _, _ = bound("x")
    size = editor.font().pointSizeF()
    editor.zoom_in(3)
    editor.zoom_out()
    assert editor.font().pointSizeF() == size + 2 and editor.zoom() == 2
    editor.zoom_out(1000)
    assert editor.font().pointSizeF() >= 4
    editor.zoom_reset()
    assert editor.font().pointSizeF() == size
    editor.set_word_wrap(True)
    assert editor.word_wrap()


def test_remote_cursors_follow_the_text(bound):
    editor, document, _ = bound("ab\U0001F600cd\nline two")
    editor.set_remote_cursors([
        RemoteCursor(1, "Ada", "#E69F00", position=4, anchor=2),
        RemoteCursor(2, "Bob", "#56B4E9", position=999, anchor=999),  # ahead of the text
    ])
    (ada, ada_anchor, ada_position), (_, bob_anchor, bob_position) = editor.remote_cursors()
    assert (ada_anchor, ada_position) == (2, 5)  # the emoji is two UTF-16 units
    assert bob_anchor == bob_position == editor.document().characterCount() - 1
    # A remote edit before the cursor moves it along with its text.
    document.apply_update(_remote_insert(document, 0, "\u4e2d\u4e2d"), "peer")
    assert editor.remote_cursors()[0][1:] == (4, 7)
    # Remote selections are drawn as extra selections next to the current line.
    assert len(editor.extraSelections()) == 2
    editor.show()
    editor.grab()  # paints carets and flags without error


def _pixels_of(editor: CodeEditor, color: str) -> int:
    image = editor.viewport().grab().toImage()
    wanted = QColor(color).rgb()
    return sum(image.pixel(x, y) == wanted for x in range(image.width()) for y in range(image.height()))


def test_name_flags_show_after_activity_and_on_hover_only(bound, qtbot):
    editor, document, _ = bound("first line\nsecond line\nthird line")
    now = [1000.0]
    editor.clock = lambda: now[0]
    editor.resize(400, 200)
    editor.show()
    qtbot.waitExposed(editor)
    ada = RemoteCursor(1, "Ada Lovelace", "#E69F00", position=15, anchor=15, activity="at 15")
    editor.set_remote_cursors([ada])
    assert editor.flag_shown(1)
    with_flag = _pixels_of(editor, "#E69F00")
    now[0] += FLAG_SHOWN_SECONDS + 0.1
    assert not editor.flag_shown(1)
    caret_only = _pixels_of(editor, "#E69F00")
    assert 0 < caret_only < with_flag / 4  # the caret stays; the flag (many pixels) is gone
    # Others' edits shift the caret without activity of Ada's: the flag stays hidden.
    document.apply_update(_remote_insert(document, 0, "more "), "peer")
    editor.set_remote_cursors([RemoteCursor(1, "Ada Lovelace", "#E69F00", 20, 20, activity="at 15")])
    assert not editor.flag_shown(1)
    # Ada types: her anchors change, the flag shows again and hides after a while.
    editor.set_remote_cursors([RemoteCursor(1, "Ada Lovelace", "#E69F00", 21, 21, activity="at 16")])
    assert editor.flag_shown(1)
    now[0] += FLAG_SHOWN_SECONDS + 0.1
    assert not editor.flag_shown(1)
    # The mouse over her caret shows it; moving away hides it.
    (_, _, position), = editor.remote_cursors()
    cursor = QTextCursor(editor.document())
    cursor.setPosition(position)
    caret = editor.cursorRect(cursor)
    _move_mouse(editor, caret.center())
    assert editor.flag_shown(1)
    _move_mouse(editor, caret.center() + QPoint(0, 3 * caret.height()))
    assert not editor.flag_shown(1)
    # Asking where she is shows it too.
    editor.show_flag(1)
    assert editor.flag_shown(1)


def _move_mouse(editor: CodeEditor, point: QPoint) -> None:
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(point), QPointF(editor.viewport().mapToGlobal(point)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(editor.viewport(), event)


def _remote_insert(document, index: int, text: str) -> bytes:
    other = SharedDocument(document.doc_id)
    other.apply_update(document.encode_state(), "sync")
    before = other.state_vector()
    other.insert(index, text)
    return other.encode_state(before)


@pytest.mark.parametrize(
    ("name", "language"),
    [("a.py", "Python"), ("x.TS", "TypeScript"), ("m.cpp", "C/C++"), ("lib.rs", "Rust"),
     ("main.go", "Go"), ("A.java", "Java"), ("README.md", "Markdown"), ("p.json", "JSON"),
     ("c.yml", "YAML"), ("Cargo.toml", "TOML"), ("i.html", "HTML"), ("s.css", "CSS"),
     ("run.sh", "Shell"), ("paper.tex", "LaTeX"), ("app.js", "JavaScript")],
)
def test_language_from_file_name(name, language):
    assert language_for_filename(name).name == language


def test_plain_text_has_no_language():
    assert language_for_filename("notes.txt") is None
    assert language_for_filename("Makefile") is None


def _formats_of_line(editor: CodeEditor, number: int):
    block = editor.document().findBlockByNumber(number)
    return [(r.start, r.length) for r in block.layout().formats()]


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_language_highlights_without_error(bound, language):
    sample = 'x = "s" # c\n/* a\n b */ if 12 <b a="1">\n"""\ndoc\n"""\n\\section{\U0001F600} $x$\n# Title `code`\n'
    editor, _, _ = bound(sample)
    editor.set_language(LANGUAGES[language])
    highlighter = editor._highlighter
    assert isinstance(highlighter, SyntaxHighlighter)
    highlighter.rehighlight()
    assert any(_formats_of_line(editor, n) for n in range(editor.blockCount()))


def test_multiline_comment_and_astral_offsets(bound):
    editor, _, _ = bound('\U0001F600 = "a"\n/* one\ntwo */ x')
    editor.set_language(LANGUAGES["JavaScript"])
    editor._highlighter.rehighlight()
    # The string starts after the emoji (2 UTF-16 units) and " = ".
    assert (5, 3) in _formats_of_line(editor, 0)
    assert _formats_of_line(editor, 1) == [(0, 6)]
    assert _formats_of_line(editor, 2)[0] == (0, 6)


def test_highlighting_a_large_document_is_cheap(bound):
    line = 'def f(x):  # comment \u4e2d\U0001F600\n    return "text" + str(x * 42)\n'
    editor, _, _ = bound(line * (1_000_000 // len(line.encode())))
    highlighter = SyntaxHighlighter.__new__(SyntaxHighlighter)
    started = time.perf_counter()
    SyntaxHighlighter.__init__(highlighter, editor.document(), LANGUAGES["Python"])
    highlighter.rehighlight()
    elapsed = time.perf_counter() - started
    print(f"full highlight of {editor.blockCount()} lines: {elapsed:.2f} s")
    assert elapsed < 10  # a first pass; later keystrokes re-highlight a line or two
    cursor = QTextCursor(editor.document())
    cursor.setPosition(editor.document().characterCount() // 2)
    started = time.perf_counter()
    cursor.insertText("x")
    assert time.perf_counter() - started < 0.05


def test_a_long_document_is_coloured_slice_by_slice_exactly_as_at_once(bound, qtbot, monkeypatch):
    # A string opened just before a slice boundary and closed after it, and an astral character.
    lines = [f'x{n} = "s"  # \U0001F600 c' for n in range(2 * PROGRESSIVE_LINES + 50)]
    lines[PROGRESSIVE_LINES - 1] = '"""doc string'
    lines[PROGRESSIVE_LINES + 1] = 'ends here""" + 1'
    text = "\n".join(lines)
    editor, _, _ = bound(text)
    editor.set_language(LANGUAGES["Python"])
    progressive = editor._highlighter
    assert not progressive.complete
    last = editor.blockCount() - 1
    assert _formats_of_line(editor, last) == []  # not reached yet
    qtbot.waitUntil(lambda: progressive.complete, timeout=10_000)

    monkeypatch.setattr("editor.qt.highlighter.PROGRESSIVE_LINES", 10**9)  # colour at once
    reference, _, _ = bound(text)
    reference.set_language(LANGUAGES["Python"])
    reference._highlighter.rehighlight()
    assert reference._highlighter.complete
    for number in range(editor.blockCount()):
        assert _formats_of_line(editor, number) == _formats_of_line(reference, number), number
    inside = editor.document().findBlockByNumber(PROGRESSIVE_LINES)
    in_string = [(0, utf16_offset(inside.text(), len(inside.text())))]
    assert _formats_of_line(editor, PROGRESSIVE_LINES) == in_string
