"""Events the node publishes for the UI and the CLI (frozen dataclasses, past tense)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PeerStatus(enum.Enum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


class SyncStatus(enum.Enum):
    LOCAL = "local"  # not shared with anyone, nothing to sync
    SYNCING = "syncing"  # at least one channel is exchanging its first state
    SYNCED = "synced"  # every open channel has received the peer's state
    OFFLINE = "offline"  # joined from a peer that is gone; local edits wait for it


@dataclass(frozen=True)
class RemoteDocument:
    """A document a connected peer offers."""

    doc_id: str
    title: str
    length: int


@dataclass(frozen=True)
class PeerConnected:
    peer_id: str
    name: str
    address: str


@dataclass(frozen=True)
class PeerDisconnected:
    peer_id: str
    name: str
    reason: str


@dataclass(frozen=True)
class PeerStatusChanged:
    peer_id: str
    name: str
    status: PeerStatus


@dataclass(frozen=True)
class PeerDocumentsListed:
    peer_id: str
    documents: tuple[RemoteDocument, ...]


@dataclass(frozen=True)
class DocumentOpened:
    doc_id: str
    title: str


@dataclass(frozen=True)
class DocumentClosed:
    doc_id: str


@dataclass(frozen=True)
class DocumentSyncChanged:
    doc_id: str
    status: SyncStatus


@dataclass(frozen=True)
class ParticipantsChanged:
    doc_id: str


@dataclass(frozen=True)
class DiscoveredPeersChanged:
    """The set of peers seen on the LAN changed (`peers`: DiscoveredPeer values)."""

    peers: tuple


@dataclass(frozen=True)
class AddressUnreachable:
    """An address `Node.connect` keeps dialing has never answered (`reason` says why), or, with
    `reason` None, is no longer listed as such (it answered, or the node stopped dialing it)."""

    address: str
    reason: str | None


NodeEvent = (
    PeerConnected
    | PeerDisconnected
    | PeerStatusChanged
    | PeerDocumentsListed
    | DocumentOpened
    | DocumentClosed
    | DocumentSyncChanged
    | ParticipantsChanged
    | DiscoveredPeersChanged
    | AddressUnreachable
)
