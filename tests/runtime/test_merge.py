"""The three-way merge of an outside file edit with concurrent document edits."""

from hypothesis import given
from hypothesis import strategies as st

from editor.runtime.filesync import merge_three_way

alphabet = st.sampled_from(list("ab \n😀中é"))
texts = st.text(alphabet, max_size=30)


def test_disjoint_edits_both_apply() -> None:
    base = "hello world\n"
    disk = "HELLO world\n"  # another program edited the start
    current = "hello world, friends\n"  # a peer typed at the end meanwhile
    assert merge_three_way(base, disk, current) == "HELLO world, friends\n"


def test_overlapping_edits_keep_both_insertions() -> None:
    base = "one two three"
    disk = "one 2 three"
    current = "one deux three"
    merged = merge_three_way(base, disk, current)
    assert "2" in merged and "deux" in merged and "two" not in merged


def test_unchanged_sides_are_identity() -> None:
    assert merge_three_way("abc", "abc", "abXc") == "abXc"
    assert merge_three_way("abc", "aXbc", "abc") == "aXbc"


@st.composite
def edit_of(draw, base: str) -> str:
    start = draw(st.integers(0, len(base)))
    end = draw(st.integers(start, len(base)))
    return base[:start] + draw(texts) + base[end:]


@given(st.data(), texts)
def test_every_inserted_character_survives(data, base) -> None:
    """No text either side typed is lost: each side's inserted run appears in the merge."""
    disk = data.draw(edit_of(base))
    current = data.draw(edit_of(base))
    merged = merge_three_way(base, disk, current)
    for side in (disk, current):
        prefix = 0
        while prefix < min(len(base), len(side)) and base[prefix] == side[prefix]:
            prefix += 1
        suffix = 0
        while (suffix < min(len(base), len(side)) - prefix
               and base[len(base) - 1 - suffix] == side[len(side) - 1 - suffix]):
            suffix += 1
        inserted = side[prefix:len(side) - suffix]
        assert inserted in merged


@given(st.data(), texts)
def test_merge_with_itself_is_that_edit(data, base) -> None:
    disk = data.draw(edit_of(base))
    assert merge_three_way(base, disk, base) == disk
    assert merge_three_way(base, base, disk) == disk
