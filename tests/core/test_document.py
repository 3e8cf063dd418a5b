"""SharedDocument: code-point edits, update stream, change stream, undo scope, error
translation at the pycrdt edge, anchors."""

from __future__ import annotations

import json
import random
import statistics
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor.core.document import (
    Assoc,
    ChangeOrigin,
    InvalidUpdate,
    SharedDocument,
    TextChange,
    TextDeleted,
    TextInserted,
    validate_anchor,
)

from .strategies import tricky_text


def make(client_id: int, text: str = "") -> SharedDocument:
    doc = SharedDocument("doc", client_id=client_id, capture_timeout_ms=0)
    if text:
        doc.insert(0, text)
    return doc


def sync(source: SharedDocument, target: SharedDocument, tag: object = "peer") -> None:
    target.apply_update(source.encode_state(since=target.state_vector()), tag)


def apply_changes(view: str, changes: list[TextChange]) -> str:
    for change in changes:
        if isinstance(change, TextInserted):
            view = view[: change.index] + change.text + view[change.index :]
        else:
            view = view[: change.index] + view[change.index + change.length :]
    return view


# -- local edits in code points ----------------------------------------------------------------


def test_edits_speak_code_points():
    doc = make(1, "a😀b中c")
    assert len(doc) == 5
    doc.insert(2, "👩\u200d👩\u200d👧")
    doc.delete(0, 2)
    doc.replace(5, 1, "文")
    assert doc.text == "👩\u200d👩\u200d👧文中c"
    assert len(doc) == len(doc.text)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.insert(6, "x"),
        lambda d: d.insert(-1, "x"),
        lambda d: d.delete(4, 2),
        lambda d: d.delete(0, -1),
        lambda d: d.replace(5, 1, "x"),
        lambda d: d.insert(0, "\ud800"),
    ],
)
def test_bad_local_input_raises_value_error_and_changes_nothing(edit):
    doc = make(1, "a😀b中c")
    before = (doc.text, doc.state_vector())
    updates = []
    doc.subscribe_updates(lambda u, s: updates.append(u))
    with pytest.raises(ValueError):
        edit(doc)
    assert (doc.text, doc.state_vector()) == before
    assert updates == []


def test_non_str_text_is_a_type_error():
    with pytest.raises(TypeError):
        make(1).insert(0, b"bytes")  # type: ignore[arg-type]


@given(tricky_text, tricky_text)
def test_set_text_reaches_the_new_text_in_one_update(old, new):
    doc = make(1, old)
    updates = []
    doc.subscribe_updates(lambda u, s: updates.append(u))
    doc.set_text(new)
    assert doc.text == new
    assert len(updates) == (0 if old == new else 1)


# -- the update stream ---------------------------------------------------------------------------


def test_update_stream_tags_sources_and_fires_once_per_transaction():
    a, b = make(1), make(2)
    seen_a, seen_b = [], []
    a.subscribe_updates(lambda u, s: seen_a.append((u, s)))
    b.subscribe_updates(lambda u, s: seen_b.append((u, s)))
    a.replace(0, 0, "héllo")
    a.replace(1, 2, "EY")  # delete + insert in one transaction
    assert [s for _, s in seen_a] == [None, None]
    for update, _ in seen_a:
        b.apply_update(update, "link-to-a")
    assert [s for _, s in seen_b] == ["link-to-a", "link-to-a"]
    assert b.text == a.text == "hEYlo"
    # A duplicate changes nothing and fires nothing.
    b.apply_update(seen_a[0][0], "link-to-a")
    assert len(seen_b) == 2


def test_delete_only_update_is_streamed_although_the_state_vector_stays():
    a = make(1, "abc")
    updates = []
    a.subscribe_updates(lambda u, s: updates.append(u))
    before = a.state_vector()
    a.delete(1, 1)
    assert a.state_vector() == before
    assert len(updates) == 1
    b = make(2)
    sync(make_copy := a, b)  # full state carries the delete set
    assert b.text == make_copy.text == "ac"


def test_empty_update_fires_nothing():
    a = make(1)
    fired = []
    a.subscribe_updates(lambda u, s: fired.append(u))
    assert a.apply_update(b"\x00\x00", "x") == []
    assert fired == []


def test_callbacks_run_after_the_transaction_and_may_edit_or_anchor():
    a, b = make(1, "abc"), make(2)
    order = []

    def on_update(update, source):
        order.append(("update", source))
        if source == "remote":
            # Legal only after the transaction: the document is free again.
            order.append(("anchor", b.resolve_anchor(b.anchor_at(1))))
            b.insert(0, ">")

    b.subscribe_updates(on_update)
    sync(a, b, "remote")
    assert b.text == ">abc"
    assert order == [("update", "remote"), ("anchor", 1), ("update", None)]


def test_unsubscribe_stops_delivery():
    doc = make(1)
    seen = []
    unsubscribe = doc.subscribe_updates(lambda u, s: seen.append(u))
    doc.insert(0, "a")
    unsubscribe()
    unsubscribe()  # idempotent
    doc.insert(0, "b")
    assert len(seen) == 1


# -- the change stream ---------------------------------------------------------------------------


def test_changes_are_not_reported_for_own_edits_but_for_remote_undo_redo():
    a, b = make(1), make(2)
    reported = []
    a.subscribe_changes(lambda changes, origin: reported.append((changes, origin)))
    a.insert(0, "中文")
    assert reported == []
    b.insert(0, "😀")
    sync(b, a)
    a.undo()
    a.redo()
    assert [origin for _, origin in reported] == [ChangeOrigin.REMOTE, ChangeOrigin.UNDO, ChangeOrigin.REDO]
    assert all(isinstance(c, TextInserted | TextDeleted) for changes, _ in reported for c in changes)


@settings(max_examples=60)
@given(tricky_text, st.lists(st.tuples(st.booleans(), st.floats(0, 1), st.floats(0, 1), tricky_text), max_size=12))
def test_a_view_patched_from_changes_matches_the_text(initial, edits):
    local, remote = make(1, initial), make(2)
    sync(local, remote)
    view = local.text
    patches: list[list[TextChange]] = []
    local.subscribe_changes(lambda changes, origin: patches.append(changes))
    for is_insert, where, size, text in edits:
        at = int(where * len(remote))
        if is_insert:
            remote.insert(at, text)
        else:
            remote.delete(at, int(size * (len(remote) - at)))
        returned = local.apply_update(remote.encode_state(since=local.state_vector()), "remote")
        assert returned == (patches[-1] if returned else [])
        for changes in patches:
            view = apply_changes(view, changes)
        patches.clear()
        assert view == local.text == remote.text


# -- undo scope ----------------------------------------------------------------------------------


def test_undo_never_removes_other_peers_text_and_reaches_them():
    a, b = make(1), make(2)
    a_updates = []
    a.subscribe_updates(lambda u, s: a_updates.append((u, s)))
    a.insert(0, "alpha ")
    sync(a, b)
    b.insert(len(b), "beta")
    sync(b, a)
    assert a.text == "alpha beta"
    assert a.undo() is True
    assert a.text == "beta"
    assert a.undo() is False  # B's insert is not A's to undo
    assert a.text == "beta"
    # The undo went out on the update stream like a local edit, and B applies it.
    undo_update, source = a_updates[-1]
    assert source is None
    b.apply_update(undo_update, "a")
    assert b.text == "beta"
    assert a.redo() is True
    sync(a, b)
    assert a.text == b.text == "alpha beta"


def test_capture_timeout_groups_quick_edits():
    grouped = SharedDocument("doc", client_id=1, capture_timeout_ms=60_000)
    grouped.insert(0, "a")
    grouped.insert(1, "b")
    grouped.undo()
    assert grouped.text == ""
    separate = make(2)
    separate.insert(0, "a")
    separate.insert(1, "b")
    separate.undo()
    assert separate.text == "a"


# -- invalid remote updates ------------------------------------------------------------------------


def corrupted_updates(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    source = make(7, "héllo 😀 wörld 中文 👩\u200d👩\u200d👧")
    source.delete(3, 4)
    source.insert(2, "ZZ")
    good = source.encode_state()
    out = [b"", b"\x00", b"\xff" * 12, b"garbage"]
    for _ in range(150):
        flipped = bytearray(good)
        position = rng.randrange(len(flipped))
        flipped[position] ^= 1 << rng.randrange(8)
        out.append(bytes(flipped))
        out.append(good[: rng.randrange(len(good))])
        out.append(rng.randbytes(rng.randrange(1, 40)))
    return out


def test_corrupt_updates_raise_invalid_update_and_leave_the_document_untouched():
    seed = random.randrange(2**32)
    rejected = 0
    for update in corrupted_updates(seed):
        doc = make(9, "base text")
        before = (doc.text, doc.state_vector(), doc.encode_state())
        try:
            doc.apply_update(update, "remote")
        except InvalidUpdate:
            rejected += 1
            assert (doc.text, doc.state_vector(), doc.encode_state()) == before, f"seed={seed} {update!r}"
        else:
            # Some bit flips still decode (another character, another clock): then the document
            # is merely a valid different one, and it stays usable.
            assert len(doc) == len(doc.text)
        doc.insert(0, "still usable")
    assert rejected > 100, f"seed={seed}"


@given(st.binary(max_size=64))
def test_no_bytes_make_apply_update_raise_anything_but_invalid_update(data):
    doc = make(9, "x")
    try:
        doc.apply_update(data, "remote")
    except InvalidUpdate:
        assert doc.text == "x"


def test_bytearray_updates_are_accepted():
    a, b = make(1, "abc"), make(2)
    b.apply_update(bytearray(a.encode_state()), "a")
    assert b.text == "abc"


def test_malformed_state_vector_is_a_value_error():
    with pytest.raises(ValueError):
        make(1, "abc").encode_state(since=b"\x05\x01")


# -- anchors -------------------------------------------------------------------------------------


def test_anchor_json_has_the_yjs_shape_and_survives_json():
    doc = make(1, "a😀b中c")
    anchor = doc.anchor_at(3)
    assert set(anchor) == {"item", "assoc"} and set(anchor["item"]) == {"client", "clock"}
    assert anchor["assoc"] == 0
    assert doc.resolve_anchor(json.loads(json.dumps(anchor))) == 3


@pytest.mark.parametrize("assoc", [Assoc.AFTER, Assoc.BEFORE])
@pytest.mark.parametrize("text", ["", "abc", "😀中"])
def test_anchors_at_the_ends_do_not_panic(text, assoc):
    doc = make(1, text)
    for index in (0, len(text)):
        anchor = doc.anchor_at(index, assoc)
        assert doc.resolve_anchor(anchor) == index
    end = doc.anchor_at(len(text), Assoc.AFTER)
    assert end == {"tname": "text", "assoc": 0}
    doc.insert(len(doc), "!!")
    assert doc.resolve_anchor(end) == len(doc)


def test_anchor_out_of_range_is_a_value_error():
    with pytest.raises(ValueError):
        make(1, "ab").anchor_at(3)


def test_anchors_move_with_local_and_remote_text():
    a, b = make(1, "hello world"), make(2)
    sync(a, b)
    anchor = a.anchor_at(6)  # before "world"
    before = a.anchor_at(5, Assoc.BEFORE)  # after "hello"
    b.insert(0, "😀😀 ")
    sync(b, a)
    assert a.resolve_anchor(anchor) == 9
    assert a.text[a.resolve_anchor(anchor):] == "world"
    a.insert(6, "中")  # inside "hello"
    assert a.text[: a.resolve_anchor(before)] == "😀😀 hel中lo"
    # Both anchors resolve the same on the other replica.
    sync(a, b)
    assert b.resolve_anchor(anchor) == a.resolve_anchor(anchor)
    # Text around an anchor deleted: it collapses to the deletion point.
    a.delete(6, 6)
    assert a.resolve_anchor(anchor) == 6


def test_anchor_whose_character_has_not_arrived_resolves_to_none():
    a, c = make(1, "abc"), make(3)
    anchor = a.anchor_at(1)
    assert c.resolve_anchor(anchor) is None
    sync(a, c)
    assert c.resolve_anchor(anchor) == 1


@pytest.mark.parametrize(
    "anchor",
    [
        {"type": {"client": 1, "clock": 0}, "assoc": 0},
        {"tname": "other", "assoc": 0},
        {"item": {"client": 5, "clock": 10**6}, "assoc": -1},
    ],
)
def test_anchors_for_other_types_or_missing_items_resolve_to_none(anchor):
    assert make(1, "abc").resolve_anchor(anchor) is None


@pytest.mark.parametrize(
    "bad",
    [None, [], "x", {}, {"foo": 1}, {"item": {"client": -1, "clock": 0}},
     {"item": {"client": 1, "clock": "0"}}, {"item": {"client": 1}}, {"tname": "text", "assoc": "0"},
     {"item": {"client": True, "clock": 0}}, {"item": {"client": 2**60, "clock": 0}}],
)
def test_malformed_anchors_are_value_errors(bad):
    with pytest.raises(ValueError):
        validate_anchor(bad)
    with pytest.raises(ValueError):
        make(1, "abc").resolve_anchor(bad)


def test_anchor_calls_from_inside_a_pycrdt_observer_are_refused_not_panicking():
    doc = make(1, "abc")
    refused = []

    def raw_observer(event):
        for call in (lambda: doc.anchor_at(0), lambda: doc.resolve_anchor({"tname": "text"})):
            try:
                call()
            except RuntimeError as exc:
                refused.append(str(exc))

    doc._text.observe(raw_observer)  # reaching inside on purpose: nothing public runs here
    doc.insert(0, "x")
    assert len(refused) == 2


# -- cost on a large document ----------------------------------------------------------------------


def test_keystroke_bookkeeping_does_not_scale_with_the_document():
    """Typing and applying remote keystrokes on a 1 MB emoji/CJK document costs about what it
    costs on a small one (pycrdt's own work included): ratios measured in the same run."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)

    def median_keystroke(text: str) -> float:
        local, remote = make(1, text), make(2)
        sync(local, remote)
        updates = []
        local.subscribe_updates(lambda u, s: updates.append(u))
        at = rng.randrange(len(text))
        times = []
        for i in range(200):
            started = time.perf_counter()
            local.insert(at + i, "字")
            remote.apply_update(updates[-1], "local")
            times.append(time.perf_counter() - started)
        assert remote.text == local.text
        return statistics.median(times)

    pieces = ["😀", "中", "文", "a", "\n"]
    small = median_keystroke("".join(rng.choice(pieces) for _ in range(1_000)))
    large = median_keystroke("".join(rng.choice(pieces) for _ in range(400_000)))
    print(f"seed={seed} keystroke median small {small * 1e6:.0f} us, 1 MB {large * 1e6:.0f} us")
    assert large < max(10 * small, 0.5e-3), f"seed={seed}"


def test_update_that_releases_held_structs_is_not_tagged_with_its_source():
    """Structs held for a missing dependency may have come from another peer: the update that
    releases them must reach the releasing peer too, so the relay may not skip it."""
    a, b = make(1), make(2)
    updates = []
    a.subscribe_updates(lambda u, s: updates.append(u))
    a.insert(0, "ab")
    a.insert(2, "cd")
    seen = []
    b.subscribe_updates(lambda u, s: seen.append(s))
    b.apply_update(updates[1], "from-c")  # depends on updates[0]: held, nothing fires
    assert b.text == "" and seen == []
    b.apply_update(updates[0], "from-a")
    assert b.text == "abcd"
    assert seen == [None]
    b.insert(0, "x")
    a.apply_update(b.encode_state(since=a.state_vector()), "b")
    b.apply_update(a.encode_state(), "from-a")  # nothing held any more: tagged as usual
    a.insert(0, "y")
    b.apply_update(updates[-1], "from-a")
    assert seen[-1] == "from-a"


def test_updates_heard_out_of_order_all_integrate_once_their_dependencies_arrive():
    """pycrdt alone leaves the second of three updates pending for good when they arrive newest
    first and the newest also waits for others (as over two paths of a mesh)."""
    a, b = make(1, "base text\n"), make(2)
    sync(a, b)
    updates = []
    a.subscribe_updates(lambda u, s: updates.append(u))
    a.insert(len(a.text), "t")
    a.insert(len(a.text), " ")
    for _ in range(5):
        a.insert(len(a.text), "x")  # still on their way
    a.insert(3, "C")
    view = b.text
    for update in (updates[-1], updates[1], updates[0]):
        view = apply_changes(view, b.apply_update(update, "a"))
    assert b.text.endswith("t ") and view == b.text
    for update in updates[2:-1]:
        view = apply_changes(view, b.apply_update(update, "a"))
    assert b.text == a.text == "basCe text\nt xxxxx" and view == b.text
    assert b.state_vector() == a.state_vector()


def test_the_first_non_ascii_character_switches_to_chunked_offsets_everywhere() -> None:
    """ASCII text is indexed by length alone; the first emoji (local or remote) must bring
    exact conversions for everything after it."""
    from editor.core.document import SharedDocument

    local, remote = SharedDocument("a", capture_timeout_ms=0), SharedDocument("b", capture_timeout_ms=0)
    remote.subscribe_updates(lambda update, source: local.apply_update(update, "remote"))
    seen = []
    local.subscribe_changes(lambda changes, origin: seen.extend(changes))
    local.insert(0, "plain ascii text")
    remote.apply_update(local.encode_state(), "local")
    remote.insert(6, "😀é")  # reaches `local` as a remote update while it is still ASCII-only
    assert local.text == "plain 😀éascii text"
    assert seen[-1].index == 6 and seen[-1].text == "😀é"
    local.insert(len(local), "!")
    local.delete(6, 1)  # the emoji: one code point, four UTF-8 bytes
    assert local.text == "plain éascii text!"
    local.undo()
    assert local.text == "plain 😀éascii text!"
    assert local.resolve_anchor(local.anchor_at(8)) == 8


# -- embeds and formatting from foreign Yjs clients ---------------------------------------------


def _foreign_replica(doc: SharedDocument):
    """A bare pycrdt replica of `doc`, standing for a Yjs client that uses rich-text features."""
    from pycrdt import Doc, Text

    foreign = Doc()
    text = foreign.get("text", type=Text)
    foreign.apply_update(doc.encode_state())
    return foreign, text


def _foreign_byte_offset(text, index: int) -> int:
    """pycrdt's offset of code point `index` of the plain text (each embed counts one)."""
    offset = 0
    for content, _attributes in text.diff():
        if not isinstance(content, str):
            offset += 1
            continue
        if index <= len(content):
            return offset + len(content[:index].encode())
        offset += len(content.encode())
        index -= len(content)
    return offset


@settings(max_examples=60)
@given(tricky_text, st.lists(st.tuples(st.sampled_from(["embed", "map", "bold", "text"]),
                                       st.floats(0, 1), tricky_text), min_size=1, max_size=6))
def test_embeds_from_a_foreign_client_are_removed_everywhere_and_formatting_is_ignored(initial, edits):
    from pycrdt import Map

    local = make(1, initial)
    foreign, ftext = _foreign_replica(local)
    view = local.text
    patches: list[list[TextChange]] = []
    local.subscribe_changes(lambda changes, origin: patches.append(changes))
    sent_back: list[tuple[bytes, object]] = []
    local.subscribe_updates(lambda update, source: sent_back.append((update, source)))
    before = foreign.get_state()
    with foreign.transaction():
        for kind, where, text in edits:
            plain = str(ftext)
            at = _foreign_byte_offset(ftext, int(where * len(plain)))
            if kind == "embed":
                ftext.insert_embed(at, {"image": "cat.png"})
            elif kind == "map":
                ftext.insert_embed(at, Map({"k": 1}))
            elif kind == "bold":
                end = _foreign_byte_offset(ftext, len(plain))
                if end > at:
                    ftext.format(at, end, {"bold": True})  # start and stop, in pycrdt's offsets
            else:
                ftext.insert(at, text, {"italic": True})
    expected = str(ftext)
    local.apply_update(foreign.get_update(before), "foreign")
    assert local.text == expected and len(local) == len(expected)
    for changes in patches:
        view = apply_changes(view, changes)
    assert view == expected
    # The removal goes to every peer, the foreign client included, and leaves it plain text.
    for update, source in sent_back:
        foreign.apply_update(update)
    assert [content for content, _ in ftext.diff() if not isinstance(content, str)] == []
    assert str(ftext) == expected
    # Positions stay right afterwards.
    local.insert(len(local), "end")
    local.insert(0, "start")
    assert local.text == "start" + expected + "end"
    if any(kind in ("embed", "map") for kind, _, _ in edits):
        assert any(source is None for _, source in sent_back)
