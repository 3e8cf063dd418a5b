"""The TXT codec: round trips, limits, and bad values that must never raise."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from editor.discovery.txt import MAX_NAME_BYTES, PeerAdvert, decode_txt, encode_txt, truncate_utf8

printable = st.text(st.characters(codec="utf-8").filter(str.isprintable), min_size=1, max_size=40)


@given(
    peer_id=printable,
    name=st.text(st.characters(codec="utf-8").filter(str.isprintable), max_size=60),
    protocol=st.integers(1, 10**6),
    docs=st.integers(0, 10**6),
)
def test_round_trip(peer_id: str, name: str, protocol: int, docs: int) -> None:
    advert = PeerAdvert(peer_id=peer_id, name=name, protocol=protocol, docs=docs)
    assert decode_txt(encode_txt(advert)) == advert


def test_encoding_uses_the_documented_keys() -> None:
    properties = encode_txt(PeerAdvert("p1", "Ana", 1, 3))
    assert properties == {b"id": b"p1", b"v": b"1", b"name": b"Ana", b"docs": b"3"}


def test_long_name_is_cut_at_a_character_boundary() -> None:
    name = "😀" * 100  # 400 UTF-8 bytes
    encoded = encode_txt(PeerAdvert("p1", name, 1))[b"name"]
    assert len(b"name=" + encoded) <= 255
    assert encoded.decode("utf-8") == "😀" * (MAX_NAME_BYTES // 4)
    assert truncate_utf8("a😀", 3) == "a"


@pytest.mark.parametrize(
    "advert", [PeerAdvert("", "n", 1), PeerAdvert("p", "n", 0), PeerAdvert("p", "n", 1, -1), PeerAdvert("x" * 300, "n", 1)]
)
def test_encoding_refuses_undecodable_adverts(advert: PeerAdvert) -> None:
    with pytest.raises(ValueError):
        encode_txt(advert)


GOOD = {b"id": b"p1", b"v": b"2", b"name": b"Ana", b"docs": b"4"}


@pytest.mark.allowed_log("bad TXT record")
@pytest.mark.parametrize(
    "changes",
    [
        {b"id": None},
        {b"id": b""},
        {b"id": b"\xff\xfe"},
        {b"id": b"a\nb"},
        {b"v": None},
        {b"v": b"0"},
        {b"v": b"-1"},
        {b"v": b"one"},
        {b"v": b" 1"},
        {b"v": b"9" * 40},
    ],
)
def test_missing_or_bad_id_or_version_rejects_the_advert(changes: dict, caplog: pytest.LogCaptureFixture) -> None:
    properties = {k: v for k, v in {**GOOD, **changes}.items() if v is not None or k not in changes}
    caplog.set_level(logging.WARNING, logger="editor.discovery.txt")
    assert decode_txt(properties) is None
    assert len(caplog.records) == 1


@pytest.mark.allowed_log("bad TXT record")
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({b"docs": b"many"}, PeerAdvert("p1", "Ana", 2, 0)),
        ({b"docs": None}, PeerAdvert("p1", "Ana", 2, 0)),
        ({b"name": b"\xc3"}, PeerAdvert("p1", "", 2, 4)),
        ({b"name": None, b"docs": b"-3"}, PeerAdvert("p1", "", 2, 0)),
    ],
)
def test_bad_name_or_docs_fall_back_with_one_log_line(
    changes: dict, expected: PeerAdvert, caplog: pytest.LogCaptureFixture
) -> None:
    properties = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    caplog.set_level(logging.WARNING, logger="editor.discovery.txt")
    assert decode_txt(properties) == expected
    assert len(caplog.records) == 1


def test_valueless_key_and_unknown_keys(caplog: pytest.LogCaptureFixture) -> None:
    assert decode_txt({**GOOD, b"future": b"x", b"flag": None}) == PeerAdvert("p1", "Ana", 2, 4)
    assert not caplog.records


@pytest.mark.allowed_log("bad TXT record")
@given(st.dictionaries(st.binary(max_size=8), st.none() | st.binary(max_size=12), max_size=6))
def test_garbage_never_raises(properties: dict) -> None:
    result = decode_txt(properties)
    assert result is None or isinstance(result, PeerAdvert)
