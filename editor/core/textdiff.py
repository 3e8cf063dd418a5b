"""The smallest single edit turning one text into another, by common prefix and suffix."""

from __future__ import annotations

__all__ = ["minimal_edit"]

# Compare in blocks first: slice comparison runs in C, so a 1 MB text costs microseconds.
_BLOCK = 4096


def _common_prefix(a: str, b: str, limit: int) -> int:
    i = 0
    while i + _BLOCK <= limit and a[i : i + _BLOCK] == b[i : i + _BLOCK]:
        i += _BLOCK
    while i < limit and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: str, b: str, limit: int) -> int:
    n = 0
    len_a, len_b = len(a), len(b)
    while n + _BLOCK <= limit and a[len_a - n - _BLOCK : len_a - n] == b[len_b - n - _BLOCK : len_b - n]:
        n += _BLOCK
    while n < limit and a[len_a - n - 1] == b[len_b - n - 1]:
        n += 1
    return n


def minimal_edit(old: str, new: str) -> tuple[int, int, str]:
    """(index, deleted, inserted) in code points such that
    `old[:index] + inserted + old[index + deleted:] == new`, with the longest common prefix
    and then the longest common suffix left untouched."""
    shortest = min(len(old), len(new))
    prefix = _common_prefix(old, new, shortest)
    suffix = _common_suffix(old, new, shortest - prefix)
    return prefix, len(old) - prefix - suffix, new[prefix : len(new) - suffix]
