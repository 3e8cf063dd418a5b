"""Byte streams under the framing: TCP (asyncio streams) and an in-memory pipe with a kill switch."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)

# How long a closing stream may take to flush before it is aborted: a peer that stopped
# reading must not hold our close forever.
CLOSE_FLUSH_TIMEOUT = 1.0


class ByteStream(Protocol):
    """A reliable, ordered, bidirectional byte stream."""

    remote_address: str

    async def read(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` bytes; `b""` at end of stream; `OSError` if the stream broke."""

    def write(self, data: bytes) -> None:
        """Queue bytes for sending; `OSError` if the stream is broken or closed."""

    async def drain(self) -> None:
        """Wait until the send buffer has room again; `OSError` if the stream broke."""

    async def close(self) -> None:
        """Flush briefly, then release the stream; never raises, never hangs."""


class TcpByteStream:
    """`ByteStream` over an asyncio `StreamReader`/`StreamWriter` pair (TCP, optionally TLS)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.remote_address = _format_address(peer)

    async def read(self, max_bytes: int) -> bytes:
        return await self._reader.read(max_bytes)

    def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionResetError("TCP connection is closed")
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), CLOSE_FLUSH_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as error:
            log.debug("aborting TCP connection to %s: %r", self.remote_address, error)
            self._writer.transport.abort()


def _format_address(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


class _Direction:
    """One direction of an in-memory pipe: a byte buffer and an end-of-stream mark."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.readable = asyncio.Event()


class MemoryPipe:
    """Two connected in-memory `ByteStream` ends, with a kill switch for fault tests.

    `kill()` models the two ways a real connection dies silently: afterwards reads on both
    ends hang (nothing more is delivered), and writes either fail (`writes_fail=True`, a reset
    connection) or vanish (`writes_fail=False`, a peer that stopped or a cable pulled out).
    """

    def __init__(self, name_a: str = "memory-a", name_b: str = "memory-b") -> None:
        a_to_b, b_to_a = _Direction(), _Direction()
        self.killed = False
        self.writes_fail = False
        self._revived = asyncio.Event()  # never set: killed reads wait on it until cancelled
        self.a = MemoryByteStream(self, incoming=b_to_a, outgoing=a_to_b, remote_address=name_b)
        self.b = MemoryByteStream(self, incoming=a_to_b, outgoing=b_to_a, remote_address=name_a)

    def kill(self, *, writes_fail: bool = True) -> None:
        """Cut the pipe: reads hang from now on; writes fail or are silently dropped."""
        self.killed = True
        self.writes_fail = writes_fail
        for end in (self.a, self.b):
            end._incoming.readable.set()  # wake readers so they notice and hang on `_revived`


class MemoryByteStream:
    """One end of a `MemoryPipe`."""

    def __init__(self, pipe: MemoryPipe, *, incoming: _Direction, outgoing: _Direction,
                 remote_address: str) -> None:
        self._pipe = pipe
        self._incoming = incoming
        self._outgoing = outgoing
        self._closed = False
        self.remote_address = remote_address

    async def read(self, max_bytes: int) -> bytes:
        while True:
            if self._pipe.killed:
                await self._pipe._revived.wait()
            if self._incoming.buffer:
                data = bytes(self._incoming.buffer[:max_bytes])
                del self._incoming.buffer[:max_bytes]
                return data
            if self._incoming.eof or self._closed:
                return b""
            self._incoming.readable.clear()
            await self._incoming.readable.wait()

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionResetError("in-memory stream is closed")
        if self._pipe.killed:
            if self._pipe.writes_fail:
                raise ConnectionResetError("in-memory pipe was killed")
            return
        if self._outgoing.eof:
            raise BrokenPipeError("the other end of the in-memory pipe is closed")
        self._outgoing.buffer += data
        self._outgoing.readable.set()

    async def drain(self) -> None:
        # Unbounded buffer: credit, not the pipe, is what limits senders in tests.
        if self._closed:
            raise ConnectionResetError("in-memory stream is closed")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._outgoing.eof = True
        self._outgoing.readable.set()
        self._incoming.eof = True  # our own pending reads end; later peer writes fail
        self._incoming.readable.set()
