"""A stalled receiver while another peer types 10,000 edits per second.

The sender (a child process) shares two documents. The receiver (another child process) joins
both, then stops handing the first document's messages to its application: its endpoint's
`message_received` never returns, so the protocol grants the sender no more credit on that
channel, while the connection itself keeps being read. The sender types `--rate` edits per
second into the stalled document for `--seconds` (the automerge-paper patches, then appended
characters), one keystroke every 100 ms into the second document and a presence update (its
caret) every 50 ms, and samples its own RSS. Baseline: the same sender typing the same edits
with no peer at all, in a fresh process, in the same run.

Requirement: the sender's memory growth stays under twice the document's encoded size. The
verdict judges the growth the stalled peer causes (growth with the stalled peer minus growth
alone); the raw growth, which includes the CRDT's own in-memory history, is shown beside it.
Also shown: the second document and presence keep flowing during the stall (latency of its
keystrokes, presence updates received), and the receiver catches up once released.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import (  # noqa: E402
    Child, Children, Report, Row, Verdict, base_parser, emit, percentile, trace_arguments,
    traces_dir,
)

RATE = 10_000
SECONDS = 30.0
CREDIT_WINDOW = 64  # docs/protocol.md: the channel credit window


def sender_arguments(traces: Path, seconds: float, rate: int, peers: int) -> list[str]:
    return ["--traces", str(traces), "--seconds", str(seconds), "--rate", str(rate),
            "--peers", str(peers)]


def type_alone(traces: Path, seconds: float, rate: int) -> dict[str, Any]:
    """The sender's result when it types with nobody connected."""
    with Children() as children:
        sender = children.add(Child.peer("stall-sender", *sender_arguments(traces, seconds, rate, 0),
                                         name="sender (alone)"))
        sender.expect("synced", 30)
        sender.send("go")
        result = sender.expect_json("result", seconds + 120)
        sender.send("quit")
        return result


def type_to_stalled(traces: Path, seconds: float, rate: int) -> tuple[dict[str, Any], dict[str, Any], float]:
    """(sender result, receiver report during the stall, seconds to catch up once released)."""
    with Children() as children:
        sender = children.add(Child.peer("stall-sender", *sender_arguments(traces, seconds, rate, 1),
                                         name="sender"))
        port = sender.expect("ready", 30)[0]
        receiver = children.add(Child.peer("stall-receiver", "--port", port, name="receiver"))
        receiver.expect("stalled", 60)
        sender.expect("synced", 60)
        sender.send("go")
        result = sender.expect_json("result", seconds + 120)
        # The last keystrokes of the second document may still be in flight: ask until they are in.
        deadline = time.monotonic() + 10
        while True:
            receiver.send("report")
            seen = receiver.expect_json("report", 10)
            if seen["side_sha"] == result["side_sha"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        receiver.send(f"release {result['stalled_sha']}")
        caught_up = float(receiver.expect("caught_up", 300)[0])
        receiver.send("quit")
        sender.send("quit")
        return result, seen, caught_up


def growth(result: dict[str, Any]) -> int:
    """Peak RSS while typing minus RSS just before."""
    return max(rss for _, rss in result["rss_samples"]) - result["rss_before"]


def run(traces: Path, seconds: float, rate: int) -> Report:
    report = Report(
        "stalled_receiver", f"Stalled receiver while a peer types {rate:,} edits/s for {seconds:g} s",
        f"Sender and receiver in separate processes; the receiver's application stops taking the "
        f"document's messages (the connection is still read). The sender types {rate:,} edits/s "
        f"for {seconds:g} s into it, a keystroke per 100 ms into a second document on the same "
        "connection and a presence update per 50 ms. Baseline: the same typing with no peer, in "
        "a fresh process.")
    alone = type_alone(traces, seconds, rate)
    stalled, seen, caught_up = type_to_stalled(traces, seconds, rate)
    encoded = stalled["encoded_size"]
    extra = growth(stalled) - growth(alone)
    report.add(Row("sender RSS growth caused by the stalled peer", extra, "bytes",
                   2 * encoded, "2 x encoded document", "< 2 x encoded size",
                   Verdict.PASS if extra < 2 * encoded else Verdict.MISS))
    report.add(Row("sender RSS growth while typing, raw", growth(stalled), "bytes",
                   growth(alone), "same typing, no peer"))
    report.add(Row("document encoded size at the end", encoded, "bytes"))
    achieved = stalled["typed"] / stalled["elapsed"]
    report.add(Row("edits typed per second (stalled run)", achieved, "edits/s",
                   alone["typed"] / alone["elapsed"], "same typing, no peer", f">= {rate:,}/s",
                   Verdict.PASS if achieved >= 0.98 * rate else Verdict.MISS))
    out_of_credit = stalled["channel_credit"] == [0] and stalled["session_dirty"] == [True]
    report.add(Row("sender's credit on the stalled channel at the end", stalled["channel_credit"][0],
                   "msgs", CREDIT_WINDOW, "credit window", "0 (sender held back)",
                   Verdict.PASS if out_of_credit else Verdict.MISS))
    side_latencies = side_document_latencies(stalled["side_sent"], seen["side_arrivals"])
    flowing = len(side_latencies) == len(stalled["side_sent"]) and seen["side_sha"] == stalled["side_sha"]
    report.add(Row("second document during the stall: latency p50", percentile(side_latencies, 0.5),
                   "s", target="all keystrokes arrive",
                   verdict=Verdict.PASS if flowing else Verdict.MISS))
    report.add(Row("second document during the stall: latency p99", percentile(side_latencies, 0.99), "s"))
    presence = len(seen["presence_arrivals"])
    report.add(Row("presence updates received during the stall", presence, "msgs",
                   len(stalled["side_sent"]) * 2, "sent (about)", "keeps flowing",
                   Verdict.PASS if presence >= seconds * 5 else Verdict.MISS))
    report.add(Row("receiver catch-up after release", caught_up, "s"))
    report.notes.append(
        f"raw growth includes the CRDT's own history of {stalled['typed']:,} edits in the sender's "
        f"memory, which any editor holding this document pays; the stalled peer adds "
        f"{extra / 1024:.0f} KiB against an allowance of {2 * encoded / 1024:.0f} KiB.")
    report.notes.append(
        "RSS is read from /proc; freed heap from loading the trace is reused by later "
        "allocations, so raw growth understates the CRDT's memory. Both runs load the same "
        "trace the same way, so their difference is the figure judged.")
    if seen["stalled_length"] > 0:
        report.notes.append(f"the receiver held {seen['stalled_length']:,} code points of the "
                            f"stalled document while {stalled['stalled_length']:,} were typed.")
    report.parameters = {"seconds": seconds, "rate": rate, "alone": summary(alone),
                         "stalled": summary(stalled), "catch_up_s": caught_up,
                         "session_dirty": stalled["session_dirty"],
                         "channel_credit": stalled["channel_credit"]}
    return report


def side_document_latencies(sent: list[float], arrivals: list[list[float]]) -> list[float]:
    """Per keystroke k of the second document: when the receiver first had length k+1,
    minus when the sender typed it."""
    latencies = []
    position = 0
    for index, typed_at in enumerate(sent):
        while position < len(arrivals) and arrivals[position][0] < index + 1:
            position += 1
        if position == len(arrivals):
            break
        latencies.append(arrivals[position][1] - typed_at)
    return latencies


def summary(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result[key] for key in ("typed", "elapsed", "rss_before", "encoded_size")} | {
        "rss_peak": max(rss for _, rss in result["rss_samples"]),
        "rss_end": result["rss_samples"][-1][1]}


def main() -> None:
    parser = base_parser(__doc__)
    trace_arguments(parser)
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help=f"typing time (the requirement: {SECONDS:g} s)")
    parser.add_argument("--rate", type=int, default=RATE, help="edits per second")
    args = parser.parse_args()
    emit(run(traces_dir(args.traces), args.seconds, args.rate), args.json)


if __name__ == "__main__":
    main()
