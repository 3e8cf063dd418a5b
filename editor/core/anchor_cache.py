"""Where recently used anchors are, kept in step with the text.

Creating or resolving an anchor on non-ASCII text costs pycrdt probes (milliseconds inside a
long run typed by one person, see `editor.core.anchors`), and an editor does both all the time:
its own caret for presence on every move, every participant's caret after every change. Between
two calls the character an anchor sticks to usually stays the same (typing before a character
moves it, it does not replace it), so the document remembers the code point index of each
recently used anchor's character and moves it through every change the text goes through.

That is exact: the changes are the text's own deltas, in order, and a character that still
exists keeps its place among the others. A character that is deleted is forgotten, because where
a deleted character "is" depends on CRDT order that the deltas do not show; the next call for
that anchor probes pycrdt again. Pure bookkeeping: no pycrdt here.
"""

from __future__ import annotations

from typing import Final

__all__ = ["AnchorCache"]

DEFAULT_CAPACITY: Final = 64  # a few carets and selection ends per participant


class AnchorCache:
    """Anchors and the code point index of the character each sticks to: the character at the
    position for AFTER, the one before it for BEFORE. Least recently used entries go first when
    full.

    Only anchors that `anchor_at` created answer `item_at`: a resolved anchor may reach its
    character through Yjs's redo chain (an undone deletion gives the text new items, and anchors
    to the old ones follow them), so its id is not the one `anchor_at` would create there."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"the capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        # (client, clock, after) -> index of the character the anchor sticks to
        self._chars: dict[tuple[int, int, bool], int] = {}
        self._created: set[tuple[int, int, bool]] = set()  # the keys `anchor_at` made

    def __len__(self) -> int:
        return len(self._chars)

    def remember(self, client: int, clock: int, after: bool, position: int, *, created: bool) -> None:
        """The anchor (client, clock, after) is at code point `position` now; `created`: it is
        the one `anchor_at` makes for that position."""
        key = (client, clock, after)
        self._chars.pop(key, None)
        if len(self._chars) >= self.capacity:
            self._forget(next(iter(self._chars)))
        self._chars[key] = position if after else position - 1
        if created:
            self._created.add(key)

    def position(self, client: int, clock: int, after: bool) -> int | None:
        """Where the anchor is now, or None if it is not known."""
        key = (client, clock, after)
        char = self._chars.pop(key, None)
        if char is None:
            return None
        self._chars[key] = char  # most recently used
        return char if after else char + 1

    def item_at(self, position: int, after: bool) -> tuple[int, int] | None:
        """The (client, clock) of a known anchor at `position` with that side, or None."""
        char = position if after else position - 1
        chars = self._chars
        for key in self._created:
            if key[2] == after and chars[key] == char:
                return key[0], key[1]
        return None

    def clear(self) -> None:
        self._chars.clear()
        self._created.clear()

    def _forget(self, key: tuple[int, int, bool]) -> None:
        del self._chars[key]
        self._created.discard(key)

    # -- following the text --------------------------------------------------------------

    def inserted(self, index: int, length: int) -> None:
        """`length` code points were inserted before code point `index`."""
        chars = self._chars
        for key, char in chars.items():
            if char >= index:
                chars[key] = char + length

    def deleted(self, index: int, length: int) -> None:
        """`length` code points were deleted from code point `index`."""
        end = index + length
        chars = self._chars
        gone = []
        for key, char in chars.items():
            if char >= end:
                chars[key] = char - length
            elif char >= index:
                gone.append(key)
        for key in gone:
            self._forget(key)

    def replaced(self, index: int, deleted: int, inserted: int) -> None:
        """A local edit: `deleted` code points at `index` gave way to `inserted` ones."""
        if deleted:
            self.deleted(index, deleted)
        if inserted:
            self.inserted(index, inserted)
