"""Exact Yjs item ids for text positions, on top of pycrdt 0.14.13's StickyIndex.

Measured (pycrdt 0.14.13 / yrs 0.28): `Text` offsets count UTF-8 bytes while item clocks count
UTF-16 units, as in Yjs, and `StickyIndex` mixes the two:

- `StickyIndex.new(text, byte_offset)` walks the blocks by their byte length, then adds the
  *byte* distance into the block to the block's first clock;
- `StickyIndex.get_index()` adds the *clock* distance into the block to the block's byte start.

Both are exact at a block's first character and wherever the block's text before the position
is ASCII, and wrong (or a panic) after a multi-byte character in the same block. So this module
finds the start of the block around a position by probing those two functions, and counts the
rest itself in UTF-16 units.

Resolving (clock -> position) scans clock by clock down to the block start, which is exact:
within one block, `raw_byte(clock) - clock` is constant. The clock just before a block's first clock belongs to another block of the same
client; the constant can only continue across that boundary if that block is visible, directly
before, and ASCII (where bytes and UTF-16 units agree, so counting from there is still exact),
or deleted and sitting one ASCII byte before (likewise harmless): UTF-16 length never exceeds
UTF-8 length, with equality only for ASCII. Sparse probes are not enough: a look-alike block
of the same client can sit below a gap of other clocks. Past `_LINEAR_SCAN_LIMIT` clocks (a long
block) the rest is found by galloping, exact unless such a look-alike lies further down.

The byte-side search used to create an id can be fooled when an earlier non-ASCII block of the
same client happens to sit right before with the same byte/clock difference; every created id
is therefore checked with the clock-side resolution, and the candidates at each character
boundary are tried until one checks out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from pycrdt import Assoc, StickyIndex, Text

from editor.core.lib0 import read_state_vector
from editor.core.offsets import TextIndex

__all__ = ["AnchorNotFound", "ascii_item_id_at", "ascii_locate_unit", "item_id_at", "locate_unit"]

# Clocks scanned one by one before galloping (about 8 us per probe).
_LINEAR_SCAN_LIMIT: Final = 1024
# How many character boundaries to try when the fast search was fooled (rare; see above).
_MAX_FALLBACK_CANDIDATES: Final = 1024


class AnchorNotFound(RuntimeError):
    """No consistent item id could be derived for a position (pycrdt behaved unexpectedly)."""


def _raw_id(text: Text, byte_offset: int) -> tuple[int, int]:
    """pycrdt's (client, clock) for the byte offset (only exact at block starts / ASCII runs)."""
    item = StickyIndex.new(text, byte_offset, Assoc.AFTER).to_json()["item"]
    return item["client"], item["clock"]


def _raw_byte(text: Text, client: int, clock: int, assoc: Assoc = Assoc.AFTER) -> int:
    """pycrdt's byte offset for an id (only exact at block starts / ASCII runs / deletions)."""
    sticky = StickyIndex.from_json({"item": {"client": client, "clock": clock}, "assoc": int(assoc)}, text)
    return sticky.get_index()


def ascii_item_id_at(text: Text, char_index: int) -> tuple[int, int]:
    """`item_id_at` for a text whose visible characters are all ASCII: pycrdt's own id is exact
    there (bytes, UTF-16 units and code points agree), so no probing is needed."""
    return _raw_id(text, char_index)


def ascii_locate_unit(text: Text, client: int, clock: int) -> tuple[int, bool] | None:
    """`locate_unit` for a text whose visible characters are all ASCII (offsets are exact)."""
    if clock >= read_state_vector(text.doc.get_state()).get(client, 0):
        return None  # not integrated: pycrdt would panic
    base = _raw_byte(text, client, clock)
    visible = _raw_byte(text, client, clock, Assoc.BEFORE) == base + 1
    return base, visible


def _lowest_holding(upper: int, lower_bound: int, holds: Callable[[int], bool]) -> int:
    """The lowest x in [lower_bound, upper] such that `holds` is true from x up to `upper`,
    assuming `holds(upper)`: gallop down, then bisect."""
    good, step = upper, 1
    bad = lower_bound - 1
    while good > lower_bound:
        candidate = max(upper - step, lower_bound)
        if holds(candidate):
            good = candidate
            step *= 2
        else:
            bad = candidate
            break
    while good - bad > 1:
        middle = (good + bad) // 2
        if holds(middle):
            good = middle
        else:
            bad = middle
    return good


def _linear_lowest(upper: int, holds: Callable[[int], bool], limit: int) -> int | None:
    """The lowest x such that `holds` is true on all of [x, upper], scanning one at a time;
    None if that takes more than `limit` probes."""
    lowest = upper
    for _ in range(limit):
        if lowest == 0 or not holds(lowest - 1):
            return lowest
        lowest -= 1
    return None


def _fast_item_id(text: Text, index: TextIndex, char_index: int) -> tuple[int, int] | None:
    """Byte-side search for the id of the character at `char_index`, unchecked."""
    byte_offset = index.utf8_of(char_index)
    client, clock = _raw_id(text, byte_offset)
    shift = clock - byte_offset
    start_byte = _lowest_holding(byte_offset, 0, lambda b: _raw_id(text, b) == (client, b + shift))
    try:
        start_index = index.index_of_utf8(start_byte)
    except ValueError:
        return None  # a block never starts inside a character
    return client, start_byte + shift + index.utf16_of(char_index) - index.utf16_of(start_index)


def locate_unit(text: Text, index: TextIndex, client: int, clock: int) -> tuple[int, bool] | None:
    """(UTF-16 offset just before unit `clock` of `client`, whether that unit is visible), or
    None if it has not been integrated or the probes are inconsistent."""
    if clock >= read_state_vector(text.doc.get_state()).get(client, 0):
        return None  # not integrated: pycrdt would panic
    base = _raw_byte(text, client, clock)
    if _raw_byte(text, client, clock, Assoc.BEFORE) != base + 1:
        # A deleted unit resolves to where it was: pycrdt counts whole visible blocks only.
        try:
            return index.utf16_of(index.index_of_utf8(base)), False
        except ValueError:
            return None
    shift = base - clock

    def holds(candidate: int) -> bool:
        return _raw_byte(text, client, candidate) - candidate == shift

    def offset_from(start_clock: int) -> int | None:
        try:
            start_index = index.index_of_utf8(base - (clock - start_clock))
        except ValueError:
            return None
        offset = index.utf16_of(start_index) + (clock - start_clock)
        return offset if offset < index.utf16_length else None

    # Exact: scan clock by clock down to the block start. Past the limit (a long block), the
    # rest is found by galloping, which only a look-alike block further down could fool.
    start_clock = _linear_lowest(clock, holds, _LINEAR_SCAN_LIMIT)
    if start_clock is None:
        start_clock = _lowest_holding(clock - _LINEAR_SCAN_LIMIT, 0, holds)
    offset = offset_from(start_clock)
    return None if offset is None else (offset, True)


def item_id_at(text: Text, index: TextIndex, char_index: int) -> tuple[int, int]:
    """The Yjs id (client, clock) of the first UTF-16 unit of the character at `char_index`
    (which must be before the end of the text)."""
    target = index.utf16_of(char_index)
    found = _fast_item_id(text, index, char_index)
    if found is not None and locate_unit(text, index, *found) == (target, True):
        return found
    # Fooled by a look-alike block before the real one: try each character boundary before.
    byte_offset = index.utf8_of(char_index)
    client, clock = _raw_id(text, byte_offset)
    shift = clock - byte_offset
    first = max(0, char_index - _MAX_FALLBACK_CANDIDATES)
    for start_index in range(char_index, first - 1, -1):
        start_byte = index.utf8_of(start_index)
        if _raw_id(text, start_byte) != (client, start_byte + shift):
            break  # left the byte-linear run: the block start was passed
        candidate = start_byte + shift + target - index.utf16_of(start_index)
        if locate_unit(text, index, client, candidate) == (target, True):
            return client, candidate
    raise AnchorNotFound(f"no consistent item id for character {char_index}")
