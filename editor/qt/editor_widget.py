"""The code editor widget: QPlainTextEdit with a line-number gutter, current-line highlight,
word wrap, zoom, go-to-line, syntax highlighting and remote carets with name flags."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QMimeData, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QWidget

from editor.core.offsets import index_from_utf16, utf16_offset
from editor.qt.highlighter import Language, SyntaxHighlighter

__all__ = ["CodeEditor", "RemoteCursor"]

# Documents above this size are shown without colours: a full first pass would stall opening.
HIGHLIGHT_LIMIT_CHARS = 4_000_000
_LINE_BREAKS = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\u0085": "\n"})
_MIN_POINT_SIZE = 4.0
# A name flag covers text, so it shows only for a while after its participant moves or types
# (and while the mouse is over their caret), as in other live-collaboration editors.
FLAG_SHOWN_SECONDS = 3.0
_MAX_ZOOM_STEPS = 40


@dataclass(frozen=True)
class RemoteCursor:
    """Another participant's caret and selection, in code points of the shown text."""

    client_id: int
    name: str
    color: str  # any colour QColor understands, e.g. "#E69F00"
    position: int
    anchor: int
    # Changes whenever the participant moves or types (e.g. their caret's anchors: positions
    # also shift with other people's edits); None: judged by position and anchor.
    activity: object = None

    def activity_key(self) -> object:
        return (self.position, self.anchor) if self.activity is None else self.activity


@dataclass
class _PlacedCursor:
    remote: RemoteCursor
    color: QColor
    cursor: QTextCursor  # kept up to date by the document as the text changes
    flag_until: float  # on `CodeEditor.clock`: the name flag shows until then


class _LineNumberArea(QWidget):
    """The gutter: paints the numbers of the visible lines, nothing else."""

    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self._editor = editor

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self._editor.gutter_width(), 0)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        self._editor.paint_gutter(event)


class CodeEditor(QPlainTextEdit):
    """A plain-text code editor; the text itself is kept in sync by a `DocumentBinding`."""

    zoom_changed = Signal(int)  # zoom steps from the default size
    cursor_location_changed = Signal(int, int)  # 1-based line and column (code points)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._gutter = _LineNumberArea(self)
        self._highlighter: SyntaxHighlighter | None = None
        self._remote: list[_PlacedCursor] = []
        self._hovered_caret: int | None = None  # client id of the remote caret under the mouse
        self.clock: Callable[[], float] = time.monotonic  # replaceable by tests
        self._flag_timer = QTimer(self)
        self._flag_timer.setSingleShot(True)
        self._flag_timer.timeout.connect(self._flags_expired)
        self.viewport().setMouseTracking(True)
        self._zoom_steps = 0
        # Code point index -> UTF-16 position; the binding installs its cached converter.
        self.position_of_index: Callable[[int], int] = self._position_of_index_slow

        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self._base_point_size = font.pointSizeF() if font.pointSizeF() > 0 else 10.0
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self._apply_font_metrics()

        self.blockCountChanged.connect(self._update_gutter_width)
        self.updateRequest.connect(self._update_gutter)
        self.cursorPositionChanged.connect(self._on_cursor_moved)
        self.document().contentsChange.connect(self._on_text_changed)
        self._update_gutter_width()
        self._refresh_extra_selections()

    # -- view options ------------------------------------------------------------------

    def set_word_wrap(self, enabled: bool) -> None:
        """Wrap long lines at the widget's width, or scroll horizontally."""
        mode = QPlainTextEdit.LineWrapMode.WidgetWidth if enabled else QPlainTextEdit.LineWrapMode.NoWrap
        self.setLineWrapMode(mode)

    def word_wrap(self) -> bool:
        """True when long lines wrap."""
        return self.lineWrapMode() != QPlainTextEdit.LineWrapMode.NoWrap

    def zoom_in(self, steps: int = 1) -> None:
        """Make the text `steps` points larger."""
        self.set_zoom(self._zoom_steps + steps)

    def zoom_out(self, steps: int = 1) -> None:
        """Make the text `steps` points smaller (never below a readable minimum)."""
        self.set_zoom(self._zoom_steps - steps)

    def zoom_reset(self) -> None:
        """Back to the default size."""
        self.set_zoom(0)

    def zoom(self) -> int:
        """Points added to (or taken from) the default size."""
        return self._zoom_steps

    def set_zoom(self, steps: int) -> None:
        """Set the zoom to `steps` points from the default size (clamped)."""
        lowest = int(_MIN_POINT_SIZE - self._base_point_size)
        steps = max(lowest, min(_MAX_ZOOM_STEPS, steps))
        if steps == self._zoom_steps:
            return
        self._zoom_steps = steps
        font = self.font()
        font.setPointSizeF(self._base_point_size + steps)
        self.setFont(font)
        self._apply_font_metrics()
        self.zoom_changed.emit(steps)

    def set_language(self, language: Language | None, *, dark: bool = False) -> None:
        """Highlight with `language` (None: plain text); large documents stay plain."""
        if self._highlighter is not None:
            self._highlighter.setDocument(None)
            self._highlighter.deleteLater()
            self._highlighter = None
        if language is not None and self.document().characterCount() <= HIGHLIGHT_LIMIT_CHARS:
            self._highlighter = SyntaxHighlighter(self.document(), language, dark=dark)

    def language(self) -> Language | None:
        """The highlighted language, or None."""
        return self._highlighter.language if self._highlighter is not None else None

    def set_dark(self, dark: bool) -> None:
        """Use the dark (or light) highlighting colours and current-line colour."""
        if self._highlighter is not None:
            self._highlighter.set_dark(dark)
        self._refresh_extra_selections()

    # -- navigation --------------------------------------------------------------------

    def go_to_line(self, line: int, column: int = 1) -> None:
        """Put the caret at 1-based `line` and `column` (code points), clamped, and centre it."""
        document = self.document()
        block = document.findBlockByNumber(max(0, min(line, document.blockCount()) - 1))
        text = block.text()
        column_index = max(0, min(column - 1, len(text)))
        cursor = QTextCursor(block)
        cursor.setPosition(block.position() + utf16_offset(text, column_index))
        self.setTextCursor(cursor)
        self.centerCursor()

    def cursor_location(self) -> tuple[int, int]:
        """1-based (line, column) of the caret, the column in code points."""
        cursor = self.textCursor()
        block = cursor.block()
        try:
            column = index_from_utf16(block.text(), cursor.positionInBlock())
        except ValueError:  # a caret placed inside a surrogate pair by a program
            column = cursor.positionInBlock()
        return block.blockNumber() + 1, column + 1

    # -- remote participants -----------------------------------------------------------

    def set_remote_cursors(self, cursors: Sequence[RemoteCursor]) -> None:
        """Show these remote carets and selections (replacing the previous ones)."""
        length = self.document().characterCount() - 1
        now = self.clock()
        before = {placed.remote.client_id: placed for placed in self._remote}
        placed = []
        for remote in cursors:
            cursor = QTextCursor(self.document())
            cursor.setPosition(self._clamped_position(remote.anchor, length))
            cursor.setPosition(self._clamped_position(remote.position, length),
                               QTextCursor.MoveMode.KeepAnchor)
            previous = before.get(remote.client_id)
            if previous is None or previous.remote.activity_key() != remote.activity_key():
                flag_until = now + FLAG_SHOWN_SECONDS
            else:
                flag_until = previous.flag_until
            placed.append(_PlacedCursor(remote, QColor(remote.color), cursor, flag_until))
        self._remote = placed
        self._schedule_flag_expiry()
        self._refresh_extra_selections()
        self.viewport().update()

    def show_flag(self, client_id: int) -> None:
        """Show that participant's name flag again for a while (e.g. when the user looks for them)."""
        for placed in self._remote:
            if placed.remote.client_id == client_id:
                placed.flag_until = self.clock() + FLAG_SHOWN_SECONDS
        self._schedule_flag_expiry()
        self.viewport().update()

    def flag_shown(self, client_id: int) -> bool:
        """Whether that participant's name flag is drawn now."""
        return any(placed.remote.client_id == client_id and self._flag_visible(placed, self.clock())
                   for placed in self._remote)

    def _flag_visible(self, placed: _PlacedCursor, now: float) -> bool:
        return now < placed.flag_until or placed.remote.client_id == self._hovered_caret

    def _schedule_flag_expiry(self) -> None:
        now = self.clock()
        pending = [placed.flag_until - now for placed in self._remote if placed.flag_until > now]
        if pending:
            self._flag_timer.start(int(min(pending) * 1000) + 1)
        else:
            self._flag_timer.stop()

    def _flags_expired(self) -> None:
        self.viewport().update()
        self._schedule_flag_expiry()

    def remote_cursors(self) -> list[tuple[RemoteCursor, int, int]]:
        """Each shown remote cursor with its current UTF-16 (anchor, position) in the widget."""
        return [(p.remote, p.cursor.anchor(), p.cursor.position()) for p in self._remote]

    def _clamped_position(self, index: int, length: int) -> int:
        try:
            return max(0, min(self.position_of_index(index), length))
        except ValueError:
            # Presence can run ahead of or behind the text (an index past the end): clamp.
            return length if index > 0 else 0

    def _position_of_index_slow(self, index: int) -> int:
        text = self.document().toRawText()
        return utf16_offset(text, max(0, min(index, len(text))))

    # -- painting ----------------------------------------------------------------------

    def gutter_width(self) -> int:
        """Width of the line-number gutter for the current line count and font."""
        digits = max(3, len(str(max(1, self.blockCount()))))
        return int(8 + self.fontMetrics().horizontalAdvance("9") * digits)

    def paint_gutter(self, event: QPaintEvent) -> None:
        """Paint the numbers of the visible lines (called by the gutter widget)."""
        painter = QPainter(self._gutter)
        palette = self.palette()
        painter.fillRect(event.rect(), palette.color(QPalette.ColorRole.AlternateBase))
        current = self.textCursor().blockNumber()
        block = self.firstVisibleBlock()
        top = self.blockBoundingGeometry(block).translated(self.contentOffset()).top()
        width = self._gutter.width() - 4
        height = self.fontMetrics().height()
        normal = palette.color(QPalette.ColorRole.PlaceholderText)
        highlighted = palette.color(QPalette.ColorRole.Text)
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + self.blockBoundingRect(block).height()
            if block.isVisible() and bottom >= event.rect().top():
                painter.setPen(highlighted if block.blockNumber() == current else normal)
                painter.drawText(0, int(top), width, height, Qt.AlignmentFlag.AlignRight,
                                 str(block.blockNumber() + 1))
            block = block.next()
            top = bottom
        painter.end()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        """Paint the text, then the remote carets and their name flags on top."""
        super().paintEvent(event)
        if not self._remote:
            return
        painter = QPainter(self.viewport())
        flag_font = QFont(self.font())
        flag_font.setPointSizeF(max(_MIN_POINT_SIZE, flag_font.pointSizeF() * 0.75))
        flag_metrics = QFontMetricsF(flag_font)
        painter.setFont(flag_font)
        visible = self.viewport().rect()
        now = self.clock()
        for placed in self._remote:
            caret = self.cursorRect(placed.cursor)
            if not caret.intersects(visible.adjusted(0, -caret.height(), 0, caret.height())):
                continue
            painter.fillRect(QRect(caret.left(), caret.top(), 2, caret.height()), placed.color)
            if not self._flag_visible(placed, now):
                continue
            label = placed.remote.name
            flag_width = int(flag_metrics.horizontalAdvance(label)) + 6
            flag_height = int(flag_metrics.height()) + 2
            # The flag sits above the caret's line, or below it on the first visible line.
            flag_top = caret.top() - flag_height if caret.top() >= flag_height else caret.bottom()
            flag = QRect(caret.left(), flag_top, flag_width, flag_height)
            painter.fillRect(flag, placed.color)
            painter.setPen(_readable_on(placed.color))
            painter.drawText(flag, Qt.AlignmentFlag.AlignCenter, label)
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        super().mouseMoveEvent(event)
        self._set_hovered_caret(self._remote_caret_at(event.position().toPoint()))

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().leaveEvent(event)
        self._set_hovered_caret(None)

    def _remote_caret_at(self, point: QPoint) -> int | None:
        """The client id of the remote caret at `point` (viewport coordinates), if any."""
        for placed in self._remote:
            # A few pixels either side: a caret is two pixels wide.
            if self.cursorRect(placed.cursor).adjusted(-4, 0, 4, 0).contains(point):
                return placed.remote.client_id
        return None

    def _set_hovered_caret(self, client_id: int | None) -> None:
        if client_id != self._hovered_caret:
            self._hovered_caret = client_id
            self.viewport().update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        contents = self.contentsRect()
        self._gutter.setGeometry(QRect(contents.left(), contents.top(), self.gutter_width(), contents.height()))

    # -- editing -----------------------------------------------------------------------

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 (Qt API)
        """Paste plain text with every kind of line break as "\\n" (the document holds "\\n")."""
        if source.hasText():
            text = source.text().replace("\r\n", "\n").replace("\r", "\n").translate(_LINE_BREAKS)
            self.textCursor().insertText(text)
            self.ensureCursorVisible()
        else:
            super().insertFromMimeData(source)

    def createMimeDataFromSelection(self) -> QMimeData:  # noqa: N802 (Qt API)
        """Copy plain text with "\\n" line breaks (Qt would put U+2029 in some formats)."""
        mime = QMimeData()
        mime.setText(self.textCursor().selectedText().replace("\u2029", "\n"))
        return mime

    # -- internals ---------------------------------------------------------------------

    def _apply_font_metrics(self) -> None:
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * 4)
        self._update_gutter_width()

    def _update_gutter_width(self, _count: int = 0) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)

    def _update_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self._gutter.scroll(0, dy)
        else:
            self._gutter.update(0, rect.y(), self._gutter.width(), rect.height())
        if rect.contains(self.viewport().rect()):
            self._update_gutter_width()

    def _on_cursor_moved(self) -> None:
        self._refresh_extra_selections()
        self._gutter.update()
        self.cursor_location_changed.emit(*self.cursor_location())

    def _on_text_changed(self, _position: int, _removed: int, _added: int) -> None:
        if self._remote:
            # Carets follow the text; their flags may need repainting outside the changed rect.
            self.viewport().update()

    def _refresh_extra_selections(self) -> None:
        selections = []
        current = QTextEdit.ExtraSelection()
        line_color = self.palette().color(QPalette.ColorRole.Highlight)
        line_color.setAlpha(28)
        current.format.setBackground(line_color)
        current.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        current.cursor = self.textCursor()
        current.cursor.clearSelection()
        selections.append(current)
        for placed in self._remote:
            if not placed.cursor.hasSelection():
                continue
            selection = QTextEdit.ExtraSelection()
            color = QColor(placed.color)
            color.setAlpha(70)
            selection.format.setBackground(color)
            selection.cursor = placed.cursor
            selections.append(selection)
        self.setExtraSelections(selections)


def _readable_on(background: QColor) -> QColor:
    """Black or white, whichever reads better on `background` (relative luminance)."""
    luminance = 0.2126 * background.redF() + 0.7152 * background.greenF() + 0.0722 * background.blueF()
    return QColor("black") if luminance > 0.5 else QColor("white")
