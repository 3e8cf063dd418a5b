"""Interface choice: defaults skip loopback and virtual adapters, names select explicitly."""

from __future__ import annotations

import ifaddr

from editor.discovery.interfaces import select_interfaces


def adapter(name: str, index: int, *ips: str) -> ifaddr.Adapter:
    entries = [ifaddr.IP((ip, 0, index) if ":" in ip else ip, 24, name) for ip in ips]
    # Names that do not exist under /sys/class/net: the selection falls back to addresses.
    return ifaddr.Adapter(name, name, entries, index=index)


ADAPTERS = [
    adapter("test-lo", 1, "127.0.0.1", "::1"),
    adapter("test-lan", 2, "192.168.1.5", "fe80::1"),
    adapter("docker0", 3, "172.17.0.1"),
    adapter("wg0", 4, "10.8.0.2"),
    adapter("test-empty", 5),
]


def test_default_uses_real_lan_interfaces_only() -> None:
    report = select_interfaces(None, adapters=ADAPTERS)
    assert [(i.name, i.ipv4, i.ipv6) for i in report.used] == [("test-lan", ("192.168.1.5",), ("fe80::1",))]
    reasons = {s.name: s.reason for s in report.skipped}
    assert reasons["test-lo"].startswith("loopback")
    assert reasons["docker0"].startswith("virtual")
    assert reasons["wg0"].startswith("virtual")
    assert reasons["test-empty"] == "no IP address"
    assert report.addresses() == ("192.168.1.5", "fe80::1")


def test_named_interfaces_include_loopback_and_virtual_ones() -> None:
    report = select_interfaces(["test-lo", "wg0", "nosuch0"], adapters=ADAPTERS)
    # IPv6 multicast does not work on loopback with zeroconf: only 127.0.0.1 is used there.
    assert [(i.name, i.ipv4, i.ipv6) for i in report.used] == [("test-lo", ("127.0.0.1",), ()), ("wg0", ("10.8.0.2",), ())]
    assert ("nosuch0", "no such interface or address") in {(s.name, s.reason) for s in report.skipped}
    assert "using test-lo: 127.0.0.1" in report.describe()


def test_an_address_selects_its_interface() -> None:
    report = select_interfaces(["192.168.1.5"], adapters=ADAPTERS)
    assert [i.name for i in report.used] == ["test-lan"]


def test_real_loopback_by_name() -> None:
    report = select_interfaces(["lo"])
    assert [(i.name, i.ipv4) for i in report.used] == [("lo", ("127.0.0.1",))]
