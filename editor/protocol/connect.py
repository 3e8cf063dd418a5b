"""Establishing links: `dial`, `listen` and `memory_link_pair` (all through the same framing).

The dialer is the RSocket client (it sends SETUP), the acceptor the RSocket server; once the
dialer's `hello` is answered the two are symmetric. The acceptor validates SETUP before
rsocket-py sees the connection, so no request is ever served before a valid SETUP.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Callable
from datetime import timedelta

from rsocket.helpers import single_transport_provider
from rsocket.payload import Payload

from .errors import LinkClosed, RequestTimeout
from .framing import FrameReader, PeerRole, SetupRefused, check_setup
from .hello import Hello, SetupRejected
from .link import Link, LinkHandler, LinkRequestHandler, LinkSettings
from .routes import COMPOSITE_METADATA_MIME, DATA_MIME
from .sending import ChorusClient, ChorusServer
from .streams import ByteStream, MemoryPipe, TcpByteStream
from .transport import EndKind, GuardedTransport

log = logging.getLogger(__name__)

DEFAULT_PORT = 4117
DIAL_TIMEOUT = 10.0

OnLink = Callable[[Link], None]


async def dial(host: str, port: int, hello: Hello, handler: LinkHandler, *,
               ssl: ssl_module.SSLContext | None = None, timeout: float = DIAL_TIMEOUT,
               settings: LinkSettings | None = None) -> Link:
    """Connect, send SETUP, learn the peer through `hello`; an open `Link` within `timeout`.

    Raises `SetupRejected` if the acceptor refused our SETUP, `ConnectionError` (including
    `LinkClosed`) or `TimeoutError` otherwise.
    """
    settings = settings or LinkSettings()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ssl), timeout)
    return await open_dialed(TcpByteStream(reader, writer), hello, handler, settings=settings, timeout=timeout)


async def open_dialed(stream: ByteStream, hello: Hello, handler: LinkHandler, *,
                      settings: LinkSettings, timeout: float = DIAL_TIMEOUT) -> Link:
    """The dialer's half of the handshake over an already connected byte stream."""
    transport = GuardedTransport(stream, FrameReader(PeerRole.ACCEPTOR, settings.limits),
                                 stall_timeout=settings.stall_timeout)
    link = Link(local=hello, handler=handler, dialed=True, transport=transport, settings=settings)
    client = ChorusClient(
        single_transport_provider(transport),
        handler_factory=lambda: LinkRequestHandler(link),
        data_encoding=DATA_MIME,
        metadata_encoding=COMPOSITE_METADATA_MIME,
        keep_alive_period=timedelta(seconds=settings.keepalive_interval),
        max_lifetime_period=timedelta(seconds=settings.max_lifetime),
        setup_payload=Payload(hello.encode()),
        fragment_size_bytes=settings.fragment_size,
    )
    link._attach(client)
    link._start()
    try:
        await client.connect()
        await link._exchange_hello(timeout)
    except (LinkClosed, RequestTimeout) as error:
        await link.close(f"handshake failed: {error}")
        ended = link._end
        if ended is not None and ended.kind is EndKind.SETUP_REJECTED:
            raise SetupRejected(ended.reason) from None
        # The caller names the address; say only what went wrong (no "link closed: " twice).
        raise LinkClosed(error.reason if isinstance(error, LinkClosed) else str(error)) from None
    except BaseException:
        await asyncio.shield(link.close("dial cancelled"))
        raise
    return link


async def accept_stream(stream: ByteStream, hello: Hello, handler: LinkHandler, on_link: OnLink, *,
                        settings: LinkSettings) -> Link | None:
    """The acceptor's half: validate SETUP, then serve. `on_link` runs once hello is answered.

    Returns the (not yet open) link, or None if the connection was refused and closed.
    """
    transport = GuardedTransport(stream, FrameReader(PeerRole.DIALER, settings.limits),
                                 stall_timeout=settings.stall_timeout)
    try:
        setup = await transport.receive_setup(settings.handshake_timeout)
        peer = check_setup(setup)
    except SetupRefused as refusal:
        log.warning("refused SETUP from %s: %s", stream.remote_address, refusal.reason)
        transport.say_goodbye(refusal.error_code, refusal.reason)
        await transport.close()
        return None
    except asyncio.TimeoutError:
        log.warning("closing connection with %s: no SETUP within %g s",
                    stream.remote_address, settings.handshake_timeout)
        await transport.close()
        return None
    except ConnectionError as error:
        ended = transport.ended
        if ended is not None and ended.kind is EndKind.VIOLATION:
            log.warning("closing connection with %s: %s", stream.remote_address, ended.reason)
        else:
            log.info("connection with %s ended before SETUP: %s", stream.remote_address, error)
        await transport.close()
        return None
    link = Link(local=hello, handler=handler, dialed=False, transport=transport, settings=settings,
                peer=peer, on_open=on_link)
    server = ChorusServer(
        transport,
        handler_factory=lambda: LinkRequestHandler(link),
        data_encoding=DATA_MIME,
        metadata_encoding=COMPOSITE_METADATA_MIME,
        fragment_size_bytes=settings.fragment_size,
    )
    link._attach(server)
    link._start()
    return link


class Listener:
    """A listening TCP socket that turns each valid connection into a `Link`."""

    def __init__(self, hello: Hello, handler: LinkHandler, on_link: OnLink, settings: LinkSettings) -> None:
        self._hello = hello
        self._handler = handler
        self._on_link = on_link
        self._settings = settings
        self._server: asyncio.Server | None = None
        self._handshakes: set[asyncio.Task] = set()
        self._links: set[Link] = set()  # strong references: rsocket-py servers must stay alive

    @property
    def port(self) -> int:
        """The bound port (useful after listening on port 0)."""
        return self._server.sockets[0].getsockname()[1]

    @property
    def host(self) -> str:
        """The bound address."""
        return self._server.sockets[0].getsockname()[0]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handshakes.add(task)
        try:
            link = await accept_stream(TcpByteStream(reader, writer), self._hello, self._handler,
                                       self._on_link, settings=self._settings)
        finally:
            self._handshakes.discard(task)
        self._links = {known for known in self._links if not known.closed.is_set()}
        if link is not None:
            self._links.add(link)

    async def close(self) -> None:
        """Stop accepting, abort handshakes in progress and close every link accepted here."""
        self._server.close()
        for task in list(self._handshakes):
            task.cancel()
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
        links = [link for link in self._links if not link.closed.is_set()]
        await asyncio.gather(*(link.close("listener closed") for link in links))
        self._links.clear()
        await self._server.wait_closed()


async def listen(host: str, port: int, hello: Hello, handler: LinkHandler, on_link: OnLink, *,
                 ssl: ssl_module.SSLContext | None = None, settings: LinkSettings | None = None) -> Listener:
    """Listen on `host:port` (port 0 picks a free one, see `Listener.port`); each connection
    that completes SETUP and hello is handed to `on_link`."""
    listener = Listener(hello, handler, on_link, settings or LinkSettings())
    listener._server = await asyncio.start_server(listener._accept, host, port, ssl=ssl)
    return listener


async def memory_link_pair(hello_a: Hello, handler_a: LinkHandler, hello_b: Hello, handler_b: LinkHandler,
                           *, settings: LinkSettings | None = None,
                           timeout: float = DIAL_TIMEOUT) -> tuple[Link, Link, MemoryPipe]:
    """Two open links joined by an in-memory pipe: `a` dialed `b`. The pipe is the kill switch."""
    settings = settings or LinkSettings()
    pipe = MemoryPipe("memory-a", "memory-b")
    opened: asyncio.Future[Link] = asyncio.get_running_loop().create_future()

    def on_link(link: Link) -> None:
        if not opened.done():
            opened.set_result(link)

    accepting = asyncio.ensure_future(accept_stream(pipe.b, hello_b, handler_b, on_link, settings=settings))
    try:
        link_a = await open_dialed(pipe.a, hello_a, handler_a, settings=settings, timeout=timeout)
        link_b = await asyncio.wait_for(opened, timeout)
    except BaseException:
        accepting.cancel()
        accepted = (await asyncio.gather(accepting, return_exceptions=True))[0]
        if isinstance(accepted, Link):
            await accepted.close("pairing failed")
        raise
    return link_a, link_b, pipe
