"""The keystroke path that opens pycrdt's Rust transactions directly (`editor.core.direct_text`)
must produce exactly what pycrdt's public API produces, and behave like it on failure. These
tests are what catches a pycrdt upgrade that changes the internals it relies on."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text, UndoManager

from editor.core.direct_text import DirectText
from editor.core.document import SharedDocument

from .strategies import tricky_text

ORIGIN = "test.origin"


def public_replace(doc: Doc, text: Text, start: int, end: int, inserted: str) -> None:
    with doc.transaction(origin=ORIGIN):
        if end > start:
            del text[start:end]
        if inserted:
            text.insert(start, inserted)


def direct_replace(direct: DirectText, start: int, end: int, inserted: str) -> None:
    txn = direct.begin()
    try:
        if end > start:
            direct.remove_range(txn, start, end - start)
        if inserted:
            direct.insert(txn, start, inserted, None)
    finally:
        direct.end(txn)


def observed(client_id: int) -> tuple[Doc, Text, list[bytes], UndoManager]:
    doc = Doc(client_id=client_id)
    text = doc.get("text", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    undo = UndoManager(scopes=[text], capture_timeout_millis=0)
    undo.include_origin(ORIGIN)
    return doc, text, updates, undo


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pieces=st.lists(tricky_text, min_size=1, max_size=8))
def test_direct_edits_produce_the_public_apis_updates_byte_for_byte(seed: int, pieces: list[str]) -> None:
    rng = random.Random(seed)
    public_doc, public_text, public_updates, public_undo = observed(7)
    direct_doc, direct_text, direct_updates, direct_undo = observed(7)
    direct = DirectText(direct_doc, direct_text, ORIGIN)
    for _ in range(40):
        size = len(str(public_text).encode())
        start = rng.randint(0, size)
        end = rng.randint(start, min(size, start + 3))
        inserted = rng.choice(pieces) if rng.random() < 0.7 else ""
        content = str(public_text).encode()
        try:  # stay on character boundaries: offsets are UTF-8 bytes here
            content[:start].decode()
            content[:end].decode()
        except UnicodeDecodeError:
            continue
        public_replace(public_doc, public_text, start, end, inserted)
        direct_replace(direct, start, end, inserted)
    assert direct_updates == public_updates
    assert str(direct_text) == str(public_text)
    # The undo manager saw the direct transactions under their origin.
    while public_undo.undo():
        assert direct_undo.undo()
    assert not direct_undo.can_undo()
    assert str(direct_text) == str(public_text) == ""


def test_an_observer_error_surfaces_after_the_commit_like_pycrdts() -> None:
    doc = Doc()
    text = doc.get("text", type=Text)

    def failing(event: object) -> None:
        raise LookupError("observer failed")

    subscription = doc.observe(failing)
    direct = DirectText(doc, text, ORIGIN)
    with pytest.raises(ExceptionGroup) as raised:
        direct_replace(direct, 0, 0, "abc")
    assert isinstance(raised.value.exceptions[0], LookupError)
    assert str(text) == "abc"  # committed, as pycrdt commits
    assert doc._exceptions == []  # reported once, not again at the next transaction
    doc.unobserve(subscription)
    text.insert(3, "d")  # the document is usable afterwards
    assert str(text) == "abcd"


def test_a_rust_panic_inside_still_commits_and_frees_the_transaction() -> None:
    doc = Doc()
    text = doc.get("text", type=Text)
    direct = DirectText(doc, text, ORIGIN)
    with pytest.raises(BaseException) as raised:
        direct_replace(direct, 5, 9, "x")  # past the end: pycrdt panics
    assert type(raised.value).__name__ == "PanicException"
    text.insert(0, "still usable")
    assert str(text) == "still usable"


def test_cannot_open_inside_a_pycrdt_transaction() -> None:
    doc = Doc()
    text = doc.get("text", type=Text)
    direct = DirectText(doc, text, ORIGIN)
    with doc.transaction():
        with pytest.raises(RuntimeError, match="already open"):
            direct.begin()


def test_shared_document_keystrokes_match_pycrdts_public_api() -> None:
    """The document's own keystroke path, first non-ASCII edit included, against pycrdt."""
    document = SharedDocument("d", client_id=11, capture_timeout_ms=0)
    ours: list[bytes] = []
    document.subscribe_updates(lambda update, source: ours.append(update))
    doc, text, theirs, _ = observed(11)
    edits = [(0, 0, "hello"), (5, 0, " world"), (0, 1, "H"), (5, 0, " 🎉"), (8, 0, "é"), (0, 3, "")]
    for index, length, inserted in edits:
        before = str(text)
        start = len(before[:index].encode())
        end = len(before[:index + length].encode())
        public_replace(doc, text, start, end, inserted)
        document.replace(index, length, inserted)
    assert document.text == str(text)
    assert ours == theirs
