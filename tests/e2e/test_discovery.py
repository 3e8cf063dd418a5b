"""Discovery end to end: real `chorus serve` processes find each other with no --peer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.peers import ServeProcess, read_text, run_chorus, wait_for
from tests.netns import NetnsLab, netns_available

pytestmark = pytest.mark.slow


def converged_on(files: list[Path], *needles: str):
    texts = {read_text(path) for path in files}
    if len(texts) != 1:
        return None
    text = texts.pop()
    return text if text is not None and all(n in text for n in needles) else None


def test_loopback_peers_find_each_other_co_edit_and_see_goodbyes(tmp_path: Path) -> None:
    shared = tmp_path / "ana"
    shared.mkdir()
    (shared / "plan.txt").write_text("plan\n", encoding="utf-8")
    loopback = ["--listen", "127.0.0.1:0", "--interface", "lo"]
    ben = ServeProcess([*loopback, "--mirror", str(tmp_path / "ben")], name="Ben",
                       cwd=tmp_path, discovery=True)
    ana = ServeProcess([*loopback, str(shared)], name="Ana", cwd=tmp_path, discovery=True)
    try:
        ben.start()
        mark = len(ben.lines)
        ana.start()
        ben.wait_for_log(r"discovery: found Ana", 10.0, after=mark)
        seen_after = ben.log_time(r"discovery: found Ana", mark) - ana.started_at
        print(f"Ben saw Ana {seen_after:.2f} s after Ana's process started")
        assert seen_after <= 3.0
        ben.wait_for_log(r"peer connected: Ana", 10.0, after=mark)

        files = [shared / "plan.txt", tmp_path / "ben" / "plan.txt"]
        wait_for(lambda: converged_on(files, "plan"), 10.0, "Ben to mirror Ana's document")
        assert run_chorus("edit", ana.address, "plan.txt", "--append", "Ana ✍️\n").returncode == 0
        assert run_chorus("edit", ben.address, "plan.txt", "--insert", "0", "Ben 👋\n").returncode == 0
        wait_for(lambda: converged_on(files, "Ana ✍️", "Ben 👋"), 10.0, "both edits everywhere")

        mark = len(ben.lines)
        stopped_at = time.monotonic()
        assert ana.stop() == 0
        ben.wait_for_log(r"discovery: Ana left", 5.0, after=mark)
        left_after = ben.log_time(r"discovery: Ana left", mark) - stopped_at
        print(f"Ben saw Ana leave {left_after:.2f} s after the stop was requested")
        assert left_after <= 2.0
    finally:
        ana.stop()
        ben.stop()


def test_chorus_peers_lists_what_is_on_the_network(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("1", encoding="utf-8")
    ana = ServeProcess(["--listen", "127.0.0.1:0", "--interface", "lo", str(tmp_path / "one.txt")],
                       name="Ana Lister", cwd=tmp_path, discovery=True)
    try:
        ana.start()
        listing = run_chorus("peers", "--interface", "lo", "--timeout", "2")
        assert listing.returncode == 0, listing.stderr
        line = next(line for line in listing.stdout.splitlines() if line.startswith("Ana Lister"))
        assert str(ana.port) in line and "127.0.0.1" in line and " 1 " in line
    finally:
        ana.stop()


def test_chorus_peers_explains_an_empty_network() -> None:
    # A browse on loopback, where no test peer runs now: the explanation names what was tried.
    listing = run_chorus("peers", "--interface", "127.0.0.1", "--timeout", "0.5")
    assert listing.returncode == 0, listing.stderr
    assert "no peers seen" in listing.stdout
    assert "127.0.0.1" in listing.stdout and "--peer" in listing.stdout


@pytest.mark.netns
def test_three_hosts_discover_converge_survive_a_crash_and_rejoin(tmp_path: Path) -> None:
    available, reason = netns_available()
    if not available:
        pytest.skip(reason)
    with NetnsLab(hosts=3) as lab:
        shared = tmp_path / "h0"
        shared.mkdir()
        (shared / "shared.txt").write_text("start\n", encoding="utf-8")
        folders = [shared, tmp_path / "h1", tmp_path / "h2"]
        peers = []
        for index, host in enumerate(lab.hosts):
            content = [str(shared)] if index == 0 else ["--mirror", str(folders[index])]
            peers.append(ServeProcess(
                ["--listen", f"{host.ip}:4117", *content], name=f"host{index}", cwd=tmp_path,
                discovery=True, connect_host=host.ip,
                wrap=lambda argv, host=host: lab.command(host, argv)))
        files = [folders[0] / "shared.txt", folders[1] / "shared.txt", folders[2] / "shared.txt"]
        try:
            for peer in peers:
                peer.start()
            wait_for(lambda: converged_on(files, "start"), 20.0, "the document to reach every host")

            def edit(index: int, *arguments: str) -> None:
                host = lab.hosts[index]
                result = run_chorus("edit", peers[index].address, "shared.txt", *arguments,
                                    wrap=lambda argv: lab.command(host, argv))
                assert result.returncode == 0, result.stderr

            edit(0, "--insert", "0", "zero 🦊\n")
            edit(2, "--append", "two 🐙\n")
            wait_for(lambda: converged_on(files, "zero 🦊", "two 🐙"), 20.0, "edits at hosts 0 and 2 to converge")

            # host1 crashes: no goodbye. The others notice and keep working without it.
            marks = [len(p.lines) for p in peers]
            peers[1].kill()
            for index in (0, 2):
                peers[index].wait_for_log(r"peer disconnected: host1", 12.0, after=marks[index])
            edit(0, "--append", "while host1 was down\n")
            wait_for(lambda: converged_on([files[0], files[2]], "while host1 was down"), 20.0,
                     "hosts 0 and 2 to keep co-editing")

            # host1 comes back (same address), is rediscovered, and catches up.
            peers[1].start()
            wait_for(lambda: converged_on(files, "zero 🦊", "two 🐙", "while host1 was down"), 30.0,
                     "host1 to rejoin and catch up")
            assert read_text(files[1]).count("start") == 1
        finally:
            for peer in peers:
                peer.stop()
