"""Text files as bytes on disk <-> text with "\\n" newlines, remembering how to write them back.

Pure and stdlib-only. The CRDT and the editor widget always hold "\\n"; the encoding, the byte
order mark and the file's dominant newline are remembered in `DecodedText` so that saving an
unmodified file writes the same bytes (except for files that mix newline styles: they are
written back with their dominant newline).
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_FALLBACK_ENCODINGS",
    "NEWLINES",
    "DecodedText",
    "UndecodableText",
    "UnencodableText",
    "decode_text_file",
    "detect_newline",
    "encode_text_file",
    "normalize_newlines",
]

# Tried in order when the file has no BOM and is not UTF-16: UTF-8 first (strict), then the
# Windows superset of Latin-1 (smart quotes), then Latin-1, which decodes any byte sequence.
DEFAULT_FALLBACK_ENCODINGS: tuple[str, ...] = ("utf-8", "cp1252", "latin-1")

NEWLINES: tuple[str, ...] = ("\n", "\r\n", "\r")

# Longest BOM first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_BY_ENCODING = {encoding: bom for bom, encoding in _BOMS}

# How much of the file the UTF-16 sniffing looks at, and how lopsided the NUL bytes must be.
_SNIFF_BYTES = 4096
_UTF16_ZERO_SHARE = 0.4


class UndecodableText(ValueError):
    """The bytes are not text in the tried encoding(s); the message says what is wrong."""


class UnencodableText(ValueError):
    """The text holds a character the target encoding cannot represent."""


@dataclass(frozen=True)
class DecodedText:
    """A decoded file: text with "\\n" newlines, and how the file was written."""

    text: str
    encoding: str
    bom: bool
    newline: str


def _canonical(encoding: str) -> str:
    """Python's canonical codec name ("UTF8" -> "utf-8"); `LookupError` for unknown names."""
    return codecs.lookup(encoding).name


def normalize_newlines(text: str) -> str:
    """Every "\\r\\n" and lone "\\r" becomes "\\n"."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def detect_newline(text: str) -> str:
    """The most frequent newline of `text` ("\\n" when there is none or on a tie with it)."""
    crlf = text.count("\r\n")
    lone_cr = text.count("\r") - crlf
    lone_lf = text.count("\n") - crlf
    counts = {"\n": lone_lf, "\r\n": crlf, "\r": lone_cr}
    # max() keeps the first of equal counts: "\n" wins ties.
    return max(NEWLINES, key=lambda newline: counts[newline])


def _sniff_utf16(data: bytes) -> str | None:
    """"utf-16-le"/"utf-16-be" when BOM-less bytes look like mostly-Latin UTF-16, else None."""
    sample = data[:_SNIFF_BYTES]
    if len(sample) < 2 or len(data) % 2:
        return None
    pairs = len(sample) // 2
    zeros_even = sample[0 : 2 * pairs : 2].count(0)
    zeros_odd = sample[1 : 2 * pairs : 2].count(0)
    # Latin text in UTF-16 has a zero high byte in most code units, and almost never a zero low
    # byte; text in any 8-bit encoding has no NUL bytes at all.
    if zeros_odd >= _UTF16_ZERO_SHARE * pairs and zeros_even == 0:
        return "utf-16-le"
    if zeros_even >= _UTF16_ZERO_SHARE * pairs and zeros_odd == 0:
        return "utf-16-be"
    return None


def _decode_strict(data: bytes, encoding: str) -> str:
    """`data` decoded, or `UndecodableText` naming the first bad byte and its offset."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        bad = data[error.start : error.end]
        raise UndecodableText(
            f"not valid {encoding}: byte(s) {bad.hex(' ')} at offset {error.start} "
            f"({error.reason})"
        ) from None


def _finish(text: str, encoding: str, bom: bool) -> DecodedText:
    if "\x00" in text:
        raise UndecodableText("contains NUL characters: this looks like a binary file")
    return DecodedText(normalize_newlines(text), encoding, bom, detect_newline(text))


def decode_text_file(
    data: bytes,
    *,
    encoding: str | None = None,
    fallbacks: Sequence[str] = DEFAULT_FALLBACK_ENCODINGS,
) -> DecodedText:
    """Decode a file's bytes: BOM, then sniffed UTF-16, then `fallbacks`; `encoding` forces one.

    Raises `UndecodableText` for binary data (NUL bytes), for bytes invalid in a forced
    `encoding`, and when no fallback decodes; `LookupError` for an unknown encoding name.
    """
    if encoding is not None:
        forced = _canonical(encoding)
        bom = _BOM_BY_ENCODING.get(forced)
        if bom is not None and data.startswith(bom):
            return _finish(_decode_strict(data[len(bom) :], forced), forced, True)
        return _finish(_decode_strict(data, forced), forced, False)

    for bom, bom_encoding in _BOMS:
        if data.startswith(bom):
            return _finish(_decode_strict(data[len(bom) :], bom_encoding), bom_encoding, True)

    sniffed = _sniff_utf16(data)
    if sniffed is not None:
        try:
            return _finish(data.decode(sniffed), sniffed, False)
        except (UnicodeDecodeError, UndecodableText):
            pass  # Not UTF-16 after all (or it has NUL characters): judge it as 8-bit below.

    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise UndecodableText(
            f"contains NUL bytes (first at offset {offset}): this looks like a binary file"
        )

    problems = []
    for candidate in fallbacks:
        name = _canonical(candidate)
        try:
            return _finish(_decode_strict(data, name), name, False)
        except UndecodableText as error:
            problems.append(str(error))
    raise UndecodableText("; ".join(problems) or "no encoding to try")


def encode_text_file(text: str, encoding: str, bom: bool, newline: str) -> bytes:
    """Bytes for `text` ("\\n" newlines) written with `newline`, `encoding` and optional BOM.

    Raises `UnencodableText` naming the first character `encoding` cannot hold, `ValueError`
    for a newline other than "\\n", "\\r\\n", "\\r", or for a BOM the encoding has none of.
    """
    if newline not in NEWLINES:
        raise ValueError(f"unsupported newline {newline!r}")
    name = _canonical(encoding)
    if newline != "\n":
        text = text.replace("\n", newline)
    try:
        body = text.encode(name)
    except UnicodeEncodeError as error:
        character = error.object[error.start]
        raise UnencodableText(
            f"{name} cannot represent {character!r} (U+{ord(character):04X}) "
            f"at character {error.start}"
        ) from None
    if not bom:
        return body
    prefix = _BOM_BY_ENCODING.get(name)
    if prefix is None:
        raise ValueError(f"{name} has no byte order mark")
    return prefix + body
