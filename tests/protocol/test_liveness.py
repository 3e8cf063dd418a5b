"""Liveness: a peer that stops answering is detected and the link torn down; EOF at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest
from rsocket.frame import RequestResponseFrame, serialize_with_frame_size_header
from rsocket.frame_builders import to_payload_frame, to_request_response_frame, to_setup_frame
from rsocket.payload import Payload

from editor.protocol import Hello, LinkClosed, LinkSettings, dial, listen
from editor.protocol.framing import FrameReader, PeerRole
from editor.protocol.routes import Route, encode_route

from .conftest import FAST, RecordingHandler, open_pair, wait_until

# Worst case: a ping goes out one interval after the last answer and times out.
FAST_BOUND = FAST.ping_interval + FAST.ping_timeout + 0.5


async def test_silent_memory_peer_is_detected_on_both_sides(_no_leaked_tasks):
    pair, cleanup = await open_pair("memory")
    try:
        endpoint_channel = pair.a.open_channel("notes", b"s1", _Sink())
        await wait_until(lambda: "notes" in pair.handler_b.endpoints)
        started = time.monotonic()
        pair.pipe.kill(writes_fail=False)  # both ends fall silent, writes vanish
        await asyncio.wait_for(asyncio.gather(pair.a.closed.wait(), pair.b.closed.wait()), FAST_BOUND + 1)
        assert time.monotonic() - started < FAST_BOUND
        assert pair.a.close_reason == pair.b.close_reason == "peer silent"
        assert pair.handler_a.closed == ["peer silent"] and pair.handler_b.closed == ["peer silent"]
        assert endpoint_channel.closed and endpoint_channel.close_reason == "peer silent"
        assert pair.handler_b.endpoints["notes"].closed_reason == "peer silent"
    finally:
        await cleanup()


async def test_broken_memory_pipe_is_detected_at_the_next_write(_no_leaked_tasks):
    pair, cleanup = await open_pair("memory")
    try:
        pair.pipe.kill(writes_fail=True)
        with pytest.raises(LinkClosed):
            await pair.a.ping(timeout=FAST_BOUND)
        await asyncio.wait_for(pair.b.closed.wait(), FAST_BOUND)
        assert "connection lost" in pair.a.close_reason
    finally:
        await cleanup()


async def test_eof_is_seen_at_once_over_tcp(_no_leaked_tasks):
    slow = LinkSettings(ping_interval=30, ping_timeout=30)  # only EOF can explain a quick close
    pair, cleanup = await open_pair("tcp", settings=slow)
    try:
        started = time.monotonic()
        pair.a._transport._stream._writer.transport.abort()  # like a killed process
        await asyncio.wait_for(pair.b.closed.wait(), 2)
        assert time.monotonic() - started < 1
        assert pair.b.close_reason == "connection closed by peer"
    finally:
        await cleanup()


async def test_acceptor_detects_a_tcp_dialer_that_stops_answering(_no_leaked_tasks):
    handler = RecordingHandler()
    links = []
    listener = await listen("127.0.0.1", 0, Hello("server", "S"), handler, links.append, settings=FAST)
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    try:
        writer.write(_setup() + serialize_with_frame_size_header(
            to_request_response_frame(1, Payload(b"", encode_route(Route.HELLO)))))
        await wait_until(lambda: links, message="the acceptor announced the link")
        started = time.monotonic()
        # From now on this socket neither reads nor writes: a stopped process.
        await asyncio.wait_for(links[0].closed.wait(), FAST_BOUND + 1)
        assert time.monotonic() - started < FAST_BOUND
        assert links[0].close_reason == "peer silent"
        assert handler.closed == ["peer silent"]
    finally:
        writer.close()
        await listener.close()


async def test_dialer_detects_a_tcp_acceptor_that_stops_answering(_no_leaked_tasks):
    thaw = asyncio.Event()

    async def answer_hello_then_freeze(reader, writer):
        frames = FrameReader(PeerRole.DIALER)
        answered = False
        while not answered:
            for frame in frames.feed(await reader.read(65536)):
                if isinstance(frame, RequestResponseFrame):
                    answer = to_payload_frame(frame.stream_id, Payload(Hello("frozen", "F").encode()),
                                              complete=True)
                    writer.write(serialize_with_frame_size_header(answer))
                    answered = True
        await thaw.wait()  # from now on: never read, never write
        writer.close()

    server = await asyncio.start_server(answer_hello_then_freeze, "127.0.0.1", 0)
    handler = RecordingHandler()
    try:
        link = await dial("127.0.0.1", server.sockets[0].getsockname()[1], Hello("a", "A"), handler,
                          settings=FAST, timeout=2)
        started = time.monotonic()
        await asyncio.wait_for(link.closed.wait(), FAST_BOUND + 1)
        assert time.monotonic() - started < FAST_BOUND
        assert link.close_reason == "peer silent" and handler.closed == ["peer silent"]
    finally:
        thaw.set()
        server.close()
        await server.wait_closed()


def _setup() -> bytes:
    frame = to_setup_frame(Payload(Hello("raw", "Raw").encode()), b"application/octet-stream",
                           b"message/x.rsocket.composite-metadata.v0", timedelta(seconds=3),
                           timedelta(seconds=10))
    return serialize_with_frame_size_header(frame)


class _Sink:
    def message_received(self, data: bytes) -> None:
        pass

    def credit_granted(self) -> None:
        pass

    def channel_closed(self, reason: str) -> None:
        pass


PEER_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from editor.protocol import Hello, dial, listen

    class Handler:
        def list_documents(self, link): return []
        def accept_channel(self, link, doc_id, channel): raise LookupError(doc_id)
        def presence_received(self, link, doc_id, data): pass
        def documents_changed(self, link): pass
        def link_closed(self, link, reason): pass

    async def main():
        links = []
        hello = Hello("stopped-peer", "Stopped")
        listener = await listen("127.0.0.1", 0, hello, Handler(), links.append)
        await dial("127.0.0.1", int(sys.argv[1]), hello, Handler())
        print(listener.port, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


@pytest.mark.slow
async def test_sigstopped_peer_is_detected_within_ten_seconds_at_production_values(_no_leaked_tasks):
    """Production timers; the peer is a real process that we SIGSTOP. Both of our links to it
    (the one we dialed and the one it dialed) must notice within 10 s."""
    handler = RecordingHandler()
    accepted = []
    listener = await listen("127.0.0.1", 0, Hello("tester", "T"), handler, accepted.append)
    process = subprocess.Popen(
        [sys.executable, "-c", PEER_SCRIPT, str(listener.port)],
        stdout=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    try:
        port_line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        dialed = await dial("127.0.0.1", int(port_line), Hello("tester", "T"), handler)
        await wait_until(lambda: accepted, timeout=10)
        links = [dialed, accepted[0]]
        await asyncio.sleep(4)  # healthy links survive several ping rounds
        assert not any(link.closed.is_set() for link in links)
        os.kill(process.pid, signal.SIGSTOP)
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(link.closed.wait() for link in links)), 12)
        assert time.monotonic() - started < 10
        assert [link.close_reason for link in links] == ["peer silent", "peer silent"]
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait()
        process.stdout.close()
        await listener.close()
