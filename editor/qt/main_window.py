"""The main window: one tab per document, menus, status bar, recent files, preferences, and
empty places (Network menu, Network panel, participants list, sync status) for collaboration.

Every tab's text lives in a `SharedDocument` bound to its editor, shared or not: sharing a
document later only attaches that document to the network.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from editor.core.document import SharedDocument
from editor.core.textfile import (
    UndecodableText,
    UnencodableText,
    decode_text_file,
    encode_text_file,
)
from editor.qt.binding import DocumentBinding
from editor.qt.editor_widget import CodeEditor
from editor.qt.find_bar import FindBar
from editor.qt.highlighter import language_for_filename
from editor.qt.network_panel import NetworkPanel
from editor.qt.participants import ParticipantsPanel
from editor.qt.preferences import Preferences, PreferencesDialog, load_preferences, save_preferences
from editor.qt.theme import is_dark
from editor.runtime.filesync import DiskWatch, merge_three_way
from editor.runtime.storage import atomic_write

__all__ = ["DocumentTab", "FileFormat", "MainWindow", "UnsavedChoice", "document_with_text"]

APP_NAME = "Chorus"
MAX_RECENT_FILES = 10
_RECENT_KEY = "recent_files"
_NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}
# Offered when a file does not decode; any name Python's codecs know is accepted as well.
ENCODING_CHOICES = ("utf-8", "cp1252", "latin-1", "utf-16", "shift_jis", "euc-jp", "gb18030",
                    "big5", "euc-kr", "koi8-r", "cp1251", "iso8859-2", "iso8859-15", "mac-roman")
# The document a file's text is first loaded through: its edits are history, not undoable.
_FILE_SOURCE = "file"
# How often open files are checked for changes made by other programs (a stat each).
DISK_CHECK_INTERVAL_MS = 500


class UnsavedChoice(Enum):
    """The answer to "save changes before closing?"."""

    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


@dataclass(frozen=True)
class FileFormat:
    """How a document is written to disk (see `editor.core.textfile`)."""

    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"


def document_with_text(text: str, doc_id: str | None = None) -> SharedDocument:
    """A new SharedDocument holding `text` as history that Undo cannot take back."""
    document = SharedDocument(doc_id or uuid.uuid4().hex)
    if text:
        loader = SharedDocument(document.doc_id)
        loader.set_text(text)
        document.apply_update(loader.encode_state(), _FILE_SOURCE)
    return document


class DocumentTab(QWidget):
    """One open document: editor, find bar, SharedDocument and its binding, file and format."""

    modified_changed = Signal(bool)
    title_changed = Signal(str)

    def __init__(self, document: SharedDocument, title: str, *, path: Path | None = None,
                 file_format: FileFormat = FileFormat(), dark: bool = False) -> None:
        super().__init__()
        self.document = document
        self.path = path
        self.file_format = file_format
        self._title = title
        self._modified = False
        # The file as this tab last loaded or saved it, to tell and merge other programs' edits.
        self.disk: DiskWatch | None = None
        self.disk_text: str | None = None
        self.file_missing = False
        self.editor = CodeEditor(self)
        self.binding = DocumentBinding(self.editor, document)
        self.editor.position_of_index = self.binding.utf16_of
        self.find_bar = FindBar(self.editor, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.editor)
        layout.addWidget(self.find_bar)
        self.editor.set_language(language_for_filename(title), dark=dark)
        self.binding.changed.connect(self._text_changed)

    def track_file(self, path: Path, text: str) -> None:
        """`path` holds `text` now (just loaded or saved): later changes there are outside ones."""
        self.path = path
        self.disk_text = text
        self.file_missing = False
        self.disk = DiskWatch(path)
        self.disk.remember()

    @property
    def title(self) -> str:
        """The name shown on the tab and in the window title."""
        return self._title

    def set_title(self, title: str) -> None:
        """Rename the tab (after Save As) and pick the language for the new name."""
        if title != self._title:
            self._title = title
            self.editor.set_language(language_for_filename(title), dark=self._dark())
            self.title_changed.emit(title)

    @property
    def modified(self) -> bool:
        """True when the text differs from what was last loaded or saved."""
        return self._modified

    def set_modified(self, modified: bool) -> None:
        """Mark the document (un)modified."""
        if modified != self._modified:
            self._modified = modified
            self.modified_changed.emit(modified)

    def _text_changed(self) -> None:
        """Modified, unless the text is back to what the file holds (undone, here or by a peer).

        The texts are compared only when their lengths match, so typing stays O(1)."""
        if self.disk_text is None or self.file_missing or len(self.document) != len(self.disk_text):
            self.set_modified(True)
        else:
            self.set_modified(self.document.text != self.disk_text)

    def _dark(self) -> bool:
        app = QGuiApplication.instance()
        return is_dark(app) if isinstance(app, QGuiApplication) else False


class MainWindow(QMainWindow):
    """The editor window; `collaboration` is the runtime's facade, or None for a local editor."""

    document_opened = Signal(object)  # DocumentTab, after it was added
    document_closed = Signal(object)  # DocumentTab, after it was removed
    preferences_changed = Signal(object)  # Preferences

    def __init__(self, collaboration: object | None = None, *, settings: QSettings | None = None) -> None:
        super().__init__()
        self.collaboration = collaboration
        # Set by the collaboration layer: True when peers hold every change of a tab that has
        # no file (a joined document in sync), so closing it loses nothing.
        self.held_by_peers: Callable[[DocumentTab], bool] | None = None
        self.settings = settings if settings is not None else QSettings()
        self.preferences: Preferences = load_preferences(self.settings)
        self._untitled_count = 0
        self.closed_without_asking = False
        self._dark = self._system_dark()

        self.tabs = QTabWidget(documentMode=True, tabsClosable=True, movable=True)
        self.tabs.tabCloseRequested.connect(lambda index: self.close_tab(self.tabs.widget(index)))
        self.tabs.currentChanged.connect(self._on_current_changed)
        # With no tab open, the window says how to get one instead of showing a blank area.
        self.empty_hint = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.empty_hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._central = QStackedWidget()
        self._central.addWidget(self.tabs)
        self._central.addWidget(self.empty_hint)
        self._central.setCurrentWidget(self.empty_hint)
        self.setCentralWidget(self._central)
        self._build_status_bar()
        self._build_network_panel()
        self._build_menus()
        self.empty_hint.setText(self._empty_hint_text())
        self.resize(1000, 700)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.styleHints().colorSchemeChanged.connect(self._on_color_scheme_changed)
        self._update_title()
        self._disk_timer = QTimer(self, interval=DISK_CHECK_INTERVAL_MS)
        self._disk_timer.timeout.connect(self.check_files_on_disk)
        self._disk_timer.start()

    # -- documents ---------------------------------------------------------------------

    def tab_list(self) -> list[DocumentTab]:
        """The open documents, in tab order."""
        return [self.tabs.widget(i) for i in range(self.tabs.count())]  # type: ignore[misc]

    def current_tab(self) -> DocumentTab | None:
        """The document in the visible tab, if any."""
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, DocumentTab) else None

    def new_document(self) -> DocumentTab:
        """Open an empty, untitled document."""
        self._untitled_count += 1
        title = "Untitled" if self._untitled_count == 1 else f"Untitled {self._untitled_count}"
        return self.add_document(document_with_text(""), title)

    def add_document(self, document: SharedDocument, title: str, *, path: Path | None = None,
                     file_format: FileFormat = FileFormat()) -> DocumentTab:
        """Show an existing SharedDocument in a new tab (a joined document, a loaded file)."""
        tab = DocumentTab(document, title, path=path, file_format=file_format, dark=self._dark)
        tab.modified_changed.connect(lambda _modified: self._refresh_tab(tab))
        tab.title_changed.connect(lambda _title: self._refresh_tab(tab))
        tab.editor.cursor_location_changed.connect(lambda line, column: self._show_location(tab))
        index = self.tabs.addTab(tab, title)
        self.tabs.setCurrentIndex(index)
        self._refresh_tab(tab)
        tab.editor.setFocus()
        self.document_opened.emit(tab)
        return tab

    def open_paths(self, paths: list[Path]) -> list[DocumentTab]:
        """Open each file (a new empty document if `paths` is empty)."""
        if not paths:
            return [self.new_document()]
        return [tab for tab in (self.open_file(path) for path in paths) if tab is not None]

    def open_file(self, path: Path, *, encoding: str | None = None) -> DocumentTab | None:
        """Open `path` in a tab (or switch to it if open); None if it could not be opened."""
        path = Path(path).absolute()
        for tab in self.tab_list():
            if tab.path == path:
                self.tabs.setCurrentWidget(tab)
                self._remember_recent(path)
                return tab
        try:
            data = path.read_bytes()
        except OSError as error:
            self._show_error("Cannot open file", f"{path.name} could not be read:\n{error.strerror or error}")
            return None
        while True:
            try:
                decoded = decode_text_file(data, encoding=encoding)
                break
            except (UndecodableText, LookupError) as error:
                encoding = self.ask_encoding(path, str(error))
                if encoding is None:
                    return None
        file_format = FileFormat(decoded.encoding, decoded.bom, decoded.newline)
        tab = self.add_document(document_with_text(decoded.text), path.name, path=path, file_format=file_format)
        tab.track_file(path, decoded.text)
        self._remember_recent(path)
        return tab

    def check_files_on_disk(self) -> None:
        """Merge what other programs saved into the open files since this window last looked."""
        for tab in self.tab_list():
            self._merge_outside_change(tab)

    def _merge_outside_change(self, tab: DocumentTab, *, settled: bool = True) -> None:
        """Three-way merge of the file's new text with the tab's (the last loaded or saved text
        as the base), as `chorus serve` does: nothing typed on either side is lost."""
        if tab.disk is None:
            return
        try:
            data = tab.disk.read_change(settled=settled)
            if data is None:
                return
            try:
                decoded = decode_text_file(data)
            except UndecodableText:  # as when it was opened: the encoding the user chose then
                decoded = decode_text_file(data, encoding=tab.file_format.encoding)
        except FileNotFoundError:
            if not tab.file_missing:
                tab.file_missing = True
                tab.disk.forget()
                tab.set_modified(True)  # closing it now loses the text: ask first
                self.statusBar().showMessage(f"{tab.title} was deleted or moved by another program", 10000)
            return
        except (OSError, UndecodableText, LookupError) as error:
            self.statusBar().showMessage(f"{tab.title} changed on disk but cannot be read: {error}", 10000)
            return
        tab.file_missing = False
        if decoded.text == tab.disk_text:
            return
        base = tab.disk_text if tab.disk_text is not None else tab.document.text
        unsaved = tab.document.text != base
        merged = merge_three_way(base, decoded.text, tab.document.text)
        if merged != tab.document.text:
            tab.binding.set_text(merged)
        tab.disk_text = decoded.text
        tab.file_format = FileFormat(decoded.encoding, decoded.bom, decoded.newline)
        tab.set_modified(tab.document.text != decoded.text)
        self._show_format(tab)
        outcome = "merged with your unsaved edits" if unsaved else "reloaded"
        self.statusBar().showMessage(f"{tab.title} was changed by another program: {outcome}", 5000)

    def save(self, tab: DocumentTab | None = None) -> bool:
        """Write the document to its file (asking for one if it has none); True if saved."""
        tab = tab or self.current_tab()
        if tab is None:
            return False
        if tab.path is None:
            return self.save_as(tab)
        # A change another program saved since the last check is merged, never overwritten.
        self._merge_outside_change(tab, settled=False)
        return self._write(tab, tab.path)

    def save_as(self, tab: DocumentTab | None = None, path: Path | None = None) -> bool:
        """Write the document to a new file; True if saved."""
        tab = tab or self.current_tab()
        if tab is None:
            return False
        if path is None:
            path = self.ask_save_path(tab)
            if path is None:
                return False
        path = Path(path).absolute()
        if not self._write(tab, path):
            return False
        tab.path = path
        tab.set_title(path.name)
        self._remember_recent(path)
        return True

    def close_tab(self, tab: DocumentTab | None = None) -> bool:
        """Close a tab, asking about unsaved changes; False if the user cancelled."""
        tab = tab or self.current_tab()
        if tab is None:
            return True
        if self.needs_saving(tab):
            self.tabs.setCurrentWidget(tab)
            choice = self.ask_unsaved([tab])
            if choice is UnsavedChoice.CANCEL or (choice is UnsavedChoice.SAVE and not self.save(tab)):
                return False
        tab.binding.detach()
        self.tabs.removeTab(self.tabs.indexOf(tab))
        self.document_closed.emit(tab)
        tab.deleteLater()
        self._update_title()
        return True

    def needs_saving(self, tab: DocumentTab) -> bool:
        """Whether closing `tab` would lose changes: it is modified, and it is a file or a
        document that no peer holds in full."""
        if not tab.modified:
            return False
        return tab.path is not None or self.held_by_peers is None or not self.held_by_peers(tab)

    # -- dialogs (methods so tests and embedders can answer them) ----------------------

    def ask_open_paths(self) -> list[Path]:
        """Ask which files to open."""
        names, _ = QFileDialog.getOpenFileNames(self, "Open", self._last_folder())
        return [Path(name) for name in names]

    def ask_save_path(self, tab: DocumentTab) -> Path | None:
        """Ask where to save `tab`."""
        start = str(tab.path) if tab.path else os.path.join(self._last_folder(), tab.title)
        name, _ = QFileDialog.getSaveFileName(self, "Save As", start)
        return Path(name) if name else None

    def ask_unsaved(self, tabs: list[DocumentTab]) -> UnsavedChoice:
        """Ask whether to save the unsaved `tabs` before they close."""
        names = ", ".join(tab.title for tab in tabs)
        box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME,
                          f"Save changes to {names} before closing?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("Your changes will be lost if you don't save them.")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return UnsavedChoice.SAVE
        if answer == QMessageBox.StandardButton.Discard:
            return UnsavedChoice.DISCARD
        return UnsavedChoice.CANCEL

    def ask_encoding(self, path: Path, problem: str) -> str | None:
        """Explain why `path` cannot be opened as text and offer an encoding; None to give up."""
        box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME,
                          f"{path.name} cannot be opened as text.", parent=self)
        box.setInformativeText(f"{problem}\n\nIf it is text in another encoding, choose that encoding.")
        choose = box.addButton("Choose Encoding…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is not choose:
            return None
        encoding, accepted = QInputDialog.getItem(self, "Open with Encoding",
                                                  f"Encoding for {path.name}:", list(ENCODING_CHOICES),
                                                  0, True)
        if not accepted:
            return None
        return encoding.strip() or None

    def ask_save_unencodable(self, tab: DocumentTab, problem: str) -> bool:
        """Ask whether to save as UTF-8 because the file's encoding cannot hold the text."""
        answer = QMessageBox.question(
            self, APP_NAME,
            f"{tab.title} cannot be saved as {tab.file_format.encoding}: {problem}.\n\nSave it as UTF-8 instead?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_go_to_line(self) -> tuple[int, int] | None:
        """Ask for "line" or "line:column"."""
        text, accepted = QInputDialog.getText(self, "Go to Line", "Line[:column]:")
        if not accepted:
            return None
        line, _, column = text.strip().partition(":")
        try:
            return int(line), int(column or 1)
        except ValueError:
            return None

    # -- actions -----------------------------------------------------------------------

    def open_with_dialog(self) -> None:
        """File > Open."""
        for path in self.ask_open_paths():
            self.open_file(path)

    def go_to_line(self) -> None:
        """Edit > Go to Line."""
        tab = self.current_tab()
        target = self.ask_go_to_line() if tab is not None else None
        if tab is not None and target is not None:
            tab.editor.go_to_line(*target)

    def edit_preferences(self) -> None:
        """File > Preferences: edit, persist and announce the preferences."""
        dialog = PreferencesDialog(self.preferences, self)
        if dialog.exec() == PreferencesDialog.DialogCode.Accepted:
            self.set_preferences(dialog.preferences())

    def set_preferences(self, preferences: Preferences) -> None:
        """Adopt and persist `preferences`."""
        self.preferences = preferences
        save_preferences(self.settings, preferences)
        self.preferences_changed.emit(preferences)

    def set_sync_status(self, text: str) -> None:
        """Show the collaboration state of the current document in the status bar."""
        self.sync_label.setText(text)
        self.sync_label.setVisible(bool(text))

    def recent_files(self) -> list[Path]:
        """Recently opened or saved files, most recent first."""
        value = self.settings.value(_RECENT_KEY, [])
        names = [value] if isinstance(value, str) else list(value or [])
        return [Path(name) for name in names if name]

    def close_without_asking(self) -> None:
        """Close now, asking nothing (a logout or a kill signal); whoever calls this keeps the
        unsaved documents some other way (`editor.qt.recovery`)."""
        self.closed_without_asking = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Ask about every unsaved document before the window closes."""
        unsaved = [tab for tab in self.tab_list() if self.needs_saving(tab)]
        if unsaved and not self.closed_without_asking:
            choice = self.ask_unsaved(unsaved)
            if choice is UnsavedChoice.CANCEL or (
                choice is UnsavedChoice.SAVE and not all(self.save(tab) for tab in unsaved)
            ):
                event.ignore()
                return
        self.settings.setValue("window/geometry", self.saveGeometry())
        for tab in self.tab_list():
            tab.binding.detach()
        event.accept()

    # -- building ----------------------------------------------------------------------

    def _build_menus(self) -> None:
        menu_bar = self.menuBar()
        file_menu = menu_bar.addMenu("&File")
        self.new_action = self._action(file_menu, "&New", QKeySequence.StandardKey.New, self.new_document)
        self.open_action = self._action(file_menu, "&Open…", QKeySequence.StandardKey.Open, self.open_with_dialog)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.save_action = self._action(file_menu, "&Save", QKeySequence.StandardKey.Save, self.save)
        self.save_as_action = self._action(file_menu, "Save &As…", QKeySequence("Ctrl+Shift+S"), self.save_as)
        self.close_action = self._action(file_menu, "&Close", QKeySequence("Ctrl+W"), self.close_tab)
        file_menu.addSeparator()
        self.preferences_action = self._action(file_menu, "Pre&ferences…", QKeySequence.StandardKey.Preferences,
                                               self.edit_preferences)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", QKeySequence("Ctrl+Q"), self.close)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit_menu = menu_bar.addMenu("&Edit")
        self.undo_action = self._action(edit_menu, "&Undo", QKeySequence.StandardKey.Undo,
                                        lambda: self._with_tab(lambda tab: tab.binding.undo()))
        self.redo_action = self._action(edit_menu, "&Redo", QKeySequence("Ctrl+Shift+Z"),
                                        lambda: self._with_tab(lambda tab: tab.binding.redo()))
        edit_menu.addSeparator()
        self._action(edit_menu, "Cu&t", QKeySequence.StandardKey.Cut, lambda: self._with_tab(lambda t: t.editor.cut()))
        self._action(edit_menu, "&Copy", QKeySequence.StandardKey.Copy, lambda: self._with_tab(lambda t: t.editor.copy()))
        self._action(edit_menu, "&Paste", QKeySequence.StandardKey.Paste,
                     lambda: self._with_tab(lambda t: t.editor.paste()))
        self._action(edit_menu, "Select &All", QKeySequence.StandardKey.SelectAll,
                     lambda: self._with_tab(lambda t: t.editor.selectAll()))
        edit_menu.addSeparator()
        self._action(edit_menu, "&Find…", QKeySequence.StandardKey.Find,
                     lambda: self._with_tab(lambda t: t.find_bar.open_find()))
        self._action(edit_menu, "&Replace…", QKeySequence("Ctrl+H"),
                     lambda: self._with_tab(lambda t: t.find_bar.open_replace()))
        self._action(edit_menu, "&Go to Line…", QKeySequence("Ctrl+G"), self.go_to_line)

        view_menu = menu_bar.addMenu("&View")
        self.word_wrap_action = self._action(view_menu, "&Word Wrap", QKeySequence("Alt+Z"), self._apply_word_wrap)
        self.word_wrap_action.setCheckable(True)
        self.word_wrap_action.setChecked(self.settings.value("view/word_wrap", "false") in (True, "true"))
        view_menu.addSeparator()
        self._action(view_menu, "Zoom &In", QKeySequence.StandardKey.ZoomIn, lambda: self._zoom(+1))
        self._action(view_menu, "Zoom &Out", QKeySequence.StandardKey.ZoomOut, lambda: self._zoom(-1))
        self._action(view_menu, "&Reset Zoom", QKeySequence("Ctrl+0"), lambda: self._zoom(None))
        view_menu.addSeparator()
        view_menu.addAction(self.network_dock.toggleViewAction())

        # Connected by the collaboration layer (editor.qt.collaboration); idle without it.
        self.network_menu = menu_bar.addMenu("&Network")
        self.share_action = self.network_menu.addAction("&Share Document")
        self.share_action.setCheckable(True)
        self.copy_link_action = self.network_menu.addAction("&Copy Link")
        self.join_action = self.network_menu.addAction("&Join from Link…")
        self.connect_action = self.network_menu.addAction("Connect to &Address…")
        for action in (self.share_action, self.copy_link_action, self.join_action, self.connect_action):
            action.setEnabled(False)
        self.network_menu.addSeparator()
        self.network_menu.addAction(self.network_dock.toggleViewAction())

    def _action(self, menu: QMenu, text: str, shortcut: QKeySequence | QKeySequence.StandardKey,
                slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.sync_label = QLabel()
        self.sync_label.hide()
        self.location_label = QLabel()
        self.encoding_label = QLabel()
        self.newline_label = QLabel()
        # Permanent, like the others: the left part belongs to transient messages ("Joined ..."),
        # which would otherwise be drawn over it.
        self.sync_label.setContentsMargins(8, 0, 8, 0)
        status.addPermanentWidget(self.sync_label)
        for label in (self.location_label, self.encoding_label, self.newline_label):
            label.setContentsMargins(8, 0, 8, 0)
            status.addPermanentWidget(label)

    def _build_network_panel(self) -> None:
        """A dock for peers and participants; the collaboration layer fills the lists."""
        self.network_dock = QDockWidget("Network", self)
        self.network_dock.setObjectName("network_dock")
        panel = QSplitter(Qt.Orientation.Vertical)
        self.network_panel = NetworkPanel()
        self.peers_list = self.network_panel.tree
        self.participants_panel = ParticipantsPanel()
        self.participants_list = self.participants_panel.list
        panel.addWidget(self.network_panel)
        panel.addWidget(self.participants_panel)
        panel.setStretchFactor(0, 3)
        panel.setStretchFactor(1, 2)
        self.network_dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.network_dock)
        self.network_dock.setVisible(self.collaboration is not None)

    # -- internals ---------------------------------------------------------------------

    def _with_tab(self, operation) -> None:
        tab = self.current_tab()
        if tab is not None:
            operation(tab)

    def _write(self, tab: DocumentTab, path: Path) -> bool:
        text = tab.document.text
        file_format = tab.file_format
        try:
            data = encode_text_file(text, file_format.encoding, file_format.bom, file_format.newline)
        except UnencodableText as error:
            if not self.ask_save_unencodable(tab, str(error)):
                return False
            file_format = replace(file_format, encoding="utf-8", bom=False)
            data = encode_text_file(text, "utf-8", False, file_format.newline)
        try:
            atomic_write(path, data)
        except OSError as error:
            self._show_error("Cannot save file", f"{path.name} could not be written:\n{error.strerror or error}")
            return False
        tab.track_file(path, text)
        tab.file_format = file_format
        tab.set_modified(False)
        self._show_format(tab)
        return True

    def _remember_recent(self, path: Path) -> None:
        recent = [str(path)] + [str(p) for p in self.recent_files() if p != path]
        self.settings.setValue(_RECENT_KEY, recent[:MAX_RECENT_FILES])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_file(p))
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", lambda: self.settings.remove(_RECENT_KEY))

    def _last_folder(self) -> str:
        recent = self.recent_files()
        return str(recent[0].parent) if recent else str(Path.home())

    def _refresh_tab(self, tab: DocumentTab) -> None:
        index = self.tabs.indexOf(tab)
        if index >= 0:
            self.tabs.setTabText(index, ("\u25cf " if tab.modified else "") + tab.title)
            self.tabs.setTabToolTip(index, str(tab.path) if tab.path else tab.title)
        if tab is self.current_tab():
            self._update_title()

    def _update_title(self) -> None:
        tab = self.current_tab()
        if tab is None:
            self.setWindowTitle(APP_NAME)
            self.setWindowModified(False)
        else:
            # "[*]" is where Qt shows the modified marker ("*", or a dot on macOS).
            self.setWindowTitle(f"{tab.title}[*] \u2014 {APP_NAME}")
            self.setWindowModified(tab.modified)

    def _empty_hint_text(self) -> str:
        def keys(action: QAction) -> str:
            return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)

        lines = ["No document is open.", "",
                 f"File \u2192 New ({keys(self.new_action)}) or Open\u2026 ({keys(self.open_action)})"]
        if self.collaboration is not None:
            lines.append("or join a document a peer shares: double-click it in the Network panel,"
                         " or Network \u2192 Join from Link\u2026")
        return "\n".join(lines)

    def _on_current_changed(self, _index: int) -> None:
        tab = self.current_tab()
        self._central.setCurrentWidget(self.tabs if self.tabs.count() else self.empty_hint)
        self._update_title()
        for label in (self.location_label, self.encoding_label, self.newline_label):
            label.setVisible(tab is not None)
        if tab is not None:
            tab.editor.set_word_wrap(self.word_wrap_action.isChecked())
            self._show_location(tab)
            self._show_format(tab)

    def _show_location(self, tab: DocumentTab) -> None:
        if tab is self.current_tab():
            line, column = tab.editor.cursor_location()
            self.location_label.setText(f"Ln {line}, Col {column}")

    def _show_format(self, tab: DocumentTab) -> None:
        if tab is self.current_tab():
            file_format = tab.file_format
            self.encoding_label.setText(file_format.encoding.upper() + (" with BOM" if file_format.bom else ""))
            self.newline_label.setText(_NEWLINE_NAMES.get(file_format.newline, "?"))

    def _apply_word_wrap(self) -> None:
        enabled = self.word_wrap_action.isChecked()
        self.settings.setValue("view/word_wrap", enabled)
        for tab in self.tab_list():
            tab.editor.set_word_wrap(enabled)

    def _zoom(self, steps: int | None) -> None:
        tab = self.current_tab()
        if tab is None:
            return
        if steps is None:
            tab.editor.zoom_reset()
        elif steps > 0:
            tab.editor.zoom_in(steps)
        else:
            tab.editor.zoom_out(-steps)

    def _system_dark(self) -> bool:
        app = QGuiApplication.instance()
        return is_dark(app) if isinstance(app, QGuiApplication) else False

    def _on_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        self._dark = self._system_dark()
        for tab in self.tab_list():
            tab.editor.set_dark(self._dark)

    def _show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)
