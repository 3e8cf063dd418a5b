"""Presence: who is in a document and where their cursor is, as y-protocols awareness states.

Awareness state dict (the JSON each peer publishes per document):

    {"user": {"name": str, "color": str},
     "cursor": {"anchor": <anchor>, "head": <anchor>} | null}

where <anchor> is the JSON of `SharedDocument.anchor_at` (see `editor.core.document`). `anchor`
is where the selection started and `head` where the caret is; they are equal for a plain caret.
Time is always passed in (seconds, any monotonic clock), never read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from editor.core.document import validate_anchor
from editor.core.messages import AwarenessEntry
from editor.core.pacing import SendPacer

__all__ = [
    "DEFAULT_OUTDATED_TIMEOUT",
    "DEFAULT_SEND_INTERVAL",
    "LocalPresence",
    "Participants",
    "ParticipantsChanged",
    "PresenceState",
    "PresenceThrottle",
]

# y-protocols awareness: states not renewed for 30 s are outdated; peers renew every 15 s.
DEFAULT_OUTDATED_TIMEOUT: Final = 30.0
RENEW_INTERVAL: Final = 15.0
DEFAULT_SEND_INTERVAL: Final = 1.0 / 30.0


@dataclass(frozen=True, slots=True)
class PresenceState:
    """One participant's name, colour and (optional) selection as two anchors."""

    name: str
    color: str
    anchor: dict[str, Any] | None = None
    head: dict[str, Any] | None = None

    def to_awareness(self) -> dict[str, Any]:
        """The awareness state dict (module docstring)."""
        cursor = None if self.anchor is None or self.head is None else {"anchor": self.anchor, "head": self.head}
        return {"user": {"name": self.name, "color": self.color}, "cursor": cursor}

    @classmethod
    def from_awareness(cls, state: object) -> PresenceState:
        """Parse an awareness state dict; `ValueError` if it lacks a valid user or cursor.
        Unknown extra fields (other Yjs clients add their own) are ignored."""
        if not isinstance(state, dict):
            raise ValueError(f"an awareness state is an object, got {type(state).__name__}")
        user = state.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("name"), str) \
                or not isinstance(user.get("color"), str):
            raise ValueError("awareness state lacks user.name / user.color strings")
        cursor = state.get("cursor")
        if cursor is None:
            return cls(user["name"], user["color"])
        if not isinstance(cursor, dict):
            raise ValueError("awareness cursor must be an object or null")
        return cls(user["name"], user["color"],
                   validate_anchor(cursor.get("anchor")), validate_anchor(cursor.get("head")))


class PresenceThrottle:
    """Latest-wins rate limit for our own presence: at most one send per `interval`.

    `offer` returns the state to send at once (leading edge) or None, keeping the newest state
    for later; `due` returns that kept state once the interval has passed (trailing edge).
    """

    def __init__(self, interval: float = DEFAULT_SEND_INTERVAL) -> None:
        self._pacer = SendPacer(interval)
        self._held: PresenceState | None = None

    @property
    def next_due(self) -> float | None:
        """When `due` will return the held state; None if nothing is held."""
        if self._held is None:
            return None
        allowed = self._pacer.next_allowed
        return allowed if allowed is not None else 0.0

    def offer(self, state: PresenceState, now: float) -> PresenceState | None:
        """Our presence changed to `state` at `now`: the state to send now, or None."""
        if self._pacer.delay(now) == 0:
            self._pacer.sent(now)
            self._held = None
            return state
        self._held = state
        return None

    def due(self, now: float) -> PresenceState | None:
        """The held state if its time has come (it is then considered sent), else None."""
        due_at = self.next_due
        if due_at is None or now < due_at:
            return None
        state, self._held = self._held, None
        self._pacer.sent(now)
        return state


class LocalPresence:
    """Our own awareness entry for one document: the clock grows with every change."""

    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        self.clock = 0
        self.state: PresenceState | None = None

    def update(self, state: PresenceState | None) -> AwarenessEntry:
        """Set our state (None: we leave) and return the entry to broadcast."""
        self.clock += 1
        self.state = state
        return self.entry()

    def entry(self) -> AwarenessEntry:
        """The current entry without a new clock (to answer a newcomer)."""
        return AwarenessEntry(self.client_id, self.clock, None if self.state is None else self.state.to_awareness())

    def renew(self) -> AwarenessEntry:
        """The same state under a new clock, so peers do not expire us (every RENEW_INTERVAL)."""
        return self.update(self.state)


@dataclass(frozen=True, slots=True)
class ParticipantsChanged:
    """Client ids whose presence appeared, changed or went away in one `apply` or `expire`.

    `renewed` lists states that came back unchanged under a newer clock: invisible to a view
    (so not counted by `bool`), but news to relay, or peers further away would expire them.
    """

    added: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    renewed: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    @property
    def news(self) -> frozenset[int]:
        """Every client id whose entry a relay should pass on."""
        return frozenset(self.added + self.updated + self.removed + self.renewed)


@dataclass(slots=True)
class _Known:
    clock: int
    last_seen: float
    state: PresenceState | None = field(default=None)
    raw: dict[str, Any] | None = field(default=None)  # as received: relayed with extra fields


class Participants:
    """Remote presence states of one document by client id, with y-protocols clock rules."""

    def __init__(self, local_client_id: int | None = None) -> None:
        self._local = local_client_id
        self._known: dict[int, _Known] = {}

    @property
    def states(self) -> dict[int, PresenceState]:
        """The present participants."""
        return {cid: known.state for cid, known in self._known.items() if known.state is not None}

    def entries(self) -> tuple[AwarenessEntry, ...]:
        """The present participants as received (to introduce them to a newly joined peer)."""
        return tuple(AwarenessEntry(cid, known.clock, known.raw)
                     for cid, known in self._known.items() if known.state is not None)

    def apply(self, entries: Iterable[AwarenessEntry], now: float) -> ParticipantsChanged:
        """Take in received entries: a newer clock wins; an equal clock may only remove.
        A state that is not a valid presence counts as leaving."""
        added, updated, removed, renewed = [], [], [], []
        for entry in entries:
            if entry.client_id == self._local:
                continue
            known = self._known.get(entry.client_id)
            state = self._parse(entry.state)
            if known is not None:
                newer = entry.clock > known.clock
                removal = entry.clock == known.clock and state is None and known.state is not None
                if not (newer or removal):
                    continue
                before = known.state
                known.clock, known.last_seen, known.state = entry.clock, now, state
                known.raw = entry.state if state is not None else None
            else:
                before = None
                self._known[entry.client_id] = _Known(entry.clock, now, state,
                                                      entry.state if state is not None else None)
            if before is None and state is not None:
                added.append(entry.client_id)
            elif before is not None and state is None:
                removed.append(entry.client_id)
            elif before is not None and state != before:
                updated.append(entry.client_id)
            elif before is not None:
                renewed.append(entry.client_id)
        return ParticipantsChanged(tuple(added), tuple(updated), tuple(removed), tuple(renewed))

    def expire(self, now: float, timeout: float = DEFAULT_OUTDATED_TIMEOUT) -> ParticipantsChanged:
        """Remove participants not heard from for longer than `timeout`."""
        gone = [cid for cid, known in self._known.items()
                if known.state is not None and now - known.last_seen > timeout]
        for cid in gone:
            self._known[cid].state = self._known[cid].raw = None
        return ParticipantsChanged(removed=tuple(gone))

    def forget(self, client_ids: Iterable[int]) -> ParticipantsChanged:
        """Remove participants at once (their link closed)."""
        gone = []
        for cid in client_ids:
            known = self._known.get(cid)
            if known is not None and known.state is not None:
                known.state = known.raw = None
                gone.append(cid)
        return ParticipantsChanged(removed=tuple(gone))

    @staticmethod
    def _parse(state: dict[str, Any] | None) -> PresenceState | None:
        if state is None:
            return None
        try:
            return PresenceState.from_awareness(state)
        except ValueError:
            return None  # not a presence we can show: treated as absent, by contract
