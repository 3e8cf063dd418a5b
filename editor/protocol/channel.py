"""`DocChannel`: one doc.sync request-channel, with credit counted and honoured on both sides.

rsocket-py forwards REQUEST_N frames but never counts them, so backpressure is enforced here:
`send()` refuses without credit, and the peer is granted more only after messages were handed
to the endpoint and `message_received` returned (or its awaitable finished).

Termination (both sides follow it, so no frame is left for a finished stream):
- graceful close: CANCEL (stop sending to me) then COMPLETE (I am done sending);
- close with an error: one ERROR frame, which ends both directions;
- on the peer's CANCEL the channel is closed and nothing is answered (its COMPLETE follows);
- on the peer's lone COMPLETE the channel is closed and answered with COMPLETE;
- on the peer's ERROR the channel is closed and nothing is answered.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from reactivestreams.publisher import Publisher
from reactivestreams.subscriber import Subscriber
from reactivestreams.subscription import Subscription
from rsocket.exceptions import RSocketProtocolError
from rsocket.frame import MAX_REQUEST_N
from rsocket.payload import Payload

from .errors import ChannelClosed, NoCredit

if TYPE_CHECKING:
    from rsocket.handlers.request_cahnnel_common import RequestChannelCommon

    from .link import Link

log = logging.getLogger(__name__)


class ChannelEndpoint(Protocol):
    """What a channel delivers to (implemented by the runtime). Every method must return fast."""

    def message_received(self, data: bytes) -> Awaitable[None] | None:
        """One message from the peer, in order. If it returns an awaitable, the channel waits for
        it before delivering the next message or granting credit. Raising closes the channel."""

    def credit_granted(self) -> None:
        """`channel.credit` rose: sending may resume."""

    def channel_closed(self, reason: str) -> None:
        """The channel ended (whoever ended it); called exactly once."""


class ChannelState(Enum):
    """Lifecycle of a channel."""

    OPEN = "open"
    CLOSED = "closed"


def is_fatal(error: BaseException) -> bool:
    """Exceptions that must propagate rather than be reported as an endpoint failure."""
    return isinstance(error, (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit))


class DocChannel:
    """One doc.sync channel on a link (either side may have requested it)."""

    def __init__(self, link: Link, doc_id: str, *, requested_by_us: bool, credit_batch: int,
                 first_message: bytes | None = None) -> None:
        self.link = link
        self.doc_id = doc_id
        self.requested_by_us = requested_by_us
        self.close_reason: str | None = None
        # Both peers opened this document's channel at once and the peer's request won: the
        # ordinary outcome after a reconnect, not a fault (docs/protocol.md, section 5).
        self.superseded = False
        self._state = ChannelState.OPEN
        self._batch = credit_batch
        self._endpoint: ChannelEndpoint | None = None
        self._stream: RequestChannelCommon | None = None  # inbound subscription (REQUEST_N, CANCEL)
        self._outbound: Subscriber | None = None  # rsocket-py's sink for our PAYLOAD frames
        self._outbound_done = False
        self._credit = 0  # messages we may send
        self._peer_credit = credit_batch if requested_by_us else 0  # messages the peer may send
        self._unacknowledged = 0  # messages delivered since the last grant
        self._inbox: deque[tuple[bytes, bool]] = deque()  # (data, counts against credit)
        self._delivery: asyncio.Future | None = None
        # Responder side: the REQUEST_CHANNEL payload, delivered once our sending side is wired
        # so that the endpoint may answer (or fail the channel) on the wire.
        self._first_message = first_message
        self.publisher = _OutboundPublisher(self)
        self.subscriber = _InboundSubscriber(self)

    def __repr__(self) -> str:
        side = "ours" if self.requested_by_us else "theirs"
        return f"<DocChannel {self.doc_id!r} {side} {self._state.value} credit={self._credit}>"

    @property
    def state(self) -> ChannelState:
        """Open or closed."""
        return self._state

    @property
    def closed(self) -> bool:
        """Whether the channel has ended."""
        return self._state is ChannelState.CLOSED

    @property
    def credit(self) -> int:
        """How many messages we may still send (granted by the peer's REQUEST_N)."""
        return self._credit

    def send(self, data: bytes) -> None:
        """Send one message; `NoCredit` when `credit` is 0, `ChannelClosed` once closed."""
        if self._state is ChannelState.CLOSED or self._outbound_done:
            raise ChannelClosed(f"doc.sync channel for {self.doc_id!r} is closed: {self.close_reason}")
        if self._credit <= 0:
            raise NoCredit(f"no credit on doc.sync channel for {self.doc_id!r}")
        self._credit -= 1
        self._outbound.on_next(Payload(bytes(data)))

    def close(self, error: str | None = None) -> None:
        """End the channel: gracefully, or with an ERROR frame carrying `error`. Idempotent."""
        if self._state is ChannelState.CLOSED:
            return
        if error is None:
            self._terminate_on_wire(cancel=True, complete=True)
            self._finish("closed locally")
        else:
            self._fail_on_wire(error)
            self._finish(error)

    # -- wiring, called by Link and by rsocket-py through the adapters below ------------------

    def _set_endpoint(self, endpoint: ChannelEndpoint) -> None:
        self._endpoint = endpoint

    def _attach_outbound(self, sink: Subscriber) -> None:
        self._outbound = sink

    def _outbound_ready(self) -> None:
        if self._first_message is not None:
            # The REQUEST_CHANNEL payload does not count against the credit we granted.
            self._inbox.append((self._first_message, False))
            self._first_message = None
            self._pump()

    def _attach_inbound(self, stream: RequestChannelCommon) -> None:
        self._stream = stream
        if not self.requested_by_us:
            # The responder grants the requester its first batch; the requester's first batch
            # travels as initial-request-n in REQUEST_CHANNEL instead.
            self._peer_credit = self._batch
            stream.request(self._batch)

    def _granted(self, n: int) -> None:
        if self._state is ChannelState.CLOSED or self._outbound_done:
            return
        self._credit = min(self._credit + n, MAX_REQUEST_N)
        self._call_endpoint("credit_granted")

    def _received(self, data: bytes) -> None:
        if self._state is ChannelState.CLOSED:
            return
        self._peer_credit -= 1
        if self._peer_credit < 0:
            self._report_and_fail(f"peer sent more messages on doc.sync {self.doc_id!r} than its credit allowed")
            return
        self._inbox.append((data, True))
        self._pump()

    def _peer_cancelled(self) -> None:
        # rsocket-py marks our sending side finished after this returns.
        self._outbound_done = True
        if self._state is ChannelState.OPEN:
            self._finish("closed by peer")

    def _peer_completed(self) -> None:
        if self._state is ChannelState.CLOSED:
            return
        self._terminate_on_wire(cancel=False, complete=True)
        self._finish("closed by peer")

    def _peer_failed(self, error: Exception) -> None:
        message = _error_message(error)
        self._outbound_done = True
        if self._stream is not None:
            self._stream.mark_completed_and_finish(sent=True)  # ERROR ended both directions
        if self._state is ChannelState.OPEN:
            self._finish(message)

    def _link_closed(self, reason: str) -> None:
        """The link went down: no frames, just end locally."""
        self._outbound_done = True
        if self._state is ChannelState.OPEN:
            self._finish(reason)

    # -- internals -------------------------------------------------------------------------

    def _pump(self) -> None:
        """Hand queued messages to the endpoint, one at a time, in order."""
        while self._inbox and self._delivery is None and self._state is ChannelState.OPEN:
            data, counts = self._inbox.popleft()
            try:
                result = self._endpoint.message_received(data)
            except BaseException as error:
                if is_fatal(error):
                    raise
                self._endpoint_failed("message_received", error)
                return
            if inspect.isawaitable(result):
                self._delivery = asyncio.ensure_future(result)
                self._delivery.add_done_callback(lambda future, counts=counts: self._delivered_later(future, counts))
                return
            self._acknowledge(counts)

    def _delivered_later(self, future: asyncio.Future, counts: bool) -> None:
        self._delivery = None
        if future.cancelled():
            return  # only the channel cancels a delivery, when it closes
        error = future.exception()
        if error is not None:
            self._endpoint_failed("message_received", error)
            return
        self._acknowledge(counts)
        self._pump()

    def _acknowledge(self, counts: bool) -> None:
        """A message was handed over: top the peer's credit up in batches of half the window."""
        if not counts or self._state is ChannelState.CLOSED:
            return
        self._unacknowledged += 1
        if self._unacknowledged >= max(1, self._batch // 2):
            grant, self._unacknowledged = self._unacknowledged, 0
            self._peer_credit += grant
            self._stream.request(grant)

    def _call_endpoint(self, method: str) -> None:
        try:
            getattr(self._endpoint, method)()
        except BaseException as error:
            if is_fatal(error):
                raise
            self._endpoint_failed(method, error)

    def _endpoint_failed(self, method: str, error: BaseException) -> None:
        self._report_and_fail(
            f"doc.sync {self.doc_id!r}: {method} failed: {type(error).__name__}: {error}"
        )

    def _report_and_fail(self, message: str) -> None:
        log.warning("closing channel with %s: %s", self.link.describe_peer(), message)
        self.close(error=message)

    def _terminate_on_wire(self, *, cancel: bool, complete: bool) -> None:
        if cancel and self._stream is not None:
            self._stream.cancel()  # sends CANCEL, marks our receiving side finished
        if complete and not self._outbound_done and self._outbound is not None:
            self._outbound_done = True
            self._outbound.on_complete()  # sends COMPLETE, marks our sending side finished

    def _fail_on_wire(self, message: str) -> None:
        if not self._outbound_done and self._outbound is not None:
            self._outbound_done = True
            self._outbound.on_error(RuntimeError(message))  # ERROR frame, sending side finished
        if self._stream is not None:
            self._stream.mark_completed_and_finish(received=True)

    def _finish(self, reason: str) -> None:
        self._state = ChannelState.CLOSED
        self.close_reason = reason
        self._inbox.clear()
        if self._delivery is not None:
            self._delivery.cancel()
            self._delivery = None
        self.link._channel_finished(self)
        if self._endpoint is not None:
            try:
                self._endpoint.channel_closed(reason)
            except BaseException as error:
                if is_fatal(error):
                    raise
                log.error("channel_closed of doc.sync %r failed", self.doc_id, exc_info=error)


def _error_message(error: Exception) -> str:
    if isinstance(error, RSocketProtocolError):
        return f"{error.error_code.name}: {error.data}"
    return str(error)


class _OutboundPublisher(Publisher, Subscription):
    """The channel's outgoing side as rsocket-py sees it: it only emits on `DocChannel.send`."""

    def __init__(self, channel: DocChannel) -> None:
        self._channel = channel

    def subscribe(self, subscriber: Subscriber) -> None:
        self._channel._attach_outbound(subscriber)
        subscriber.on_subscribe(self)
        self._channel._outbound_ready()

    def request(self, n: int) -> None:
        self._channel._granted(n)

    def cancel(self) -> None:
        self._channel._peer_cancelled()


class _InboundSubscriber(Subscriber):
    """Receives the peer's messages from rsocket-py and feeds them to the channel."""

    def __init__(self, channel: DocChannel) -> None:
        self._channel = channel

    def on_subscribe(self, subscription: Subscription) -> None:
        self._channel._attach_inbound(subscription)

    def on_next(self, value: Payload, is_complete: bool = False) -> None:
        self._channel._received(bytes(value.data or b""))
        if is_complete:
            self._channel._peer_completed()

    def on_error(self, exception: Exception) -> None:
        self._channel._peer_failed(exception)

    def on_complete(self) -> None:
        self._channel._peer_completed()
