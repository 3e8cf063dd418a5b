"""Co-editing in the main window: connects a `MainWindow` to a running `Node`.

It shares tabs, joins documents (from the Network panel or a `chorus://` link) into new tabs,
publishes the local caret, draws remote carets, fills the Network panel and the participants
list, follows a participant, and shows peer and sync status. It talks only to the runtime
facade (`Node`), and it must live on the thread of the running event loop (qasync).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QGuiApplication, QTextCursor
from PySide6.QtWidgets import QInputDialog, QLabel, QProgressBar

from editor.core.offsets import index_from_utf16
from editor.qt.links import format_link, lan_address, parse_link
from editor.qt.main_window import DocumentTab, MainWindow
from editor.qt.network_panel import PeerRow, PeerState
from editor.qt.participants import Participant, remote_cursors, resolve_participants
from editor.qt.preferences import Preferences
from editor.runtime.documents import HeldDocument
from editor.runtime.events import (
    AddressUnreachable,
    DiscoveredPeersChanged,
    DocumentClosed,
    DocumentSyncChanged,
    NodeEvent,
    ParticipantsChanged,
    PeerConnected,
    PeerDisconnected,
    PeerDocumentsListed,
    PeerStatus,
    PeerStatusChanged,
    RemoteDocument,
    SyncStatus,
)
from editor.runtime.node import LINK_ERRORS, Node, NodeError, describe_link_error

__all__ = ["Collaboration", "JoinFailed"]

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 10.0
# Discovery reports no node events; the panel re-reads the discovered peers this often.
_PEER_STATES = {PeerStatus.CONNECTED: PeerState.CONNECTED, PeerStatus.RECONNECTING: PeerState.RECONNECTING,
                PeerStatus.OFFLINE: PeerState.OFFLINE}
_STATUS_ORDER = {PeerState.CONNECTED: 0, PeerState.RECONNECTING: 1, PeerState.UNREACHABLE: 2,
                 PeerState.FOUND: 3, PeerState.OFFLINE: 4}


class JoinFailed(Exception):
    """A link could not be followed to a document (unreachable peer, unknown document...)."""


@dataclass(eq=False)
class _TabSession:
    """What the collaboration layer tracks for one open tab."""

    tab: DocumentTab
    entry: HeldDocument | None = None
    participants: tuple[Participant, ...] = ()
    cursor_dirty: bool = False
    presence_dirty: bool = False


class _FollowBreaker(QObject):
    """Stops following when the user types, clicks or scrolls in an editor."""

    def __init__(self, stop: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._stop = stop

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel):
            self._stop()
        return False


class Collaboration(QObject):
    """Makes `window` co-edit through `node` (already running) until `close()`."""

    def __init__(self, window: MainWindow, node: Node, *, advertised_host: str | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.node = node
        self.host = advertised_host or lan_address()
        self._sessions: dict[DocumentTab, _TabSession] = {}
        self._peer_names: dict[str, str] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._following: int | None = None
        self._panel_dirty = False
        self._closed = False
        self._follow_breaker = _FollowBreaker(self.stop_following, self)

        self._peers_label = QLabel()
        self._peers_label.setContentsMargins(8, 0, 8, 0)
        self._progress = QProgressBar()
        self._progress.setRange(0, 0)  # busy: a first sync has no known length in messages
        self._progress.setMaximumWidth(90)
        self._progress.setMaximumHeight(14)
        self._progress.hide()
        window.statusBar().addPermanentWidget(self._progress)
        window.statusBar().addPermanentWidget(self._peers_label)

        self._unsubscribe = node.subscribe(self._on_event)
        window.held_by_peers = self.held_by_peers
        window.document_opened.connect(self._tab_opened)
        window.document_closed.connect(self._tab_closed)
        window.tabs.currentChanged.connect(lambda _index: self._current_changed())
        window.preferences_changed.connect(self.apply_preferences)

        for action in (window.share_action, window.copy_link_action, window.join_action,
                       window.connect_action):
            action.setEnabled(True)
        window.share_action.triggered.connect(self._share_toggled)
        window.copy_link_action.triggered.connect(lambda _checked=False: self.copy_link())
        window.join_action.triggered.connect(lambda _checked=False: self.join_link_with_dialog())
        window.connect_action.triggered.connect(lambda _checked=False: window.network_panel.connect_with_dialog())
        window.network_panel.join_requested.connect(self.join)
        window.network_panel.connect_requested.connect(self.connect_to)
        window.network_panel.stop_connecting_requested.connect(self.node.stop_connecting)
        window.participants_panel.participant_activated.connect(self._participant_clicked)
        window.participants_panel.follow_changed.connect(self._follow_changed)
        window.network_dock.show()

        for tab in window.tab_list():
            self._tab_opened(tab)
        self._refresh_panel()
        self._current_changed()

    # -- public API --------------------------------------------------------------------

    def link_for(self, tab: DocumentTab) -> str:
        """The `chorus://HOST:PORT/DOC_ID` link of a tab's document."""
        return format_link(self.host, self.node.port or 0, tab.document.doc_id)

    def copy_link(self, tab: DocumentTab | None = None) -> str | None:
        """Share the tab's document (a link to a private document is useless) and put its
        link on the clipboard; returns the link."""
        tab = tab or self.window.current_tab()
        if tab is None:
            return None
        self.set_shared(tab, True)
        link = self.link_for(tab)
        QGuiApplication.clipboard().setText(link)
        self.window.statusBar().showMessage(f"Copied {link}", 5000)
        return link

    def set_shared(self, tab: DocumentTab, shared: bool) -> None:
        """Offer the tab's document to peers, or stop offering it."""
        session = self._sessions[tab]
        if session.entry is None:
            if not shared:
                return
            session.entry = self.node.add_document(tab.document, tab.title, shared=True)
            self._publish_cursor(session)
        else:
            self.node.set_shared(session.entry.doc_id, shared)
        self._current_changed()

    def is_shared(self, tab: DocumentTab) -> bool:
        """True if peers can see the tab's document."""
        session = self._sessions.get(tab)
        return session is not None and session.entry is not None and session.entry.shared

    def join(self, peer_id: str, remote: RemoteDocument) -> DocumentTab:
        """Open a document a connected peer offers in a tab (or show its tab if open)."""
        for tab in self.window.tab_list():
            if tab.document.doc_id == remote.doc_id:
                self.window.tabs.setCurrentWidget(tab)
                return tab
        entry = self.node.join(peer_id, remote)
        # document_opened finds the entry in the node and binds presence to it.
        return self.window.add_document(entry.document, remote.title)

    def connect_to(self, host: str, port: int) -> None:
        """Keep a link to the peer at host:port (for networks where discovery cannot work)."""
        self.node.connect(host, port)
        self.window.statusBar().showMessage(f"Connecting to {host}:{port}…", 5000)

    def open_link(self, text: str) -> asyncio.Task[DocumentTab | None]:
        """Join the document of a `chorus://` link in a tab, in the background; failures are
        shown in the status bar. The task's result is the tab (None on failure)."""
        task = asyncio.ensure_future(self._open_link_reporting(text))
        self._keep(task)
        return task

    async def join_link(self, text: str) -> DocumentTab:
        """Join the document of a `chorus://` link in a tab; `JoinFailed` says why not."""
        try:
            target = parse_link(text)
        except ValueError as error:
            raise JoinFailed(str(error)) from None
        node = self.node
        peer_id = self._peer_at(target.host, target.port)
        if peer_id is None:
            try:
                link = await node.dial(target.host, target.port, timeout=JOIN_TIMEOUT)
            except LINK_ERRORS as error:
                raise JoinFailed(f"cannot reach {target.host}:{target.port}: "
                                 f"{describe_link_error(error)}") from None
            peer_id = link.peer.peer_id
            # Re-dial this peer whenever the link drops, as for "Connect to Address".
            self._keep(asyncio.ensure_future(self._redial_after(link, target.host, target.port)))
        try:
            await node.wait_until(lambda: peer_id in node.peer_documents or peer_id not in node.links,
                                  JOIN_TIMEOUT)
            remote = node.find_remote_document(peer_id, target.doc_id)
        except TimeoutError:
            raise JoinFailed(f"{target.host}:{target.port} did not list its documents") from None
        except NodeError as error:
            raise JoinFailed(str(error)) from None
        return self.join(peer_id, remote)

    def join_link_with_dialog(self) -> None:
        """Network > Join from Link: ask for a link (prefilled from the clipboard)."""
        clipboard = QGuiApplication.clipboard().text().strip()
        text, accepted = QInputDialog.getText(self.window, "Join from Link", "Link (chorus://HOST:PORT/DOC):",
                                              text=clipboard if clipboard.startswith("chorus://") else "")
        if accepted and text.strip():
            self.open_link(text.strip())

    def reveal_participant(self, client_id: int) -> bool:
        """Scroll the current tab so that participant's caret is in view; False if unknown."""
        tab = self.window.current_tab()
        session = self._sessions.get(tab) if tab is not None else None
        if session is None:
            return False
        for participant in session.participants:
            if participant.client_id == client_id and participant.head is not None:
                _scroll_into_view(tab, tab.editor.position_of_index(participant.head))
                return True
        return False

    def _participant_clicked(self, client_id: int) -> None:
        """Show where they are, with their name flag even if they have been idle."""
        if self.reveal_participant(client_id):
            self.window.current_tab().editor.show_flag(client_id)

    def follow(self, client_id: int | None) -> None:
        """Keep the view on that participant's caret until the user types, clicks or scrolls."""
        self.window.participants_panel.set_following(client_id)

    def stop_following(self) -> None:
        """Stop following anyone."""
        if self._following is not None:
            self.window.participants_panel.set_following(None)

    @property
    def following(self) -> int | None:
        """The client id being followed, if any."""
        return self._following

    def participants(self, tab: DocumentTab) -> tuple[Participant, ...]:
        """The remote participants last drawn in `tab`."""
        session = self._sessions.get(tab)
        return session.participants if session is not None else ()

    def apply_preferences(self, preferences: Preferences) -> None:
        """Use a new display name and colour in presence (port and discovery: on restart)."""
        self.node.set_identity(preferences.display_name, preferences.color)
        self._refresh_participants(self.window.current_tab())

    def close(self) -> None:
        """Stop listening to the node and cancel background joins (the node keeps running)."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        if self.window.held_by_peers == self.held_by_peers:
            self.window.held_by_peers = None
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """`close()`, then wait for the background joins to finish cancelling."""
        tasks = list(self._tasks)
        self.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- tabs --------------------------------------------------------------------------

    def _tab_opened(self, tab: DocumentTab) -> None:
        session = _TabSession(tab, entry=self.node.documents.get(tab.document.doc_id))
        if session.entry is not None and session.entry.document is not tab.document:
            session.entry = None  # same id, another replica: not the node's document
        self._sessions[tab] = session
        editor = tab.editor
        editor.cursorPositionChanged.connect(lambda: self._cursor_moved(session))
        editor.selectionChanged.connect(lambda: self._cursor_moved(session))
        tab.binding.changed.connect(lambda: self._schedule_presence(session))
        for target in (editor, editor.viewport(), editor.verticalScrollBar(), editor.horizontalScrollBar()):
            target.installEventFilter(self._follow_breaker)
        if session.entry is not None:
            self._publish_cursor(session)
            self._schedule_presence(session)
        self._current_changed()

    def _tab_closed(self, tab: DocumentTab) -> None:
        session = self._sessions.pop(tab, None)
        if session is not None and session.entry is not None:
            self.node.close_document(session.entry.doc_id)
        self._current_changed()

    def _share_toggled(self, checked: bool) -> None:
        tab = self.window.current_tab()
        if tab is not None:
            self.set_shared(tab, checked)

    def held_by_peers(self, tab: DocumentTab) -> bool:
        """True for a joined document in sync with its peers with nothing left to send:
        closing it loses nothing (the peers keep every change)."""
        session = self._sessions.get(tab)
        entry = session.entry if session is not None else None
        return (entry is not None and entry.origin_peer is not None
                and entry.sync_status is SyncStatus.SYNCED
                and all(sync.idle for sync in entry.channels.values()))

    def _session_of_doc(self, doc_id: str) -> _TabSession | None:
        for session in self._sessions.values():
            if session.entry is not None and session.entry.doc_id == doc_id:
                return session
        return None

    # -- local presence ----------------------------------------------------------------

    def _cursor_moved(self, session: _TabSession) -> None:
        # Qt moves the caret before the binding has recorded the edit: publish a turn later.
        if session.entry is not None and not session.cursor_dirty:
            session.cursor_dirty = True
            asyncio.get_running_loop().call_soon(self._publish_cursor, session)
        if session.tab is self.window.current_tab():
            self._schedule_presence(session)  # the "(you)" row shows our location

    def _publish_cursor(self, session: _TabSession) -> None:
        session.cursor_dirty = False
        entry = session.entry
        if entry is None or self._closed or self.node.documents.get(entry.doc_id) is not entry:
            return
        cursor = session.tab.editor.textCursor()
        binding = session.tab.binding
        try:
            anchor = binding.index_of_utf16(cursor.anchor())
            head = binding.index_of_utf16(cursor.position())
            self.node.set_local_cursor(entry.doc_id, anchor, head)
        except (ValueError, IndexError) as error:
            # The widget and document disagree for a moment (the binding resyncs); the next
            # caret move publishes again.
            log.debug("not publishing the caret in %s: %s", entry.doc_id, error)

    # -- remote presence ---------------------------------------------------------------

    def _schedule_presence(self, session: _TabSession) -> None:
        """Re-resolve and redraw remote carets once per event-loop turn."""
        if not session.presence_dirty:
            session.presence_dirty = True
            asyncio.get_running_loop().call_soon(self._refresh_presence, session)

    def _refresh_presence(self, session: _TabSession) -> None:
        session.presence_dirty = False
        if self._closed or self._sessions.get(session.tab) is not session:
            return
        entry = session.entry
        if entry is not None and self.node.documents.get(entry.doc_id) is entry:
            states = self.node.participants(entry.doc_id)
            participants = tuple(resolve_participants(entry.document, states))
        else:
            participants = ()
        if participants or session.participants:
            # Redrawn even when unchanged: anchors resolve afresh after every text change.
            session.participants = participants
            session.tab.editor.set_remote_cursors(remote_cursors(participants))
        if session.tab is self.window.current_tab():
            self._update_status()  # local edits while offline change it without a node event
            self._refresh_participants(session.tab)
            if self._following is not None:
                self.reveal_participant(self._following)

    def _refresh_participants(self, tab: DocumentTab | None) -> None:
        panel = self.window.participants_panel
        session = self._sessions.get(tab) if tab is not None else None
        if session is None or session.entry is None:
            panel.set_participants(None, [])
            return
        line, column = tab.editor.cursor_location()
        local = (self.node.config.name, self.node.color, f"{line}:{column}")
        rows = [(p, _location(tab, p.head)) for p in session.participants]
        panel.set_participants(local, rows)

    def _follow_changed(self, client_id: object) -> None:
        self._following = client_id if isinstance(client_id, int) else None
        if self._following is not None:
            self.reveal_participant(self._following)

    # -- node events -------------------------------------------------------------------

    def _on_event(self, event: NodeEvent) -> None:
        if isinstance(event, ParticipantsChanged):
            session = self._session_of_doc(event.doc_id)
            if session is not None:
                self._schedule_presence(session)
        elif isinstance(event, DocumentSyncChanged):
            session = self._session_of_doc(event.doc_id)
            if session is not None:
                self._schedule_presence(session)  # anchors may resolve now
            self._schedule_panel()
            self._schedule_status()
        elif isinstance(event, PeerStatusChanged | PeerConnected | PeerDisconnected):
            self._peer_names[event.peer_id] = event.name
            self._schedule_panel()
            self._schedule_status()
        elif isinstance(event, DiscoveredPeersChanged):
            self._schedule_panel()
            self._schedule_status()  # a peer that left may have been forgotten
        elif isinstance(event, PeerDocumentsListed | DocumentClosed):
            self._schedule_panel()
        elif isinstance(event, AddressUnreachable):
            self._schedule_panel()
            if event.reason is not None:
                self.window.statusBar().showMessage(
                    f"Cannot reach {event.address}: {event.reason}; Chorus keeps trying", 10000)

    def _schedule_panel(self) -> None:
        if not self._panel_dirty:
            self._panel_dirty = True
            asyncio.get_running_loop().call_soon(self._refresh_panel)

    def _schedule_status(self) -> None:
        asyncio.get_running_loop().call_soon(self._current_changed)

    def peer_rows(self) -> list[PeerRow]:
        """Every peer we know of: linked, re-dialed, gone, or only found on the network."""
        node = self.node
        rows: dict[str, PeerRow] = {}
        for discovered in node.discovered_peers:
            self._peer_names.setdefault(discovered.peer_id, discovered.name)
            rows[discovered.peer_id] = PeerRow(discovered.peer_id, discovered.name, PeerState.FOUND,
                                               ", ".join(discovered.addresses) + f" port {discovered.port}")
        for peer_id, status in node.peer_status.items():
            link = node.links.get(peer_id)
            name = link.peer.name if link is not None else self._peer_names.get(peer_id, peer_id)
            address = link.remote_address if link is not None else rows[peer_id].address if peer_id in rows else ""
            state = _PEER_STATES[status]
            if state is PeerState.OFFLINE and peer_id in rows:
                state = PeerState.FOUND  # gone from the link but still advertised
            rows[peer_id] = PeerRow(peer_id, name, state, str(address),
                                    node.peer_documents.get(peer_id, ()) if link is not None else ())
        for address, reason in node.unreachable.items():
            rows[address] = PeerRow(address, address, PeerState.UNREACHABLE, address, reason=reason)
        return sorted(rows.values(), key=lambda row: (_STATUS_ORDER[row.state], row.name.casefold()))

    def _refresh_panel(self) -> None:
        self._panel_dirty = False
        if self._closed:
            return
        held = {doc_id: f"open · {entry.sync_status.value}" for doc_id, entry in self.node.documents.items()}
        self.window.network_panel.set_peers(self.peer_rows(), held)
        port = self.node.port
        self.window.network_panel.set_own_address(
            f"You: {self.node.config.name} at {self.host}:{port}" if port else f"You: {self.node.config.name}")

    # -- status ------------------------------------------------------------------------

    def _current_changed(self) -> None:
        if self._closed:
            return
        tab = self.window.current_tab()
        session = self._sessions.get(tab) if tab is not None else None
        self._update_status()
        if session is not None:
            self._schedule_presence(session)
        else:
            self._refresh_participants(None)

    def _update_status(self) -> None:
        """Actions, sync status and peers in the status bar, for the current tab."""
        tab = self.window.current_tab()
        session = self._sessions.get(tab) if tab is not None else None
        entry = session.entry if session is not None else None
        self.window.share_action.setChecked(entry is not None and entry.shared)
        self.window.share_action.setEnabled(tab is not None and (entry is None or entry.origin_peer is None))
        self.window.copy_link_action.setEnabled(tab is not None)
        status = entry.sync_status if entry is not None else None
        self.window.set_sync_status(self._sync_text(entry))
        self._progress.setVisible(status is SyncStatus.SYNCING)
        self._peers_label.setText(self._peers_text())

    def _sync_text(self, entry: HeldDocument | None) -> str:
        if entry is None:
            return ""
        status = entry.sync_status
        if status is SyncStatus.SYNCED:
            count = len(entry.channels)
            return f"Synced with {count} peer{'s' if count != 1 else ''}"
        if status is SyncStatus.SYNCING:
            return "Syncing…"
        if status is SyncStatus.OFFLINE:
            waiting = " — local changes waiting" if entry.edited_while_offline else ""
            return f"Offline{waiting}"
        return "Shared — no peer has it open" if entry.shared else ""

    def _peers_text(self) -> str:
        statuses = self.node.peer_status
        if not statuses:
            return "No peers"
        parts = []
        for peer_id, status in sorted(statuses.items(), key=lambda item: self._peer_names.get(item[0], item[0])):
            parts.append(f"{self._peer_names.get(peer_id, peer_id[:8])}: {status.value}")
        return " · ".join(parts)

    # -- internals ---------------------------------------------------------------------

    def _peer_at(self, host: str, port: int) -> str | None:
        """The peer id of an open link dialed to host:port, if any."""
        for peer_id, link in self.node.links.items():
            if link.dialed and str(link.remote_address) in (f"{host}:{port}", f"[{host}]:{port}"):
                return peer_id
        return None

    async def _redial_after(self, link, host: str, port: int) -> None:
        await link.closed.wait()
        if not self._closed:
            self.node.connect(host, port)

    async def _open_link_reporting(self, text: str) -> DocumentTab | None:
        self.window.statusBar().showMessage(f"Joining {text}…")
        try:
            tab = await self.join_link(text)
        except JoinFailed as error:
            log.info("cannot join %s: %s", text, error)
            self.window.statusBar().showMessage(f"Cannot join {text}: {error}")
            return None
        self.window.statusBar().showMessage(f"Joined {tab.title}", 5000)
        return tab

    def _keep(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _location(tab: DocumentTab, index: int | None) -> str:
    """"line:column" (1-based, code points) of a code point index in the tab's editor."""
    if index is None:
        return ""
    position = tab.editor.position_of_index(index)
    block = tab.editor.document().findBlock(position)
    try:
        column = index_from_utf16(block.text(), position - block.position())
    except ValueError:
        column = position - block.position()
    return f"{block.blockNumber() + 1}:{column + 1}"


def _scroll_into_view(tab: DocumentTab, position: int) -> None:
    """Scroll (without moving the local caret) so that UTF-16 `position` is mid-view."""
    editor = tab.editor
    document = editor.document()
    block = document.findBlock(max(0, min(position, document.characterCount() - 1)))
    layout = block.layout()
    line_in_block = layout.lineForTextPosition(position - block.position()).lineNumber() if layout else 0
    line = block.firstLineNumber() + max(0, line_in_block)
    visible_lines = max(1, editor.viewport().height() // max(1, editor.fontMetrics().lineSpacing()))
    editor.verticalScrollBar().setValue(max(0, line - visible_lines // 2))
    probe = QTextCursor(document)
    probe.setPosition(max(0, min(position, document.characterCount() - 1)))
    rect = editor.cursorRect(probe)
    viewport = editor.viewport().rect()
    if not viewport.contains(rect.center()):
        horizontal = editor.horizontalScrollBar()
        horizontal.setValue(horizontal.value() + rect.center().x() - viewport.width() // 2)
