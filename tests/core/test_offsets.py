"""Unit conversions: the naive functions against the encoders, TextIndex against the naive
functions, and TextIndex cost on a large emoji/CJK text."""

from __future__ import annotations

import random
import statistics
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from editor.core.offsets import (
    AsciiIndex,
    TextIndex,
    index_from_utf8,
    index_from_utf16,
    utf8_length,
    utf8_offset,
    utf16_length,
    utf16_offset,
)

from .strategies import tricky_text


def test_known_values():
    text = "a😀b中c"
    assert utf8_length(text) == 10
    assert utf16_length(text) == 6
    assert [utf8_offset(text, i) for i in range(6)] == [0, 1, 5, 6, 9, 10]
    assert [utf16_offset(text, i) for i in range(6)] == [0, 1, 3, 4, 5, 6]
    assert index_from_utf8(text, 5) == 2
    assert index_from_utf16(text, 3) == 2


@pytest.mark.parametrize("offset", [2, 3, 4, 7, 8])
def test_utf8_offset_inside_character_is_rejected(offset):
    with pytest.raises(ValueError, match="inside a character"):
        index_from_utf8("a😀b中c", offset)


def test_utf16_offset_inside_surrogate_pair_is_rejected():
    with pytest.raises(ValueError, match="inside a character"):
        index_from_utf16("a😀b", 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: utf8_offset("abc", 4),
        lambda: utf8_offset("abc", -1),
        lambda: utf16_offset("abc", 4),
        lambda: index_from_utf8("abc", 4),
        lambda: index_from_utf8("abc", -1),
        lambda: index_from_utf16("a😀", 4),
        lambda: utf8_length("a\ud800"),
        lambda: TextIndex("abc").insert(0, "\udc00"),
    ],
)
def test_out_of_range_and_lone_surrogates_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


@given(tricky_text, st.data())
def test_naive_conversions_match_the_encoders(text, data):
    index = data.draw(st.integers(0, len(text)))
    u8 = utf8_offset(text, index)
    u16 = utf16_offset(text, index)
    assert u8 == len(text[:index].encode("utf-8"))
    assert u16 == len(text[:index].encode("utf-16-le")) // 2
    assert index_from_utf8(text, u8) == index
    assert index_from_utf16(text, u16) == index


@given(tricky_text, st.data())
def test_every_byte_offset_either_converts_exactly_or_is_rejected(text, data):
    encoded = text.encode("utf-8")
    offset = data.draw(st.integers(0, len(encoded)))
    try:
        index = index_from_utf8(text, offset)
    except ValueError:
        with pytest.raises(UnicodeDecodeError):
            encoded[:offset].decode("utf-8")
    else:
        assert text[:index].encode("utf-8") == encoded[:offset]


class SmallChunks(TextIndex):
    """Tiny chunks so that short texts cross many chunk boundaries."""

    TARGET_CHUNK = 4
    MAX_CHUNK = 8


def check_index_against_naive(index: TextIndex, text: str) -> None:
    assert index.text == text
    assert len(index) == len(text)
    assert index.utf8_length == utf8_length(text)
    assert index.utf16_length == utf16_length(text)
    for i in range(len(text) + 1):
        u8, u16 = utf8_offset(text, i), utf16_offset(text, i)
        assert index.utf8_of(i) == u8
        assert index.utf16_of(i) == u16
        assert index.index_of_utf8(u8) == i
        assert index.index_of_utf16(u16) == i
    for offset in range(utf8_length(text) + 1):
        try:
            expected = index_from_utf8(text, offset)
        except ValueError:
            with pytest.raises(ValueError):
                index.index_of_utf8(offset)
        else:
            assert index.index_of_utf8(offset) == expected
    for bad in (-1, len(text) + 1):
        with pytest.raises(ValueError):
            index.utf8_of(bad)
    with pytest.raises(ValueError):
        index.index_of_utf16(utf16_length(text) + 1)


edit_ops = st.lists(
    st.tuples(st.booleans(), st.floats(0, 1), st.floats(0, 1), tricky_text), max_size=25
)


@settings(max_examples=150)
@given(tricky_text, edit_ops)
def test_text_index_follows_edits_like_a_plain_string(initial, ops):
    index = SmallChunks(initial)
    text = initial
    check_index_against_naive(index, text)
    for is_insert, where, size, inserted in ops:
        at = int(where * len(text))
        if is_insert:
            index.insert(at, inserted)
            text = text[:at] + inserted + text[at:]
        else:
            length = int(size * (len(text) - at))
            index.delete(at, length)
            text = text[:at] + text[at + length :]
        assert index.text == text
    check_index_against_naive(index, text)


@settings(max_examples=150)
@given(tricky_text, st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), tricky_text), max_size=25))
def test_replace_and_utf8_span_match_a_plain_string(initial, ops):
    """`utf8_span` then `replace`, as a keystroke uses them, on both kinds of index (the ASCII
    one sees the same edits with the text made ASCII)."""
    index, ascii_index = SmallChunks(initial), AsciiIndex(len(initial.encode("ascii", "replace")))
    text = initial
    for where, size, inserted in ops:
        at = int(where * len(text))
        length = int(size * (len(text) - at))
        assert index.utf8_span(at, length) == (utf8_offset(text, at), utf8_offset(text, at + length))
        assert ascii_index.utf8_span(at, length) == (at, at + length)
        index.replace(at, length, inserted)
        ascii_index.replace(at, length, inserted.encode("ascii", "replace").decode())
        text = text[:at] + inserted + text[at + length:]
        assert index.text == text and len(ascii_index) == len(text)
    for bad_start, bad_length in ((-1, 0), (0, len(text) + 1), (len(text), -1)):
        for checked in (index, ascii_index):
            with pytest.raises(ValueError):
                checked.utf8_span(bad_start, bad_length)
            with pytest.raises(ValueError):
                checked.replace(bad_start, bad_length, "x")
    with pytest.raises(ValueError):
        ascii_index.replace(0, 0, "é")
    assert index.text == text and len(ascii_index) == len(text)


def test_text_index_rejects_bad_edits_without_changing():
    index = TextIndex("a😀b")
    for call in (lambda: index.insert(4, "x"), lambda: index.delete(2, 2), lambda: index.delete(0, -1)):
        with pytest.raises(ValueError):
            call()
    assert index.text == "a😀b"


def test_text_index_keystroke_cost_on_1mb_emoji_cjk_text():
    """Per-keystroke work (edit + conversions) must not grow with the text: compare against
    the naive O(n) conversion on the same text, in the same run (ratios, not absolute times)."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    pieces = ["😀", "中", "文", "a", "👍🏽", "\n", "é"]
    text = "".join(rng.choice(pieces) for _ in range(350_000))
    assert utf8_length(text) > 1_000_000
    index = TextIndex(text)

    def keystroke_indexed() -> float:
        at = rng.randrange(len(index))
        started = time.perf_counter()
        index.insert(at, "字")
        u8 = index.utf8_of(at)
        index.index_of_utf8(u8)
        index.utf16_of(at)
        return time.perf_counter() - started

    def conversion_naive() -> float:
        at = rng.randrange(len(text))
        started = time.perf_counter()
        utf8_offset(text, at)
        return time.perf_counter() - started

    indexed = statistics.median(keystroke_indexed() for _ in range(400))
    naive = statistics.median(conversion_naive() for _ in range(40))
    print(f"seed={seed} indexed median {indexed * 1e6:.1f} us, naive median {naive * 1e6:.1f} us")
    assert indexed < naive / 5, f"seed={seed}: indexed {indexed:.6f}s vs naive {naive:.6f}s"
    assert indexed < 0.5e-3
