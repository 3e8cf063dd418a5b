"""Unsaved work survives a crash, a kill or a logout: the window's unsaved documents are written
to a `RecoverySession` a moment after each change, and the next start offers them back.

A logout (SIGTERM) closes the window without asking (`MainWindow.close_without_asking`) and
keeps the session's documents; a normal close asks as usual and then removes them.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QMessageBox

from editor.core.document import InvalidUpdate, SharedDocument
from editor.qt.main_window import APP_NAME, DocumentTab, FileFormat, MainWindow, document_with_text
from editor.runtime.filesync import merge_three_way
from editor.runtime.node import Node
from editor.runtime.recovery import ClaimedSession, RecoveredDocument, RecoverySession

__all__ = ["RECOVERY_DELAY_MS", "RecoveryKeeper", "RestoreChoice", "restore_unsaved_work"]

log = logging.getLogger(__name__)

# How soon after a change the document is written down: a crash loses at most this much typing.
RECOVERY_DELAY_MS = 1000


class RecoveryKeeper(QObject):
    """Writes every tab that would lose changes if closed (`MainWindow.needs_saving`) to the
    session, at most once per `RECOVERY_DELAY_MS`, and removes it once saved or closed."""

    def __init__(self, window: MainWindow, session: RecoverySession) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self._keys: dict[DocumentTab, str] = {}
        self._dirty: set[DocumentTab] = set()
        self._failed = False
        self._timer = QTimer(self, singleShot=True, interval=RECOVERY_DELAY_MS)
        self._timer.timeout.connect(self.flush)
        window.document_opened.connect(self._tab_opened)
        window.document_closed.connect(self._tab_closed)
        for tab in window.tab_list():
            self._tab_opened(tab)

    def _tab_opened(self, tab: DocumentTab) -> None:
        self._keys[tab] = secrets.token_hex(8)
        tab.binding.changed.connect(lambda: self._changed(tab))
        tab.modified_changed.connect(lambda _modified: self._changed(tab))
        self._changed(tab)  # a restored document is unsaved from the start

    def _tab_closed(self, tab: DocumentTab) -> None:
        self._dirty.discard(tab)
        key = self._keys.pop(tab, None)
        if key is not None:
            self.session.remove(key)

    def _changed(self, tab: DocumentTab) -> None:
        self._dirty.add(tab)
        if not self._timer.isActive():  # not restarted: steady typing is written every second
            self._timer.start()

    def flush(self) -> None:
        """Write down (or forget) every tab changed since the last flush, now."""
        self._timer.stop()
        dirty, self._dirty = self._dirty, set()
        for tab in dirty:
            key = self._keys.get(tab)
            if key is None:
                continue
            try:
                if self.window.needs_saving(tab):
                    self.session.write(_record(tab, key, self.window.tabs.indexOf(tab), self._node()))
                else:
                    self.session.remove(key)
            except OSError as error:
                if not self._failed:  # once: a full disk would say so on every keystroke
                    self._failed = True
                    log.warning("cannot keep unsaved work in %s: %s", self.session.folder, error)
                    self.window.statusBar().showMessage(
                        f"Unsaved work cannot be kept for recovery: {error.strerror or error}", 10000)
            else:
                self._failed = False

    def _node(self) -> Node | None:
        """The running node (the app sets `window.collaboration` once it has started)."""
        node = self.window.collaboration
        return node if isinstance(node, Node) else None

    def finish(self, *, keep: bool) -> None:
        """At exit: `keep` writes every unsaved tab down for the next start (closed without
        asking); otherwise the user has answered for them and the session goes."""
        if keep:
            self._dirty.update(self._keys)
            self.flush()
        self._timer.stop()
        self.session.close(keep=keep)


def _record(tab: DocumentTab, key: str, position: int, node: Node | None) -> RecoveredDocument:
    entry = node.documents.get(tab.document.doc_id) if node is not None else None
    joined = entry is not None and entry.origin_peer is not None and entry.document is tab.document
    return RecoveredDocument(
        key=key,
        title=tab.title,
        text=tab.document.text,
        path=str(tab.path) if tab.path is not None else None,
        base=tab.disk_text if tab.path is not None else None,
        encoding=tab.file_format.encoding,
        bom=tab.file_format.bom,
        newline=tab.file_format.newline,
        written_at=time.time(),
        position=max(0, position),
        doc_id=tab.document.doc_id if joined else None,
        crdt=base64.b64encode(tab.document.encode_state()).decode("ascii") if joined else None,
        origin_peer=entry.origin_peer if joined else None,
    )


class RestoreChoice(Enum):
    """The answer to "restore the unsaved work of the last session?"."""

    RESTORE = "restore"
    DISCARD = "discard"
    LATER = "later"  # keep it for the next start


def ask_restore(window: MainWindow, documents: Sequence[RecoveredDocument]) -> RestoreChoice:
    """Ask whether to reopen `documents` (the default) or throw them away."""
    names = ", ".join(document.title for document in documents)
    box = QMessageBox(QMessageBox.Icon.Question, APP_NAME,
                      f"Chorus was closed without saving {names}. Restore the unsaved work?",
                      parent=window)
    box.setInformativeText("Restored documents open as unsaved tabs; what was saved to their "
                           "files since is merged in.")
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.exec()
    if box.clickedButton() is restore:
        return RestoreChoice.RESTORE
    if box.clickedButton() is discard:
        return RestoreChoice.DISCARD
    return RestoreChoice.LATER


def restore_unsaved_work(window: MainWindow, sessions: Sequence[ClaimedSession], *,
                         node: Node | None = None, ask=ask_restore) -> list[DocumentTab]:
    """Offer the documents of `sessions` (claimed orphans) back; the restored tabs. With the
    running `node`, joined documents are held again and merge with their peers'."""
    documents = [document for session in sessions for document in session.documents()]
    choice = ask(window, documents) if documents else RestoreChoice.DISCARD
    restored = []
    if choice is RestoreChoice.RESTORE:
        pristine = [tab for tab in window.tab_list()
                    if tab.path is None and not tab.modified and not tab.document.text]
        restored = [restore_document(window, document, node) for document in documents]
        for tab in pristine:  # the empty "Untitled" a start opens is not wanted beside them
            window.close_tab(tab)
    for session in sessions:
        if choice is RestoreChoice.LATER:
            session.release()
        else:
            session.discard()  # restored tabs are kept by this session from now on
    return restored


def restore_document(window: MainWindow, document: RecoveredDocument, node: Node | None = None) -> DocumentTab:
    """Open a tab holding `document`'s text, unsaved. A file saved since it was written down is
    merged with it three-way, as an outside change to an open file is; a joined document is
    held by `node` again, to merge with its peers' copies (without a node: its text only)."""
    file_format = FileFormat(document.encoding, document.bom, document.newline)
    if node is not None and document.doc_id is not None and document.crdt is not None:
        joined = _restore_joined(window, document, node)
        if joined is not None:
            return joined
    if document.path is None:
        tab = window.add_document(document_with_text(document.text), document.title, file_format=file_format)
        tab.set_modified(True)
        return tab
    path = Path(document.path)
    # Opened as any file is (or the tab this start opened already): its text now is `disk_text`.
    tab = window.open_file(path, encoding=document.encoding) if path.exists() else None
    if tab is None or tab.disk_text is None:  # gone, or unreadable: saving writes it again
        tab = window.add_document(document_with_text(document.text), path.name, path=path,
                                  file_format=file_format)
        tab.file_missing = True
        tab.set_modified(True)
        return tab
    on_disk = tab.disk_text
    base = document.base if document.base is not None else on_disk
    text = document.text if on_disk == base else merge_three_way(base, on_disk, document.text)
    tab.binding.set_text(text)  # marks the tab modified unless it is the file's text
    tab.editor.moveCursor(QTextCursor.MoveOperation.Start)  # as a freshly opened file
    return tab


def _restore_joined(window: MainWindow, document: RecoveredDocument, node: Node) -> DocumentTab | None:
    """Hold a joined document again from its CRDT state; None if the state is unusable."""
    assert document.doc_id is not None and document.crdt is not None
    rebuilt = SharedDocument(document.doc_id)
    try:
        rebuilt.apply_update(base64.b64decode(document.crdt, validate=True), "recovery")
    except (ValueError, InvalidUpdate) as error:  # binascii.Error is a ValueError
        log.warning("restoring %s as text only: its kept state is unusable: %s", document.title, error)
        return None
    entry = node.hold_restored(rebuilt, document.title, document.origin_peer)
    for tab in window.tab_list():
        if tab.document is entry.document:  # held and open already: it has the edits now
            window.tabs.setCurrentWidget(tab)
            return tab
    tab = window.add_document(entry.document, document.title)
    tab.set_modified(True)
    return tab
