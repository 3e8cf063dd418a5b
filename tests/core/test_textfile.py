"""Decoding and re-encoding text files: BOMs, UTF-16, newlines, fallbacks, binary rejection."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from editor.core.textfile import (
    DecodedText,
    UndecodableText,
    UnencodableText,
    decode_text_file,
    detect_newline,
    encode_text_file,
)


def roundtrip(data: bytes) -> tuple[DecodedText, bytes]:
    decoded = decode_text_file(data)
    return decoded, encode_text_file(decoded.text, decoded.encoding, decoded.bom, decoded.newline)


@pytest.mark.parametrize(
    ("data", "encoding", "bom", "newline", "text"),
    [
        (b"plain\n", "utf-8", False, "\n", "plain\n"),
        ("caf\u00e9 \U0001F600 \u4e2d\n".encode(), "utf-8", False, "\n", "caf\u00e9 \U0001F600 \u4e2d\n"),
        (codecs.BOM_UTF8 + b"a\r\nb\r\n", "utf-8", True, "\r\n", "a\nb\n"),
        (codecs.BOM_UTF16_LE + "x\U0001F600\r\n".encode("utf-16-le"), "utf-16-le", True, "\r\n", "x\U0001F600\n"),
        (codecs.BOM_UTF16_BE + "x\u4e2d\n".encode("utf-16-be"), "utf-16-be", True, "\n", "x\u4e2d\n"),
        (codecs.BOM_UTF32_LE + "z\n".encode("utf-32-le"), "utf-32-le", True, "\n", "z\n"),
        (codecs.BOM_UTF32_BE + "z\n".encode("utf-32-be"), "utf-32-be", True, "\n", "z\n"),
        ("no bom here\r\nline two\r\n".encode("utf-16-le"), "utf-16-le", False, "\r\n", "no bom here\nline two\n"),
        ("big endian text\n".encode("utf-16-be"), "utf-16-be", False, "\n", "big endian text\n"),
        (b"old mac\rlines\r", "utf-8", False, "\r", "old mac\nlines\n"),
        (b"caf\xe9 \x93quoted\x94\n", "cp1252", False, "\n", "caf\u00e9 \u201cquoted\u201d\n"),
        (b"undefined in cp1252: \x81\n", "iso8859-1", False, "\n", "undefined in cp1252: \x81\n"),
        (b"", "utf-8", False, "\n", ""),
    ],
)
def test_decode_then_encode_is_byte_identical(data, encoding, bom, newline, text):
    decoded, written = roundtrip(data)
    assert decoded == DecodedText(text, encoding, bom, newline)
    assert written == data


def test_mixed_newlines_keep_the_dominant_one():
    data = b"one\r\ntwo\r\nthree\nfour\r\n"
    decoded, written = roundtrip(data)
    assert decoded.text == "one\ntwo\nthree\nfour\n"
    assert decoded.newline == "\r\n"
    # A mixed file is written back consistently with its dominant newline.
    assert written == b"one\r\ntwo\r\nthree\r\nfour\r\n"


def test_mixed_newlines_without_a_minority_round_trip():
    data = b"a\r\nb\r\nc"
    assert roundtrip(data)[1] == data


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "\n"), ("a\nb", "\n"), ("a\r\nb", "\r\n"), ("a\rb", "\r"), ("a\r\nb\n", "\n"), ("\r\r\n\n\n", "\n")],
)
def test_detect_newline(text, expected):
    assert detect_newline(text) == expected


def test_binary_data_is_rejected_with_a_clear_message():
    with pytest.raises(UndecodableText, match="NUL bytes.*binary"):
        decode_text_file(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_forced_encoding_reports_the_bad_byte():
    with pytest.raises(UndecodableText, match=r"not valid utf-8: byte\(s\) ff at offset 3"):
        decode_text_file(b"abc\xffdef", encoding="utf-8")


def test_forced_encoding_overrides_detection():
    data = "\u00e9t\u00e9".encode("utf-8")
    assert decode_text_file(data, encoding="latin-1").text == "\u00c3\u00a9t\u00c3\u00a9"
    assert decode_text_file(codecs.BOM_UTF8 + data, encoding="utf-8") == DecodedText("\u00e9t\u00e9", "utf-8", True, "\n")


def test_fallback_chain_can_be_replaced_and_fail():
    with pytest.raises(UndecodableText, match="not valid utf-8"):
        decode_text_file(b"\xe9", fallbacks=("utf-8",))
    assert decode_text_file(b"\xe9", fallbacks=("utf-8", "koi8-r")).encoding == "koi8-r"


def test_unknown_encoding_is_a_lookup_error():
    with pytest.raises(LookupError):
        decode_text_file(b"x", encoding="no-such-codec")


def test_encode_reports_unrepresentable_characters():
    with pytest.raises(UnencodableText, match=r"U\+1F600"):
        encode_text_file("ok \U0001F600", "latin-1", False, "\n")


def test_encode_rejects_bad_newline_and_impossible_bom():
    with pytest.raises(ValueError, match="newline"):
        encode_text_file("x", "utf-8", False, "\n\r")
    with pytest.raises(ValueError, match="byte order mark"):
        encode_text_file("x", "latin-1", True, "\n")


@given(
    text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r")),
    encoding=st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-32-le"]),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_encode_then_decode_recovers_text(text, encoding, bom, newline):
    data = encode_text_file(text, encoding, bom, newline)
    decoded = decode_text_file(data, encoding=encoding)
    assert decoded.text == text
    if text.count("\n"):
        assert decoded.newline == newline
    assert encode_text_file(decoded.text, decoded.encoding, decoded.bom, decoded.newline) == data
