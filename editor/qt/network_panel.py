"""The Network panel: peers found on the LAN and connected peers with the documents they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from editor.qt.links import parse_host_port
from editor.runtime.events import RemoteDocument

__all__ = ["NetworkPanel", "PeerRow", "PeerState"]

_PEER_ID_ROLE = Qt.ItemDataRole.UserRole
_DOCUMENT_ROLE = Qt.ItemDataRole.UserRole + 1
_UNREACHABLE_ROLE = Qt.ItemDataRole.UserRole + 2  # "host:port" on an UNREACHABLE row


class PeerState(Enum):
    """What the panel knows of a peer."""

    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    FOUND = "found on the network"  # advertised, no link (yet)
    UNREACHABLE = "cannot reach"  # an address given by the user that has never answered


@dataclass(frozen=True)
class PeerRow:
    """One peer as the panel shows it, with the documents it shares."""

    peer_id: str
    name: str
    state: PeerState
    address: str
    documents: tuple[RemoteDocument, ...] = ()
    reason: str = ""  # why an UNREACHABLE address did not answer


class NetworkPanel(QWidget):
    """Lists peers and their documents; double-click or Open on a document asks to join it."""

    join_requested = Signal(str, object)  # peer id, RemoteDocument
    connect_requested = Signal(str, int)  # host, port
    stop_connecting_requested = Signal(str)  # "host:port" of an UNREACHABLE row

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.address_label = QLabel()
        self.address_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Peer / document", "Status"])
        self.tree.setRootIsDecorated(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemDoubleClicked.connect(lambda item, _column: self._join(item))
        self.tree.currentItemChanged.connect(lambda _current, _previous: self._update_buttons())
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._show_context_menu)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Join the selected document in a new tab")
        self.open_button.clicked.connect(lambda: self._join(self.tree.currentItem()))
        self.connect_button = QPushButton("Connect to Address…")
        self.connect_button.setToolTip("For networks where peers cannot find each other")
        self.connect_button.clicked.connect(self.connect_with_dialog)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.connect_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.address_label)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self._document_states: dict[str, str] = {}
        self._rows: tuple[PeerRow, ...] = ()
        self._update_buttons()

    # -- contents ----------------------------------------------------------------------

    def set_own_address(self, text: str) -> None:
        """Show where peers can reach us (e.g. "You: alice at 192.168.1.5:4117")."""
        self.address_label.setText(text)

    def set_peers(self, rows: Sequence[PeerRow], document_states: dict[str, str] | None = None) -> None:
        """Show these peers; `document_states` labels documents already held (by id)."""
        rows = tuple(rows)
        states = dict(document_states or {})
        if rows == self._rows and states == self._document_states:
            return  # nothing changed: keep the selection and scroll position untouched
        self._rows, self._document_states = rows, states
        selected = self._selected_key()
        expanded = {self._key(self.tree.topLevelItem(i)) for i in range(self.tree.topLevelItemCount())
                    if self.tree.topLevelItem(i).isExpanded()}
        self.tree.clear()
        for row in rows:
            peer_item = QTreeWidgetItem([row.name, row.state.value])
            peer_item.setData(0, _PEER_ID_ROLE, row.peer_id)
            if row.state is PeerState.UNREACHABLE:
                peer_item.setData(0, _UNREACHABLE_ROLE, row.address)
                tip = (f"Cannot reach {row.address}: {row.reason}. Chorus keeps trying; "
                       "right-click to stop.")
                peer_item.setToolTip(0, tip)
                peer_item.setToolTip(1, tip)
            else:
                peer_item.setToolTip(0, f"{row.name} ({row.peer_id}) at {row.address}")
            for document in row.documents:
                label = states.get(document.doc_id, "")
                item = QTreeWidgetItem([document.title, label])
                item.setData(0, _PEER_ID_ROLE, row.peer_id)
                item.setData(0, _DOCUMENT_ROLE, document)
                item.setToolTip(0, f"{document.title}: {document.length} characters (id {document.doc_id})")
                peer_item.addChild(item)
            self.tree.addTopLevelItem(peer_item)
            key = self._key(peer_item)
            peer_item.setExpanded(key in expanded or not expanded)
        self._select(selected)
        self._update_buttons()

    def document_items(self) -> list[tuple[str, RemoteDocument]]:
        """Every listed document as (peer id, document), in display order."""
        found = []
        for i in range(self.tree.topLevelItemCount()):
            peer_item = self.tree.topLevelItem(i)
            for j in range(peer_item.childCount()):
                child = peer_item.child(j)
                found.append((child.data(0, _PEER_ID_ROLE), child.data(0, _DOCUMENT_ROLE)))
        return found

    def peer_states(self) -> dict[str, str]:
        """Peer name -> shown status (for tests and accessibility checks)."""
        return {self.tree.topLevelItem(i).text(0): self.tree.topLevelItem(i).text(1)
                for i in range(self.tree.topLevelItemCount())}

    def select_document(self, doc_id: str) -> bool:
        """Make the listed document `doc_id` the current item; False if it is not listed."""
        return self._select(("doc", doc_id))

    # -- actions -----------------------------------------------------------------------

    def ask_address(self) -> str | None:
        """Ask for HOST:PORT (a method so tests can answer it)."""
        text, accepted = QInputDialog.getText(self, "Connect to Address",
                                              "Peer address (HOST:PORT):")
        return text if accepted else None

    def connect_with_dialog(self) -> None:
        """Ask for an address and ask to connect to it; tell the user if it is malformed."""
        while True:
            text = self.ask_address()
            if not text:
                return
            try:
                host, port = parse_host_port(text)
            except ValueError as error:
                self.address_label.setText(f"Not an address: {error}")
                continue
            self.connect_requested.emit(host, port)
            return

    def context_actions(self, item: QTreeWidgetItem | None) -> list[QAction]:
        """The context menu's actions for `item` (a method so tests can trigger them)."""
        actions = []
        if item is not None and isinstance(item.data(0, _DOCUMENT_ROLE), RemoteDocument):
            join = QAction("Open", self)
            join.triggered.connect(lambda: self._join(item))
            actions.append(join)
        address = item.data(0, _UNREACHABLE_ROLE) if item is not None else None
        if isinstance(address, str):
            stop = QAction("Stop Connecting", self)
            stop.triggered.connect(lambda: self.stop_connecting_requested.emit(address))
            actions.append(stop)
        return actions

    def _show_context_menu(self, point: QPoint) -> None:
        actions = self.context_actions(self.tree.itemAt(point))
        if actions:
            QMenu.exec(actions, self.tree.viewport().mapToGlobal(point), None, self)

    def open_selected(self) -> None:
        """Join the selected document (the Open button)."""
        self._join(self.tree.currentItem())

    def _join(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            return
        document = item.data(0, _DOCUMENT_ROLE)
        if isinstance(document, RemoteDocument):
            self.join_requested.emit(item.data(0, _PEER_ID_ROLE), document)

    def _update_buttons(self) -> None:
        item = self.tree.currentItem()
        self.open_button.setEnabled(item is not None and isinstance(item.data(0, _DOCUMENT_ROLE), RemoteDocument))

    @staticmethod
    def _key(item: QTreeWidgetItem | None) -> tuple[str, str] | None:
        if item is None:
            return None
        document = item.data(0, _DOCUMENT_ROLE)
        if isinstance(document, RemoteDocument):
            return ("doc", document.doc_id)
        return ("peer", str(item.data(0, _PEER_ID_ROLE)))

    def _selected_key(self) -> tuple[str, str] | None:
        return self._key(self.tree.currentItem())

    def _select(self, key: tuple[str, str] | None) -> bool:
        if key is None:
            return False
        for i in range(self.tree.topLevelItemCount()):
            peer_item = self.tree.topLevelItem(i)
            candidates = [peer_item] + [peer_item.child(j) for j in range(peer_item.childCount())]
            for item in candidates:
                if self._key(item) == key:
                    self.tree.setCurrentItem(item)
                    return True
        return False
