"""Hypothesis strategies for text that exercises every unit conversion trap."""

from __future__ import annotations

from hypothesis import strategies as st

# Each fragment is a trap of its own: multi-byte UTF-8, surrogate pairs in UTF-16, sequences
# of several code points that render as one glyph.
TRICKY_FRAGMENTS = [
    "a", "Z", " ", "\n", "\t",
    "é",            # 2 UTF-8 bytes, 1 UTF-16 unit
    "e\u0301",      # e + combining acute accent
    "中", "文字",    # CJK: 3 UTF-8 bytes each
    "😀",           # astral: 4 UTF-8 bytes, 2 UTF-16 units
    "👍🏽",          # emoji + skin tone modifier
    "👩\u200d👩\u200d👧",  # ZWJ family sequence
    "🇫🇷",          # regional indicator pair
    "𝔸",            # mathematical double-struck (astral, not emoji)
    "\u0000",
    "\uffff",       # last BMP code point
    "\U0010ffff",   # last code point
]

fragments = st.sampled_from(TRICKY_FRAGMENTS)
# Any code point that can exist in UTF-8 text (no lone surrogates).
any_char = st.characters(exclude_categories=("Cs",))

tricky_text = st.lists(st.one_of(fragments, any_char), max_size=40).map("".join)
