"""Choosing the network interfaces that mDNS runs on, and explaining the choice."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ifaddr

# Virtual and VPN adapters: multicast there reaches containers or tunnels, not people on the LAN.
VIRTUAL_PREFIXES = ("docker", "br-", "veth", "virbr", "vnet", "tun", "tap", "wg", "zt", "utun", "lxc", "cni")

# Linux interface flags (<linux/if.h>), read from /sys/class/net/NAME/flags.
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_MULTICAST = 0x1000
_SYS_NET = Path("/sys/class/net")


@dataclass(frozen=True)
class UsedInterface:
    """An interface mDNS runs on, with the addresses advertised for it."""

    name: str
    index: int | None
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]


@dataclass(frozen=True)
class SkippedInterface:
    """An interface left out, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class InterfaceReport:
    """Which interfaces were used or skipped: the answer to "why do I see nobody?"."""

    used: tuple[UsedInterface, ...]
    skipped: tuple[SkippedInterface, ...]

    def addresses(self) -> tuple[str, ...]:
        """Every address advertised for this host, IPv4 first."""
        return tuple(a for i in self.used for a in i.ipv4) + tuple(a for i in self.used for a in i.ipv6)

    def describe(self) -> str:
        """Human-readable lines, one per interface."""
        lines = [f"using {i.name}: {', '.join(i.ipv4 + i.ipv6)}" for i in self.used]
        lines += [f"skipped {s.name}: {s.reason}" for s in self.skipped]
        return "\n".join(lines) if lines else "no network interfaces found"


def _linux_flags(name: str) -> int | None:
    try:
        return int((_SYS_NET / name / "flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return None


def _is_loopback(adapter: ifaddr.Adapter) -> bool:
    flags = _linux_flags(adapter.name)
    if flags is not None:
        return bool(flags & _IFF_LOOPBACK)
    return any(ipaddress.ip_address(_ip_text(ip)).is_loopback for ip in adapter.ips)


def _ip_text(ip: ifaddr.IP) -> str:
    """ifaddr gives IPv4 as a str and IPv6 as (address, flowinfo, scope_id)."""
    return ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip


def _split_addresses(adapter: ifaddr.Adapter, *, loopback: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ipv4 = tuple(ip.ip for ip in adapter.ips if isinstance(ip.ip, str))
    # python-zeroconf cannot join the IPv6 group on loopback (::1): advertise IPv4 there only.
    ipv6 = () if loopback else tuple(ip.ip[0].split("%")[0] for ip in adapter.ips if isinstance(ip.ip, tuple))
    return ipv4, ipv6


def _skip_reason(adapter: ifaddr.Adapter, *, named: bool) -> str | None:
    """Why the default choice (or an explicit name) cannot use this adapter, or None."""
    flags = _linux_flags(adapter.name) if sys.platform.startswith("linux") else None
    loopback = _is_loopback(adapter)
    if flags is not None and not flags & _IFF_UP:
        return "interface is down"
    if not named:
        if loopback:
            return "loopback (name it explicitly to use it)"
        if adapter.name.startswith(VIRTUAL_PREFIXES):
            return "virtual or VPN interface (name it explicitly to use it)"
    # Loopback carries multicast on Linux without advertising the flag.
    if flags is not None and not loopback and not flags & _IFF_MULTICAST:
        return "no multicast"
    return None


def select_interfaces(
    names: Sequence[str] | None = None,
    *,
    adapters: Sequence[ifaddr.Adapter] | None = None,
) -> InterfaceReport:
    """Pick interfaces by name or address, or by default every up, multicast, non-virtual one.

    `names` may hold interface names ("eth0", "lo") or addresses held by an interface
    ("127.0.0.1"); a named loopback or virtual interface is used. `adapters` is for tests.
    """
    if adapters is None:
        adapters = ifaddr.get_adapters()
    wanted = None if names is None else list(dict.fromkeys(names))
    used: list[UsedInterface] = []
    skipped: list[SkippedInterface] = []
    matched: set[str] = set()
    for adapter in adapters:
        named = wanted is not None and _matches(adapter, wanted, matched)
        if wanted is not None and not named:
            skipped.append(SkippedInterface(adapter.name, "not requested"))
            continue
        reason = _skip_reason(adapter, named=named)
        if reason is None:
            ipv4, ipv6 = _split_addresses(adapter, loopback=_is_loopback(adapter))
            if not ipv4 and not ipv6:
                reason = "no IP address"
            else:
                used.append(UsedInterface(adapter.name, adapter.index, ipv4, ipv6))
                continue
        skipped.append(SkippedInterface(adapter.name, reason))
    for name in wanted or ():
        if name not in matched:
            skipped.append(SkippedInterface(name, "no such interface or address"))
    return InterfaceReport(tuple(used), tuple(skipped))


def _matches(adapter: ifaddr.Adapter, wanted: Sequence[str], matched: set[str]) -> bool:
    """True if `adapter` is named in `wanted` by name or by one of its addresses (recorded in `matched`)."""
    hits = {adapter.name, adapter.nice_name} | {_ip_text(ip) for ip in adapter.ips}
    found = [w for w in wanted if w in hits]
    matched.update(found)
    return bool(found)
