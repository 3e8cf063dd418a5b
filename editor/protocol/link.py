"""`Link`: one established, symmetric RSocket connection to one peer.

Both ends serve every route and may issue every request; the `Link` hides whether we dialed.
Inbound requests are answered synchronously from rsocket-py's receive loop (which awaits each
handler inline), so nothing here ever awaits the peer inside a handler.

Each link owns one task, its supervisor: it sends pings, declares a silent peer dead, and
performs the single teardown whatever ended the link (EOF, a protocol violation, silence, a
local `close`). Teardown ends every channel, fails every pending request and calls
`LinkHandler.link_closed` exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from rsocket.error_codes import ErrorCode
from rsocket.exceptions import RSocketError, RSocketProtocolError
from rsocket.helpers import create_error_future, create_future
from rsocket.payload import Payload
from rsocket.request_handler import BaseRequestHandler
from rsocket.streams.error_stream import ErrorStream

from .channel import ChannelEndpoint, DocChannel, is_fatal
from .errors import ChannelAlreadyOpen, LinkClosed, RequestFailed, RequestTimeout, UnknownDocument
from .framing import CONNECTION_CLOSE, FrameLimits
from .hello import Hello, InvalidHello
from .routes import Interaction, MalformedMetadata, Route, check_doc_id, decode_route, encode_route
from .transport import ConnectionEnded, EndKind, GuardedTransport

if TYPE_CHECKING:
    from rsocket.rsocket_base import RSocketBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentInfo:
    """One shared document as listed by `docs`: id, title and text length in code points."""

    id: str
    title: str
    length: int


@dataclass(frozen=True)
class LinkSettings:
    """Timing, credit and size parameters of links (tests shorten the timers)."""

    ping_interval: float = 3.0  # a ping each way at this period
    ping_timeout: float = 4.0  # unanswered ping and nothing else received: the peer is silent
    handshake_timeout: float = 5.0  # SETUP and hello must be done within this
    stall_timeout: float = 1.0  # the rest of a started frame must arrive within this
    request_timeout: float = 10.0  # default for requests made without a timeout
    credit_batch: int = 64  # initial credit per channel; topped up by half of it
    fragment_size: int = 64 * 1024  # outgoing frames are fragmented to this size
    limits: FrameLimits = field(default_factory=FrameLimits)

    @property
    def keepalive_interval(self) -> float:
        """KEEPALIVE period announced in SETUP (the dialer sends them; the acceptor echoes)."""
        return self.ping_interval

    @property
    def max_lifetime(self) -> float:
        """Max lifetime announced in SETUP: longer than our own silence detection."""
        return self.ping_interval + self.ping_timeout + 3.0


class LinkHandler(Protocol):
    """What a link asks of the runtime. Called on the event loop; every method must return fast
    and must not await the peer."""

    def list_documents(self, link: Link) -> Iterable[DocumentInfo]:
        """The documents this peer shares with `link.peer`."""

    def accept_channel(self, link: Link, doc_id: str, channel: DocChannel) -> ChannelEndpoint:
        """The peer opened doc.sync for `doc_id`: return the endpoint, or raise `UnknownDocument`."""

    def presence_received(self, link: Link, doc_id: str, data: bytes) -> None:
        """An awareness message for `doc_id`."""

    def documents_changed(self, link: Link) -> None:
        """The peer's document list changed (ask `request_documents` again)."""

    def link_closed(self, link: Link, reason: str) -> None:
        """The link is closed (called once, for links that were handed out)."""


class LinkState(Enum):
    """Lifecycle of a link."""

    HANDSHAKING = "handshaking"  # SETUP done, hello not yet exchanged
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Refusal(Exception):
    """An inbound request we answer with an error; the message goes to the peer."""


class Link:
    """One symmetric RSocket connection to one peer (see the module docstring)."""

    def __init__(self, *, local: Hello, handler: LinkHandler, dialed: bool,
                 transport: GuardedTransport, settings: LinkSettings, peer: Hello | None = None,
                 on_open: Callable[[Link], None] | None = None) -> None:
        self.local = local
        self.peer = peer
        self.dialed = dialed
        self.remote_address = transport.remote_address
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self._handler = handler
        self._transport = transport
        self._settings = settings
        self._on_open = on_open
        self._state = LinkState.HANDSHAKING
        self._rsocket: RSocketBase | None = None
        self._channels: dict[str, DocChannel] = {}
        self._pending: set[asyncio.Future] = set()
        self._end: ConnectionEnded | None = None
        self._wakeup = asyncio.Event()  # the supervisor re-checks: opened or close requested
        self._supervisor: asyncio.Task | None = None
        self._hello_answer: asyncio.Future | None = None  # rsocket-py's future for our hello
        self._announced = False
        transport.on_end = self._transport_ended

    def __repr__(self) -> str:
        return f"<Link {self.describe_peer()} {self._state.value}>"

    @property
    def state(self) -> LinkState:
        """Where the link is in its lifecycle."""
        return self._state

    def describe_peer(self) -> str:
        """Address and identity of the peer, for log lines."""
        if self.peer is None:
            return self.remote_address
        return f"{self.remote_address} ({self.peer.name or '?'} {self.peer.peer_id})"

    def channel(self, doc_id: str) -> DocChannel | None:
        """The open doc.sync channel for `doc_id` on this link, if any."""
        return self._channels.get(doc_id)

    # -- requests to the peer --------------------------------------------------------------

    async def request_documents(self, timeout: float | None = None) -> list[DocumentInfo]:
        """The peer's shared documents (`docs`)."""
        answer = await self._request(Route.DOCS, timeout)
        try:
            return decode_documents(answer)
        except ValueError as error:
            raise RequestFailed(f"malformed docs answer from {self.describe_peer()}: {error}") from None

    async def ping(self, timeout: float | None = None) -> float:
        """Round-trip time of one `ping`, in seconds."""
        started = time.monotonic()
        await self._request(Route.PING, timeout)
        return time.monotonic() - started

    def send_presence(self, doc_id: str, data: bytes) -> None:
        """Fire-and-forget an awareness message for `doc_id`; never blocks."""
        self._require_open()
        check_doc_id(doc_id)
        self._rsocket.fire_and_forget(Payload(bytes(data), encode_route(Route.PRESENCE, doc_id)))

    def notify_documents_changed(self) -> None:
        """Fire-and-forget `docs.changed`: tell the peer our document list changed."""
        self._require_open()
        self._rsocket.fire_and_forget(Payload(b"", encode_route(Route.DOCS_CHANGED)))

    def open_channel(self, doc_id: str, first_message: bytes, endpoint: ChannelEndpoint) -> DocChannel:
        """Request doc.sync for `doc_id`; `first_message` travels in REQUEST_CHANNEL.

        `ChannelAlreadyOpen` if a channel for `doc_id` exists on this link. The peer may still
        refuse (unknown document, or its simultaneous request wins): the endpoint then gets
        `channel_closed` with the peer's reason.
        """
        self._require_open()
        check_doc_id(doc_id)
        if doc_id in self._channels:
            raise ChannelAlreadyOpen(f"a doc.sync channel for {doc_id!r} is already open on this link")
        channel = DocChannel(self, doc_id, requested_by_us=True, credit_batch=self._settings.credit_batch)
        channel._set_endpoint(endpoint)
        self._channels[doc_id] = channel
        requester = self._rsocket.request_channel(
            Payload(bytes(first_message), encode_route(Route.DOC_SYNC, doc_id)), channel.publisher
        )
        # rsocket-py would otherwise grant the responder 2^31-1 messages.
        requester.initial_request_n(self._settings.credit_batch)
        requester.subscribe(channel.subscriber)
        return channel

    async def close(self, reason: str = "closed") -> None:
        """Close the link (the peer is told `reason`) and wait until teardown is complete."""
        self._request_close(ConnectionEnded(EndKind.LOCAL, reason))
        await self.closed.wait()

    # -- request plumbing ------------------------------------------------------------------

    async def _request(self, route: Route, timeout: float | None, *, handshake: bool = False) -> bytes:
        timeout = self._settings.request_timeout if timeout is None else timeout
        answer = self._start_request(route, handshake=handshake)
        try:
            payload = await asyncio.wait_for(answer, timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"{route.value} to {self.describe_peer()} timed out after {timeout:g} s") from None
        return bytes(payload.data or b"")

    def _start_request(self, route: Route, *, handshake: bool = False) -> asyncio.Future:
        """Send a request-response; the returned future fails with LinkClosed or RequestFailed."""
        if not (handshake and self._state is LinkState.HANDSHAKING):
            self._require_open()
        sent = self._rsocket.request_response(Payload(b"", encode_route(route)))
        answer = asyncio.get_running_loop().create_future()

        def relay(done: asyncio.Future) -> None:
            if done.cancelled():
                if not answer.done():
                    answer.set_exception(LinkClosed(self.close_reason or "request cancelled"))
                return
            error = done.exception()
            if answer.done():
                return
            if error is None:
                answer.set_result(done.result())
            elif self._state in (LinkState.CLOSING, LinkState.CLOSED):
                answer.set_exception(LinkClosed(self.close_reason or "closed"))
            else:
                answer.set_exception(RequestFailed(f"{route.value}: {_error_text(error)}"))

        def forget(done: asyncio.Future) -> None:
            self._pending.discard(done)
            if not sent.done():
                sent.cancel()  # our caller gave up: rsocket-py sends CANCEL

        sent.add_done_callback(relay)
        answer.add_done_callback(forget)
        self._pending.add(answer)
        if route is Route.HELLO:
            self._hello_answer = sent
        return answer

    def _require_open(self) -> None:
        if self._state is not LinkState.OPEN:
            raise LinkClosed(self.close_reason or f"link is {self._state.value}")

    # -- serving the peer (called from rsocket-py's receive loop) ---------------------------

    def _serve_request_response(self, payload: Payload) -> asyncio.Future:
        try:
            route, _ = self._route_of(payload, Interaction.REQUEST_RESPONSE)
            if route is Route.HELLO:
                return self._answer_hello()
            self._require_ready()
            if route is Route.PING:
                return create_future(Payload(b""))
            return create_future(Payload(self._list_documents()))
        except _Refusal as refusal:
            return create_error_future(RuntimeError(str(refusal)))

    def _serve_fire_and_forget(self, payload: Payload) -> None:
        try:
            route, doc_id = self._route_of(payload, Interaction.FIRE_AND_FORGET)
            self._require_ready()
        except _Refusal as refusal:
            # A cursor update that crosses our own close is expected, not worth a warning.
            closing = self._state in (LinkState.CLOSING, LinkState.CLOSED)
            log.log(logging.DEBUG if closing else logging.WARNING,
                    "dropped a fire-and-forget from %s: %s", self.describe_peer(), refusal)
            return
        method = "documents_changed" if route is Route.DOCS_CHANGED else "presence_received"
        try:
            if route is Route.DOCS_CHANGED:
                self._handler.documents_changed(self)
            else:
                self._handler.presence_received(self, doc_id, bytes(payload.data or b""))
        except BaseException as error:
            if is_fatal(error):
                raise
            log.error("%s for %s failed", method, self.describe_peer(), exc_info=error)

    def _serve_channel(self, payload: Payload):
        try:
            _, doc_id = self._route_of(payload, Interaction.REQUEST_CHANNEL)
            self._require_ready()
            existing = self._channels.get(doc_id)
            if existing is not None:
                self._resolve_duplicate(existing)
            channel = DocChannel(self, doc_id, requested_by_us=False,
                                 credit_batch=self._settings.credit_batch,
                                 first_message=bytes(payload.data or b""))
            try:
                endpoint = self._handler.accept_channel(self, doc_id, channel)
            except UnknownDocument:
                raise _Refusal(f"unknown document {doc_id!r}") from None
            except BaseException as error:
                if is_fatal(error):
                    raise
                log.error("accept_channel(%r) for %s failed", doc_id, self.describe_peer(), exc_info=error)
                raise _Refusal(f"could not open document {doc_id!r}") from None
            channel._set_endpoint(endpoint)
            self._channels[doc_id] = channel
            return channel.publisher, channel.subscriber
        except _Refusal as refusal:
            return ErrorStream(RuntimeError(str(refusal))), None

    def _resolve_duplicate(self, existing: DocChannel) -> None:
        """A second doc.sync for one document: only a simultaneous open may replace ours, and
        then the channel requested by the lower peer id survives (both ends decide alike)."""
        doc_id = existing.doc_id
        if existing.requested_by_us and self.peer.peer_id < self.local.peer_id:
            existing.superseded = True
            existing.close(
                error=f"superseded by the doc.sync channel for {doc_id!r} requested by peer "
                      f"{self.peer.peer_id} (the lower peer id wins)"
            )
            return
        raise _Refusal(f"a doc.sync channel for document {doc_id!r} is already open on this connection")

    def _route_of(self, payload: Payload, interaction: Interaction) -> tuple[Route, str | None]:
        try:
            request = decode_route(payload.metadata)
        except MalformedMetadata as error:
            raise _Refusal(str(error)) from None
        route = request.route
        if route is None:
            raise _Refusal(f"unknown route {request.route_name!r}")
        if route.interaction is not interaction:
            raise _Refusal(f"route {route.value!r} is served as {route.interaction.value}, not {interaction.value}")
        if route.takes_doc_id and request.doc_id is None:
            raise _Refusal(f"route {route.value!r} needs a document id tag")
        if not route.takes_doc_id and request.doc_id is not None:
            raise _Refusal(f"route {route.value!r} takes no document id tag")
        return route, request.doc_id

    def _require_ready(self) -> None:
        if self._state is LinkState.HANDSHAKING and self.dialed:
            self._finish_hello()  # the answer may have been read just before this request
        if self._state is LinkState.HANDSHAKING:
            raise _Refusal("hello must be the first request on a connection")
        if self._state is not LinkState.OPEN:
            raise _Refusal("connection is closing")

    def _answer_hello(self) -> asyncio.Future:
        answer = asyncio.get_running_loop().create_future()
        if self.dialed or self._state is not LinkState.HANDSHAKING:
            answer.set_result(Payload(self.local.encode()))
            return answer

        def complete() -> None:
            # rsocket-py registered its own callback on `answer` (which queues the response)
            # after this handler returned; ours runs after it, so the response frame is queued
            # before anything the runtime sends once it learns of the link.
            answer.add_done_callback(lambda _: self._become_open())
            answer.set_result(Payload(self.local.encode()))

        asyncio.get_running_loop().call_soon(complete)
        return answer

    def _list_documents(self) -> bytes:
        try:
            documents = list(self._handler.list_documents(self))
        except BaseException as error:
            if is_fatal(error):
                raise
            log.error("list_documents for %s failed", self.describe_peer(), exc_info=error)
            raise _Refusal("could not list documents") from None
        return encode_documents(documents)

    # -- lifecycle -------------------------------------------------------------------------

    def _attach(self, rsocket: RSocketBase) -> None:
        self._rsocket = rsocket

    def _start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name=f"link {self.remote_address}")

    async def _exchange_hello(self, timeout: float) -> None:
        """Dialer: ask the acceptor who it is; the link is open once the answer is in."""
        try:
            await self._request(Route.HELLO, timeout, handshake=True)
        except RequestFailed as error:
            raise LinkClosed(f"hello failed: {error}") from None
        self._finish_hello()
        if self._state is not LinkState.OPEN:
            # Still handshaking: the answer was not understood. Closing: the connection ended
            # between the answer and now (the other side dropped a duplicate, say).
            raise LinkClosed(self.close_reason or "hello answer was not understood")

    def _finish_hello(self) -> None:
        sent = self._hello_answer
        if self._state is not LinkState.HANDSHAKING or sent is None or not sent.done():
            return
        if sent.cancelled() or sent.exception() is not None:
            return
        try:
            self.peer = Hello.decode(bytes(sent.result().data or b""))
        except InvalidHello as error:
            self._request_close(ConnectionEnded(EndKind.VIOLATION, f"invalid hello answer: {error}"))
            return
        self._become_open()

    def _become_open(self) -> None:
        if self._state is not LinkState.HANDSHAKING:
            return
        self._state = LinkState.OPEN
        self._announced = True
        self._wakeup.set()  # start pinging
        # DEBUG: the runtime logs the one user-facing line per connection event.
        log.debug("link open with %s (%s)", self.describe_peer(), "dialed" if self.dialed else "accepted")
        if self._on_open is not None:
            try:
                self._on_open(self)
            except BaseException as error:
                if is_fatal(error):
                    raise
                log.error("on_link for %s failed", self.describe_peer(), exc_info=error)

    def _transport_ended(self, ended: ConnectionEnded) -> None:
        self._request_close(ended)

    def _request_close(self, ended: ConnectionEnded) -> None:
        if self._end is None:
            self._end = ended
            self._wakeup.set()

    def _channel_finished(self, channel: DocChannel) -> None:
        if self._channels.get(channel.doc_id) is channel:
            del self._channels[channel.doc_id]

    async def _supervise(self) -> None:
        try:
            ended = await self._watch()
        except asyncio.CancelledError:
            await self._teardown(ConnectionEnded(EndKind.LOCAL, "link task cancelled"))
            raise
        await self._teardown(ended)

    async def _watch(self) -> ConnectionEnded:
        """Liveness: ping every `ping_interval`; silent if a ping stays unanswered and nothing at
        all arrives for `ping_timeout`. Returns when the link must close, and why."""
        settings = self._settings
        handshake_deadline = time.monotonic() + settings.handshake_timeout
        next_ping = time.monotonic() + settings.ping_interval
        ping: asyncio.Future | None = None
        ping_sent = 0.0
        while True:
            if self._end is not None:
                return self._end
            self._wakeup.clear()
            now = time.monotonic()
            deadlines = []
            if self._state is LinkState.HANDSHAKING:
                if now >= handshake_deadline:
                    return ConnectionEnded(EndKind.VIOLATION, f"handshake not completed within {settings.handshake_timeout:g} s")
                deadlines.append(handshake_deadline)
            elif self._state is LinkState.OPEN:
                if ping is not None and ping.done():
                    ping = None
                if ping is not None:
                    silent_since = max(ping_sent, self._transport.last_received)
                    if now - silent_since >= settings.ping_timeout:
                        return ConnectionEnded(EndKind.BROKEN, "peer silent")
                    deadlines.append(silent_since + settings.ping_timeout)
                elif now >= next_ping:
                    ping = self._start_request(Route.PING)
                    ping.add_done_callback(_consume_outcome)
                    ping_sent, next_ping = now, now + settings.ping_interval
                    deadlines.append(now + settings.ping_timeout)
                else:
                    deadlines.append(next_ping)
            wait = max(0.0, min(deadlines) - now) if deadlines else None
            try:
                await asyncio.wait_for(self._wakeup.wait(), wait)
            except asyncio.TimeoutError:
                continue

    async def _teardown(self, ended: ConnectionEnded) -> None:
        self._state = LinkState.CLOSING
        self._end = self._end or ended
        self.close_reason = ended.reason
        if ended.kind is EndKind.VIOLATION:
            log.warning("closing connection with %s: %s", self.describe_peer(), ended.reason)
        else:
            log.debug("link with %s closed: %s", self.describe_peer(), ended.reason)
        for channel in list(self._channels.values()):
            channel._link_closed(ended.reason)
        self._channels.clear()
        for answer in list(self._pending):
            if not answer.done():
                answer.set_exception(LinkClosed(ended.reason))
        # Failing an answer cancels rsocket-py's future; its cleanup runs in a loop callback and
        # must run before rsocket-py fails every stream (it would set a cancelled future).
        await asyncio.sleep(0)
        if ended.kind is EndKind.LOCAL:
            self._transport.say_goodbye(CONNECTION_CLOSE, ended.reason)
        elif ended.kind is EndKind.BROKEN:
            self._transport.say_goodbye(ErrorCode.CONNECTION_ERROR, ended.reason)
        self._transport.end_locally(ended.reason)
        try:
            await self._rsocket.close()
        except (RSocketError, OSError) as error:
            log.debug("closing rsocket for %s: %r", self.remote_address, error)
        await self._transport.close()  # also when rsocket-py never got a transport
        self._state = LinkState.CLOSED
        if self._announced:
            try:
                self._handler.link_closed(self, ended.reason)
            except BaseException as error:
                if is_fatal(error):
                    raise
                log.error("link_closed for %s failed", self.describe_peer(), exc_info=error)
        self.closed.set()


def _consume_outcome(future: asyncio.Future) -> None:
    """Retrieve a background request's outcome so asyncio never reports it as unhandled."""
    if not future.cancelled():
        future.exception()


def _error_text(error: BaseException) -> str:
    if isinstance(error, RSocketProtocolError):
        return f"{error.error_code.name}: {error.data}"
    return str(error)


def encode_documents(documents: Iterable[DocumentInfo]) -> bytes:
    """`docs` answer: a UTF-8 JSON list of `{"id", "title", "length"}`."""
    return json.dumps(
        [{"id": d.id, "title": d.title, "length": d.length} for d in documents], ensure_ascii=False
    ).encode("utf-8")


def decode_documents(data: bytes) -> list[DocumentInfo]:
    """Parse a `docs` answer; `ValueError` if it is malformed."""
    try:
        items = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not UTF-8 JSON: {error}") from None
    if not isinstance(items, list):
        raise ValueError("not a JSON list")
    documents = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("list item is not an object")
        doc_id, title, length = item.get("id"), item.get("title"), item.get("length")
        if not isinstance(doc_id, str) or not isinstance(title, str):
            raise ValueError("id and title must be strings")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ValueError("length must be a non-negative integer")
        documents.append(DocumentInfo(doc_id, title, length))
    return documents


class LinkRequestHandler(BaseRequestHandler):
    """rsocket-py's view of a link: every inbound interaction is delegated to the `Link`."""

    def __init__(self, link: Link) -> None:
        self._link = link

    async def on_setup(self, data_encoding: bytes, metadata_encoding: bytes, payload: Payload) -> None:
        """SETUP was validated before rsocket-py saw the connection."""

    async def request_response(self, payload: Payload) -> asyncio.Future:
        return self._link._serve_request_response(payload)

    async def request_fire_and_forget(self, payload: Payload) -> None:
        self._link._serve_fire_and_forget(payload)

    async def request_channel(self, payload: Payload):
        return self._link._serve_channel(payload)

    async def request_stream(self, payload: Payload):
        return ErrorStream(RuntimeError("no route is served as request-stream"))

    async def on_metadata_push(self, payload: Payload) -> None:
        """Metadata push carries nothing in protocol version 1."""

    async def on_error(self, error_code: ErrorCode, payload: Payload) -> None:
        """Stream-0 errors are handled by the transport before they get here."""

    async def on_keepalive_timeout(self, time_since_last_keepalive, rsocket) -> None:
        self._link._request_close(ConnectionEnded(EndKind.BROKEN, "peer silent"))

    async def on_connection_error(self, rsocket, exception: Exception) -> None:
        self._link._request_close(ConnectionEnded(EndKind.BROKEN, f"connection error: {exception}"))

    async def on_close(self, rsocket, exception: Exception | None = None) -> None:
        """The link decides when the connection closes."""
