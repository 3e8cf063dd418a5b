"""The find & replace bar under an editor: match case, whole word, regular expression, next,
previous, replace, replace all, and a "No match" message."""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

from editor.core.offsets import index_from_utf16, utf16_length, utf16_offset

__all__ = ["FindBar", "SearchOptions", "compile_search"]


@dataclass(frozen=True)
class SearchOptions:
    """What to look for and how."""

    text: str
    match_case: bool = False
    whole_word: bool = False
    regex: bool = False


def compile_search(options: SearchOptions) -> re.Pattern[str]:
    """The pattern for `options`; `re.error` for an invalid regular expression."""
    body = options.text if options.regex else re.escape(options.text)
    if options.whole_word:
        body = rf"\b(?:{body})\b"
    flags = re.MULTILINE | (0 if options.match_case else re.IGNORECASE)
    return re.compile(body, flags)


class FindBar(QWidget):
    """Searches the editor's text (code points, "\\n" newlines) and selects or replaces matches."""

    message_changed = Signal(str)

    def __init__(self, editor: QPlainTextEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editor = editor
        self.find_field = QLineEdit(placeholderText="Find")
        self.replace_field = QLineEdit(placeholderText="Replace with")
        self.match_case = QCheckBox("Match case")
        self.whole_word = QCheckBox("Whole word")
        self.regex = QCheckBox("Regular expression")
        self.message = QLabel()
        self.message.setMinimumWidth(90)
        previous_button = QPushButton("Previous")
        next_button = QPushButton("Next")
        self.replace_button = QPushButton("Replace")
        self.replace_all_button = QPushButton("Replace all")
        close_button = QToolButton(text="\u2715", autoRaise=True, toolTip="Close (Esc)")

        layout = QGridLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.find_field, 0, 0)
        layout.addWidget(previous_button, 0, 1)
        layout.addWidget(next_button, 0, 2)
        layout.addWidget(self.match_case, 0, 3)
        layout.addWidget(self.whole_word, 0, 4)
        layout.addWidget(self.regex, 0, 5)
        layout.addWidget(self.message, 0, 6)
        layout.addWidget(close_button, 0, 7)
        layout.addWidget(self.replace_field, 1, 0)
        layout.addWidget(self.replace_button, 1, 1)
        layout.addWidget(self.replace_all_button, 1, 2)
        layout.setColumnStretch(0, 1)
        self._replace_row = (self.replace_field, self.replace_button, self.replace_all_button)

        self.find_field.returnPressed.connect(self.find_next)
        self.find_field.textEdited.connect(self._search_as_typed)
        self.replace_field.returnPressed.connect(self.replace)
        next_button.clicked.connect(self.find_next)
        previous_button.clicked.connect(self.find_previous)
        self.replace_button.clicked.connect(self.replace)
        self.replace_all_button.clicked.connect(self.replace_all)
        close_button.clicked.connect(self.close_bar)
        for box in (self.match_case, self.whole_word, self.regex):
            box.toggled.connect(lambda _checked: self._report_count())
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.close_bar,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence.StandardKey.FindNext, self, self.find_next,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence.StandardKey.FindPrevious, self, self.find_previous,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.hide()

    # -- opening and closing -----------------------------------------------------------

    def open_find(self) -> None:
        """Show the bar without the replace row, seeded with the selected text."""
        self._open(replace=False)

    def open_replace(self) -> None:
        """Show the bar with the replace row."""
        self._open(replace=True)

    def close_bar(self) -> None:
        """Hide the bar and give the focus back to the editor."""
        self.hide()
        self._editor.setFocus()

    def _open(self, *, replace: bool) -> None:
        selected = self._editor.textCursor().selectedText()
        if selected and "\u2029" not in selected:
            self.find_field.setText(selected)
        for widget in self._replace_row:
            widget.setVisible(replace)
        self.show()
        self.find_field.setFocus()
        self.find_field.selectAll()
        self._report_count()

    # -- searching ---------------------------------------------------------------------

    def options(self) -> SearchOptions:
        """The current search settings."""
        return SearchOptions(self.find_field.text(), self.match_case.isChecked(),
                             self.whole_word.isChecked(), self.regex.isChecked())

    def find_next(self) -> bool:
        """Select the next match after the selection, wrapping around; False if none."""
        return self._find(backward=False)

    def find_previous(self) -> bool:
        """Select the previous match before the selection, wrapping around; False if none."""
        return self._find(backward=True)

    def replace(self) -> bool:
        """Replace the selected match (if the selection is one), then find the next one."""
        pattern = self._pattern()
        if pattern is None:
            return False
        text = self._text()
        cursor = self._editor.textCursor()
        start, end = self._to_index(text, cursor.selectionStart()), self._to_index(text, cursor.selectionEnd())
        match = pattern.fullmatch(text, start, end) if cursor.hasSelection() else None
        if match is not None:
            cursor.insertText(self._replacement(match))
            self._editor.setTextCursor(cursor)
        return self.find_next()

    def replace_all(self) -> int:
        """Replace every match; returns how many. Each replacement is its own small edit,
        so collaborators' concurrent edits between matches survive."""
        pattern = self._pattern()
        if pattern is None:
            return 0
        text = self._text()
        matches = [m for m in pattern.finditer(text) if m.end() > m.start()]
        if not matches:
            self._say("No match")
            return 0
        # UTF-16 positions computed in one pass, then replaced from the end so that earlier
        # positions stay valid.
        spans = []
        offset16 = 0
        previous = 0
        for match in matches:
            offset16 += utf16_length(text[previous : match.start()])
            start16 = offset16
            offset16 += utf16_length(match.group())
            spans.append((start16, offset16, self._replacement(match)))
            previous = match.end()
        cursor = QTextCursor(self._editor.document())
        for start16, end16, replacement in reversed(spans):
            cursor.setPosition(start16)
            cursor.setPosition(end16, QTextCursor.MoveMode.KeepAnchor)
            cursor.insertText(replacement)
        self._say(f"Replaced {len(matches)}")
        return len(matches)

    # -- internals ---------------------------------------------------------------------

    def _find(self, *, backward: bool) -> bool:
        pattern = self._pattern()
        if pattern is None:
            return False
        text = self._text()
        cursor = self._editor.textCursor()
        start = self._to_index(text, cursor.selectionStart())
        end = self._to_index(text, cursor.selectionEnd())
        matches = [m for m in pattern.finditer(text) if m.end() > m.start()]
        if not matches:
            self._say("No match")
            return False
        if backward:
            before = [m for m in matches if m.start() < start]
            chosen = before[-1] if before else matches[-1]
        else:
            after = [m for m in matches if m.start() >= end and m.end() > start]
            chosen = after[0] if after else matches[0]
        selection = QTextCursor(self._editor.document())
        selection.setPosition(utf16_offset(text, chosen.start()))
        selection.setPosition(utf16_offset(text, chosen.end()), QTextCursor.MoveMode.KeepAnchor)
        self._editor.setTextCursor(selection)
        number = matches.index(chosen) + 1
        self._say(f"{number} of {len(matches)}")
        return True

    def _search_as_typed(self, _text: str) -> None:
        # Start from the selection's beginning so the current match can grow as one types.
        cursor = self._editor.textCursor()
        cursor.setPosition(cursor.selectionStart())
        self._editor.setTextCursor(cursor)
        if self.find_field.text():
            self.find_next()
        else:
            self._say("")

    def _report_count(self) -> None:
        pattern = self._pattern()
        if pattern is None:
            return
        count = sum(1 for m in pattern.finditer(self._text()) if m.end() > m.start())
        self._say(f"{count} matches" if count else "No match")

    def _pattern(self) -> re.Pattern[str] | None:
        options = self.options()
        if not options.text:
            self._say("")
            return None
        try:
            return compile_search(options)
        except re.error as error:
            self._say(f"Bad pattern: {error.msg}")
            return None

    def _replacement(self, match: re.Match[str]) -> str:
        replacement = self.replace_field.text()
        return match.expand(replacement) if self.regex.isChecked() else replacement

    def _text(self) -> str:
        return self._editor.document().toRawText().replace("\u2029", "\n")

    @staticmethod
    def _to_index(text: str, offset16: int) -> int:
        try:
            return index_from_utf16(text, offset16)
        except ValueError:
            return len(text)

    def _say(self, message: str) -> None:
        failed = message == "No match" or message.startswith("Bad pattern")
        self.message.setText(message)
        # A tinted field is the quick visual cue for "nothing found".
        self.find_field.setStyleSheet("QLineEdit { background: rgba(213, 94, 0, 60); }" if failed else "")
        self.message_changed.emit(message)

