"""A request-response whose caller gave up ignores an answer that arrives before rsocket-py has
finished the stream (it does so a loop turn after the cancellation)."""

from __future__ import annotations

import asyncio

import pytest
from rsocket.frame_builders import to_payload_frame
from rsocket.handlers.request_response_requester import RequestResponseRequester
from rsocket.payload import Payload

from editor.protocol.sending import _AbandonableRequester
from tests.protocol.conftest import wait_until


class _RecordingSocket:
    """The part of an RSocket a request-response requester talks to."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.finished: list[int] = []

    def get_fragment_size_bytes(self) -> None:
        return None

    def send_request(self, frame) -> None:
        self.sent.append(type(frame).__name__)

    def send_frame(self, frame) -> None:
        self.sent.append(type(frame).__name__)

    def finish_stream(self, stream_id: int) -> None:
        self.finished.append(stream_id)


def _abandon_then_answer(requester_class) -> tuple[_RecordingSocket, asyncio.Future]:
    socket = _RecordingSocket()
    requester = requester_class(socket, Payload(b"", b"route"))
    requester.stream_id = 1
    requester.setup()
    answer = requester.run()
    answer.cancel()  # the caller's timeout, or a node shutting down
    # The answer lands in the same turn, before the cancelled future's done callback.
    requester.frame_received(to_payload_frame(1, Payload(b"late answer"), complete=True))
    return socket, answer


async def test_rsocket_py_alone_fails_on_an_answer_to_an_abandoned_request():
    # The defect worked around (rsocket-py 0.4.20 then logs an error and sends an ERROR frame).
    with pytest.raises(asyncio.InvalidStateError):
        _abandon_then_answer(RequestResponseRequester)


async def test_an_answer_to_an_abandoned_request_is_ignored_and_the_stream_cancelled():
    socket, answer = _abandon_then_answer(_AbandonableRequester)
    assert answer.cancelled()
    await wait_until(lambda: socket.finished == [1])
    assert socket.sent == ["RequestResponseFrame", "CancelFrame"]

