"""The rsocket-py `Transport` every link uses: validated framing over any `ByteStream`.

rsocket-py's receive loop only ever sees frames that passed `FrameReader`. When the
connection ends for any reason (EOF, a broken stream, a protocol violation, a stall in the
middle of a frame, or an ERROR on stream 0) the transport reports it once through `on_end`
and then parks the receive loop until the owner closes the connection. rsocket-py's own
end-of-connection paths therefore never run, and the owner (the `Link`) tears everything down
in one place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import Enum

from rsocket.error_codes import ErrorCode
from rsocket.frame import CONNECTION_STREAM_ID, ErrorFrame, Frame, SetupFrame
from rsocket.transports.transport import Transport

from .framing import (
    FRAME_LENGTH_PREFIX,
    FrameReader,
    ProtocolViolation,
    error_frame,
)
from .streams import ByteStream

log = logging.getLogger(__name__)

READ_BUFFER_SIZE = 64 * 1024  # rsocket-py's 1 KiB default makes large payloads 2-4x slower

_SETUP_ERROR_CODES = frozenset({
    ErrorCode.INVALID_SETUP, ErrorCode.UNSUPPORTED_SETUP, ErrorCode.REJECTED_SETUP,
})


class EndKind(Enum):
    """Why a connection ended, as seen by the transport."""

    EOF = "eof"  # the peer closed the stream
    BROKEN = "broken"  # reading or writing failed
    VIOLATION = "violation"  # the peer broke the protocol (we close it)
    PEER_ERROR = "peer-error"  # the peer sent ERROR on stream 0 (it is closing)
    SETUP_REJECTED = "setup-rejected"  # the peer refused our SETUP
    LOCAL = "local"  # we closed it


@dataclass(frozen=True)
class ConnectionEnded:
    """How and why a connection ended."""

    kind: EndKind
    reason: str


class GuardedTransport(Transport):
    """RSocket over a `ByteStream`: 24-bit length-prefixed frames, validated by a `FrameReader`."""

    def __init__(self, stream: ByteStream, reader: FrameReader, *,
                 stall_timeout: float, read_buffer_size: int = READ_BUFFER_SIZE) -> None:
        super().__init__()
        self._stream = stream
        self._reader = reader
        self._stall_timeout = stall_timeout
        self._read_buffer_size = read_buffer_size
        self._ready: list[Frame] = []  # frames read during the handshake, not yet handed on
        self._ended: ConnectionEnded | None = None
        self._closed = False
        self._closed_event = asyncio.Event()
        self._farewell: bytes | None = None
        self.on_end: Callable[[ConnectionEnded], None] | None = None
        self.last_received = time.monotonic()

    @property
    def remote_address(self) -> str:
        """The peer's address, for logs."""
        return self._stream.remote_address

    @property
    def ended(self) -> ConnectionEnded | None:
        """How the connection ended, or None while it lives."""
        return self._ended

    def requires_length_header(self) -> bool:
        return True

    async def send_frame(self, frame: Frame) -> None:
        if self._ended is not None:
            return  # the link is tearing down; frames still queued are dropped
        try:
            # One write per frame: a cancelled drain never leaves half a frame behind (so a
            # farewell frame may follow safely), and asyncio makes one send() call instead of
            # one per part (measured: the header's own call cost as much as the body's).
            parts = [_frame_head(frame)]
            frame.write_data_metadata(parts.append)
            self._stream.write(b"".join(parts))
            await self._stream.drain()
        except OSError as error:
            self._end(ConnectionEnded(EndKind.BROKEN, f"connection lost while sending: {error}"))

    async def on_send_queue_empty(self) -> None:
        if self._ended is not None:
            return
        try:
            await self._stream.drain()
        except OSError as error:
            self._end(ConnectionEnded(EndKind.BROKEN, f"connection lost while sending: {error}"))

    async def next_frame_generator(self):
        if not self._ready:
            frames = await self._read_frames()
            if frames is None:
                # Park rsocket-py's receive loop: the link tears down, then cancels it.
                await self._closed_event.wait()
                return None
            self._ready = frames
        frames, self._ready = self._ready, []
        return _iterate(frames)

    async def receive_setup(self, timeout: float) -> SetupFrame:
        """The peer's first frame, which `FrameReader` guarantees to be SETUP (acceptor side)."""
        deadline = time.monotonic() + timeout
        while not self._ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError
            frames = await asyncio.wait_for(self._read_frames(), remaining)
            if frames is None:
                raise ConnectionError(self._ended.reason if self._ended else "connection closed")
            self._ready = frames
        first = self._ready.pop(0)
        assert isinstance(first, SetupFrame)  # FrameReader rejects anything else first
        return first

    async def _read_frames(self) -> list[Frame] | None:
        """The next non-empty batch of frames, or None once the connection has ended."""
        while self._ended is None:
            try:
                if self._reader.mid_frame:
                    data = await asyncio.wait_for(self._stream.read(self._read_buffer_size),
                                                  self._stall_timeout)
                else:
                    data = await self._stream.read(self._read_buffer_size)
            except asyncio.TimeoutError:
                self._end(ConnectionEnded(
                    EndKind.VIOLATION,
                    f"truncated frame: no data for {self._stall_timeout:g} s in the middle of a frame",
                ))
                break
            except OSError as error:
                self._end(ConnectionEnded(EndKind.BROKEN, f"connection lost: {error}"))
                break
            if not data:
                self._end(ConnectionEnded(EndKind.EOF, "connection closed by peer"))
                break
            self.last_received = time.monotonic()
            try:
                frames = self._reader.feed(data)
            except ProtocolViolation as violation:
                self._farewell = error_frame(CONNECTION_STREAM_ID, ErrorCode.CONNECTION_ERROR, str(violation))
                self._end(ConnectionEnded(EndKind.VIOLATION, str(violation)))
                break
            frames = self._take_connection_errors(frames)
            if frames:
                return frames
        return None

    def _take_connection_errors(self, frames: list[Frame]) -> list[Frame]:
        """Handle ERROR frames on stream 0 here: they end the connection (RSocket 1.0)."""
        for index, frame in enumerate(frames):
            if isinstance(frame, ErrorFrame) and frame.stream_id == CONNECTION_STREAM_ID:
                message = bytes(frame.data or b"").decode("utf-8")
                if frame.error_code in _SETUP_ERROR_CODES:
                    self._end(ConnectionEnded(EndKind.SETUP_REJECTED, message))
                else:
                    self._end(ConnectionEnded(EndKind.PEER_ERROR, f"closed by peer: {message}"))
                return frames[:index]
        return frames

    def _end(self, ended: ConnectionEnded) -> None:
        if self._ended is not None:
            return
        self._ended = ended
        if self.on_end is not None:
            self.on_end(ended)

    def say_goodbye(self, error_code: int, reason: str) -> None:
        """Send ERROR(`error_code`, `reason`) on stream 0 just before the stream is closed."""
        if self._farewell is None:
            self._farewell = error_frame(CONNECTION_STREAM_ID, error_code, reason)

    def end_locally(self, reason: str) -> None:
        """Mark the connection as ended by us (before closing it)."""
        self._end(ConnectionEnded(EndKind.LOCAL, reason))

    async def close(self) -> None:
        """Write the farewell frame if any (best effort), then close the stream."""
        if self._closed:
            return
        self._closed = True
        self._closed_event.set()
        self._end(ConnectionEnded(EndKind.LOCAL, "closed"))
        if self._farewell is not None and self._ended.kind not in (EndKind.EOF, EndKind.BROKEN):
            try:
                self._stream.write(self._farewell)
            except OSError as error:
                log.debug("could not send farewell to %s: %r", self.remote_address, error)
        await self._stream.close()


def _frame_head(frame: Frame) -> bytes:
    """The 24-bit frame length, then the frame up to its metadata and data (RSocket 1.0 TCP)."""
    prefix = frame.serialize_frame_prefix()  # sets frame.length as a side effect
    return frame.length.to_bytes(FRAME_LENGTH_PREFIX, "big") + prefix


async def _iterate(frames: list[Frame]) -> AsyncIterator[Frame]:
    for frame in frames:
        yield frame



class _DemoteRsocketNoise(logging.Filter):
    """rsocket-py logs some ordinary events at WARNING or ERROR; report them at DEBUG.

    - A frame for a stream that just finished is normal when both ends close a channel at once
      (a late ERROR or CANCEL crosses ours); real protocol faults are judged by `FrameReader`.
    - When its receive task is cancelled, rsocket-py's cleanup inside that task cancels and
      awaits the task itself and logs the resulting RuntimeError with a traceback; the cleanup
      is otherwise complete.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and self._is_benign(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            # The record passed the logger's level check as a warning: recheck it as debug.
            return RSOCKET_LOG.isEnabledFor(logging.DEBUG)
        return True

    @staticmethod
    def _is_benign(record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if "Dropping frame from unknown stream" in message:
            return True
        if message.startswith("Runtime error canceling task") and record.args and record.exc_info:
            task, error = record.args[0], record.exc_info[1]
            coroutine = getattr(task, "get_coro", lambda: None)()
            return (isinstance(error, RuntimeError)
                    and getattr(coroutine, "__qualname__", "") == "RSocketBase._receiver")
        return False


RSOCKET_LOG = logging.getLogger("pyrsocket")  # the one logger rsocket-py writes to
RSOCKET_LOG.addFilter(_DemoteRsocketNoise())


def silence_rsocket_logs() -> None:
    """Keep rsocket-py's own log lines (tracebacks for every frame-level mishap) out of a
    non-verbose log: this layer reports each fault once, readably."""
    RSOCKET_LOG.setLevel(logging.CRITICAL)
