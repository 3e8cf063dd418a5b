"""Memory per connected idle peer: 50 peers on one `chorus serve`.

A real `chorus serve` process shares one small text file. Another process connects idle peers
to it, each its own Node (own peer id, one connection) that joins the shared document and then
does nothing (pings and keepalives only), ten at a time. The resident set size (RSS) of the
serve process is read with no peer connected and after each batch; per-peer memory is the
growth from 0 to 50 peers divided by 50. Baseline: the same growth for a bare asyncio TCP
echo server process holding 50 idle connections (the floor of one Python connection).
Target: at most 256 KiB per peer.
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import (  # noqa: E402
    Child, Children, Report, Row, Verdict, base_parser, emit, median, rss_bytes, wait_for,
)
from peer import LOOPBACK  # noqa: E402

TARGET_PER_PEER = 256 * 1024
LISTENING = re.compile(r"listening on \S+:(\d+) ")
SETTLE_SAMPLES = 5


def settled_rss(pid: int) -> int:
    """Median of a few RSS readings a tenth of a second apart (the process is idle)."""
    samples = []
    for _ in range(SETTLE_SAMPLES):
        samples.append(rss_bytes(pid))
        time.sleep(0.1)
    return int(median(samples))


def serve_growth(peers: int, batch: int) -> tuple[int, list[tuple[int, int]]]:
    """(serve RSS with no peer, [(peers connected, RSS)]) for `peers` idle peers."""
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as scratch, Children() as children:
        shared = Path(scratch) / "notes.txt"
        shared.write_text("Idle peers share this note.\n" * 40, encoding="utf-8")
        serve = children.add(Child(
            [sys.executable, "-m", "editor", "serve", str(shared), "--listen", f"{LOOPBACK}:0",
             "--no-discovery", "--name", "bench-serve", "--state", str(Path(scratch) / "state")],
            name="chorus serve"))
        match = wait_for(lambda: next((m for line in serve.stderr_lines if (m := LISTENING.search(line))),
                                      None), 30, "chorus serve to listen")
        port = match.group(1)
        clients = children.add(Child.peer("idle-clients", "--port", port, "--doc", shared.name,
                                          name="idle peers"))
        empty = settled_rss(serve.pid)
        steps = []
        connected = 0
        while connected < peers:
            clients.send(f"add {min(batch, peers - connected)}")
            connected = int(clients.expect("added", 120)[0])
            steps.append((connected, settled_rss(serve.pid)))
            print(f"  {connected} peers: serve RSS {steps[-1][1] / 1024:.0f} KiB", file=sys.stderr)
        clients.send("quit")
        return empty, steps


def raw_tcp_growth(connections: int) -> int:
    """RSS growth of a bare asyncio echo server holding `connections` idle TCP connections."""
    with Children() as children:
        server = children.add(Child.peer("tcp-echo", name="tcp echo server"))
        port = int(server.expect("ready", 30)[0])
        before = settled_rss(server.pid)
        sockets = []
        try:
            for _ in range(connections):
                connection = socket.create_connection((LOOPBACK, port), timeout=5)
                connection.sendall(b"x")
                if connection.recv(1) != b"x":  # accepted, with its protocol object made
                    raise AssertionError("the echo server did not answer")
                sockets.append(connection)
            return settled_rss(server.pid) - before
        finally:
            for connection in sockets:
                connection.close()


def run(peers: int, batch: int) -> Report:
    report = Report(
        "idle_memory", f"Memory per connected idle peer, {peers} peers on one `chorus serve`",
        f"RSS of a `chorus serve` process (one shared 1 KiB file) with 0 peers, then after every "
        f"{batch} idle peers (another process; each peer its own Node, linked and joined to the "
        f"document); per peer = growth 0 -> {peers} / {peers}. Baseline: RSS growth of a bare "
        f"asyncio TCP echo server with {peers} idle connections, per connection.")
    empty, steps = serve_growth(peers, batch)
    raw = raw_tcp_growth(peers)
    per_peer = (steps[-1][1] - empty) / peers
    report.add(Row(f"serve RSS growth per idle peer (0 -> {peers})", per_peer, "bytes",
                   raw / peers, "bare asyncio TCP connection", f"<= {TARGET_PER_PEER // 1024} KiB",
                   Verdict.PASS if per_peer <= TARGET_PER_PEER else Verdict.MISS))
    if len(steps) > 1:
        first_count, first_rss = steps[0]
        marginal = (steps[-1][1] - first_rss) / (steps[-1][0] - first_count)
        report.add(Row(f"marginal per peer ({first_count} -> {peers})", marginal, "bytes",
                       raw / peers, "bare asyncio TCP connection"))
    report.add(Row("serve RSS with no peer", empty, "bytes"))
    report.add(Row(f"serve RSS with {peers} peers", steps[-1][1], "bytes"))
    report.parameters = {"peers": peers, "batch": batch, "rss_empty": empty,
                         "rss_steps": steps, "raw_tcp_growth": raw}
    return report


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--peers", type=int, default=50)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    emit(run(args.peers, args.batch), args.json)


if __name__ == "__main__":
    main()
