"""Discovery timings across real network hosts (network namespaces joined by a bridge).

Measures, over several rounds in a fresh lab of N hosts each running `chorus serve` with
discovery on and no `--peer`:

- join: from the moment the last peer's process starts to every other peer having connected
  to it (target under 2 s; most of it is DNS-SD probing, RFC 6762 section 8.1);
- leave: from a clean exit (SIGTERM) to every other peer having dropped it (target under 1 s).

Baseline, measured in the same run: a bare python-zeroconf registration (probe + announce) in a
fresh process on one of the hosts, i.e. the floor any DNS-SD peer pays before it can be seen.

Needs root (network namespaces). Run: `.venv/bin/python bench/discovery_timing.py [--rounds N]`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchlib import Report, Row, Verdict, base_parser, emit  # noqa: E402
from tests.e2e.peers import ServeProcess, child_environment  # noqa: E402
from tests.netns import NetnsLab, netns_available  # noqa: E402

JOIN_TARGET, LEAVE_TARGET = 2.0, 1.0

BARE_REGISTRATION = """
import asyncio, socket, sys, time
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
async def main():
    started = time.monotonic()
    aiozc = AsyncZeroconf(interfaces=[sys.argv[1]], ip_version=IPVersion.V4Only)
    info = AsyncServiceInfo("_chorusbench._tcp.local.", "bare._chorusbench._tcp.local.",
                            addresses=[socket.inet_aton(sys.argv[1])], port=9, properties={})
    await (await aiozc.async_register_service(info))
    print(time.monotonic() - started)
    await aiozc.async_close()
asyncio.run(main())
"""


def measure_round(lab: NetnsLab, workdir: Path) -> tuple[float, float]:
    peers = [
        ServeProcess(["--listen", f"{host.ip}:4117"], name=f"host{i}", cwd=workdir, discovery=True,
                     connect_host=host.ip, wrap=lambda argv, host=host: lab.command(host, argv))
        for i, host in enumerate(lab.hosts)
    ]
    try:
        for peer in peers[:-1]:
            peer.start()
        last = peers[-1]
        marks = [len(p.lines) for p in peers[:-1]]
        last.start()
        joined = max(peer.wait_for_log(rf"peer connected: {last.name} ", 15.0, after=mark) and
                     peer.log_time(rf"peer connected: {last.name} ", mark)
                     for peer, mark in zip(peers[:-1], marks)) - last.started_at
        marks = [len(p.lines) for p in peers[:-1]]
        stopped_at = time.monotonic()
        last.stop()
        left = max(peer.wait_for_log(rf"peer disconnected: {last.name} ", 15.0, after=mark) and
                   peer.log_time(rf"peer disconnected: {last.name} ", mark)
                   for peer, mark in zip(peers[:-1], marks)) - stopped_at
        return joined, left
    finally:
        for peer in peers:
            peer.stop()


def bare_registration(lab: NetnsLab) -> float:
    host = lab.hosts[0]
    result = subprocess.run(lab.command(host, [sys.executable, "-c", BARE_REGISTRATION, host.ip]),
                            capture_output=True, text=True, timeout=60, env=child_environment())
    if result.returncode != 0:
        raise RuntimeError(f"bare registration failed: {result.stderr}")
    return float(result.stdout.strip())


def main() -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=3)
    args = parser.parse_args()
    report = Report("discovery_timing", "Discovery across network hosts (namespaces)",
                    " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " "))
    available, reason = netns_available()
    if not available:
        report.notes.append(f"not measured: {reason}")
        emit(report, args.json)
        return 0
    joins, leaves, bares = [], [], []
    with NetnsLab(hosts=args.hosts) as lab, tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.rounds):
            bares.append(bare_registration(lab))
            joined, left = measure_round(lab, Path(tmp))
            joins.append(joined)
            leaves.append(left)
            print(f"round {round_number + 1}: join {joined:.3f} s, leave {left:.3f} s, "
                  f"bare registration {bares[-1]:.3f} s", file=sys.stderr)
    join, leave, bare = (statistics.median(v) for v in (joins, leaves, bares))
    report.add(Row("start -> every other peer connected (median)", join, "s", bare,
                   "bare zeroconf registration", f"< {JOIN_TARGET:g} s",
                   Verdict.PASS if join < JOIN_TARGET else Verdict.MISS))
    report.add(Row("clean exit -> every other peer dropped it (median)", leave, "s", None, "",
                   f"< {LEAVE_TARGET:g} s", Verdict.PASS if leave < LEAVE_TARGET else Verdict.MISS))
    report.parameters = {"hosts": args.hosts, "rounds": args.rounds, "join_s": joins,
                         "leave_s": leaves, "bare_registration_s": bares}
    report.notes.append("the newest peer browses before its own registration finishes, so it "
                        "can find and dial the others sooner than it can itself be seen")
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
