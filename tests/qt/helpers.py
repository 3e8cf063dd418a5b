"""Helpers for widget tests: typing any text as key events, linking two documents directly."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from editor.core.document import SharedDocument

# QTest.keyClicks aborts the process on non-ASCII text: build the key events ourselves.
_SPECIAL_KEYS = {"\n": (Qt.Key.Key_Return, "\r"), "\t": (Qt.Key.Key_Tab, "\t")}


def send_key(widget: QPlainTextEdit, key: Qt.Key, text: str = "",
             modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """Deliver one press and release of `key` carrying `text`, as a keyboard would."""
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(widget, QKeyEvent(kind, key, modifiers, text))


def type_text(widget: QPlainTextEdit, text: str) -> None:
    """Type `text` one character (code point) at a time, "\\n" as Return."""
    for character in text:
        key, key_text = _SPECIAL_KEYS.get(character, (Qt.Key.Key_unknown, character))
        send_key(widget, key, key_text)


def shortcut(widget: QPlainTextEdit, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    """Send a key combination the way Qt does: ShortcutOverride first, then the key press."""
    override = QKeyEvent(QEvent.Type.ShortcutOverride, key, modifiers)
    QApplication.sendEvent(widget, override)
    send_key(widget, key, "", modifiers)


def place_caret(widget: QPlainTextEdit, position: int, anchor: int | None = None) -> None:
    """Put the caret at UTF-16 `position`, selecting from `anchor` if given."""
    cursor = QTextCursor(widget.document())
    cursor.setPosition(position if anchor is None else anchor)
    cursor.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
    widget.setTextCursor(cursor)


def link_documents(*documents: SharedDocument) -> list:
    """Deliver each document's own updates to every other one at once (no network); returns
    the unsubscribe callables."""

    def forward(origin: SharedDocument, tag: str):
        def on_update(update: bytes, source: object | None) -> None:
            if source is None:  # only the replica's own edits: everyone is linked to everyone
                for target in documents:
                    if target is not origin:
                        target.apply_update(update, tag)
        return on_update

    return [
        document.subscribe_updates(forward(document, f"peer{number}"))
        for number, document in enumerate(documents)
    ]
