"""Fragmented frames keep their boundaries: fragments of one frame stay contiguous per stream."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from editor.protocol.sending import yield_to_other_streams
from tests.protocol.conftest import RecordingEndpoint, wait_until


async def test_back_to_back_payloads_keep_their_boundaries_both_ways(pair):
    big = bytes(range(256)) * 1024  # 256 KiB: four 64 KiB fragments and more
    opener = RecordingEndpoint()
    channel = pair.a.open_channel("notes", b"hello", opener)
    await wait_until(lambda: "notes" in pair.handler_b.endpoints)
    responder = pair.handler_b.endpoints["notes"]
    await wait_until(lambda: responder.channel.credit >= 3)
    # A small message queued right behind a big one on the same stream (as sync step 1 is
    # behind step 2) must not slip in between the big one's fragments.
    for message in (big, b"small", big[::-1]):
        responder.channel.send(message)
    await wait_until(lambda: len(opener.messages) == 3, timeout=20)
    assert opener.messages == [big, b"small", big[::-1]]
    await wait_until(lambda: channel.credit >= 3)
    for message in (big[::-1], b"tiny", big):
        channel.send(message)
    await wait_until(lambda: len(responder.messages) == 4, timeout=20)
    assert responder.messages == [b"hello", big[::-1], b"tiny", big]


@dataclass
class _Frame:
    stream_id: int
    name: str


def test_a_part_sent_frame_lets_one_other_stream_go_first_but_never_its_own() -> None:
    part_sent, same, other, later = _Frame(5, "A1"), _Frame(5, "A2"), _Frame(7, "B"), _Frame(9, "C")
    queue = deque([part_sent, other, same, later])
    yield_to_other_streams(queue, 5)
    assert [f.name for f in queue] == ["B", "A1", "A2", "C"]
    queue = deque([part_sent, same, other])
    yield_to_other_streams(queue, 5)
    assert [f.name for f in queue] == ["A1", "A2", "B"]
    queue = deque([part_sent])
    yield_to_other_streams(queue, 5)
    assert [f.name for f in queue] == ["A1"]
