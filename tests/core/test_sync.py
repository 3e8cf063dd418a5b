"""SyncSession and DocumentHub: handshake, credit, coalescing, O(1) stalled channels, relay."""

from __future__ import annotations

import pytest

from editor.core.document import InvalidUpdate, SharedDocument
from editor.core.messages import (
    AwarenessEntry,
    AwarenessMessage,
    MalformedMessage,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode,
    encode,
)
from editor.core.sync import DocumentHub, SyncSession


def make(client_id: int, text: str = "") -> SharedDocument:
    doc = SharedDocument("doc", client_id=client_id, capture_timeout_ms=0)
    if text:
        doc.insert(0, text)
    return doc


class Pair:
    """Two documents joined by one session each, with hubs, and an explicit wire."""

    def __init__(self, left_text: str = "", right_text: str = "") -> None:
        self.left, self.right = make(1, left_text), make(2, right_text)
        self.left_hub, self.right_hub = DocumentHub(self.left), DocumentHub(self.right)
        self.requester = SyncSession(self.left, source="right", initiator=True)
        self.responder = SyncSession(self.right, source="left", initiator=False)
        self.left_hub.add(self.requester)
        self.right_hub.add(self.responder)

    def handshake(self, credit: int = 10, requester_credit: int | None = None) -> None:
        self.requester.add_credit(credit if requester_credit is None else requester_credit)
        self.responder.add_credit(credit)
        self.responder.receive(self.requester.opening_message())
        self.exchange()

    def exchange(self) -> None:
        """Deliver until both sides have nothing sendable (within their credit)."""
        while True:
            to_right = self.requester.take_sendable()
            to_left = self.responder.take_sendable()
            if not to_right and not to_left:
                return
            for data in to_right:
                self.responder.receive(data)
            for data in to_left:
                self.requester.receive(data)


def kinds(messages: list[bytes]) -> list[type]:
    return [type(decode(data)) for data in messages]


def test_handshake_exchanges_both_states():
    pair = Pair("left 中文", "right 😀")
    pair.requester.add_credit(10)
    pair.responder.add_credit(10)
    opening = pair.requester.opening_message()
    assert isinstance(decode(opening), SyncStep1)
    pair.responder.receive(opening)
    replies = pair.responder.take_sendable()
    assert kinds(replies) == [SyncStep2, SyncStep1]  # step 2 first, then its own step 1
    for data in replies:
        pair.requester.receive(data)
    assert pair.requester.synced and not pair.responder.synced
    answer = pair.requester.take_sendable()
    assert kinds(answer) == [SyncStep2]
    pair.responder.receive(answer[0])
    assert pair.responder.synced
    assert pair.left.text == pair.right.text


def test_only_the_requester_opens():
    with pytest.raises(RuntimeError):
        Pair().responder.opening_message()


def test_take_sendable_never_exceeds_credit_and_sends_control_first():
    pair = Pair("abc")
    pair.responder.receive(pair.requester.opening_message())
    assert pair.responder.take_sendable() == []
    pair.responder.add_credit(1)
    assert kinds(pair.responder.take_sendable()) == [SyncStep2]
    assert pair.responder.credit == 0
    pair.right.insert(0, "x")
    pair.responder.add_credit(1)
    assert kinds(pair.responder.take_sendable()) == [SyncStep1]  # control before updates
    pair.responder.add_credit(5)
    assert kinds(pair.responder.take_sendable()) == [SyncUpdate]
    assert pair.responder.credit == 4


def test_one_pending_update_is_sent_as_is():
    pair = Pair()
    pair.handshake()
    updates = []
    pair.left.subscribe_updates(lambda u, s: updates.append(u))
    pair.left.insert(0, "héllo")
    sent = pair.requester.take_sendable()
    assert len(sent) == 1 and decode(sent[0]) == SyncUpdate(updates[0])


def test_several_pending_updates_go_out_merged_into_one():
    pair = Pair("0123456789" * 4)
    pair.handshake()
    for index in range(20):  # scattered deletions before the run: 20 delete ranges
        pair.left.delete(index, 1)
    pair.exchange()
    state_before_run = pair.right.state_vector()
    pair.left.insert(0, "a")
    pair.left.insert(1, "中")
    pair.left.delete(0, 1)
    assert pair.requester.pending_updates == 3 and not pair.requester.dirty
    sent = pair.requester.take_sendable()
    assert kinds(sent) == [SyncUpdate]
    pair.responder.receive(sent[0])
    assert pair.right.text == pair.left.text == "中" + "13579" * 4
    # Merged, not a diff from the document: the earlier deletions are not repeated.
    diff = pair.left.encode_state(since=state_before_run)
    assert len(sent[0]) < len(encode(SyncUpdate(diff))) - 20


def test_a_run_longer_than_the_limit_goes_out_as_one_diff():
    pair = Pair()
    pair.requester.max_pending_updates = 4
    pair.handshake()
    for i in range(5):
        pair.left.insert(i, str(i))
    assert pair.requester.dirty and pair.requester.pending_updates == 0
    sent = pair.requester.take_sendable()
    assert kinds(sent) == [SyncUpdate]
    pair.responder.receive(sent[0])
    assert pair.right.text == "01234"


def test_updates_offered_before_step2_is_taken_are_covered_by_it():
    pair = Pair()
    pair.responder.receive(pair.requester.opening_message())
    pair.right.insert(0, "typed while the handshake waited for credit")
    assert not pair.responder.has_sendable or pair.responder.credit == 0
    pair.responder.add_credit(10)
    messages = pair.responder.take_sendable()
    assert kinds(messages) == [SyncStep2, SyncStep1]  # no separate update: step 2 covers it
    pair.requester.receive(messages[0])
    assert pair.left.text == pair.right.text


def test_stalled_session_keeps_constant_state_and_converges_in_one_message():
    pair = Pair()
    pair.handshake(requester_credit=1)
    assert pair.requester.credit == 0  # step 2 used it: stalled, the peer stopped granting
    fragments = ["a", "中", "😀", "é", " "]
    for i in range(10_000):
        if i % 7 == 6 and len(pair.left) > 0:
            pair.left.delete(len(pair.left) // 2, 1)
        else:
            pair.left.insert(len(pair.left) // 3, fragments[i % len(fragments)])
        # O(1): never more than the held run's limit, whatever the number of edits.
        assert pair.requester.pending_updates <= pair.requester.max_pending_updates
        assert pair.requester.pending_updates == 0 or not pair.requester.dirty
    assert pair.requester.dirty and pair.requester.pending_updates == 0
    assert pair.requester.take_sendable() == []
    pair.requester.add_credit(1)
    sent = pair.requester.take_sendable()
    assert kinds(sent) == [SyncUpdate]
    pair.responder.receive(sent[0])
    assert pair.right.text == pair.left.text
    assert not pair.requester.has_sendable


def test_one_oversized_update_is_dropped_for_a_later_diff():
    pair = Pair()
    pair.requester.max_pending_bytes = 100
    pair.handshake(requester_credit=1)  # spent on its step 2
    pair.left.insert(0, "x" * 1000)
    assert pair.requester.dirty
    pair.requester.add_credit(1)
    for data in pair.requester.take_sendable():
        pair.responder.receive(data)
    assert pair.right.text == pair.left.text


def test_hub_never_echoes_an_update_to_its_source():
    pair = Pair()
    pair.handshake()
    pair.right.insert(0, "from right")
    pair.exchange()
    assert pair.left.text == "from right"
    # The update arrived through `requester` (source "right"): nothing to send back.
    assert not pair.requester.has_sendable


def test_hub_relays_delete_only_updates_through_a_middle_peer():
    a, b, c = make(1), make(2), make(3)
    hubs = {doc: DocumentHub(doc) for doc in (a, b, c)}
    a_to_b = SyncSession(a, source="b", initiator=True)
    b_from_a = SyncSession(b, source="a", initiator=False)
    b_to_c = SyncSession(b, source="c", initiator=True)
    c_from_b = SyncSession(c, source="b", initiator=False)
    links = [(a_to_b, b_from_a), (b_to_c, c_from_b)]
    for requester, responder in links:
        hubs[requester.document].add(requester)
        hubs[responder.document].add(responder)
        requester.add_credit(100)
        responder.add_credit(100)
        responder.receive(requester.opening_message())

    def settle():
        moved = True
        while moved:
            moved = False
            for requester, responder in links:
                for data in requester.take_sendable():
                    responder.receive(data)
                    moved = True
                for data in responder.take_sendable():
                    requester.receive(data)
                    moved = True

    settle()
    a.insert(0, "abc中def")
    settle()
    before = a.state_vector()
    a.delete(1, 4)
    assert a.state_vector() == before
    settle()
    assert c.text == "aef"


def test_hub_remove_and_close_stop_relaying():
    doc = make(1)
    hub = DocumentHub(doc)
    session = SyncSession(doc, source="x", initiator=False)
    hub.add(session)
    assert hub.sessions == (session,)
    hub.remove(session)
    hub.remove(session)
    assert hub.sessions == ()
    hub.close()
    with pytest.raises(ValueError):
        DocumentHub(make(2)).add(session)


def test_malformed_and_invalid_input_is_reported():
    pair = Pair("text")
    pair.handshake()
    before = pair.left.text
    with pytest.raises(MalformedMessage):
        pair.requester.receive(b"\x00\x09")
    with pytest.raises(MalformedMessage):
        pair.requester.receive(encode(AwarenessMessage((AwarenessEntry(1, 1, None),))))
    with pytest.raises(MalformedMessage):
        pair.requester.receive(encode(SyncStep1(b"\x05")))
    with pytest.raises(InvalidUpdate):
        pair.requester.receive(encode(SyncUpdate(b"\x01\x02\x03")))
    assert pair.left.text == before
