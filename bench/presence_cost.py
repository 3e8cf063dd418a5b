"""Presence work per keystroke in a non-ASCII document with three other participants' carets.

A typist's document is built by replaying a real editing trace with every letter mapped to a
non-ASCII one (accented Latin, CJK, an emoji: positions in code points stay the trace's), one
edit per patch, so the text is made of the long runs a person types. A viewer holds a replica
and three other participants' carets (anchors created on the typist's side, as presence brings
them), and its own caret. Then the typist types at the viewer's caret; for each keystroke the
viewer applies the update and does what the desktop app does after a text change: resolve every
participant's caret (anchor and head) and make the anchor of its own caret for presence.

Baseline: the same keystroke updates applied to a second replica with no presence work, in the
same run, interleaved. Also shown: the same presence work with the document's anchor cache
disabled (every call probes pycrdt, see `editor/core/anchors.py`). Target: the keystroke with
its presence work under 2 ms, the desktop app's budget for one keystroke.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from editor.core.anchor_cache import AnchorCache  # noqa: E402
from editor.core.document import SharedDocument  # noqa: E402

from benchlib import (  # noqa: E402
    Report, Row, Trace, Verdict, base_parser, emit, load_trace, median, trace_arguments, traces_dir,
)

TARGET_S = 0.002
TRACE = "friendsforever_flat"
# Letters to characters of 2, 3 and 4 UTF-8 bytes (and 1 or 2 UTF-16 units).
NON_ASCII = str.maketrans("aeiouAEIOUtn", "áéíóúÁÉÍÓÚ中😀")


class ProbingOnly(AnchorCache):
    """An anchor cache that remembers nothing: every call probes pycrdt."""

    def remember(self, client: int, clock: int, after: bool, position: int, *, created: bool) -> None:
        pass


def typed_document(trace: Trace, client_id: int) -> SharedDocument:
    document = SharedDocument("bench", client_id=client_id)
    for position, deleted, inserted in trace.patches:
        document.replace(position, deleted, inserted.translate(NON_ASCII))
    return document


def replica_of(source: SharedDocument, client_id: int) -> SharedDocument:
    replica = SharedDocument("bench", client_id=client_id)
    replica.apply_update(source.encode_state(), "seed")
    return replica


def measure(trace: Trace, keystrokes: int) -> dict[str, list[float]]:
    typist = typed_document(trace, client_id=1)
    viewer, probing_viewer, bare = (replica_of(typist, n) for n in (2, 3, 4))
    probing_viewer._anchors = ProbingOnly()  # a benchmark may reach in: the contrast is the point
    length = len(typist)
    carets = [(typist.anchor_at(length * k // 8), typist.anchor_at(length * k // 8 + 5)) for k in (2, 4, 6)]
    own = length * 3 // 8
    updates: list[bytes] = []
    typist.subscribe_updates(lambda update, source: updates.append(update))
    for n in range(keystrokes):
        typist.insert(own + n, "字")
    times: dict[str, list[float]] = {"presence": [], "probing": [], "bare": []}
    for number, update in enumerate(updates):
        for label, replica in (("presence", viewer), ("probing", probing_viewer), ("bare", bare)):
            started = time.perf_counter()
            replica.apply_update(update, "typist")
            if replica is not bare:
                for anchor, head in carets:
                    replica.resolve_anchor(anchor)
                    replica.resolve_anchor(head)
                replica.anchor_at(own + number + 1)
            times[label].append(time.perf_counter() - started)
    for replica in (viewer, probing_viewer, bare):
        if replica.text != typist.text:
            raise AssertionError("a replica differs from the typist's text")
    for anchor, head in carets:
        if viewer.resolve_anchor(anchor) != probing_viewer.resolve_anchor(anchor):
            raise AssertionError("the cached and the probed caret positions differ")
    return times


def run(trace: Trace, keystrokes: int) -> Report:
    report = Report(
        "presence_cost", "Presence work per keystroke, non-ASCII document, three participants",
        __doc__.strip(), parameters={"trace": trace.name, "patches": len(trace.patches),
                                     "keystrokes": keystrokes})
    times = measure(trace, keystrokes)
    bare = median(times["bare"])
    value = median(times["presence"])
    report.add(Row("keystroke applied + 6 carets resolved + own anchor", value, "s", bare,
                   "keystroke applied alone", f"< {TARGET_S * 1e3:g} ms",
                   Verdict.PASS if value < TARGET_S else Verdict.MISS))
    report.add(Row("the same, anchor cache disabled (probing pycrdt)", median(times["probing"]), "s",
                   bare, "keystroke applied alone"))
    return report


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    trace_arguments(parser)
    parser.add_argument("--keystrokes", type=int, default=300)
    args = parser.parse_args()
    trace = load_trace(traces_dir(args.traces), TRACE)
    emit(run(trace, args.keystrokes), args.json)


if __name__ == "__main__":
    main()
