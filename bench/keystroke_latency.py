"""Keystroke latency between two headless peers in separate processes on loopback.

Peer A (this process) types one character into a shared document; peer B (a child process)
sees it arrive and at once types an acknowledgement character, which travels back to A. The
keystroke latency is half that round trip. The baseline is the protocol's `ping` round trip
over the same connection, measured interleaved with the keystrokes, also halved.
Target (product requirements): p50 <= 1 ms, p99 <= 5 ms.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from editor.core.document import TextInserted  # noqa: E402
from editor.runtime.node import Node, NodeConfig  # noqa: E402

from benchlib import Child, Children, Report, Row, Verdict, base_parser, emit, median, percentile  # noqa: E402
from peer import ECHO_ANSWER, ECHO_TRIGGER, joined  # noqa: E402

P50_TARGET, P99_TARGET = 1e-3, 5e-3


async def measure(port: int, keystrokes: int, warmup: int, gap: float) -> tuple[list[float], list[float]]:
    """Round trips of keystrokes and of pings, alternating, after `warmup` unrecorded pairs."""
    async with Node(NodeConfig(name="bench-typist", listen_host=None)) as node:
        entry = await joined(node, port, "bench.txt")
        document = entry.document
        link = next(iter(node.links.values()))
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[float] | None = None

        def on_changes(changes: list[object], origin: object) -> None:
            if answered is not None and not answered.done() and any(
                    isinstance(c, TextInserted) and ECHO_ANSWER in c.text for c in changes):
                answered.set_result(time.perf_counter())

        document.subscribe_changes(on_changes)
        keystroke_rtts: list[float] = []
        ping_rtts: list[float] = []
        for round_number in range(warmup + keystrokes):
            answered = loop.create_future()
            typed_at = time.perf_counter()
            document.insert(len(document), ECHO_TRIGGER)
            seen_at = await asyncio.wait_for(answered, 5.0)
            await asyncio.sleep(gap / 2)  # keystrokes come one at a time, as from a person
            ping_started = time.perf_counter()
            await link.ping(timeout=5.0)
            ping_rtt = time.perf_counter() - ping_started
            if round_number >= warmup:
                keystroke_rtts.append(seen_at - typed_at)
                ping_rtts.append(ping_rtt)
            await asyncio.sleep(gap / 2)
        return keystroke_rtts, ping_rtts


def run(keystrokes: int, warmup: int, gap: float) -> Report:
    report = Report(
        "keystroke_latency", "Keystroke latency, two peers in separate processes (loopback TCP)",
        f"A types one character; B (another process) types an acknowledgement as soon as it "
        f"sees it; latency = half the round trip. {keystrokes} keystrokes after {warmup} "
        f"warm-up ones, {gap * 1e3:g} ms apart. Baseline: the protocol's `ping` round trip on "
        "the same connection, interleaved with the keystrokes, also halved. Plain asyncio loop.")
    with Children() as children:
        holder = children.add(Child.peer("hold", "--doc", "bench.txt", "--echo", name="peer B"))
        port = int(holder.expect("ready", 30)[0])
        keystroke_rtts, ping_rtts = asyncio.run(measure(port, keystrokes, warmup, gap))
    one_way = [rtt / 2 for rtt in keystroke_rtts]
    ping_one_way = [rtt / 2 for rtt in ping_rtts]
    for label, fraction, target in (("p50", 0.50, P50_TARGET), ("p99", 0.99, P99_TARGET)):
        value = percentile(one_way, fraction)
        report.add(Row(f"keystroke latency {label} (one way)", value, "s",
                       percentile(ping_one_way, fraction), "ping / 2",
                       f"<= {target * 1e3:g} ms", Verdict.PASS if value <= target else Verdict.MISS))
    report.add(Row("keystroke round trip p50", median(keystroke_rtts), "s",
                   median(ping_rtts), "ping round trip"))
    report.add(Row("keystroke latency max (one way)", max(one_way), "s",
                   max(ping_one_way), "ping / 2"))
    report.parameters = {"keystrokes": keystrokes, "warmup": warmup, "gap_s": gap}
    return report


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--keystrokes", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.004, help="seconds between keystrokes")
    args = parser.parse_args()
    emit(run(args.keystrokes, args.warmup, args.gap), args.json)


if __name__ == "__main__":
    main()
