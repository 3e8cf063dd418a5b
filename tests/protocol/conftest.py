"""Fixtures for protocol tests: recording handlers and link pairs over memory or loopback TCP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from editor.protocol import (
    DocChannel,
    DocumentInfo,
    Hello,
    Link,
    LinkSettings,
    MemoryPipe,
    UnknownDocument,
    dial,
    listen,
    memory_link_pair,
)

# Short timers so that liveness tests run in about a second; production values are tested
# separately.
FAST = LinkSettings(ping_interval=0.2, ping_timeout=0.4, handshake_timeout=2.0, stall_timeout=0.5,
                    request_timeout=3.0)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0, message: str = "") -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {message or condition}")
        await asyncio.sleep(0.01)


class RecordingEndpoint:
    """A channel endpoint that records everything; `hold` makes deliveries wait on an event."""

    def __init__(self, channel: DocChannel | None = None) -> None:
        self.channel = channel
        self.messages: list[bytes] = []
        self.credit_events = 0
        self.closed_reason: str | None = None
        self.hold: asyncio.Event | None = None  # when set, deliveries wait for it
        self.fail_on: bytes | None = None

    def message_received(self, data: bytes):
        if data == self.fail_on:
            raise ValueError("cannot apply this message")
        if self.hold is not None:
            return self._held(data)
        self.messages.append(data)
        return None

    async def _held(self, data: bytes) -> None:
        await self.hold.wait()
        self.messages.append(data)

    def credit_granted(self) -> None:
        self.credit_events += 1

    def channel_closed(self, reason: str) -> None:
        assert self.closed_reason is None, "channel_closed called twice"
        self.closed_reason = reason


class RecordingHandler:
    """A `LinkHandler` with a fixed document list that records every call."""

    def __init__(self, documents: dict[str, str] | None = None) -> None:
        self.documents = documents if documents is not None else {"notes": "Notes", "todo": "To do"}
        self.endpoints: dict[str, RecordingEndpoint] = {}
        self.accepted: list[tuple[str, DocChannel]] = []
        self.presence: list[tuple[str, bytes]] = []
        self.docs_changed = 0
        self.closed: list[str] = []

    def list_documents(self, link: Link):
        return [DocumentInfo(doc_id, title, len(title)) for doc_id, title in self.documents.items()]

    def accept_channel(self, link: Link, doc_id: str, channel: DocChannel) -> RecordingEndpoint:
        if doc_id not in self.documents:
            raise UnknownDocument(doc_id)
        endpoint = RecordingEndpoint(channel)
        self.endpoints[doc_id] = endpoint
        self.accepted.append((doc_id, channel))
        return endpoint

    def presence_received(self, link: Link, doc_id: str, data: bytes) -> None:
        self.presence.append((doc_id, data))

    def documents_changed(self, link: Link) -> None:
        self.docs_changed += 1

    def link_closed(self, link: Link, reason: str) -> None:
        self.closed.append(reason)


@dataclass
class Pair:
    """Two open links: `a` dialed `b`; `pipe` is set for the in-memory transport."""

    a: Link
    b: Link
    handler_a: RecordingHandler
    handler_b: RecordingHandler
    pipe: MemoryPipe | None


async def open_pair(kind: str, settings: LinkSettings = FAST, hello_a: Hello | None = None,
                    hello_b: Hello | None = None):
    """Open a pair over `kind` ("memory" or "tcp"); returns (pair, cleanup coroutine function)."""
    hello_a = hello_a or Hello("peer-a", "Alice")
    hello_b = hello_b or Hello("peer-b", "Bob")
    handler_a, handler_b = RecordingHandler(), RecordingHandler()
    if kind == "memory":
        a, b, pipe = await memory_link_pair(hello_a, handler_a, hello_b, handler_b, settings=settings)

        async def cleanup() -> None:
            await asyncio.gather(a.close("test over"), b.close("test over"))

        return Pair(a, b, handler_a, handler_b, pipe), cleanup
    accepted: list[Link] = []
    listener = await listen("127.0.0.1", 0, hello_b, handler_b, accepted.append, settings=settings)
    a = await dial("127.0.0.1", listener.port, hello_a, handler_a, settings=settings)
    await wait_until(lambda: bool(accepted), message="acceptor announced the link")

    async def cleanup() -> None:
        await a.close("test over")
        await listener.close()

    return Pair(a, accepted[0], handler_a, handler_b, None), cleanup


@pytest.fixture(params=["memory", "tcp"])
async def pair(request, _no_leaked_tasks):
    """A connected link pair over each transport (torn down before the task-leak check)."""
    opened, cleanup = await open_pair(request.param)
    yield opened
    await cleanup()
