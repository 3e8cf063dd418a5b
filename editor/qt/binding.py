"""Binds one QPlainTextEdit to one `SharedDocument`: local keystrokes become minimal CRDT edits,
remote changes patch the widget without echo and without pushing the local caret around.

Units: the widget counts UTF-16 code units, the document code points; `LineShadow` converts
with per-line cached lengths, so a keystroke never costs O(document).
Undo: the widget's own undo stack is disabled; Undo/Redo go to `SharedDocument.undo()/redo()`,
which undo only this peer's edits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from editor.core.document import TextDeleted, TextInserted
from editor.core.textdiff import minimal_edit
from editor.qt.shadow import LineShadow

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from editor.core.document import ChangeOrigin, SharedDocument, TextChange, Unsubscribe

log = logging.getLogger(__name__)

__all__ = ["DocumentBinding", "widget_text"]

PARAGRAPH_SEPARATOR = "\u2029"

# Characters QTextCursor.insertText turns into a block break (see QTextCursor::insertText):
# mapping each to "\n" keeps one widget unit per document code point, so offsets stay aligned
# even if a peer put "\r" or U+2029 into the shared text.
_BLOCK_BREAKS = str.maketrans({"\r": "\n", "\u2029": "\n", "\ufdd0": "\n", "\ufdd1": "\n"})


def widget_text(text: str) -> str:
    """`text` as the widget will hold it: every character Qt treats as a block break is "\\n"."""
    return text.translate(_BLOCK_BREAKS)


class DocumentBinding(QObject):
    """Keeps `editor`'s text equal to `document.text` in both directions, until `detach()`."""

    changed = Signal()  # after any change of the text, local or remote
    local_edit = Signal(int, int, str)  # (index, deleted, inserted) sent to the document

    def __init__(self, editor: QPlainTextEdit, document: SharedDocument) -> None:
        super().__init__(editor)
        self.editor = editor
        self.document = document
        self._qdoc = editor.document()
        self._applying = False  # the echo guard: True while we write into the widget
        self._last_applied_end: int | None = None  # UTF-16 end of the last applied change
        self._attached = True

        initial = widget_text(document.text)
        self._shadow = LineShadow(initial)
        self._applying = True
        try:
            editor.setPlainText(initial)
        finally:
            self._applying = False
        # The widget's undo stack would undo remote edits too; undo goes through the CRDT.
        self._qdoc.setUndoRedoEnabled(False)
        self._qdoc.contentsChange.connect(self._on_contents_change)
        editor.installEventFilter(self)
        self._unsubscribe: Unsubscribe | None = document.subscribe_changes(
            self._on_document_changes
        )

    # -- public API --------------------------------------------------------------------

    def undo(self) -> bool:
        """Undo this peer's last edit; the caret goes to where the text changed."""
        return self._with_caret_following(self.document.undo)

    def redo(self) -> bool:
        """Redo this peer's last undone edit; the caret goes to where the text changed."""
        return self._with_caret_following(self.document.redo)

    def set_text(self, text: str) -> None:
        """Make `text` the widget's text by one user edit of only the range that differs, so
        carets and selections elsewhere stay where they are (setPlainText would clear and
        re-insert everything)."""
        index, deleted, inserted = minimal_edit(self.document.text, text)
        cursor = QTextCursor(self._qdoc)
        cursor.setPosition(self.utf16_of(index))
        cursor.setPosition(self.utf16_of(index + deleted), QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(widget_text(inserted))

    def index_of_utf16(self, offset: int) -> int:
        """Code point index of widget position `offset` (UTF-16 units)."""
        return self._shadow.index_of_utf16(offset)

    def utf16_of(self, index: int) -> int:
        """Widget position (UTF-16 units) of code point `index`."""
        return self._shadow.utf16_of(index)

    def mismatch(self) -> str | None:
        """None when widget, shadow and document agree; else what differs (O(n), for tests)."""
        widget = self._qdoc.toRawText().replace(PARAGRAPH_SEPARATOR, "\n")
        shadow = self._shadow.text
        document = widget_text(self.document.text)
        if widget == shadow == document:
            return None
        return f"widget={widget[:80]!r} shadow={shadow[:80]!r} document={document[:80]!r}"

    def detach(self) -> None:
        """Stop syncing: the widget and the document keep their text but ignore each other."""
        if not self._attached:
            return
        self._attached = False
        self._qdoc.contentsChange.disconnect(self._on_contents_change)
        self.editor.removeEventFilter(self)
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None

    # -- widget -> document ------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        """Route the undo/redo key sequences to the CRDT; everything else passes through."""
        if watched is self.editor and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            key_event: QKeyEvent = event  # type: ignore[assignment]
            for sequence, action in (
                (QKeySequence.StandardKey.Undo, self.undo),
                (QKeySequence.StandardKey.Redo, self.redo),
            ):
                if key_event.matches(sequence):
                    # Claim the shortcut so a window action with the same keys does not also run.
                    event.accept()
                    if event.type() == QEvent.Type.KeyPress and not self.editor.isReadOnly():
                        action()
                    return True
        return super().eventFilter(watched, event)

    def _on_contents_change(self, position: int, removed: int, added: int) -> None:
        if self._applying:
            return
        # Qt may count the document's final block separator in both `removed` and `added`
        # (setPlainText, select-all edits): clamp to the real text and derive `removed`.
        new_length = self._qdoc.characterCount() - 1
        added = max(0, min(added, new_length - position))
        removed = added - (new_length - self._shadow.utf16_length)
        if removed < 0:
            self._resync(f"negative removed region at {position}")
            return
        block = self._qdoc.findBlock(position)
        number = block.blockNumber()
        try:
            column, old = self._shadow.read_utf16(number, position - block.position(), removed)
        except (ValueError, IndexError) as error:
            self._resync(f"bad change region ({position}, {removed}, {added}): {error}")
            return
        cursor = QTextCursor(self._qdoc)
        cursor.setPosition(position)
        cursor.setPosition(position + added, QTextCursor.MoveMode.KeepAnchor)
        new = cursor.selectedText().replace(PARAGRAPH_SEPARATOR, "\n")
        offset, deleted, inserted = minimal_edit(old, new)
        if not deleted and not inserted:
            return  # a formatting-only change, or a region Qt over-reported
        index = self._shadow.line_start(number)[0] + column + offset
        self._shadow.replace(index, deleted, inserted)
        if deleted and inserted:
            self.document.replace(index, deleted, inserted)
        elif deleted:
            self.document.delete(index, deleted)
        else:
            self.document.insert(index, inserted)
        self.local_edit.emit(index, deleted, inserted)
        self.changed.emit()

    # -- document -> widget ------------------------------------------------------------

    def _on_document_changes(self, changes: Sequence[TextChange], origin: ChangeOrigin) -> None:
        if not self._attached or not changes:
            return
        self._applying = True
        try:
            for change in changes:
                if isinstance(change, TextInserted):
                    self._apply_insert(change.index, widget_text(change.text))
                elif isinstance(change, TextDeleted):
                    self._apply_delete(change.index, change.length)
                else:
                    raise TypeError(f"unknown text change {change!r} from {origin!r}")
        except ValueError as error:
            # The document and the widget disagree about offsets: start over from the document.
            self._applying = False
            self._resync(f"remote change did not fit the widget: {error}")
            return
        finally:
            self._applying = False
        self.changed.emit()

    def _apply_insert(self, index: int, text: str) -> None:
        position = self._shadow.utf16_of(index)
        caret = self.editor.textCursor()
        caret_position, caret_anchor = caret.position(), caret.anchor()
        cursor = QTextCursor(self._qdoc)
        cursor.setPosition(position)
        cursor.insertText(text)
        self._shadow.replace(index, 0, text)
        self._last_applied_end = cursor.position()
        # Qt moves a caret sitting exactly at the insertion point after the new text; when
        # two people type at one spot that interleaves their letters. Keep the caret (and
        # the upper end of a selection) where it was; a lower selection end moves with its text.
        upper = max(caret_position, caret_anchor)
        if upper == position:
            moved = self.editor.textCursor()
            new_position = position if caret_position == upper else moved.position()
            new_anchor = position if caret_anchor == upper else moved.anchor()
            self._set_caret_quietly(new_anchor, new_position)

    def _apply_delete(self, index: int, length: int) -> None:
        start = self._shadow.utf16_of(index)
        end = self._shadow.utf16_of(index + length)
        cursor = QTextCursor(self._qdoc)
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._shadow.replace(index, length, "")
        self._last_applied_end = start

    def _set_caret_quietly(self, anchor: int, position: int) -> None:
        """Move the caret without scrolling: a remote edit must not yank the view."""
        horizontal = self.editor.horizontalScrollBar().value()
        vertical = self.editor.verticalScrollBar().value()
        cursor = QTextCursor(self._qdoc)
        cursor.setPosition(anchor)
        cursor.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
        self.editor.setTextCursor(cursor)
        self.editor.horizontalScrollBar().setValue(horizontal)
        self.editor.verticalScrollBar().setValue(vertical)

    def _with_caret_following(self, operation: Callable[[], bool]) -> bool:
        self._last_applied_end = None
        done = operation()
        if self._last_applied_end is not None:
            cursor = QTextCursor(self._qdoc)
            cursor.setPosition(min(self._last_applied_end, self._qdoc.characterCount() - 1))
            self.editor.setTextCursor(cursor)
        return done

    def _resync(self, reason: str) -> None:
        """Last resort after an inconsistency: reload the widget from the document."""
        log.error("editor binding for %s out of step (%s); reloading the text",
                  getattr(self.document, "doc_id", "?"), reason)
        text = widget_text(self.document.text)
        position = self.editor.textCursor().position()
        self._applying = True
        try:
            self.editor.setPlainText(text)
        finally:
            self._applying = False
        self._qdoc.setUndoRedoEnabled(False)
        self._shadow = LineShadow(text)
        cursor = QTextCursor(self._qdoc)
        cursor.setPosition(min(position, self._qdoc.characterCount() - 1))
        self.editor.setTextCursor(cursor)
        self.changed.emit()

