"""A document the node holds, and the glue between its sync sessions and protocol channels."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from editor.core.document import SharedDocument
from editor.core.pacing import SendPacer
from editor.core.presence import LocalPresence, Participants, PresenceThrottle
from editor.core.sync import DocumentHub, SyncSession
from editor.protocol.link import LinkState
from editor.runtime.events import SyncStatus

if TYPE_CHECKING:
    from editor.protocol.link import DocChannel, Link
    from editor.runtime.filesync import FileBinding

log = logging.getLogger(__name__)


class ChannelSync:
    """One document channel on one link: a `SyncSession` fed by a protocol `DocChannel`.

    Implements the protocol's `ChannelEndpoint`. Every call comes from the event loop; the
    protocol grants the peer more credit only after `message_received` returned, so applying
    synchronously here is what makes backpressure real.
    """

    def __init__(self, entry: HeldDocument, link: Link, *, initiator: bool,
                 on_state_changed: Callable[[], None]) -> None:
        self.entry = entry
        self.link = link
        self.session = SyncSession(entry.document, source=self, initiator=initiator)
        self.channel: DocChannel | None = None
        self._on_state_changed = on_state_changed
        self._was_synced = False
        self.introduced = False  # presence of everyone here sent to the peer once synced

    @property
    def synced(self) -> bool:
        return self.session.synced

    # ChannelEndpoint ---------------------------------------------------------

    def message_received(self, data: bytes) -> None:
        # MalformedMessage / InvalidUpdate propagate: the protocol closes this channel with
        # an error naming the problem, and the document is untouched.
        self.session.receive(bytes(data))
        self.entry.schedule_flush()
        if self.session.synced and not self._was_synced:
            self._was_synced = True
            self._on_state_changed()

    def credit_granted(self) -> None:
        self.entry.schedule_flush()

    def channel_closed(self, reason: str | None) -> None:
        self.entry.detach(self)
        superseded = self.channel is not None and self.channel.superseded
        if reason and self.link.state is LinkState.OPEN and not superseded:
            # A channel closing on its own (refused, unshared, bad data) is news; one closing
            # with its link is already told by the link's own line, and one superseded by the
            # peer's simultaneous request for the same document is routine.
            log.info("document %s: channel to %s closed: %s", self.entry.title,
                     self.link.peer.name, reason)
        self._on_state_changed()

    # sending -----------------------------------------------------------------

    def flush(self) -> int:
        """Send what the session has for the peer, never more than the channel's credit;
        return how many messages went out."""
        channel = self.channel
        if channel is None:
            return 0
        # The channel counts the credit the peer granted; the session decides what to send
        # with it (and coalesces what it cannot send yet).
        self.session.add_credit(max(0, channel.credit - self.session.credit))
        messages = self.session.take_sendable()
        for message in messages:
            channel.send(message)
        return len(messages)

    @property
    def idle(self) -> bool:
        """True when nothing is waiting to be sent on this channel."""
        return not self.session.has_sendable


@dataclass(eq=False)
class HeldDocument:
    """A document this node holds: its CRDT, relay hub, channels, file and presence."""

    doc_id: str
    title: str
    document: SharedDocument
    shared: bool = True
    binding: FileBinding | None = None
    origin_peer: str | None = None  # who we joined it from, for status and re-joining
    hub: DocumentHub = field(init=False)
    channels: dict[Link, ChannelSync] = field(default_factory=dict)
    participants: Participants = field(init=False)
    local_presence: LocalPresence = field(init=False)
    presence_throttle: PresenceThrottle = field(default_factory=PresenceThrottle)
    presence_timer_armed: bool = False
    presence_sources: dict[int, Link] = field(default_factory=dict)  # who told us each client
    edited_while_offline: bool = False
    on_flushed: Callable[[], None] | None = None  # told after pending messages went out
    unsubscribe_updates: Callable[[], None] | None = None
    watcher: asyncio.Task[None] | None = None  # polls the bound file
    pacer: SendPacer = field(default_factory=SendPacer)
    _flush_scheduled: bool = False

    def __post_init__(self) -> None:
        self.hub = DocumentHub(self.document)
        self.participants = Participants(local_client_id=self.document.client_id)
        self.local_presence = LocalPresence(self.document.client_id)

    def attach(self, sync: ChannelSync) -> None:
        self.channels[sync.link] = sync
        self.hub.add(sync.session)

    def detach(self, sync: ChannelSync) -> None:
        if self.channels.get(sync.link) is sync:
            del self.channels[sync.link]
        self.hub.remove(sync.session)

    def schedule_flush(self) -> None:
        """Send pending messages at the end of this event-loop turn, or, during a burst, when
        the pacer allows: the edits made meanwhile coalesce."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop = asyncio.get_running_loop()
            delay = self.pacer.delay(loop.time())
            if delay > 0:
                loop.call_later(delay, self._flush)
            else:
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        loop = asyncio.get_running_loop()
        sent = 0
        for sync in list(self.channels.values()):
            sent += sync.flush()
        if sent:
            self.pacer.sent(loop.time())
        if self.on_flushed is not None:
            self.on_flushed()

    @property
    def sync_status(self) -> SyncStatus:
        if not self.channels:
            if self.origin_peer is not None:
                return SyncStatus.OFFLINE
            return SyncStatus.LOCAL
        if all(sync.synced for sync in self.channels.values()):
            return SyncStatus.SYNCED
        return SyncStatus.SYNCING
