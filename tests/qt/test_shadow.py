"""LineShadow agrees with a plain string model under random edits (seeded, replayable)."""

from __future__ import annotations

import os
import random

import pytest

from editor.core.offsets import index_from_utf16, utf16_length, utf16_offset
from editor.qt.shadow import LineShadow

ALPHABET = ["a", "b", " ", "\n", "\n", "\u00e9", "\u4e2d", "\U0001F600", "\U0001F44D\U0001F3FD"]


class _SmallChunks(LineShadow):
    """Small chunks force edits across chunk boundaries."""

    TARGET_LINES = 4
    MAX_LINES = 8


def _random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def _check(shadow: LineShadow, model: str, rng: random.Random) -> None:
    assert shadow.text == model
    assert len(shadow) == len(model)
    assert shadow.utf16_length == utf16_length(model)
    assert shadow.line_count == model.count("\n") + 1
    for _ in range(5):
        index = rng.randint(0, len(model))
        offset = utf16_offset(model, index)
        assert shadow.utf16_of(index) == offset
        assert shadow.index_of_utf16(offset) == index
        number, column = shadow.locate(index)
        assert model.count("\n", 0, index) == number
        assert shadow.line_start(number)[0] + column == index


@pytest.mark.parametrize("seed", [int(os.environ.get("CHORUS_SEED", 0)) or random.randrange(2**32)])
def test_random_edits_match_a_string_model(seed):
    print(f"seed={seed} (replay with CHORUS_SEED={seed})")
    rng = random.Random(seed)
    model = _random_text(rng, 3000)
    shadow = _SmallChunks(model)
    for _ in range(400):
        index = rng.randint(0, len(model))
        deleted = rng.randint(0, min(len(model) - index, rng.choice([1, 5, 200])))
        inserted = _random_text(rng, rng.choice([0, 1, 3, 40]))
        shadow.replace(index, deleted, inserted)
        model = model[:index] + inserted + model[index + deleted :]
        _check(shadow, model, rng)


def test_read_utf16_returns_the_old_region():
    text = "ab\U0001F600c\n\u4e2dd\n\nxyz"
    shadow = LineShadow(text)
    start16 = utf16_offset(text, 1)
    length16 = utf16_offset(text, 9) - start16
    column, old = shadow.read_utf16(0, start16, length16)
    assert (column, old) == (1, text[1:9])
    line2_16 = shadow.line_start(2)[1]
    assert shadow.read_utf16(2, 0, shadow.utf16_length - line2_16) == (0, "\nxyz")


def test_offsets_inside_a_surrogate_pair_are_rejected():
    shadow = LineShadow("a\U0001F600b")
    assert index_from_utf16("a\U0001F600b", 3) == 2
    with pytest.raises(ValueError):
        shadow.index_of_utf16(2)
    with pytest.raises(ValueError):
        shadow.utf16_of(4)


def test_deleting_everything_leaves_one_empty_line():
    shadow = LineShadow("one\ntwo\nthree")
    shadow.replace(0, len(shadow), "")
    assert shadow.text == "" and shadow.line_count == 1 and shadow.utf16_length == 0
