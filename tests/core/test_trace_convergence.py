"""Real concurrent typing: recorded keystroke traces of people writing one document together,
replayed on one replica per typist, converge on the text the trace recorded.

Each transaction of a concurrent trace names its causal parents: it was typed on the merge of
those transactions, not on everything typed so far. So before replaying a transaction, its
typist's replica receives exactly the other typists' updates that its parents reach, no more
(the rest are still "in flight"), and the positions the trace recorded must then be right in
that replica. Every replica also keeps a view patched only by its own keystrokes and by the
change deltas of remote updates, as an editor widget is, and it must match the text.

The traces do hold concurrent inserts beside one deleted character (one typist replaces it while
the other types after it), which a Yjs CRDT orders by client id: the recorded `endContent` is the
order in which typist 0 has the lowest id (measured with the same replay in Yjs and in pycrdt:
with the ids reversed, both end elsewhere on friendsforever). So typist N gets client id N + 1.

The non-ASCII variant maps letters to characters of 2, 3 and 4 UTF-8 bytes (one code point
each, so the trace's positions stay valid) to exercise pycrdt's byte offsets under merging.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from editor.core.document import SharedDocument, TextChange

from .simnet import apply_changes

DATA = Path(__file__).resolve().parents[1] / "data"
TRACES = ["friendsforever", "clownschool"]
ALPHABETS = {
    "ascii": str.maketrans({}),
    "non-ascii": str.maketrans("aeioutnsAT", "áéíóú中文😀Ä𝔸"),
}


@dataclass
class Typist:
    """One person's replica, what it has integrated, and the view an editor would show."""

    document: SharedDocument
    known: set[int] = field(default_factory=set)  # transactions integrated
    view: str = ""

    def patch_view(self, changes: list[TextChange], origin: object) -> None:
        self.view = apply_changes(self.view, changes)


def load(name: str) -> dict:
    with gzip.open(DATA / f"{name}.json.gz", "rt", encoding="utf-8") as stream:
        trace = json.load(stream)
    assert trace["kind"] == "concurrent" and not trace.get("startContent")
    return trace


def missing_history(typist: Typist, parents: list[int], txns: list[dict]) -> list[int]:
    """The transactions that `parents` reach and `typist` has not integrated, oldest first."""
    found: set[int] = set()
    stack = [p for p in parents if p not in typist.known]
    while stack:
        index = stack.pop()
        if index in found:
            continue
        found.add(index)
        stack.extend(p for p in txns[index]["parents"] if p not in typist.known and p not in found)
    return sorted(found)  # a trace lists every transaction after its parents


@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
@pytest.mark.parametrize("name", TRACES)
def test_recorded_concurrent_typing_converges_on_the_recorded_text(name, alphabet):
    trace = load(name)
    txns, table = trace["txns"], ALPHABETS[alphabet]
    typists = [Typist(SharedDocument(f"trace-{name}", client_id=agent + 1))
               for agent in range(trace["numAgents"])]
    for typist in typists:
        typist.document.subscribe_changes(typist.patch_view)
    updates: list[list[bytes]] = []  # per transaction, what its replica sent
    remote_applied = 0

    for index, txn in enumerate(txns):
        typist = typists[txn["agent"]]
        for earlier in missing_history(typist, txn["parents"], txns):
            for update in updates[earlier]:
                typist.document.apply_update(update, source=txns[earlier]["agent"])
                remote_applied += 1
            typist.known.add(earlier)
        assert typist.view == typist.document.text, f"view diverged before transaction {index}"
        sent: list[bytes] = []
        unsubscribe = typist.document.subscribe_updates(lambda update, source: sent.append(update))
        for position, deleted, inserted in txn["patches"]:
            inserted = inserted.translate(table)
            typist.document.replace(position, deleted, inserted)
            typist.view = typist.view[:position] + inserted + typist.view[position + deleted:]
        unsubscribe()
        updates.append(sent)
        typist.known.add(index)

    # Everyone receives the rest; updates may now arrive in any causal order (pycrdt holds
    # what depends on a missing one), here newest first.
    for typist in typists:
        for index in reversed(range(len(txns))):
            if index not in typist.known:
                for update in updates[index]:
                    typist.document.apply_update(update, source=txns[index]["agent"])
    expected = trace["endContent"].translate(table)
    for number, typist in enumerate(typists):
        assert typist.document.text == expected, f"typist {number} ended elsewhere"
        assert typist.view == expected, f"typist {number}'s view ended elsewhere"
    assert remote_applied > len(txns) // 10  # the replay really interleaved the typists
