"""Live replay of the automerge-paper trace between two peers in separate processes.

Peer A (this process) types every patch of the trace (ASCII variant) at full speed into a
document shared with peer B (a child process), until B holds the final text. "Full speed":
each patch is one local edit (`SharedDocument.replace`), and A yields to its event loop after
every N patches so that its updates go out while it types. The time ends when B, comparing its
text with the trace's final text, reports that it matches (monotonic clock shared by both
processes). Baseline: plain pycrdt replaying the same patches alone into a `Doc`, one
transaction per patch, in this process during the same run. Target: at most 1.5x the baseline.

The target applies to N=100: typing at full speed, the typist gives the event loop a turn every
few milliseconds, and A sends while it types. N=1 (an event-loop turn per patch, a person's
cadence at 30,000 keys per second) is reported for information, next to the same typing in a
node with no peer at all: the difference between the two is what the network costs at N=1.
Also for information: pycrdt with what any live editor adds to it (an undo manager and the
per-transaction update that goes to peers), the floor the engine builds on.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pycrdt import Doc, Text, UndoManager  # noqa: E402

from editor.core.document import SharedDocument  # noqa: E402
from editor.runtime.node import Node, NodeConfig  # noqa: E402

from benchlib import (  # noqa: E402
    Child, Children, Report, Row, Trace, Verdict, base_parser, emit, load_trace, median,
    trace_arguments, traces_dir,
)
from peer import joined  # noqa: E402

TARGET_RATIO = 1.5
TARGET_CADENCE = 100


def replay_into(doc: Doc, text: Text, trace: Trace, origin: str | None = None) -> float:
    """Seconds to replay the trace into `text`, one transaction per patch."""
    started = time.perf_counter()
    for position, deleted, inserted in trace.patches:  # ASCII: code points == UTF-8 bytes
        with doc.transaction(origin=origin):
            if deleted:
                del text[position:position + deleted]
            if inserted:
                text.insert(position, inserted)
    elapsed = time.perf_counter() - started
    if str(text) != trace.end_content:
        raise AssertionError("pycrdt replay did not reproduce the trace's final text")
    return elapsed


def replay_pycrdt_alone(trace: Trace) -> float:
    """Seconds to replay the trace into a bare pycrdt Doc, one transaction per patch."""
    doc = Doc()
    return replay_into(doc, doc.get("text", type=Text), trace)


def replay_pycrdt_with_undo_and_updates(trace: Trace) -> float:
    """Seconds for the same replay with an undo manager tracking the edits and every
    transaction's update taken from an observer: what a live editor needs from pycrdt."""
    doc = Doc()
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    undo = UndoManager(scopes=[text], capture_timeout_millis=500)
    undo.include_origin("typing")
    elapsed = replay_into(doc, text, trace, origin="typing")
    if len(updates) != len(trace.patches):
        raise AssertionError("the update observer missed transactions")
    return elapsed


async def type_trace(document: SharedDocument, trace: Trace, yield_every: int) -> float:
    """Type every patch as one local edit, yielding to the event loop every `yield_every`
    patches; return the seconds it took."""
    started = time.monotonic()
    for number, (position, deleted, inserted) in enumerate(trace.patches, 1):
        document.replace(position, deleted, inserted)
        if number % yield_every == 0:
            await asyncio.sleep(0)
    return time.monotonic() - started


async def type_without_peers(trace: Trace, yield_every: int) -> float:
    """Seconds for peer A's typing loop in a node that has no peer (nothing is sent)."""
    async with Node(NodeConfig(name="bench-typist", listen_host=None)) as node:
        document = SharedDocument("bench")
        node.add_document(document, "bench.txt", shared=True)
        return await type_trace(document, trace, yield_every)


async def replay_live(trace: Trace, port: int, holder: Child, yield_every: int) -> tuple[float, float]:
    """(seconds until B has the final text, seconds A spent typing)."""
    async with Node(NodeConfig(name="bench-typist", listen_host=None)) as node:
        entry = await joined(node, port, "bench.txt")
        document = entry.document
        started = time.monotonic()
        typed = await type_trace(document, trace, yield_every)
        # Wait in a thread: this loop must keep running to send what is still pending.
        words = await asyncio.to_thread(holder.expect, "done", 600)
        done_at = float(words[0])
        if document.text != trace.end_content:
            raise AssertionError("peer A's text differs from the trace's final text")
        return done_at - started, typed


def run(trace: Trace, repeats: int, cadences: list[int]) -> Report:
    report = Report(
        "trace_replay", "Live replay of automerge-paper, two peers in separate processes",
        f"A types all {len(trace.patches):,} patches (ASCII variant) as local edits, one edit per "
        f"patch, yielding to the event loop every N patches (N = {', '.join(map(str, cadences))}); "
        f"time until B (another process) has the final text. Baseline: pycrdt alone, one "
        f"transaction per patch, same process and run. The target applies to N={TARGET_CADENCE} "
        f"(full speed, sending while typing); other cadences are shown with the same typing in "
        f"a node with no peer. Medians of {repeats} alternating runs.")
    live_times: dict[int, list[float]] = {n: [] for n in cadences}
    typing_times: dict[int, list[float]] = {n: [] for n in cadences}
    alone_times: list[float] = []
    floor_times: list[float] = []
    unlinked_times: dict[int, list[float]] = {n: [] for n in cadences if n != TARGET_CADENCE}
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as scratch:
        expected = Path(scratch) / "expected.txt"
        expected.write_text(trace.end_content, encoding="utf-8")
        for _ in range(repeats):
            alone_times.append(replay_pycrdt_alone(trace))
            floor_times.append(replay_pycrdt_with_undo_and_updates(trace))
            print(f"  pycrdt alone {alone_times[-1]:.2f} s, with undo and updates "
                  f"{floor_times[-1]:.2f} s", file=sys.stderr)
            for n, times in unlinked_times.items():
                times.append(asyncio.run(type_without_peers(trace, n)))
                print(f"  N={n} with no peer: {times[-1]:.2f} s", file=sys.stderr)
            for n in cadences:
                with Children() as children:
                    holder = children.add(Child.peer("hold", "--doc", "bench.txt", "--expect",
                                                     str(expected), name="peer B"))
                    port = int(holder.expect("ready", 30)[0])
                    live, typed = asyncio.run(replay_live(trace, port, holder, n))
                live_times[n].append(live)
                typing_times[n].append(typed)
                print(f"  N={n}: live {live:.2f} s (typing {typed:.2f} s)", file=sys.stderr)
    alone = median(alone_times)
    report.add(Row("pycrdt with an undo manager and the update stream", median(floor_times), "s",
                   alone, "pycrdt alone"))
    for n in cadences:
        live = median(live_times[n])
        if n == TARGET_CADENCE:
            target, verdict = f"<= {TARGET_RATIO}x", Verdict.PASS if live <= TARGET_RATIO * alone else Verdict.MISS
        else:
            target, verdict = "", Verdict.INFO
            report.add(Row(f"N={n}: typing in a node with no peer", median(unlinked_times[n]), "s",
                           alone, "pycrdt alone"))
        report.add(Row(f"N={n}: until peer B has the final text", live, "s", alone, "pycrdt alone",
                       target, verdict))
        report.add(Row(f"N={n}: typing time at peer A", median(typing_times[n]), "s",
                       alone, "pycrdt alone"))
        report.add(Row(f"N={n}: per patch", live / len(trace.patches), "s",
                       alone / len(trace.patches), "pycrdt alone"))
    report.parameters = {"trace": trace.name, "patches": len(trace.patches), "repeats": repeats,
                         "yield_every": cadences, "target_cadence": TARGET_CADENCE,
                         "alone_runs_s": alone_times, "with_undo_and_updates_runs_s": floor_times,
                         "no_peer_runs_s": {str(n): times for n, times in unlinked_times.items()},
                         "live_runs_s": {str(n): times for n, times in live_times.items()}}
    return report


def main() -> None:
    parser = base_parser(__doc__)
    trace_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--yield-every", default="1,100", metavar="N[,N...]",
                        help="yield to the event loop after every N patches (one run per N)")
    parser.add_argument("--limit", type=int, default=None,
                        help="replay only the first N patches (quick checks)")
    args = parser.parse_args()
    trace = load_trace(traces_dir(args.traces))
    if args.limit is not None:
        trace = truncated(trace, args.limit)
    emit(run(trace, args.repeats, [int(n) for n in args.yield_every.split(",")]), args.json)


def truncated(trace: Trace, count: int) -> Trace:
    """The first `count` patches of a trace, with the text they produce as its end."""
    text: list[str] = []
    for position, deleted, inserted in trace.patches[:count]:
        text[position:position + deleted] = inserted
    return Trace(f"{trace.name}[:{count}]", trace.patches[:count], "".join(text))


if __name__ == "__main__":
    main()
