"""Text offsets in three units: code points (Python), UTF-8 bytes (pycrdt), UTF-16 units (Qt).

Every conversion between units in Chorus lives here. An offset out of range, or one that falls
inside a character (between the bytes of one UTF-8 sequence, or between the two halves of a
UTF-16 surrogate pair), raises `ValueError`. Text holding lone surrogates cannot be encoded
and is rejected with `ValueError` too.

The module-level functions cost O(len(text)). `TextIndex` keeps a text in chunks with cached
lengths, so that the same conversions on a large, frequently edited text cost O(log chunks +
chunk size) instead of O(len(text)).
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate

__all__ = [
    "TextIndex",
    "index_from_utf16",
    "index_from_utf8",
    "utf16_length",
    "utf16_offset",
    "utf8_length",
    "utf8_offset",
]

_UTF16 = "utf-16-le"


def _encode(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise ValueError(f"text is not valid Unicode (lone surrogate at {exc.start})") from None


def _check_index(index: int, length: int) -> None:
    if not 0 <= index <= length:
        raise ValueError(f"index {index} out of range 0..{length}")


def utf8_length(text: str) -> int:
    """Length of `text` in UTF-8 bytes."""
    return len(_encode(text, "utf-8"))


def utf16_length(text: str) -> int:
    """Length of `text` in UTF-16 code units."""
    return len(_encode(text, _UTF16)) // 2


def utf8_offset(text: str, index: int) -> int:
    """UTF-8 byte offset of code point `index` in `text`."""
    _check_index(index, len(text))
    return utf8_length(text[:index])


def utf16_offset(text: str, index: int) -> int:
    """UTF-16 code unit offset of code point `index` in `text`."""
    _check_index(index, len(text))
    return utf16_length(text[:index])


def _index_from_utf8_bytes(data: bytes, offset: int) -> int:
    if not 0 <= offset <= len(data):
        raise ValueError(f"UTF-8 offset {offset} out of range 0..{len(data)}")
    # A continuation byte (0b10xxxxxx) at the offset means it splits a multi-byte sequence.
    if offset < len(data) and data[offset] & 0xC0 == 0x80:
        raise ValueError(f"UTF-8 offset {offset} falls inside a character")
    return len(data[:offset].decode("utf-8"))


def _index_from_utf16_bytes(data: bytes, offset: int) -> int:
    units = len(data) // 2
    if not 0 <= offset <= units:
        raise ValueError(f"UTF-16 offset {offset} out of range 0..{units}")
    # A low surrogate (DC00..DFFF) at the offset means it splits a surrogate pair.
    if offset < units and 0xDC <= data[2 * offset + 1] <= 0xDF:
        raise ValueError(f"UTF-16 offset {offset} falls inside a character")
    return len(data[: 2 * offset].decode(_UTF16))


def index_from_utf8(text: str, offset: int) -> int:
    """Code point index of UTF-8 byte `offset` in `text`."""
    return _index_from_utf8_bytes(_encode(text, "utf-8"), offset)


def index_from_utf16(text: str, offset: int) -> int:
    """Code point index of UTF-16 code unit `offset` in `text`."""
    return _index_from_utf16_bytes(_encode(text, _UTF16), offset)


class TextIndex:
    """A text kept in chunks with cached UTF-8/UTF-16 lengths: sub-linear offset conversions.

    Invariants: no chunk is empty; every chunk holds at most `MAX_CHUNK` code points; chunk
    boundaries fall between code points, so they are valid offsets in every unit. Prefix sums
    of the three lengths are rebuilt lazily (in C, via `accumulate`) from the first chunk that
    changed, so an edit costs O(chunk) and the next lookup O(chunks) at C speed plus a bisect.
    """

    TARGET_CHUNK = 1024
    MAX_CHUNK = 2048

    def __init__(self, text: str = "") -> None:
        self._chunks: list[str] = []
        self._cp_lens: list[int] = []
        self._u8_lens: list[int] = []
        self._u16_lens: list[int] = []
        # Cumulative end offsets per chunk, valid for chunks before `_valid_until`.
        self._cp_ends: list[int] = []
        self._u8_ends: list[int] = []
        self._u16_ends: list[int] = []
        self._valid_until = 0
        self._length = 0
        # Totals kept per edit: when both equal the length, the text is ASCII and every
        # conversion is the identity (the common case for source code: no chunk lookups).
        self._u8_total = 0
        self._u16_total = 0
        if text:
            self.insert(0, text)

    # -- queries -------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The whole text (O(n): for checks and snapshots, not per keystroke)."""
        return "".join(self._chunks)

    def __len__(self) -> int:
        return self._length

    @property
    def utf8_length(self) -> int:
        """Length of the text in UTF-8 bytes."""
        return self._u8_total

    @property
    def utf16_length(self) -> int:
        """Length of the text in UTF-16 code units."""
        return self._u16_total

    def utf8_of(self, index: int) -> int:
        """UTF-8 byte offset of code point `index`."""
        if self._u8_total == self._length:
            _check_index(index, self._length)
            return index
        chunk, within = self._locate_index(index)
        if chunk < 0:
            return 0
        start = self._u8_ends[chunk] - self._u8_lens[chunk]
        return start + utf8_length(self._chunks[chunk][:within])

    def utf16_of(self, index: int) -> int:
        """UTF-16 code unit offset of code point `index`."""
        if self._u16_total == self._length:
            _check_index(index, self._length)
            return index
        chunk, within = self._locate_index(index)
        if chunk < 0:
            return 0
        start = self._u16_ends[chunk] - self._u16_lens[chunk]
        return start + utf16_length(self._chunks[chunk][:within])

    def utf8_span(self, index: int, length: int) -> tuple[int, int]:
        """UTF-8 byte offsets of the start and end of `length` code points at `index`."""
        if length < 0:
            raise ValueError(f"negative length {length}")
        return self.utf8_of(index), self.utf8_of(index + length)

    def index_of_utf8(self, offset: int) -> int:
        """Code point index of UTF-8 byte `offset`."""
        if self._u8_total == self._length:
            if not 0 <= offset <= self._length:
                raise ValueError(f"UTF-8 offset {offset} out of range 0..{self._length}")
            return offset
        self._refresh()
        total = self._u8_ends[-1] if self._u8_ends else 0
        if not 0 <= offset <= total:
            raise ValueError(f"UTF-8 offset {offset} out of range 0..{total}")
        if not self._chunks:
            return 0
        chunk = bisect_left(self._u8_ends, offset)
        start = self._u8_ends[chunk] - self._u8_lens[chunk]
        data = self._chunks[chunk].encode("utf-8")
        cp_start = self._cp_ends[chunk] - self._cp_lens[chunk]
        return cp_start + _index_from_utf8_bytes(data, offset - start)

    def index_of_utf16(self, offset: int) -> int:
        """Code point index of UTF-16 code unit `offset`."""
        if self._u16_total == self._length:
            if not 0 <= offset <= self._length:
                raise ValueError(f"UTF-16 offset {offset} out of range 0..{self._length}")
            return offset
        self._refresh()
        total = self._u16_ends[-1] if self._u16_ends else 0
        if not 0 <= offset <= total:
            raise ValueError(f"UTF-16 offset {offset} out of range 0..{total}")
        if not self._chunks:
            return 0
        chunk = bisect_left(self._u16_ends, offset)
        start = self._u16_ends[chunk] - self._u16_lens[chunk]
        data = self._chunks[chunk].encode(_UTF16)
        cp_start = self._cp_ends[chunk] - self._cp_lens[chunk]
        return cp_start + _index_from_utf16_bytes(data, offset - start)

    # -- edits ---------------------------------------------------------------------------

    def insert(self, index: int, text: str) -> None:
        """Insert `text` before code point `index`."""
        _check_index(index, self._length)
        if not text:
            return
        _encode(text, "utf-8")  # reject lone surrogates before touching any state
        if not self._chunks:
            self._replace_chunks(0, 0, text)
            return
        chunk, within = self._locate_index(index)
        old = self._chunks[chunk]
        self._replace_chunks(chunk, chunk + 1, old[:within] + text + old[within:])

    def delete(self, index: int, length: int) -> None:
        """Delete `length` code points starting at code point `index`."""
        if length < 0:
            raise ValueError(f"negative length {length}")
        _check_index(index, self._length)
        _check_index(index + length, self._length)
        if length == 0:
            return
        first, first_within = self._locate_index(index)
        # Locate the end inside the chunk that holds the last deleted code point.
        last, last_within = self._locate_index(index + length)
        if last_within == 0:
            last -= 1
            last_within = self._cp_lens[last]
        merged = self._chunks[first][:first_within] + self._chunks[last][last_within:]
        self._replace_chunks(first, last + 1, merged)

    def replace(self, index: int, length: int, text: str) -> None:
        """Delete `length` code points at `index`, then insert `text` there."""
        self.delete(index, length)
        self.insert(index, text)

    # -- internals -----------------------------------------------------------------------

    def _locate_index(self, index: int) -> tuple[int, int]:
        """(chunk, offset within chunk) of code point `index`; a chunk end, not the next start."""
        _check_index(index, self._length)
        self._refresh()
        if not self._chunks:
            return -1, 0
        chunk = bisect_left(self._cp_ends, index)
        return chunk, index - (self._cp_ends[chunk] - self._cp_lens[chunk])

    def _replace_chunks(self, start: int, stop: int, text: str) -> None:
        """Replace chunks[start:stop] by `text`, re-split into chunks and merged with a small
        right neighbour so that chunk counts stay proportional to the text length."""
        if text and len(text) < self.TARGET_CHUNK // 4 and stop < len(self._chunks):
            neighbour = self._chunks[stop]
            if len(text) + len(neighbour) <= self.MAX_CHUNK:
                text += neighbour
                stop += 1
        if len(text) <= self.MAX_CHUNK:
            pieces = [text] if text else []
        else:
            size = self.TARGET_CHUNK
            pieces = [text[i : i + size] for i in range(0, len(text), size)]
        cp_lens = [len(p) for p in pieces]
        u8_lens = [len(p.encode("utf-8")) for p in pieces]
        u16_lens = [len(p.encode(_UTF16)) // 2 for p in pieces]
        self._length += sum(cp_lens) - sum(self._cp_lens[start:stop])
        self._u8_total += sum(u8_lens) - sum(self._u8_lens[start:stop])
        self._u16_total += sum(u16_lens) - sum(self._u16_lens[start:stop])
        self._chunks[start:stop] = pieces
        self._cp_lens[start:stop] = cp_lens
        self._u8_lens[start:stop] = u8_lens
        self._u16_lens[start:stop] = u16_lens
        self._valid_until = min(self._valid_until, start)

    def _refresh(self) -> None:
        """Bring the cumulative end offsets up to date from the first changed chunk."""
        count = len(self._chunks)
        begin = self._valid_until
        if begin >= count and len(self._cp_ends) == count:
            return
        for ends, lens in (
            (self._cp_ends, self._cp_lens),
            (self._u8_ends, self._u8_lens),
            (self._u16_ends, self._u16_lens),
        ):
            base = ends[begin - 1] if begin > 0 else 0
            ends[begin:] = accumulate(lens[begin:], initial=base)
            del ends[begin]  # drop the `initial` element
        self._valid_until = count


class AsciiIndex:
    """The index of a text known to be pure ASCII, where a code point is one UTF-8 byte and one
    UTF-16 unit: only the length is kept, every conversion is the identity.

    A document starts with one and swaps in a `TextIndex` built from its text when the first
    non-ASCII character arrives (`insert` refuses such text): most source code never pays for
    chunk upkeep.
    """

    def __init__(self, length: int = 0) -> None:
        self._length = length

    def __len__(self) -> int:
        return self._length

    @property
    def utf8_length(self) -> int:
        return self._length

    @property
    def utf16_length(self) -> int:
        return self._length

    def utf8_of(self, index: int) -> int:
        _check_index(index, self._length)
        return index

    utf16_of = utf8_of

    def utf8_span(self, index: int, length: int) -> tuple[int, int]:
        if length < 0 or not 0 <= index <= index + length <= self._length:
            raise ValueError(f"range {index}+{length} out of 0..{self._length}")
        return index, index + length

    def index_of_utf8(self, offset: int) -> int:
        if not 0 <= offset <= self._length:
            raise ValueError(f"offset {offset} out of range 0..{self._length}")
        return offset

    index_of_utf16 = index_of_utf8

    def insert(self, index: int, text: str) -> None:
        """Insert ASCII `text` (`ValueError` for anything else: use a `TextIndex` then)."""
        _check_index(index, self._length)
        if not text.isascii():
            raise ValueError("an AsciiIndex holds ASCII text only")
        self._length += len(text)

    def delete(self, index: int, length: int) -> None:
        if length < 0:
            raise ValueError(f"negative length {length}")
        _check_index(index, self._length)
        _check_index(index + length, self._length)
        self._length -= length

    def replace(self, index: int, length: int, text: str) -> None:
        """Delete `length` code points at `index`, then insert ASCII `text` there (one call
        per keystroke, so the checks are done once)."""
        if length < 0 or not 0 <= index <= index + length <= self._length:
            raise ValueError(f"range {index}+{length} out of 0..{self._length}")
        if not text.isascii():
            raise ValueError("an AsciiIndex holds ASCII text only")
        self._length += len(text) - length
