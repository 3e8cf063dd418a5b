"""minimal_edit: the edit reproduces the new text and touches as little as possible."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from editor.core.textdiff import minimal_edit

from .strategies import tricky_text


def test_known_edits():
    assert minimal_edit("hello", "hello") == (5, 0, "")
    assert minimal_edit("hello", "help") == (3, 2, "p")
    assert minimal_edit("", "中文") == (0, 0, "中文")
    assert minimal_edit("a😀b", "ab") == (1, 1, "")
    # Repeated characters: the prefix is taken greedily, then the suffix within what is left.
    assert minimal_edit("aaa", "aaaa") == (3, 0, "a")


@given(tricky_text, tricky_text)
def test_edit_turns_old_into_new(old, new):
    index, deleted, inserted = minimal_edit(old, new)
    assert old[:index] + inserted + old[index + deleted :] == new
    assert 0 <= index <= len(old) and 0 <= deleted <= len(old) - index


@given(tricky_text, tricky_text, tricky_text, tricky_text)
def test_edit_is_no_larger_than_the_change_between_shared_ends(prefix, middle_old, middle_new, suffix):
    index, deleted, inserted = minimal_edit(prefix + middle_old + suffix, prefix + middle_new + suffix)
    assert deleted <= len(middle_old)
    assert len(inserted) <= len(middle_new)


@given(st.integers(0, 20_000), st.integers(0, 20_000), st.text(min_size=1, max_size=3))
def test_long_texts_cross_block_boundaries(prefix_len, suffix_len, change):
    old = "x" * prefix_len + "y" * suffix_len
    new = "x" * prefix_len + change + "y" * suffix_len
    index, deleted, inserted = minimal_edit(old, new)
    assert old[:index] + inserted + old[index + deleted :] == new
    assert deleted == 0 and len(inserted) == len(change)
