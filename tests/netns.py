"""Several "hosts" on one machine for tests: network namespaces joined by a bridge (needs root).

    ok, reason = netns_available()
    with NetnsLab(hosts=3) as lab:
        lab.hosts[0].ip                      # "10.77.0.1"
        lab.run(lab.hosts[1], ["ip", "addr"])
        process = lab.popen(lab.hosts[2], [sys.executable, "peer.py"], env=...)

Each host namespace has loopback up and `eth0`, one end of a veth pair whose other end is
enslaved to `br0` in a namespace of its own. Multicast snooping is off on the bridge so mDNS
floods to every port. Addresses come from a private test range and exist only inside the
namespaces. Every namespace created is deleted on exit, on failure, and at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

SUBNET_PREFIX = "10.77.0"
PREFIX_LENGTH = 24
HOST_INTERFACE = "eth0"

_live_namespaces: set[str] = set()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _delete_namespaces(names: Sequence[str]) -> None:
    for name in names:
        _ip("netns", "delete", name, check=False)
        _live_namespaces.discard(name)


@atexit.register
def _delete_leftovers() -> None:
    _delete_namespaces(sorted(_live_namespaces))


def netns_available() -> tuple[bool, str]:
    """Whether namespaces can be created here, and if not why (for a clean skip)."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return False, "network namespaces need Linux"
    if os.geteuid() != 0:
        return False, "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return False, "the `ip` command (iproute2) is missing"
    probe = f"chorus-probe-{uuid.uuid4().hex[:8]}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return False, f"namespace creation refused: {result.stderr.strip()}"
    _ip("netns", "delete", probe, check=False)
    return True, ""


@dataclass(frozen=True)
class Host:
    """One namespace acting as a machine on the test LAN."""

    namespace: str
    ip: str
    interface: str = HOST_INTERFACE


class NetnsLab:
    """N host namespaces on one bridged LAN; a context manager that always cleans up."""

    def __init__(self, hosts: int = 3, *, subnet_prefix: str = SUBNET_PREFIX) -> None:
        if not 1 <= hosts <= 200:
            raise ValueError(f"hosts must be in 1..200, got {hosts}")
        # A unique per-run prefix: parallel runs and leftovers of a crashed run never collide.
        self.prefix = f"chorus-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.bridge_namespace = f"{self.prefix}-br"
        self.hosts = [Host(f"{self.prefix}-h{i}", f"{subnet_prefix}.{i + 1}") for i in range(hosts)]
        self._created: list[str] = []
        self._processes: list[subprocess.Popen] = []

    def __enter__(self) -> NetnsLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._created.append(name)
        _live_namespaces.add(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        bridge = self.bridge_namespace
        self._add_namespace(bridge)
        _ip("-n", bridge, "link", "add", "br0", "type", "bridge")
        # Without this the bridge may drop multicast for groups nobody "joined" via IGMP/MLD.
        _ip("-n", bridge, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
        _ip("-n", bridge, "link", "set", "br0", "up")
        for number, host in enumerate(self.hosts):
            self._add_namespace(host.namespace)
            port = f"p{number}"
            _ip("link", "add", host.interface, "netns", host.namespace, "type", "veth", "peer", "name", port, "netns", bridge)
            _ip("-n", bridge, "link", "set", port, "master", "br0")
            _ip("-n", bridge, "link", "set", port, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.ip}/{PREFIX_LENGTH}", "dev", host.interface)
            _ip("-n", host.namespace, "link", "set", host.interface, "up")
        self._wait_for_ipv6_addresses()

    def _wait_for_ipv6_addresses(self, timeout: float = 10.0) -> None:
        """Wait until duplicate address detection finished: a tentative address cannot be bound."""
        deadline = time.monotonic() + timeout
        for host in self.hosts:
            while _ip("-n", host.namespace, "-6", "addr", "show", "dev", host.interface, "tentative").stdout.strip():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"IPv6 addresses of {host.namespace} still tentative after {timeout} s")
                time.sleep(0.05)

    def ipv6_link_local(self, host: Host) -> str | None:
        """The fe80:: address of the host's interface, if IPv6 is enabled."""
        out = _ip("-n", host.namespace, "-6", "-o", "addr", "show", "dev", host.interface, "scope", "link").stdout
        for field in out.split():
            if field.startswith("fe80:"):
                return field.split("/")[0]
        return None

    def command(self, host: Host, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` inside the host's namespace."""
        return ["ip", "netns", "exec", host.namespace, *argv]

    def run(self, host: Host, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a command to completion inside the host (text output captured unless overridden)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(self.command(host, argv), **kwargs)

    def popen(self, host: Host, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start a process inside the host; the lab kills it on close if it still runs."""
        process = subprocess.Popen(self.command(host, argv), **kwargs)
        self._processes.append(process)
        return process

    def _kill_strays(self) -> None:
        """Kill what the lab's processes left running (daemons they forked) in the lab's namespaces.

        The namespaces are unique to this run, so every process in them descends from the lab.
        """
        for namespace in self._created:
            pids = _ip("netns", "pids", namespace, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    continue  # exited meanwhile

    def close(self) -> None:
        """Stop the processes this lab started (by PID), then delete every namespace it created."""
        try:
            for process in self._processes:
                if process.poll() is None:
                    process.kill()
                    process.wait(10)
            self._kill_strays()
        finally:
            self._processes.clear()
            _delete_namespaces(list(reversed(self._created)))
            self._created.clear()
