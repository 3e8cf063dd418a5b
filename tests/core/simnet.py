"""A simulated network of Chorus peers for convergence tests.

Each peer is a SharedDocument with its DocumentHub and one SyncSession per link. Each link has
a message queue per direction that the test drives: deliver (any queued message, so reorder is
a choice of index), duplicate, drop, cut (queues discarded, sessions removed) and heal (fresh
sessions and the step 1/2 exchange). Credit is modelled like the RSocket channel: the receiver
grants an initial batch and then a new batch only after it has applied a batch of messages.

Every peer also keeps a "view": a plain string changed only by its own local edits and by the
`subscribe_changes` deltas, as an editor widget would be. It must always equal the text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from editor.core.document import SharedDocument, TextChange, TextInserted
from editor.core.sync import DocumentHub, SyncSession

CREDIT_BATCH = 4


def apply_changes(view: str, changes: list[TextChange]) -> str:
    """Patch a plain string with code-point changes, in order."""
    for change in changes:
        if isinstance(change, TextInserted):
            view = view[: change.index] + change.text + view[change.index :]
        else:
            view = view[: change.index] + view[change.index + change.length :]
    return view


class Peer:
    """One replica: document, relay, and the view an editor would show."""

    def __init__(self, name: str, client_id: int) -> None:
        self.name = name
        self.document = SharedDocument("doc", client_id=client_id, capture_timeout_ms=0)
        self.hub = DocumentHub(self.document)
        self.view = ""
        self.document.subscribe_changes(self._patch_view)

    def _patch_view(self, changes: list[TextChange], origin: object) -> None:
        self.view = apply_changes(self.view, changes)

    def insert(self, index: int, text: str) -> None:
        self.document.insert(index, text)
        self.view = self.view[:index] + text + self.view[index:]

    def delete(self, index: int, length: int) -> None:
        self.document.delete(index, length)
        self.view = self.view[:index] + self.view[index + length :]


class LinkState(enum.Enum):
    UP = "up"
    CUT = "cut"


@dataclass
class Direction:
    """One way of a link: the sender's session, the receiver's session, the wire queue."""

    sender: SyncSession
    receiver: SyncSession
    queue: list[bytes] = field(default_factory=list)
    applied_since_grant: int = 0


class Link:
    """A connection between two peers (peer `a` dials, so it is the sync requester)."""

    def __init__(self, a: Peer, b: Peer) -> None:
        self.a, self.b = a, b
        self.state = LinkState.CUT
        self.directions: list[Direction] = []  # [a -> b, b -> a] while up
        self.lossy = False  # a message was dropped on a live connection

    @property
    def name(self) -> str:
        return f"{self.a.name}-{self.b.name}"

    def heal(self) -> None:
        """Fresh sessions on both ends, initial credit both ways, step 1 on the wire."""
        assert self.state is LinkState.CUT
        at_a = SyncSession(self.a.document, source=("link", self.b.name), initiator=True)
        at_b = SyncSession(self.b.document, source=("link", self.a.name), initiator=False)
        self.a.hub.add(at_a)
        self.b.hub.add(at_b)
        self.directions = [Direction(at_a, at_b), Direction(at_b, at_a)]
        for direction in self.directions:
            direction.sender.add_credit(CREDIT_BATCH)
        self.directions[0].queue.append(at_a.opening_message())  # the channel's first payload
        self.state = LinkState.UP

    def cut(self) -> None:
        """Both ends notice the connection died: queues and sessions are gone."""
        assert self.state is LinkState.UP
        self.a.hub.remove(self.directions[0].sender)
        self.b.hub.remove(self.directions[1].sender)
        self.directions = []
        self.state = LinkState.CUT

    def pump(self) -> None:
        """Each session sends what its credit allows."""
        for direction in self.directions:
            direction.queue.extend(direction.sender.take_sendable())

    def deliver(self, way: int, position: int, *, keep: bool = False) -> None:
        """Deliver the message at `position` (reorder) of direction `way`; `keep` duplicates."""
        direction = self.directions[way]
        data = direction.queue[position] if keep else direction.queue.pop(position)
        direction.receiver.receive(data)
        direction.applied_since_grant += 1
        if direction.applied_since_grant >= CREDIT_BATCH:
            # Granted only after applying, like the channel's request(n) after message_received.
            direction.applied_since_grant = 0
            direction.sender.add_credit(CREDIT_BATCH)

    def drop(self, way: int, position: int) -> None:
        """Lose a message: only a reconnection (fresh step 1/2) repairs that."""
        del self.directions[way].queue[position]
        self.lossy = True

    def grant(self, way: int, credit: int) -> None:
        self.directions[way].sender.add_credit(credit)

    def pending(self) -> int:
        return sum(len(direction.queue) for direction in self.directions)


class SimNet:
    """Peers joined by links; `pump` after every action, as a transport would."""

    def __init__(self, peer_names: list[str], edges: list[tuple[str, str]]) -> None:
        self.peers = {name: Peer(name, client_id) for client_id, name in enumerate(peer_names, start=1)}
        self.links = [Link(self.peers[a], self.peers[b]) for a, b in edges]
        for link in self.links:
            link.heal()
        self.pump()

    def pump(self) -> None:
        for link in self.links:
            if link.state is LinkState.UP:
                link.pump()

    def deliver_all(self, max_steps: int = 100_000) -> None:
        """Deliver in order until every queue is empty and nothing more is sendable."""
        for _ in range(max_steps):
            busy = [link for link in self.links if link.state is LinkState.UP and link.pending()]
            if not busy:
                stalled = [link.name for link in self.links
                           for d in link.directions if d.sender.has_sendable]
                assert not stalled, f"sessions stalled without credit on {stalled}"
                return
            for link in busy:
                for way, direction in enumerate(link.directions):
                    if direction.queue:
                        link.deliver(way, 0)
                self.pump()
        raise AssertionError("network did not settle")

    def heal_everything(self, *, reconnect_live_links: bool = True) -> None:
        """Heal every cut link, reconnect live ones from scratch too unless told not to (after
        lossless runs, live sessions must converge on their own), then settle."""
        for link in self.links:
            if link.state is LinkState.UP and reconnect_live_links:
                link.cut()
            if link.state is LinkState.CUT:
                link.heal()
        self.pump()
        self.deliver_all()

    def settle(self) -> None:
        """End of a run: reconnect only what must be (cut links, links that lost messages),
        deliver everything, and require convergence."""
        for link in self.links:
            if link.lossy and link.state is LinkState.UP:
                link.cut()
            link.lossy = False
        self.heal_everything(reconnect_live_links=False)
        self.check_converged()
        self.check_views()

    def check_views(self) -> None:
        for peer in self.peers.values():
            assert peer.view == peer.document.text, f"{peer.name}: view diverged from its text"
            assert len(peer.document) == len(peer.view)

    def check_converged(self) -> None:
        texts = {name: peer.document.text for name, peer in self.peers.items()}
        assert len(set(texts.values())) == 1, f"peers diverged: {texts}"
