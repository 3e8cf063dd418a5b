"""Advertise this peer and browse for others over mDNS/DNS-SD (RFC 6762/6763) with python-zeroconf."""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from zeroconf import DNSQuestionType, IPVersion, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from editor.discovery.interfaces import InterfaceReport, select_interfaces
from editor.discovery.txt import PeerAdvert, decode_txt, encode_txt, truncate_utf8

log = logging.getLogger(__name__)

SERVICE_TYPE = "_chorus._tcp.local."

# RFC 6763 section 4.1.1: an instance name is one DNS label, at most 63 bytes.
MAX_INSTANCE_BYTES = 63
# Room kept for the " (NN)" suffix of a renamed instance.
_SUFFIX_ROOM = 5
MAX_RENAMES = 50
DEFAULT_INSTANCE = "Chorus peer"

# Record TTL in seconds for every record we publish. The RFC 6762 default of 75 minutes for
# PTR/TXT would keep a crashed peer listed that long; two minutes bounds it (a clean exit
# sends goodbyes and is seen at once anyway).
RECORD_TTL = 120
# How long a service whose records were not all in the cache is queried for.
RESOLVE_TIMEOUT_MS = 3000
# How long a candidate instance name is asked for before probing (owners answer SRV at once).
NAME_CHECK_TIMEOUT_MS = 400


class DiscoveryError(Exception):
    """Discovery could not start."""


class NoUsableInterfaces(DiscoveryError):
    """No interface qualified; `report` says why each was skipped."""

    def __init__(self, report: InterfaceReport) -> None:
        super().__init__(f"no usable network interface for discovery:\n{report.describe()}")
        self.report = report


@dataclass(frozen=True)
class DiscoveredPeer:
    """A peer seen on the network; `instance` is its DNS-SD instance name (unique on the LAN)."""

    peer_id: str
    name: str
    protocol: int
    docs: int
    port: int
    addresses: tuple[str, ...]
    instance: str


@dataclass(frozen=True)
class PeerAppeared:
    """A peer started advertising (or was already there when we started browsing)."""

    peer: DiscoveredPeer


@dataclass(frozen=True)
class PeerChanged:
    """A known peer's TXT values, port or addresses changed."""

    peer: DiscoveredPeer
    previous: DiscoveredPeer


@dataclass(frozen=True)
class PeerLeft:
    """A peer said goodbye or its records expired; `peer` is what was last known."""

    peer: DiscoveredPeer


DiscoveryEvent = PeerAppeared | PeerChanged | PeerLeft


class DiscoveryState(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


_END_OF_EVENTS = object()


def instance_label(display_name: str, number: int = 1) -> str:
    """The DNS-SD instance label for a display name: "Ana", then "Ana (2)", "Ana (3)"..."""
    # Dots and control characters would break zeroconf's name parsing or display.
    cleaned = re.sub(r"[\x00-\x1f\x7f.]+", " ", display_name).strip() or DEFAULT_INSTANCE
    base = truncate_utf8(cleaned, MAX_INSTANCE_BYTES - _SUFFIX_ROOM).rstrip()
    return base if number == 1 else f"{base} ({number})"


def _host_label(peer_id: str) -> str:
    """A host name label derived from the peer id, so two peers on one machine never clash."""
    label = re.sub(r"[^a-z0-9-]+", "-", peer_id.lower()).strip("-")[:40]
    return f"chorus-{label or 'peer'}"


def _ordered_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """IPv4 first, then IPv6, each sorted: a stable order so changes compare equal."""

    def key(text: str) -> tuple[int, str]:
        return (ipaddress.ip_address(text.split("%")[0]).version, text)

    return tuple(sorted(set(addresses), key=key))


class Discovery:
    """Advertises this peer (unless `advert` is None) and reports the others on the network.

    Use as ``async with Discovery(advert, port) as d`` or ``await d.start()`` / ``await d.close()``.
    Events go to `on_event` (called on the event loop, must not block) and to every `events()`
    iterator. Services are keyed by instance name; our own advertisement (same peer id) is ignored.
    `interfaces`: names or addresses (see `select_interfaces`); None means every up,
    multicast-capable, non-loopback, non-virtual interface.
    """

    def __init__(
        self,
        advert: PeerAdvert | None,
        port: int | None = None,
        *,
        interfaces: Sequence[str] | None = None,
        on_event: Callable[[DiscoveryEvent], None] | None = None,
    ) -> None:
        if advert is not None and (port is None or not 0 < port < 65536):
            raise ValueError(f"advertising needs a TCP port in 1..65535, got {port!r}")
        self._advert = advert
        self._port = port
        self._interface_names = None if interfaces is None else list(interfaces)
        self._on_event = on_event
        self.state = DiscoveryState.NEW
        self._report: InterfaceReport | None = None
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._peers: dict[str, DiscoveredPeer] = {}
        self._rejected_txt: dict[str, bytes] = {}
        self._resolving: dict[str, asyncio.Task[None]] = {}
        self._subscribers: list[asyncio.Queue[object]] = []
        self._advert_lock = asyncio.Lock()

    # -- public API ----------------------------------------------------------------------------

    @property
    def peers(self) -> tuple[DiscoveredPeer, ...]:
        """The peers currently seen, sorted by instance name."""
        return tuple(self._peers[k] for k in sorted(self._peers))

    @property
    def instance(self) -> str | None:
        """Our registered instance name (after any collision rename), or None if not advertising."""
        return None if self._info is None else self._info.name[: -len(SERVICE_TYPE) - 1]

    @property
    def advert(self) -> PeerAdvert | None:
        """What we currently advertise."""
        return self._advert

    def interface_report(self) -> InterfaceReport:
        """The interfaces and addresses in use, and those skipped with a reason."""
        if self._report is None:
            self._report = select_interfaces(self._interface_names)
        return self._report

    async def start(self) -> None:
        """Open mDNS on the chosen interfaces, start browsing, then register and await the announcement.

        Raises NoUsableInterfaces if no interface qualifies, DiscoveryError if no instance
        name could be claimed.
        """
        if self.state is not DiscoveryState.NEW:
            raise RuntimeError(f"Discovery.start() called in state {self.state.value}")
        self.state = DiscoveryState.STARTING
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        self.state = DiscoveryState.RUNNING

    async def close(self) -> None:
        """Say goodbye (awaiting the goodbye packets), stop browsing and close every socket. Idempotent."""
        if self.state in (DiscoveryState.CLOSING, DiscoveryState.CLOSED):
            return
        self.state = DiscoveryState.CLOSING
        try:
            for task in self._resolving.values():
                task.cancel()
            await asyncio.gather(*self._resolving.values(), return_exceptions=True)
            if self._browser is not None:
                await self._browser.async_cancel()
            if self._aiozc is not None:
                if self._info is not None and self._info.name in self._registered_names():
                    # The second await waits until the goodbyes are sent: without it nobody sees us leave.
                    await (await self._aiozc.async_unregister_service(self._info))
                await self._aiozc.async_close()
        finally:
            self.state = DiscoveryState.CLOSED
            for queue in self._subscribers:
                queue.put_nowait(_END_OF_EVENTS)

    async def __aenter__(self) -> Discovery:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def events(self) -> AsyncIterator[DiscoveryEvent]:
        """An iterator of events, starting with PeerAppeared for each peer already seen; ends on close."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        for peer in self.peers:
            queue.put_nowait(PeerAppeared(peer))
        if self.state is DiscoveryState.CLOSED:
            queue.put_nowait(_END_OF_EVENTS)
        self._subscribers.append(queue)
        return self._drain(queue)

    async def update_advert(self, *, docs: int) -> None:
        """Re-announce our TXT record with a new document count; returns once it was announced."""
        if self._advert is None:
            raise RuntimeError("this Discovery does not advertise")
        async with self._advert_lock:
            if docs == self._advert.docs:
                return
            self._advert = replace(self._advert, docs=docs)
            if self.state is not DiscoveryState.RUNNING or self._info is None or self._aiozc is None:
                return  # start() registers whatever the advert is by then
            self._info = self._service_info(self._info.name)
            await (await self._aiozc.async_update_service(self._info))

    # -- starting ------------------------------------------------------------------------------

    async def _start(self) -> None:
        report = self.interface_report()
        if not report.used:
            raise NoUsableInterfaces(report)
        self._aiozc = AsyncZeroconf(interfaces=self._zeroconf_interfaces(report))
        # Browse before registering: the PTR records it caches are what reveals a name collision
        # while probing. QM questions get multicast answers: a unicast answer to port 5353 reaches
        # only one of the sockets sharing that port, so peers on the same host would miss it.
        self._browser = AsyncServiceBrowser(
            self._aiozc.zeroconf,
            SERVICE_TYPE,
            handlers=[self._on_service_state_change],
            question_type=DNSQuestionType.QM,
        )
        if self._advert is not None:
            await self._register()

    @staticmethod
    def _zeroconf_interfaces(report: InterfaceReport) -> list[str | int]:
        """One IPv4 address per interface, and the interface index for IPv6 (zeroconf joins by index)."""
        chosen: list[str | int] = []
        for interface in report.used:
            if interface.ipv4:
                chosen.append(interface.ipv4[0])
            if interface.ipv6 and interface.index is not None:
                chosen.append(interface.index)
        return chosen

    def _service_info(self, name: str) -> AsyncServiceInfo:
        assert self._advert is not None and self._port is not None
        return AsyncServiceInfo(
            SERVICE_TYPE,
            name,
            port=self._port,
            properties=encode_txt(self._advert),
            server=f"{_host_label(self._advert.peer_id)}.local.",
            parsed_addresses=list(self.interface_report().addresses()),
            host_ttl=RECORD_TTL,
            other_ttl=RECORD_TTL,
        )

    async def _register(self) -> None:
        """Probe for "Name", then "Name (2)", ... and register the first free one (RFC 6763 section 9)."""
        assert self._advert is not None and self._aiozc is not None
        for number in range(1, MAX_RENAMES + 1):
            label = instance_label(self._advert.name, number)
            info = self._service_info(f"{label}.{SERVICE_TYPE}")
            if await self._name_taken(info.name):
                log.info("instance name %r is taken on the network, trying another", label)
                continue
            try:
                # zeroconf's own renaming yields "Name-2"; we rename ourselves for the usual "Name (2)".
                announced = await self._aiozc.async_register_service(info, allow_name_change=False)
            except NonUniqueNameException:
                log.info("instance name %r is taken on the network, trying another", label)
                continue
            self._info = info
            await announced
            log.info("advertising %r on port %d", label, self._port)
            return
        raise DiscoveryError(f"no free instance name after {MAX_RENAMES} tries for {self._advert.name!r}")

    async def _name_taken(self, name: str) -> bool:
        """Ask for the name's records with a multicast (QM) question; True if another peer owns it.

        zeroconf's probe alone missed a collision between two peers on one host in about one
        start of six (measured): it only looks for a cached PTR record, and on one host the
        answers that would fill it can be lost (probe questions are QU, and a unicast answer to
        port 5353 reaches only one of the sockets sharing that port).
        """
        assert self._aiozc is not None and self._advert is not None
        other = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await other.async_request(self._aiozc.zeroconf, NAME_CHECK_TIMEOUT_MS, DNSQuestionType.QM):
            return False
        owner = decode_txt(other.properties, source=name)
        return owner is None or owner.peer_id != self._advert.peer_id

    def _registered_names(self) -> set[str]:
        assert self._aiozc is not None
        return {info.name for info in self._aiozc.zeroconf.registry.async_get_service_infos()}

    # -- browsing ------------------------------------------------------------------------------

    def _on_service_state_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """zeroconf browser handler (runs on the event loop)."""
        if self.state in (DiscoveryState.CLOSING, DiscoveryState.CLOSED):
            return
        if self._info is not None and name == self._info.name:
            return
        if state_change is ServiceStateChange.Removed:
            self._forget(name)
        else:
            self._refresh(name)

    def _refresh(self, name: str) -> None:
        """Re-read a service from the cache, or query for it if records are missing."""
        assert self._aiozc is not None
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if info.load_from_cache(self._aiozc.zeroconf):
            self._accept(name, info)
        elif name not in self._resolving:
            task = asyncio.get_running_loop().create_task(self._resolve(name, info))
            self._resolving[name] = task
            task.add_done_callback(lambda _: self._resolving.pop(name, None))

    async def _resolve(self, name: str, info: AsyncServiceInfo) -> None:
        assert self._aiozc is not None
        if await info.async_request(self._aiozc.zeroconf, RESOLVE_TIMEOUT_MS):
            self._accept(name, info)
        else:
            log.debug("could not resolve %s within %d ms", name, RESOLVE_TIMEOUT_MS)

    def _accept(self, name: str, info: AsyncServiceInfo) -> None:
        """Turn resolved records into a peer and report what changed."""
        instance = name[: -len(SERVICE_TYPE) - 1]
        if self._rejected_txt.get(name) == info.text:
            return  # already complained about this exact record
        advert = decode_txt(info.properties, source=instance)
        if advert is None:
            self._rejected_txt[name] = info.text or b""
            self._forget(name)
            return
        self._rejected_txt.pop(name, None)
        if self._advert is not None and advert.peer_id == self._advert.peer_id:
            return
        if info.port is None:
            return
        peer = DiscoveredPeer(
            peer_id=advert.peer_id,
            name=advert.name or instance,
            protocol=advert.protocol,
            docs=advert.docs,
            port=info.port,
            addresses=_ordered_addresses(info.parsed_scoped_addresses(IPVersion.All)),
            instance=instance,
        )
        previous = self._peers.get(name)
        if previous == peer:
            return
        self._peers[name] = peer
        self._emit(PeerAppeared(peer) if previous is None else PeerChanged(peer, previous))

    def _forget(self, name: str) -> None:
        task = self._resolving.pop(name, None)
        if task is not None:
            task.cancel()
        peer = self._peers.pop(name, None)
        if peer is not None:
            self._emit(PeerLeft(peer))

    def _emit(self, event: DiscoveryEvent) -> None:
        log.debug("%s", event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                # The callback belongs to the caller; one failing must not stop discovery.
                log.exception("discovery event callback failed on %s", event)

    async def _drain(self, queue: asyncio.Queue[object]) -> AsyncIterator[DiscoveryEvent]:
        try:
            while True:
                item = await queue.get()
                if item is _END_OF_EVENTS:
                    return
                yield item  # type: ignore[misc]
        finally:
            self._subscribers.remove(queue)


@dataclass(frozen=True)
class BrowseResult:
    """What one `browse_once` saw, and the interfaces it listened on."""

    peers: tuple[DiscoveredPeer, ...]
    interfaces_tried: InterfaceReport


async def browse_once(timeout: float = 3.0, interfaces: Sequence[str] | None = None) -> BrowseResult:
    """Listen for `timeout` seconds without advertising and return every peer seen at the end."""
    discovery = Discovery(None, interfaces=interfaces)
    try:
        await discovery.start()
    except NoUsableInterfaces as error:
        return BrowseResult((), error.report)
    try:
        # A fixed listening window is the point of this call, not a wait for a condition.
        await asyncio.sleep(timeout)
    finally:
        await discovery.close()
    return BrowseResult(discovery.peers, discovery.interface_report())
