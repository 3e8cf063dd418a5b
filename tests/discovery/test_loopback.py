"""Two discovery peers in separate processes on the loopback interface."""

from __future__ import annotations

import time
import uuid

import pytest

from editor.discovery import browse_once
from tests.discovery.processes import PeerProcess, is_event, peer_argv

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    """Names unique per run, so leftovers of an earlier run on this host never match."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def peers():
    started: list[PeerProcess] = []

    def start(peer_id: str, name: str, port: int, docs: int = 0) -> PeerProcess:
        peer = PeerProcess.start(peer_argv(peer_id, name, port, ["lo"], docs))
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.kill()


def test_peers_see_each_other_and_the_goodbye(peers) -> None:
    id_a, id_b, name = unique("a"), unique("b"), unique("Ana")
    a = peers(id_a, name, 4701, docs=2)
    a.wait_for(is_event("started"), timeout=10)
    b = peers(id_b, unique("Bo"), 4702)
    started_b = time.monotonic()

    seen = b.wait_for(is_event("appeared", peer_id=id_a), timeout=3 + 2)
    print(f"B saw A {time.monotonic() - started_b:.2f} s after B started")
    assert seen["peer"] == {
        "peer_id": id_a, "name": name, "protocol": 1, "docs": 2, "port": 4701,
        "addresses": ["127.0.0.1"], "instance": name,
    }
    a.wait_for(is_event("appeared", peer_id=id_b), timeout=5)
    # Neither reports itself.
    assert not [line for line in b.lines if line.get("peer", {}).get("peer_id") == id_b]

    a.send("docs 7")
    changed = b.wait_for(is_event("changed", peer_id=id_a), timeout=3)
    assert changed["peer"]["docs"] == 7

    leaving = time.monotonic()
    assert a.quit() == 0
    b.wait_for(is_event("left", peer_id=id_a), timeout=2)
    print(f"B saw A leave {time.monotonic() - leaving:.2f} s after A was asked to quit")
    assert b.quit() == 0


def test_a_name_collision_is_renamed(peers) -> None:
    name = unique("Same")
    a = peers(unique("a"), name, 4703)
    assert a.wait_for(is_event("started"), timeout=10)["instance"] == name
    b = peers(unique("b"), name, 4704)
    assert b.wait_for(is_event("started"), timeout=10)["instance"] == f"{name} (2)"
    renamed = a.wait_for(is_event("appeared", instance=f"{name} (2)"), timeout=3)
    assert renamed["peer"]["name"] == name  # the display name is untouched
    assert a.quit() == 0 and b.quit() == 0


async def test_browse_once_lists_a_peer(peers) -> None:
    peer_id = unique("c")
    peer = peers(peer_id, "Cy", 4705, docs=1)
    peer.wait_for(is_event("started"), timeout=10)
    result = await browse_once(timeout=1.5, interfaces=["lo"])
    assert [(p.peer_id, p.port, p.docs, p.addresses) for p in result.peers if p.peer_id == peer_id] == [
        (peer_id, 4705, 1, ("127.0.0.1",))
    ]
    assert [i.name for i in result.interfaces_tried.used] == ["lo"]
    assert peer.quit() == 0


async def test_browse_once_without_interfaces_explains_why() -> None:
    result = await browse_once(timeout=0.1, interfaces=["nosuch0"])
    assert result.peers == ()
    assert "skipped nosuch0: no such interface or address" in result.interfaces_tried.describe()
