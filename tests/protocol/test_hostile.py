"""Hostile and broken input on a raw connection: SETUP gating, rejected SETUP, garbage,
truncated, oversized and unknown frames, a second SETUP. Each must close the connection
promptly with one readable warning, and a well-behaved link must keep working."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from rsocket.error_codes import ErrorCode
from rsocket.frame import ErrorFrame, PayloadFrame, serialize_with_frame_size_header
from rsocket.frame_builders import to_payload_frame, to_request_response_frame, to_setup_frame
from rsocket.payload import Payload

from editor.protocol import RSOCKET_LOG, Hello, dial, memory_link_pair
from editor.protocol.connect import accept_stream, listen
from editor.protocol.framing import CONNECTION_CLOSE, FrameReader, PeerRole, error_frame
from editor.protocol.link import LinkState
from editor.protocol.routes import Route, encode_route
from editor.protocol.streams import MemoryPipe, TcpByteStream

from .conftest import FAST, RecordingHandler

COMPOSITE = "message/x.rsocket.composite-metadata.v0"
OCTETS = "application/octet-stream"


def setup_frame(data: bytes = Hello("raw", "Raw").encode(), *, metadata_mime: str = COMPOSITE,
                data_mime: str = OCTETS) -> bytes:
    frame = to_setup_frame(Payload(data), data_mime.encode(), metadata_mime.encode(),
                           timedelta(seconds=3), timedelta(seconds=10))
    return serialize_with_frame_size_header(frame)


def request(stream_id: int, route: Route) -> bytes:
    return serialize_with_frame_size_header(
        to_request_response_frame(stream_id, Payload(b"", encode_route(route))))


def raw_frame(type_id: int, stream_id: int = 0, flags: int = 0, body: bytes = b"") -> bytes:
    frame = stream_id.to_bytes(4, "big") + bytes([(type_id << 2) | (flags >> 8), flags & 0xFF]) + body
    return len(frame).to_bytes(3, "big") + frame


class Server:
    """An acceptor over TCP or over in-memory pipes, and a way to open raw connections to it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.handler = RecordingHandler()
        self.hello = Hello("server", "Server")
        self.links = []
        self._listener = None
        self._accepting: list[asyncio.Task] = []

    async def start(self) -> None:
        if self.kind == "tcp":
            self._listener = await listen("127.0.0.1", 0, self.hello, self.handler, self.links.append,
                                          settings=FAST)

    async def raw(self):
        if self.kind == "tcp":
            reader, writer = await asyncio.open_connection("127.0.0.1", self._listener.port)
            return TcpByteStream(reader, writer)
        pipe = MemoryPipe()
        self._accepting.append(asyncio.ensure_future(
            accept_stream(pipe.b, self.hello, self.handler, self.links.append, settings=FAST)))
        return pipe.a

    async def check_good_link(self) -> None:
        """A well-behaved peer still connects and is served."""
        if self.kind == "tcp":
            link = await dial("127.0.0.1", self._listener.port, Hello("good", "Good"), RecordingHandler(),
                              settings=FAST)
            assert len(await link.request_documents(timeout=2)) == 2
            await link.close()
            return
        a, b, _ = await memory_link_pair(Hello("good", "Good"), RecordingHandler(), self.hello, self.handler,
                                         settings=FAST)
        assert len(await a.request_documents(timeout=2)) == 2
        await asyncio.gather(a.close(), b.close())

    async def stop(self) -> None:
        for link in self.links:
            await link.close()
        if self._listener is not None:
            await self._listener.close()
        for task in self._accepting:
            link = await task
            if link is not None:
                await link.close()


@pytest.fixture(params=["memory", "tcp"])
async def server(request, _no_leaked_tasks):
    server = Server(request.param)
    await server.start()
    yield server
    await server.stop()


async def read_until_closed(stream, timeout: float) -> tuple[list, float]:
    """Every frame the server sends until it closes the connection, and how long that took."""
    reader = FrameReader(PeerRole.ACCEPTOR)
    frames = []
    started = time.monotonic()
    deadline = started + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"connection still open after {timeout} s")
        try:
            data = await asyncio.wait_for(stream.read(65536), remaining)
        except ConnectionResetError:
            break
        except asyncio.TimeoutError:
            continue
        if not data:
            break
        frames.extend(reader.feed(data))
    await stream.close()
    return frames, time.monotonic() - started


def editor_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("editor") and r.levelno >= logging.WARNING]


def rsocket_complaints(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pyrsocket" and r.levelno >= logging.WARNING]


HOSTILE = {
    "request before SETUP": (request(1, Route.DOCS), "REQUEST_RESPONSE frame before SETUP"),
    "garbage bytes": (bytes(range(7, 250)) * 4, "frame"),
    "oversized frame length": (b"\xff\xff\xff" + b"\x00" * 32, "exceeds the maximum"),
    "too short frame": (b"\x00\x00\x02ab", "shorter than a frame header"),
    "unknown frame type": (setup_frame() + raw_frame(0x2A, 0), "unsupported frame type 0x2A"),
    "second SETUP": (setup_frame() + setup_frame(), "second SETUP"),
    "LEASE": (setup_frame() + raw_frame(2, 0, body=b"\x00" * 8), "unsupported frame type LEASE"),
    "stream id reused": (setup_frame() + request(1, Route.HELLO) + request(1, Route.PING), "reuses stream id 1"),
    "wrong stream parity": (setup_frame() + request(2, Route.HELLO), "must use odd stream ids"),
}


@pytest.mark.allowed_log("closing connection with")
@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_input_closes_the_connection_promptly(server, case, caplog):
    payload, reason = HOSTILE[case]
    caplog.set_level(logging.DEBUG, logger="pyrsocket")
    raw = await server.raw()
    raw.write(payload)
    await raw.drain()
    frames, elapsed = await read_until_closed(raw, timeout=1.0)
    assert not any(isinstance(f, PayloadFrame) for f in frames), "a request was served"
    errors = [f for f in frames if isinstance(f, ErrorFrame) and f.stream_id != 0]
    assert not errors
    warnings = editor_warnings(caplog)
    assert len(warnings) == 1 and reason in warnings[0], warnings
    assert rsocket_complaints(caplog) == []
    assert elapsed < 1.0
    await server.check_good_link()


@pytest.mark.allowed_log("closing connection with")
async def test_truncated_frame_is_closed_after_the_stall_timeout(server, caplog):
    raw = await server.raw()
    whole = setup_frame()
    raw.write(whole[:10])  # stall in the middle of SETUP
    await raw.drain()
    frames, elapsed = await read_until_closed(raw, timeout=FAST.stall_timeout + 1.0)
    assert FAST.stall_timeout * 0.9 <= elapsed
    warnings = editor_warnings(caplog)
    assert len(warnings) == 1 and "truncated frame" in warnings[0]
    await server.check_good_link()


@pytest.mark.allowed_log("closing connection with")
async def test_request_before_setup_gets_no_answer(server, caplog):
    raw = await server.raw()
    raw.write(request(1, Route.PING) + setup_frame() + request(3, Route.HELLO))
    await raw.drain()
    frames, _ = await read_until_closed(raw, timeout=1.0)
    assert [f.stream_id for f in frames] == [0]  # only the connection error, no answers
    assert frames[0].error_code == ErrorCode.CONNECTION_ERROR
    assert b"before SETUP" in bytes(frames[0].data)
    assert server.links == []


@pytest.mark.allowed_log("refused SETUP")
@pytest.mark.parametrize("setup, code, reason", [
    (setup_frame(b'{"protocol": 2, "peer": "x", "name": "y"}'), ErrorCode.REJECTED_SETUP,
     "unsupported protocol version 2"),
    (setup_frame(b"{not json"), ErrorCode.REJECTED_SETUP, "not UTF-8 JSON"),
    (setup_frame(b'{"protocol": 1, "name": "no id"}'), ErrorCode.REJECTED_SETUP, "peer id"),
    (setup_frame(metadata_mime="application/json"), ErrorCode.UNSUPPORTED_SETUP, "metadata MIME type"),
    (setup_frame(data_mime="text/plain"), ErrorCode.UNSUPPORTED_SETUP, "data MIME type"),
], ids=["version", "json", "no-peer-id", "metadata-mime", "data-mime"])
async def test_bad_setup_is_rejected_readably_then_closed(server, setup, code, reason, caplog):
    raw = await server.raw()
    raw.write(setup + request(1, Route.HELLO))
    await raw.drain()
    frames, elapsed = await read_until_closed(raw, timeout=1.0)
    assert len(frames) == 1
    assert frames[0].stream_id == 0 and frames[0].error_code == code
    assert reason in bytes(frames[0].data).decode()
    assert len(editor_warnings(caplog)) == 1
    assert server.links == []
    await server.check_good_link()


async def test_dialer_reports_a_rejected_setup(caplog):
    """The dialer's side of REJECTED_SETUP: `dial` raises SetupRejected with the reason."""
    from editor.protocol import SetupRejected

    async def refuse(reader, writer):
        await reader.read(65536)
        writer.write(serialize_with_frame_size_header(_error(ErrorCode.REJECTED_SETUP, "go away")))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        with pytest.raises(SetupRejected, match="go away"):
            await dial("127.0.0.1", server.sockets[0].getsockname()[1], Hello("a", "A"),
                       RecordingHandler(), settings=FAST, timeout=2)
    finally:
        server.close()
        await server.wait_closed()


def _error(code: ErrorCode, message: str) -> ErrorFrame:
    frame = ErrorFrame()
    frame.stream_id = 0
    frame.error_code = code
    frame.data = message.encode()
    return frame


@pytest.mark.parametrize("attempt", range(15))
async def test_a_connection_closed_right_after_the_hello_answer_fails_the_dial(attempt, caplog):
    """The acceptor answers hello and closes in the same write (as when it drops a duplicate
    connection): the dial fails with LinkClosed, never hands out a link that is not open."""
    caplog.set_level(logging.WARNING)
    answered = asyncio.Event()

    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            frames = 0
            while frames < 2:  # the dialer's SETUP, then its hello request on stream 1
                length = int.from_bytes(await reader.readexactly(3), "big")
                await reader.readexactly(length)
                frames += 1
            answer = to_payload_frame(1, Payload(Hello("closer", "Closer").encode()), complete=True)
            writer.write(serialize_with_frame_size_header(answer)
                         + error_frame(0, CONNECTION_CLOSE, "duplicate connection"))
            await writer.drain()
            answered.set()
        finally:
            writer.close()

    server = await asyncio.start_server(answer_then_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectionError):
            link = await dial("127.0.0.1", port, Hello("dialer", "Dialer"), RecordingHandler(), settings=FAST)
            # Open in the instant between the answer and the close is fine too, if it is real.
            assert link.state is LinkState.OPEN and link.peer is not None
            await link.closed.wait()
            raise ConnectionError("closed right after opening")
        assert answered.is_set()
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.allowed_log("not benign")
def test_rsocket_noise_is_demoted_to_debug_and_kept_out_of_an_info_log():
    """A frame for a stream that just ended is routine (two ends closing a channel at once):
    rsocket-py warns about it, we log it at DEBUG, so only a verbose log shows it."""
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    level = RSOCKET_LOG.level
    RSOCKET_LOG.addHandler(handler)
    try:
        RSOCKET_LOG.setLevel(logging.INFO)
        RSOCKET_LOG.warning("%s: Dropping frame from unknown stream %d", "server", 4)
        assert seen == []
        RSOCKET_LOG.setLevel(logging.DEBUG)
        RSOCKET_LOG.warning("%s: Dropping frame from unknown stream %d", "server", 4)
        assert [(r.levelname, r.getMessage()) for r in seen] == [
            ("DEBUG", "server: Dropping frame from unknown stream 4")]
        RSOCKET_LOG.setLevel(logging.INFO)
        RSOCKET_LOG.warning("not benign")  # anything else keeps its level
        assert [r.levelname for r in seen[1:]] == ["WARNING"]
    finally:
        RSOCKET_LOG.removeHandler(handler)
        RSOCKET_LOG.setLevel(level)
