"""A shadow copy of a text widget's content, one entry per block (line), with cached lengths.

Qt reports an edit as `contentsChange(position, removed, added)` in UTF-16 units and the
region is not minimal; the binding reads the old text of the region from this shadow, diffs
it against the new text and converts positions between UTF-16 units and code points. Every
line caches its length in both units; lines are grouped in chunks whose cumulative lengths
are rebuilt lazily from the first changed chunk, so a keystroke costs O(line + chunks), never
O(document). Within one line, the unit conversions are those of `editor.core.offsets`.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from editor.core.offsets import index_from_utf16, utf16_length, utf16_offset

__all__ = ["LineShadow"]


def _utf16_len(line: str) -> int:
    return len(line) if line.isascii() else utf16_length(line)


class LineShadow:
    """Text as lines ("\\n" between them) with O(line + chunks) unit conversions and edits.

    Invariants: there is at least one chunk and one line; no chunk is empty; every chunk's
    cached sums equal the sums over its lines, where each line counts one extra unit for the
    "\\n" that ends it (the last line's is virtual, so lengths subtract one).
    """

    TARGET_LINES = 128
    MAX_LINES = 512

    def __init__(self, text: str = "") -> None:
        self._chunks: list[list[str]] = []
        self._chunk_u16: list[list[int]] = []  # UTF-16 length of each line, without "\n"
        self._sum_lines: list[int] = []
        self._sum_cp: list[int] = []
        self._sum_u16: list[int] = []
        # Cumulative ends per chunk; valid for chunks before `_valid_until`.
        self._end_lines: list[int] = []
        self._end_cp: list[int] = []
        self._end_u16: list[int] = []
        self._valid_until = 0
        self._set_chunks(0, 0, text.split("\n"))

    # -- queries -----------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The whole text (O(n): for checks, not per keystroke)."""
        return "\n".join(line for chunk in self._chunks for line in chunk)

    def __len__(self) -> int:
        """Length in code points."""
        self._refresh()
        return self._end_cp[-1] - 1

    @property
    def utf16_length(self) -> int:
        """Length in UTF-16 code units."""
        self._refresh()
        return self._end_u16[-1] - 1

    @property
    def line_count(self) -> int:
        """Number of lines (one more than the number of "\\n")."""
        self._refresh()
        return self._end_lines[-1]

    def line(self, number: int) -> str:
        """The text of line `number` (0-based), without its "\\n"."""
        chunk, within = self._locate_line(number)
        return self._chunks[chunk][within]

    def line_start(self, number: int) -> tuple[int, int]:
        """(code point index, UTF-16 offset) where line `number` starts."""
        chunk, within = self._locate_line(number)
        cp = self._end_cp[chunk] - self._sum_cp[chunk]
        u16 = self._end_u16[chunk] - self._sum_u16[chunk]
        lines = self._chunks[chunk]
        widths = self._chunk_u16[chunk]
        for i in range(within):
            cp += len(lines[i]) + 1
            u16 += widths[i] + 1
        return cp, u16

    def utf16_of(self, index: int) -> int:
        """UTF-16 offset of code point `index`; `ValueError` out of range."""
        number, column = self.locate(index)
        _, line_u16 = self.line_start(number)
        line = self.line(number)
        return line_u16 + (column if line.isascii() else utf16_offset(line, column))

    def index_of_utf16(self, offset: int) -> int:
        """Code point index of UTF-16 `offset`; `ValueError` out of range or inside a pair."""
        self._refresh()
        if not 0 <= offset <= self._end_u16[-1] - 1:
            raise ValueError(f"UTF-16 offset {offset} out of range 0..{self._end_u16[-1] - 1}")
        chunk = bisect_right(self._end_u16, offset)
        chunk = min(chunk, len(self._chunks) - 1)
        cp = self._end_cp[chunk] - self._sum_cp[chunk]
        u16 = self._end_u16[chunk] - self._sum_u16[chunk]
        for line, width in zip(self._chunks[chunk], self._chunk_u16[chunk]):
            if offset <= u16 + width:
                column = offset - u16
                return cp + (column if line.isascii() else index_from_utf16(line, column))
            cp += len(line) + 1
            u16 += width + 1
        raise AssertionError("chunk sums out of date")  # unreachable while invariants hold

    def locate(self, index: int) -> tuple[int, int]:
        """(line number, column in code points) of code point `index`."""
        self._refresh()
        if not 0 <= index <= self._end_cp[-1] - 1:
            raise ValueError(f"index {index} out of range 0..{self._end_cp[-1] - 1}")
        chunk = min(bisect_right(self._end_cp, index), len(self._chunks) - 1)
        number = self._end_lines[chunk] - self._sum_lines[chunk]
        cp = self._end_cp[chunk] - self._sum_cp[chunk]
        for line in self._chunks[chunk]:
            if index <= cp + len(line):
                return number, index - cp
            cp += len(line) + 1
            number += 1
        raise AssertionError("chunk sums out of date")  # unreachable while invariants hold

    def read_utf16(self, number: int, column16: int, length16: int) -> tuple[int, str]:
        """(column in code points, text) of the `length16` UTF-16 units from line `number`,
        UTF-16 column `column16`: the old text of a region Qt reports as changed."""
        line = self.line(number)
        column = column16 if line.isascii() else index_from_utf16(line, column16)
        pieces: list[str] = []
        remaining = length16
        rest = line[column:]
        while True:
            width = _utf16_len(rest)
            if remaining <= width:
                end = remaining if rest.isascii() else index_from_utf16(rest, remaining)
                pieces.append(rest[:end])
                return column, "".join(pieces)
            pieces.append(rest)
            pieces.append("\n")
            remaining -= width + 1
            number += 1
            rest = self.line(number)  # IndexError past the end: the caller's region is wrong

    # -- edits -------------------------------------------------------------------------

    def replace(self, index: int, deleted: int, inserted: str) -> None:
        """Replace `deleted` code points at `index` by `inserted`."""
        if deleted < 0:
            raise ValueError(f"negative length {deleted}")
        first, column = self.locate(index)
        last, end_column = self.locate(index + deleted) if deleted else (first, column)
        head = self.line(first)[:column]
        tail = self.line(last)[end_column:]
        new_lines = (head + inserted + tail).split("\n")
        first_chunk, first_within = self._locate_line(first)
        last_chunk, last_within = self._locate_line(last)
        if first_chunk == last_chunk:
            lines = self._chunks[first_chunk]
            merged = lines[:first_within] + new_lines + lines[last_within + 1 :]
        else:
            merged = (
                self._chunks[first_chunk][:first_within]
                + new_lines
                + self._chunks[last_chunk][last_within + 1 :]
            )
        self._set_chunks(first_chunk, last_chunk + 1, merged)

    # -- internals ---------------------------------------------------------------------

    def _locate_line(self, number: int) -> tuple[int, int]:
        self._refresh()
        if not 0 <= number < self._end_lines[-1]:
            raise IndexError(f"line {number} out of range 0..{self._end_lines[-1] - 1}")
        chunk = bisect_right(self._end_lines, number)
        return chunk, number - (self._end_lines[chunk] - self._sum_lines[chunk])

    def _set_chunks(self, start: int, stop: int, lines: list[str]) -> None:
        """Replace chunks[start:stop] by `lines`, re-chunked; never leaves the shadow empty."""
        if not lines and not (self._chunks[:start] or self._chunks[stop:]):
            lines = [""]
        if len(lines) <= self.MAX_LINES:
            pieces = [lines] if lines else []
        else:
            size = self.TARGET_LINES
            pieces = [lines[i : i + size] for i in range(0, len(lines), size)]
        widths = [[_utf16_len(line) for line in piece] for piece in pieces]
        self._chunks[start:stop] = pieces
        self._chunk_u16[start:stop] = widths
        self._sum_lines[start:stop] = [len(piece) for piece in pieces]
        self._sum_cp[start:stop] = [sum(map(len, piece)) + len(piece) for piece in pieces]
        self._sum_u16[start:stop] = [sum(w) + len(w) for w in widths]
        self._valid_until = min(self._valid_until, start)
        # Keep the stale tail the same length as the chunk list; `_refresh` rewrites it.
        for ends in (self._end_lines, self._end_cp, self._end_u16):
            ends[start:stop] = [0] * len(pieces)

    def _refresh(self) -> None:
        begin = self._valid_until
        count = len(self._chunks)
        if begin >= count:
            return
        for ends, sums in (
            (self._end_lines, self._sum_lines),
            (self._end_cp, self._sum_cp),
            (self._end_u16, self._sum_u16),
        ):
            base = ends[begin - 1] if begin else 0
            ends[begin:] = list(accumulate(sums[begin:], initial=base))[1:]
        self._valid_until = count

