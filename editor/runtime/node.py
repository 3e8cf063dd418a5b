"""The node: one peer's documents, links, storage and tasks; the facade for the UI and CLI."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import socket
import ssl as ssl_module
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from editor.core.document import SharedDocument
from editor.core.messages import AwarenessMessage, MalformedMessage, decode, encode
from editor.core.presence import PresenceState
from editor.core.textfile import UndecodableText
from editor.discovery import (
    DiscoveredPeer,
    Discovery,
    DiscoveryError,
    DiscoveryEvent,
    PeerAdvert,
    PeerAppeared,
    PeerChanged,
    PeerLeft,
)
import editor.protocol as protocol
from editor.runtime.documents import ChannelSync, HeldDocument
from editor.runtime.events import (
    AddressUnreachable,
    DiscoveredPeersChanged,
    DocumentClosed,
    DocumentOpened,
    DocumentSyncChanged,
    NodeEvent,
    ParticipantsChanged,
    PeerConnected,
    PeerDisconnected,
    PeerDocumentsListed,
    PeerStatus,
    PeerStatusChanged,
    RemoteDocument,
)
from editor.runtime.filesync import FileBinding
from editor.runtime.storage import PeerIdentity

log = logging.getLogger(__name__)

DEFAULT_PORT = 4117
# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PARTICIPANT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
# y-protocols awareness: states not renewed for 30 s are outdated; renew at half that.
PRESENCE_TIMEOUT = 30.0
PRESENCE_RENEW = 15.0
# Re-dial backoff after a lost or refused connection.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
REQUEST_TIMEOUT = 10.0
MAX_SHARED_FILE_BYTES = 64 * 1024 * 1024
# What a dial or a request can fail with (LinkClosed and SetupRejected are ConnectionErrors).
LINK_ERRORS = (OSError, TimeoutError, protocol.RequestFailed)


def describe_link_error(error: BaseException) -> str:
    """One of `LINK_ERRORS` in words for a person, e.g. for "cannot reach HOST:PORT: ..."."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror or error})"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, OSError) and error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no route to that host (is it on this network?)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


@dataclass
class NodeConfig:
    """How a node runs. `state_dir=None` keeps nothing on disk (short-lived CLI clients)."""

    name: str
    state_dir: Path | None = None
    listen_host: str | None = "0.0.0.0"
    listen_port: int = DEFAULT_PORT
    mirror_dir: Path | None = None
    color: str | None = None
    discovery: bool = False
    interfaces: tuple[str, ...] | None = None
    ssl_server: ssl_module.SSLContext | None = None
    ssl_client: ssl_module.SSLContext | None = None
    link_settings: protocol.LinkSettings | None = None
    file_timing: dict[str, float] = field(default_factory=dict)


class NodeError(Exception):
    """A request the node cannot fulfil (unknown peer or document, bad input)."""


class UnknownDocumentError(NodeError):
    pass


class Node:
    """One Chorus peer. Use as `async with Node(config) as node:`; it owns every task it starts."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self._identity = PeerIdentity(config.state_dir) if config.state_dir is not None else None
        self.peer_id = self._identity.peer_id if self._identity else os.urandom(8).hex()
        self.color = config.color or PARTICIPANT_COLOURS[int(self.peer_id, 16) % len(PARTICIPANT_COLOURS)]
        self.hello = protocol.Hello(peer_id=self.peer_id, name=config.name)
        self.documents: dict[str, HeldDocument] = {}
        self.links: dict[str, protocol.Link] = {}
        self.peer_documents: dict[str, tuple[RemoteDocument, ...]] = {}
        # Peers linked now, being re-dialed, or gone but worth showing (see `_worth_remembering`).
        self.peer_status: dict[str, PeerStatus] = {}
        self.listener: protocol.Listener | None = None
        self.discovery: Discovery | None = None
        self._dialed: dict[tuple[str, int], protocol.Link] = {}  # by the address we dialed
        self._kept_peers: set[str] = set()  # peers `connect` keeps dialing
        self._kept_addresses: dict[str, asyncio.Task[None]] = {}  # "host:port" -> its re-dial loop
        # Addresses `connect` keeps dialing that have never answered, with the last failure.
        self.unreachable: dict[str, str] = {}
        self._discovered_dialers: dict[str, asyncio.Task[None]] = {}
        self._discovered: dict[str, DiscoveredPeer] = {}
        self._advert_update_pending = False
        self._subscribers: list[Callable[[NodeEvent], None]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._task_group: asyncio.TaskGroup | None = None
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Node:
        self._task_group = asyncio.TaskGroup()
        await self._task_group.__aenter__()
        try:
            await self._start()
        except BaseException as error:
            # Unwind the task group so that a child task's failure (the likely reason we were
            # cancelled) is raised instead of a bare CancelledError.
            self._closing = True
            for task in list(self._tasks):
                task.cancel()
            if self._identity is not None:
                self._identity.release()
            try:
                await self._task_group.__aexit__(type(error), error, error.__traceback__)
            except BaseExceptionGroup as group:
                # Python 3.11's TaskGroup wraps the body's own error too; a failing child task
                # is the news, otherwise callers expect the start-up error itself (OSError for
                # a busy port).
                if any(child is not error for child in group.exceptions):
                    raise
            raise
        return self

    async def _start(self) -> None:
        if self.config.listen_host is not None:
            self.listener = await protocol.listen(
                self.config.listen_host,
                self.config.listen_port,
                self.hello,
                self,
                self._link_established,
                ssl=self.config.ssl_server,
                settings=self.config.link_settings,
            )
        self._spawn(self._expire_presence_forever())
        if self.config.discovery and self.listener is not None:
            await self._start_discovery()

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        if self.discovery is not None:
            # Goodbyes first, so peers see us leave at once rather than when links drop.
            await self.discovery.close()
        for entry in self.documents.values():
            if entry.local_presence.state is not None:
                self._publish_presence(entry, None)
        # Stop our own tasks (dial loops would otherwise re-dial the links closed below);
        # file watchers write pending changes as they stop.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.listener is not None:
            await self.listener.close()
        for link in list(self.links.values()):
            await link.close("peer shutting down")
        assert self._task_group is not None
        await self._task_group.__aexit__(None, None, None)
        for entry in self.documents.values():
            if entry.binding is not None:
                entry.binding.write_now(last=True)
        if self._identity is not None:
            self._identity.release()

    @property
    def port(self) -> int | None:
        return self.listener.port if self.listener is not None else None

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        assert self._task_group is not None, "the node is not running"
        if self._closing:
            coro.close()
            raise RuntimeError("the node is shutting down")
        task = self._task_group.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The task group will stop the node; say which task failed and why, first.
            error = task.exception()
            log.error("node task %s failed", task.get_coro(), exc_info=(type(error), error, error.__traceback__))

    # ------------------------------------------------------------------ events and waiting

    def subscribe(self, callback: Callable[[NodeEvent], None]) -> Callable[[], None]:
        """Call `callback` with every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _emit(self, event: NodeEvent) -> None:
        for callback in list(self._subscribers):
            callback(event)
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        """Wait until `condition()` holds (re-checked on every node event); TimeoutError after."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("condition not reached in time")
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, min(remaining, 0.25))
            except TimeoutError:
                pass  # a safety net: conditions on state the node does not announce

    # ------------------------------------------------------------------ documents

    def share_paths(self, paths: Iterable[Path]) -> list[HeldDocument]:
        """Share text files, or every text file below a folder; unreadable ones are logged."""
        shared = []
        for path in paths:
            files = sorted(_text_file_candidates(path)) if path.is_dir() else [path]
            for file_path in files:
                try:
                    shared.append(self.share_file(file_path))
                except (OSError, UndecodableText) as error:
                    log.warning("not sharing %s: %s", file_path, error)
        return shared

    def share_file(self, path: Path) -> HeldDocument:
        """Share one text file (its CRDT history is kept in `.chorus/` beside it)."""
        binding = FileBinding.open(path, **self.config.file_timing)
        existing = self.documents.get(binding.document.doc_id)
        if existing is not None:
            return existing
        entry = HeldDocument(binding.document.doc_id, binding.title, binding.document,
                             binding=binding)
        self._add_document(entry)
        entry.watcher = self._spawn(binding.watch())
        return entry

    def add_document(self, document: SharedDocument, title: str, *, shared: bool) -> HeldDocument:
        """Hold a document the caller created (the desktop app's tabs)."""
        entry = HeldDocument(document.doc_id, title, document, shared=shared)
        self._add_document(entry)
        return entry

    def _add_document(self, entry: HeldDocument) -> None:
        self.documents[entry.doc_id] = entry
        entry.on_flushed = self._wake_waiters
        entry.unsubscribe_updates = entry.document.subscribe_updates(
            lambda update, source: self._document_updated(entry, update, source))
        self._emit(DocumentOpened(entry.doc_id, entry.title))
        if entry.shared:
            self._documents_listing_changed()

    def _document_updated(self, entry: HeldDocument, update: bytes, source: object | None) -> None:
        entry.schedule_flush()
        if entry.binding is not None:
            entry.binding.document_changed(update)
        if source is None and not entry.channels and entry.origin_peer is not None:
            entry.edited_while_offline = True
        # Waiters are woken by the flush just scheduled (`on_flushed`): once per loop turn,
        # not once per keystroke.

    def set_shared(self, doc_id: str, shared: bool) -> None:
        """Make a document visible to peers, or stop sharing it (its channels close)."""
        entry = self._entry(doc_id)
        if entry.shared == shared:
            return
        entry.shared = shared
        if not shared:
            for sync in list(entry.channels.values()):
                if sync.channel is not None:
                    sync.channel.close("no longer shared")
                entry.detach(sync)
        self._documents_listing_changed()
        self._emit(DocumentSyncChanged(doc_id, entry.sync_status))

    def close_document(self, doc_id: str) -> None:
        """Stop holding a document: channels close, peers see our presence leave."""
        entry = self.documents.pop(doc_id, None)
        if entry is None:
            return
        if entry.local_presence.state is not None:
            self._publish_presence(entry, None)
        for sync in list(entry.channels.values()):
            if sync.channel is not None:
                sync.channel.close("document closed")
            entry.detach(sync)
        entry.hub.close()
        if entry.unsubscribe_updates is not None:
            entry.unsubscribe_updates()
        if entry.watcher is not None:
            entry.watcher.cancel()  # it writes what is pending as it stops
        elif entry.binding is not None:
            entry.binding.write_now(last=True)
        self._documents_listing_changed()
        self._emit(DocumentClosed(doc_id))

    def _entry(self, doc_id: str) -> HeldDocument:
        try:
            return self.documents[doc_id]
        except KeyError:
            raise UnknownDocumentError(f"no document {doc_id!r} here") from None

    def _documents_listing_changed(self) -> None:
        for link in list(self.links.values()):
            # A closing link stays in `links` until its teardown ends (its channels go at once).
            with contextlib.suppress(protocol.LinkClosed):
                link.notify_documents_changed()
        if self.discovery is not None and not self._closing and not self._advert_update_pending:
            # One re-announcement for a burst of changes (sharing a folder shares many files).
            self._advert_update_pending = True
            self._spawn(self._update_advert())

    async def _update_advert(self) -> None:
        await asyncio.sleep(0)  # let the rest of the burst happen first
        self._advert_update_pending = False
        if self.discovery is not None:
            await self.discovery.update_advert(docs=self._shared_count())

    def _shared_count(self) -> int:
        return sum(1 for entry in self.documents.values() if entry.shared)

    def find_remote_document(self, peer_id: str, doc: str) -> RemoteDocument:
        """A document a peer offers, by id or, failing that, by title.

        A title matches exactly first; failing that, ignoring case and the extension ("notes"
        finds "Notes.txt"), as long as only one document matches."""
        offered = self.peer_documents.get(peer_id, ())
        for candidate in offered:
            if candidate.doc_id == doc:
                return candidate
        for title_matches in (_same_title, _loosely_same_title):
            matches = [c for c in offered if title_matches(c.title, doc)]
            if len(matches) == 1:
                return matches[0]
            if matches:
                raise UnknownDocumentError(
                    f"several documents are titled {doc!r} ({_titles(matches)}); use an id")
        if not offered:
            raise UnknownDocumentError(f"the peer has no document {doc!r} (it shares none)")
        raise UnknownDocumentError(
            f"the peer has no document {doc!r} (it shares {_titles(offered)})")

    def join(self, peer_id: str, remote: RemoteDocument) -> HeldDocument:
        """Hold a document a connected peer offers and start syncing it."""
        entry = self.documents.get(remote.doc_id)
        if entry is None:
            entry = HeldDocument(remote.doc_id, remote.title, SharedDocument(remote.doc_id),
                                 origin_peer=peer_id)
            self._add_document(entry)
        link = self.links.get(peer_id)
        if link is not None and link not in entry.channels:
            self._open_channel(entry, link)
        return entry

    def hold_restored(self, document: SharedDocument, title: str, origin_peer: str | None) -> HeldDocument:
        """Hold a document joined in an earlier run, rebuilt from its kept CRDT state: it syncs
        with every peer that offers it, now or once one is linked, so the edits made before the
        restart merge as offline edits do. Merged into the document if it is held already."""
        entry = self.documents.get(document.doc_id)
        if entry is not None:
            entry.document.apply_update(document.encode_state(), "restored")
            return entry
        entry = HeldDocument(document.doc_id, title, document, origin_peer=origin_peer)
        entry.edited_while_offline = True
        self._add_document(entry)
        for peer_id, offered in self.peer_documents.items():
            link = self.links.get(peer_id)
            if link is not None and any(remote.doc_id == document.doc_id for remote in offered):
                self._open_channel(entry, link)
        return entry

    def _join_into_mirror(self, peer_id: str, remote: RemoteDocument) -> None:
        assert self.config.mirror_dir is not None
        path = _free_file_name(self.config.mirror_dir, remote.title, self.documents.values())
        try:
            binding = FileBinding.open(path, doc_id=remote.doc_id, title=remote.title,
                                       **self.config.file_timing)
        except (OSError, UndecodableText) as error:
            log.warning("cannot mirror %s into %s: %s", remote.title, path, error)
            return
        entry = HeldDocument(remote.doc_id, remote.title, binding.document, binding=binding,
                             origin_peer=peer_id)
        self._add_document(entry)
        entry.watcher = self._spawn(binding.watch())
        link = self.links.get(peer_id)
        if link is not None:
            self._open_channel(entry, link)

    # ------------------------------------------------------------------ links

    def connect(self, host: str, port: int) -> None:
        """Keep a link to the peer at host:port, re-dialing with backoff whenever it drops."""
        address = f"{host}:{port}"
        running = self._kept_addresses.get(address)
        if running is None or running.done():
            self._kept_addresses[address] = self._spawn(self._keep_dialing(host, port))

    def stop_connecting(self, address: str) -> bool:
        """Stop re-dialing "host:port" (a link it made stays until it drops); False if unknown."""
        task = self._kept_addresses.pop(address, None)
        if task is None:
            return False
        task.cancel()
        if self.unreachable.pop(address, None) is not None:
            self._emit(AddressUnreachable(address, None))
        return True

    async def dial(self, host: str, port: int, *, timeout: float = REQUEST_TIMEOUT) -> protocol.Link:
        """Dial a peer once; returns the link (or the one already open to that peer)."""
        address = (host, port)
        known = self._dialed.get(address)
        if known is not None and not known.closed.is_set() and self.links.get(known.peer.peer_id) is known:
            return known
        link = await protocol.dial(host, port, self.hello, self, ssl=self.config.ssl_client,
                                   timeout=timeout, settings=self.config.link_settings)
        kept = self._link_established(link)
        self._dialed[address] = kept
        return kept

    async def _keep_dialing(self, host: str, port: int) -> None:
        address = f"{host}:{port}"
        backoff = BACKOFF_FIRST
        peer_id: str | None = None
        while True:
            current = self.links.get(peer_id) if peer_id else None
            if current is not None:
                await current.closed.wait()
                continue
            try:
                link = await self.dial(host, port)
            except LINK_ERRORS as error:
                reason = describe_link_error(error)
                if peer_id is not None:
                    self._set_peer_status(peer_id, PeerStatus.RECONNECTING)
                elif self.unreachable.get(address) != reason:
                    self.unreachable[address] = reason  # no peer to show yet: show the address
                    self._emit(AddressUnreachable(address, reason))
                log.info("cannot reach %s: %s; retrying in %.1f s", address, reason, backoff)
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_FIRST
            if self.unreachable.pop(address, None) is not None:
                self._emit(AddressUnreachable(address, None))
            peer_id = link.peer.peer_id
            self._kept_peers.add(peer_id)
            await link.closed.wait()

    def _link_established(self, link: protocol.Link) -> protocol.Link:
        """Register a new link (dialed or accepted); keep exactly one per peer."""
        if self._closing:
            # Completed while we shut down: close it (the task group still awaits the close).
            assert self._task_group is not None
            self._task_group.create_task(link.close("peer shutting down"))
            return link
        peer_id = link.peer.peer_id
        if peer_id == self.peer_id:
            self._spawn(link.close("connected to itself"))
            return link
        existing = self.links.get(peer_id)
        if existing is not None and existing is not link and not existing.closed.is_set():
            keep = self._preferred_link(existing, link)
            drop = link if keep is existing else existing
            log.info("peer %s: keeping one of two connections", link.peer.name)
            self._spawn(drop.close("duplicate connection"))
            if keep is existing:
                return existing
        self.links[peer_id] = link
        log.info("peer connected: %s (%s) at %s", link.peer.name, peer_id, link.remote_address)
        self._set_peer_status(peer_id, PeerStatus.CONNECTED)
        self._emit(PeerConnected(peer_id, link.peer.name, link.remote_address))
        self._spawn(self._start_link(link))
        return link

    def _preferred_link(self, first: protocol.Link, second: protocol.Link) -> protocol.Link:
        """Both sides pick the same survivor: the link dialed by the lower peer id."""

        def dialer(link: protocol.Link) -> str:
            return self.peer_id if link.dialed else link.peer.peer_id

        if dialer(first) == dialer(second):
            return second  # a re-dial from the same side replaces a stale connection
        return first if dialer(first) < dialer(second) else second

    async def _start_link(self, link: protocol.Link) -> None:
        await self._refresh_peer_documents(link)

    async def _refresh_peer_documents(self, link: protocol.Link) -> None:
        try:
            listed = await link.request_documents(timeout=REQUEST_TIMEOUT)
        except LINK_ERRORS as error:
            if not link.closed.is_set():
                log.info("peer %s: cannot list documents: %s", link.peer.name, error)
            return
        if link.closed.is_set() or self.links.get(link.peer.peer_id) is not link:
            return
        offered = tuple(RemoteDocument(d.id, d.title, d.length) for d in listed)
        self.peer_documents[link.peer.peer_id] = offered
        self._emit(PeerDocumentsListed(link.peer.peer_id, offered))
        for remote in offered:
            entry = self.documents.get(remote.doc_id)
            if entry is None:
                if self.config.mirror_dir is not None:
                    self._join_into_mirror(link.peer.peer_id, remote)
                continue
            if entry.shared and link not in entry.channels:
                self._open_channel(entry, link)

    def _open_channel(self, entry: HeldDocument, link: protocol.Link) -> None:
        sync = ChannelSync(entry, link, initiator=True,
                           on_state_changed=lambda: self._sync_state_changed(entry))
        try:
            sync.channel = link.open_channel(entry.doc_id, sync.session.opening_message(), sync)
        except (protocol.ChannelAlreadyOpen, protocol.LinkClosed) as error:
            # Already syncing on this link (the peer opened first), or the link just dropped.
            log.debug("document %s: no new channel to %s: %s", entry.doc_id, link.peer.name, error)
            return
        entry.attach(sync)
        self._sync_state_changed(entry)

    def _sync_state_changed(self, entry: HeldDocument) -> None:
        for link, sync in entry.channels.items():
            if sync.synced and not sync.introduced:
                sync.introduced = True
                self._introduce_presence(entry, link)
        if entry.channels and all(sync.synced for sync in entry.channels.values()):
            entry.edited_while_offline = False
        self._emit(DocumentSyncChanged(entry.doc_id, entry.sync_status))

    def _worth_remembering(self, peer_id: str) -> bool:
        """Whether a peer that disconnected stays listed (offline): one we keep dialing, one
        still advertised, or one we joined a document from. A one-off visitor (`chorus cat`,
        a peer that dialed us once) is forgotten."""
        return (peer_id in self._kept_peers or peer_id in self._discovered
                or any(entry.origin_peer == peer_id for entry in self.documents.values()))

    def _set_peer_status(self, peer_id: str, status: PeerStatus) -> None:
        if self.peer_status.get(peer_id) != status:
            self.peer_status[peer_id] = status
            link = self.links.get(peer_id)
            self._emit(PeerStatusChanged(peer_id, link.peer.name if link else peer_id, status))

    # ------------------------------------------------------------------ discovery

    async def _start_discovery(self) -> None:
        advert = PeerAdvert(peer_id=self.peer_id, name=self.config.name,
                            protocol=protocol.PROTOCOL_VERSION, docs=self._shared_count())
        discovery = Discovery(advert, self.port, interfaces=self.config.interfaces,
                              on_event=self._discovery_event)
        try:
            await discovery.start()
        except DiscoveryError as error:
            log.warning("discovery is off: %s", error)
            return
        self.discovery = discovery

    @property
    def discovered_peers(self) -> tuple[DiscoveredPeer, ...]:
        return tuple(self._discovered.values())

    def _discovery_event(self, event: DiscoveryEvent) -> None:
        peer = event.peer
        if peer.peer_id == self.peer_id or self._closing:
            return
        if isinstance(event, PeerLeft):
            self._discovered.pop(peer.peer_id, None)
            dialer = self._discovered_dialers.pop(peer.peer_id, None)
            if dialer is not None:
                dialer.cancel()
            if peer.peer_id not in self.links and not self._worth_remembering(peer.peer_id):
                self.peer_status.pop(peer.peer_id, None)  # DiscoveredPeersChanged tells the UI
            log.info("discovery: %s left", peer.name)
        elif isinstance(event, PeerAppeared | PeerChanged):
            self._discovered[peer.peer_id] = peer
            if peer.protocol != protocol.PROTOCOL_VERSION:
                # Still listed (the user sees it is there), but not dialed.
                log.info("discovery: %s speaks protocol %d; not connecting", peer.name, peer.protocol)
            elif peer.peer_id not in self._discovered_dialers:
                if isinstance(event, PeerAppeared):
                    log.info("discovery: found %s at %s port %d", peer.name,
                             ", ".join(peer.addresses), peer.port)
                self._discovered_dialers[peer.peer_id] = self._spawn(self._dial_discovered(peer.peer_id))
        self._emit(DiscoveredPeersChanged(self.discovered_peers))

    async def _dial_discovered(self, peer_id: str) -> None:
        """Keep a link to a discovered peer while it is advertised (like a `--peer`)."""
        if peer_id < self.peer_id:
            # Both sides see each other; let the lower id dial first so that usually only one
            # connection is made (if both dial anyway, the dedupe rule keeps one).
            await asyncio.sleep(1.0)
        backoff = BACKOFF_FIRST
        while True:
            current = self.links.get(peer_id)
            if current is not None:
                await current.closed.wait()
                continue
            peer = self._discovered.get(peer_id)
            if peer is None:
                return
            for address in _dial_order(peer.addresses):
                try:
                    await self.dial(address, peer.port, timeout=5.0)
                    backoff = BACKOFF_FIRST
                    break
                except LINK_ERRORS as error:
                    log.info("cannot reach %s at %s:%d: %s", peer.name, address, peer.port,
                             describe_link_error(error))
            else:
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, BACKOFF_MAX)

    # ------------------------------------------------------------------ LinkHandler (protocol)

    def list_documents(self, link: protocol.Link) -> list[protocol.DocumentInfo]:
        return [
            protocol.DocumentInfo(entry.doc_id, entry.title, len(entry.document))
            for entry in self.documents.values()
            if entry.shared
        ]

    def accept_channel(self, link: protocol.Link, doc_id: str,
                       channel: protocol.DocChannel) -> ChannelSync:
        entry = self.documents.get(doc_id)
        if entry is None or not entry.shared:
            raise protocol.UnknownDocument(doc_id)
        sync = ChannelSync(entry, link, initiator=False,
                           on_state_changed=lambda: self._sync_state_changed(entry))
        sync.channel = channel
        entry.attach(sync)
        self._sync_state_changed(entry)
        return sync

    def documents_changed(self, link: protocol.Link) -> None:
        if not self._closing:
            self._spawn(self._refresh_peer_documents(link))

    def link_closed(self, link: protocol.Link, reason: str) -> None:
        peer_id = link.peer.peer_id
        for entry in self.documents.values():
            sync = entry.channels.get(link)
            if sync is not None:
                entry.detach(sync)
                self._sync_state_changed(entry)
            self._forget_participants_from(entry, link)
        for address in [a for a, known in self._dialed.items() if known is link]:
            del self._dialed[address]
        if self.links.get(peer_id) is link:
            del self.links[peer_id]
            self.peer_documents.pop(peer_id, None)
            log.info("peer disconnected: %s (%s): %s", link.peer.name, peer_id, reason)
            if self._worth_remembering(peer_id):
                self._set_peer_status(peer_id, PeerStatus.OFFLINE)
            else:
                self.peer_status.pop(peer_id, None)  # PeerDisconnected below tells the UI
            self._emit(PeerDisconnected(peer_id, link.peer.name, reason))
        else:
            self._wake_waiters()

    def presence_received(self, link: protocol.Link, doc_id: str, data: bytes) -> None:
        entry = self.documents.get(doc_id)
        if entry is None:
            return
        try:
            message = decode(bytes(data))
        except MalformedMessage as error:
            log.warning("peer %s sent a malformed presence message: %s", link.peer.name, error)
            return
        if not isinstance(message, AwarenessMessage):
            log.warning("peer %s sent a %s as presence", link.peer.name, type(message).__name__)
            return
        changed = entry.participants.apply(message.entries, asyncio.get_running_loop().time())
        news = changed.news
        if not news:
            return
        for client_id in news:
            entry.presence_sources[client_id] = link
        # Relay what was news to us (renewals included), so presence crosses a chain like the
        # text does and far participants do not expire.
        fresh = tuple(item for item in message.entries if item.client_id in news)
        relay = encode(AwarenessMessage(fresh))
        for other in entry.channels:
            if other is not link:
                other.send_presence(doc_id, relay)
        if changed:
            self._emit(ParticipantsChanged(doc_id))

    # ------------------------------------------------------------------ presence

    def set_local_cursor(self, doc_id: str, anchor: int | None, head: int | None) -> None:
        """Publish this peer's caret/selection in a document (code points); None hides it."""
        entry = self._entry(doc_id)
        document = entry.document
        state = PresenceState(
            name=self.config.name,
            color=self.color,
            anchor=document.anchor_at(anchor) if anchor is not None and head is not None else None,
            head=document.anchor_at(head) if anchor is not None and head is not None else None,
        )
        loop = asyncio.get_running_loop()
        to_send = entry.presence_throttle.offer(state, loop.time())
        if to_send is not None:
            self._publish_presence(entry, to_send)
            return
        # Latest wins: the held state goes out on the throttle's trailing edge.
        due_at = entry.presence_throttle.next_due
        if due_at is not None and not entry.presence_timer_armed:
            entry.presence_timer_armed = True
            loop.call_at(due_at, self._send_due_presence, entry)

    def _send_due_presence(self, entry: HeldDocument) -> None:
        entry.presence_timer_armed = False
        if self.documents.get(entry.doc_id) is not entry:
            return
        loop = asyncio.get_running_loop()
        state = entry.presence_throttle.due(loop.time())
        if state is not None:
            self._publish_presence(entry, state)
            return
        due_at = entry.presence_throttle.next_due
        if due_at is not None:
            # The timer fired early (event-loop timers are not exact): the newest state is
            # still held, so try again when it is due rather than dropping it.
            entry.presence_timer_armed = True
            loop.call_at(due_at, self._send_due_presence, entry)

    def _publish_presence(self, entry: HeldDocument, state: PresenceState | None) -> None:
        """Send a new presence state (None: we left) to every peer syncing this document."""
        entry.local_presence.update(state)
        for link in entry.channels:
            self._send_presence(entry, link)

    def _send_presence(self, entry: HeldDocument, link: protocol.Link) -> None:
        data = encode(AwarenessMessage((entry.local_presence.entry(),)))
        link.send_presence(entry.doc_id, data)

    def _introduce_presence(self, entry: HeldDocument, link: protocol.Link) -> None:
        """Tell a newly synced peer who is here: us and everyone we know of (as Yjs does)."""
        known = tuple(item for item in entry.participants.entries()
                      if entry.presence_sources.get(item.client_id) is not link)
        own = (entry.local_presence.entry(),) if entry.local_presence.state is not None else ()
        if own or known:
            link.send_presence(entry.doc_id, encode(AwarenessMessage(own + known)))

    def set_identity(self, name: str, color: str) -> None:
        """Change the display name and colour: peers see it in presence at once (and in the
        handshake of connections made from now on)."""
        self.config.name = name
        self.color = color
        self.hello = protocol.Hello(peer_id=self.peer_id, name=name)
        for entry in self.documents.values():
            current = entry.local_presence.state
            if current is not None:
                self._publish_presence(entry, PresenceState(name, color, current.anchor, current.head))

    def participants(self, doc_id: str) -> dict[int, PresenceState]:
        """Remote participants of a document by client id."""
        return self._entry(doc_id).participants.states

    def _forget_participants_from(self, entry: HeldDocument, link: protocol.Link) -> None:
        gone = [cid for cid, source in entry.presence_sources.items() if source is link]
        for client_id in gone:
            del entry.presence_sources[client_id]
        if entry.participants.forget(gone):
            self._emit(ParticipantsChanged(entry.doc_id))

    async def _expire_presence_forever(self) -> None:
        loop = asyncio.get_running_loop()
        last_renewal = loop.time()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for entry in self.documents.values():
                if entry.participants.expire(now, PRESENCE_TIMEOUT):
                    self._emit(ParticipantsChanged(entry.doc_id))
            if now - last_renewal >= PRESENCE_RENEW:
                last_renewal = now
                for entry in self.documents.values():
                    if entry.local_presence.state is not None:
                        entry.local_presence.renew()
                        for link in entry.channels:
                            self._send_presence(entry, link)




def _dial_order(addresses: Iterable[str]) -> list[str]:
    """IPv4 before IPv6, link-local IPv6 (which needs a scope) last."""
    return sorted(addresses, key=lambda a: (":" in a, a.lower().startswith("fe80")))


def _text_file_candidates(folder: Path) -> Iterable[Path]:
    """Regular files below `folder`, skipping hidden files/folders (and so `.chorus/`)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root) / name
            if name.startswith(".") or not path.is_file():
                continue
            if path.stat().st_size > MAX_SHARED_FILE_BYTES:
                log.warning("not sharing %s: larger than %d MiB", path, MAX_SHARED_FILE_BYTES >> 20)
                continue
            yield path


def _free_file_name(folder: Path, title: str, held: Iterable[HeldDocument]) -> Path:
    """A file name in `folder` for a mirrored document, unused by any other held document."""
    safe = "".join(c if c not in '/\\\0' else "_" for c in title).strip(". ") or "untitled"
    taken = {entry.binding.path for entry in held if entry.binding is not None}
    stem, dot, suffix = safe.rpartition(".") if "." in safe else (safe, "", "")
    candidate = folder / safe
    counter = 2
    while candidate.resolve() in taken:
        candidate = folder / (f"{stem} ({counter}){dot}{suffix}" if dot else f"{safe} ({counter})")
        counter += 1
    return candidate


def _same_title(title: str, wanted: str) -> bool:
    return title == wanted


def _loosely_same_title(title: str, wanted: str) -> bool:
    """Equal ignoring case, with or without the title's extension."""
    title, wanted = title.casefold(), wanted.casefold()
    return wanted in (title, PurePath(title).stem)


def _titles(documents: Sequence[RemoteDocument], shown: int = 5) -> str:
    """ "a.txt, b.txt and 3 more" for an error message."""
    names = ", ".join(repr(document.title) for document in documents[:shown])
    hidden = len(documents) - shown
    return f"{names} and {hidden} more" if hidden > 0 else names
