"""Presence: awareness state codec, throttle with time passed in, participants and expiry."""

from __future__ import annotations

import pytest

from editor.core.document import Assoc, SharedDocument
from editor.core.messages import AwarenessEntry, AwarenessMessage, decode, encode
from editor.core.presence import LocalPresence, Participants, PresenceState, PresenceThrottle


def cursor_state(name: str = "ann") -> PresenceState:
    doc = SharedDocument("doc", client_id=1)
    doc.insert(0, "héllo 😀")
    return PresenceState(name, "#e91e63", doc.anchor_at(1), doc.anchor_at(7, Assoc.BEFORE))


def test_state_round_trips_through_an_awareness_message():
    state = cursor_state()
    entry = AwarenessEntry(5, 1, state.to_awareness())
    received = decode(encode(AwarenessMessage((entry,)))).entries[0]
    assert PresenceState.from_awareness(received.state) == state


def test_state_without_cursor():
    state = PresenceState("bo", "#000")
    assert state.to_awareness() == {"user": {"name": "bo", "color": "#000"}, "cursor": None}
    assert PresenceState.from_awareness(state.to_awareness()) == state


def test_extra_fields_from_other_clients_are_ignored():
    raw = {"user": {"name": "yjs", "color": "#fff", "avatar": "x"}, "cursor": None, "other": 1}
    assert PresenceState.from_awareness(raw) == PresenceState("yjs", "#fff")


@pytest.mark.parametrize(
    "raw",
    [None, [], {}, {"user": {"name": 1, "color": "#fff"}}, {"user": {"name": "a"}},
     {"user": {"name": "a", "color": "b"}, "cursor": "x"},
     {"user": {"name": "a", "color": "b"}, "cursor": {"anchor": {"tname": "text"}, "head": {"bad": 1}}}],
)
def test_invalid_states_are_value_errors(raw):
    with pytest.raises(ValueError):
        PresenceState.from_awareness(raw)


def test_throttle_sends_leading_edge_then_latest_on_trailing_edge():
    throttle = PresenceThrottle(interval=0.1)
    first, second, third = (PresenceState(n, "#000") for n in "abc")
    assert throttle.offer(first, now=10.0) == first
    assert throttle.offer(second, now=10.02) is None
    assert throttle.offer(third, now=10.05) is None  # latest wins
    assert throttle.next_due == pytest.approx(10.1)
    assert throttle.due(now=10.09) is None
    assert throttle.due(now=10.1) == third
    assert throttle.due(now=10.5) is None  # nothing held any more
    assert throttle.offer(first, now=10.5) == first


def test_throttle_caps_the_rate_at_about_30_per_second():
    throttle = PresenceThrottle()
    sent = 0
    for step in range(1000):  # one second of offers every millisecond
        now = step / 1000
        if throttle.offer(PresenceState(str(step), "#000"), now) is not None:
            sent += 1
        if throttle.due(now) is not None:
            sent += 1
    assert 25 <= sent <= 31


def test_participants_follow_clocks_and_removals():
    participants = Participants(local_client_id=1)
    ann, ann_moved = PresenceState("ann", "#f00"), cursor_state("ann")
    changed = participants.apply([AwarenessEntry(2, 1, ann.to_awareness()),
                                  AwarenessEntry(1, 9, ann.to_awareness())], now=0.0)
    assert changed.added == (2,) and participants.states == {2: ann}  # our own entry ignored
    assert not participants.apply([AwarenessEntry(2, 1, ann_moved.to_awareness())], now=1.0)  # same clock
    changed = participants.apply([AwarenessEntry(2, 2, ann_moved.to_awareness())], now=1.0)
    assert changed.updated == (2,) and participants.states[2] == ann_moved
    assert participants.apply([AwarenessEntry(2, 2, None)], now=2.0).removed == (2,)  # equal clock removes
    assert participants.states == {}
    assert not participants.apply([AwarenessEntry(2, 1, ann.to_awareness())], now=3.0)  # stale


def test_participants_expire_without_renewal():
    participants = Participants()
    participants.apply([AwarenessEntry(2, 1, PresenceState("a", "#0").to_awareness()),
                        AwarenessEntry(3, 1, PresenceState("b", "#0").to_awareness())], now=0.0)
    participants.apply([AwarenessEntry(3, 2, PresenceState("b", "#0").to_awareness())], now=20.0)
    assert participants.expire(now=31.0, timeout=30.0).removed == (2,)
    assert list(participants.states) == [3]
    assert participants.forget([3]).removed == (3,)


def test_invalid_remote_state_counts_as_absent():
    participants = Participants()
    changed = participants.apply([AwarenessEntry(4, 1, {"user": "no"})], now=0.0)
    assert not changed and participants.states == {}


def test_local_presence_clock_grows():
    local = LocalPresence(client_id=9)
    first = local.update(PresenceState("me", "#123"))
    renewed = local.renew()
    left = local.update(None)
    assert (first.clock, renewed.clock, left.clock) == (1, 2, 3)
    assert left.state is None and renewed.state == first.state
