"""A new peer joining the fully edited automerge-paper document over TCP between processes.

The holder (a child process) shares the document with its whole editing history: the CRDT
state of the automerge-paper trace replayed into pycrdt, loaded from that state. This process
plays the new peer, a fresh Node each time: it dials, lists the holder's documents and joins;
the join is done when the document is synced and holds the whole text. Two figures:
"join on an open connection" (from `join()` to synced: the document transfer, which is what
the baseline measures) and "connect and join" (from `dial()`: adds the TCP connection, SETUP,
`hello` and `docs`). Baseline: pycrdt alone encoding the same document's state and loading it
into a fresh Doc, in this process during the same run. Target: at most 3x the baseline.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pycrdt import Doc, Text  # noqa: E402

from editor.runtime.events import SyncStatus  # noqa: E402
from editor.runtime.node import Node, NodeConfig  # noqa: E402

from benchlib import (  # noqa: E402
    Child, Children, Report, Row, Trace, Verdict, base_parser, emit, load_trace, median,
    trace_arguments, traces_dir,
)
from peer import LOOPBACK  # noqa: E402

TARGET_RATIO = 3.0
TITLE = "automerge-paper.tex"


def edited_document(trace: Trace) -> Doc:
    """The trace replayed into pycrdt, one transaction per patch (ASCII: offsets coincide)."""
    doc = Doc()
    text = doc.get("text", type=Text)
    for position, deleted, inserted in trace.patches:
        with doc.transaction():
            if deleted:
                del text[position:position + deleted]
            if inserted:
                text.insert(position, inserted)
    return doc


def encode_and_load(doc: Doc) -> float:
    """Seconds for pycrdt alone to encode `doc`'s whole state and load it into a fresh Doc."""
    started = time.perf_counter()
    state = doc.get_update()
    fresh = Doc()
    fresh.apply_update(state)
    elapsed = time.perf_counter() - started
    if len(fresh.get("text", type=Text)) != len(doc.get("text", type=Text)):
        raise AssertionError("the loaded state lacks text")
    return elapsed


async def join_once(port: int, expected_length: int) -> tuple[float, float]:
    """(connect-and-join seconds, join-on-open-connection seconds) for one fresh peer."""
    async with Node(NodeConfig(name="bench-joiner", listen_host=None)) as node:
        dial_started = time.perf_counter()
        link = await node.dial(LOOPBACK, port)
        await node.wait_until(lambda: link.peer.peer_id in node.peer_documents, 30)
        join_started = time.perf_counter()
        entry = node.join(link.peer.peer_id, node.find_remote_document(link.peer.peer_id, TITLE))
        await node.wait_until(lambda: entry.sync_status is SyncStatus.SYNCED, 30)
        joined_at = time.perf_counter()
        if len(entry.document) != expected_length:
            raise AssertionError(f"joined with {len(entry.document)} code points, "
                                 f"expected {expected_length}")
        return joined_at - dial_started, joined_at - join_started


def run(trace: Trace, repeats: int, fragment_size: int | None) -> Report:
    doc = edited_document(trace)
    state = doc.get_update()
    report = Report(
        "join", "A new peer joining the fully edited automerge-paper document (TCP, processes)",
        f"The holder process shares the document ({len(trace.end_content):,} code points, "
        f"{len(trace.patches):,} edits of history, {len(state):,} bytes encoded); a fresh peer "
        f"in another process joins it, {repeats} times. Baseline: pycrdt alone encoding the "
        "state and loading it into a fresh Doc, interleaved with the joins. Medians.")
    connect_join, join_only, baseline = [], [], []
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as scratch, Children() as children:
        state_file = Path(scratch) / "state.bin"
        state_file.write_bytes(state)
        fragmenting = ["--fragment-size", str(fragment_size)] if fragment_size else []
        holder = children.add(Child.peer("hold", "--doc", TITLE, "--state", str(state_file),
                                         *fragmenting, name="holder"))
        port = int(holder.expect("ready", 60)[0])
        asyncio.run(join_once(port, len(trace.end_content)))  # warm-up: first-use imports
        for _ in range(repeats):
            baseline.append(encode_and_load(doc))
            total, transfer = asyncio.run(join_once(port, len(trace.end_content)))
            connect_join.append(total)
            join_only.append(transfer)
    alone = median(baseline)
    for label, times in (("join on an open connection", join_only),
                         ("connect and join", connect_join)):
        value = median(times)
        report.add(Row(label, value, "s", alone, "pycrdt encode + load", f"<= {TARGET_RATIO:g}x",
                       Verdict.PASS if value <= TARGET_RATIO * alone else Verdict.MISS))
    report.add(Row("join on an open connection, max", max(join_only), "s", max(baseline),
                   "pycrdt encode + load, max"))
    if fragment_size:
        report.notes.append(f"the holder fragments frames at {fragment_size:,} bytes instead of 64 KiB.")
    report.parameters = {"fragment_size": fragment_size, "trace": trace.name, "encoded_bytes": len(state), "repeats": repeats,
                         "join_s": join_only, "connect_join_s": connect_join, "baseline_s": baseline}
    return report


def main() -> None:
    parser = base_parser(__doc__)
    trace_arguments(parser)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--fragment-size", type=int, default=0,
                        help="the holder's outgoing fragment size (0: the default 64 KiB)")
    args = parser.parse_args()
    emit(run(load_trace(traces_dir(args.traces)), args.repeats, args.fragment_size or None), args.json)


if __name__ == "__main__":
    main()
