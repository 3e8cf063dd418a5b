"""Pure codecs: hello JSON, routing metadata (checked against rsocket-py's own encoder), the
frame reader's rules fed byte by byte, and SETUP checks."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from rsocket.error_codes import ErrorCode
from rsocket.extensions.composite_metadata import CompositeMetadata
from rsocket.extensions.helpers import composite, metadata_item, route
from rsocket.frame import PayloadFrame, serialize_with_frame_size_header
from rsocket.frame_builders import to_payload_frame, to_request_channel_frame, to_setup_frame
from rsocket.frame_fragmenter import data_to_fragments_if_required
from rsocket.payload import Payload

from editor.protocol import Hello, InvalidHello
from editor.protocol.framing import FrameLimits, FrameReader, PeerRole, ProtocolViolation, SetupRefused, check_setup
from editor.protocol.link import DocumentInfo, decode_documents, encode_documents
from editor.protocol.routes import MalformedMetadata, Route, decode_route, encode_route


def test_hello_round_trip_and_wire_shape():
    hello = Hello("4f1c", "Zoë 😀")
    assert Hello.decode(hello.encode()) == hello
    assert hello.encode() == '{"protocol": 1, "peer": "4f1c", "name": "Zoë 😀"}'.encode()
    assert Hello.decode(b'{"protocol": 1, "peer": "x", "name": "y", "later": [1]}') == Hello("x", "y")


@pytest.mark.parametrize("data, reason", [
    (b'{"protocol": 2, "peer": "x", "name": "y"}', "unsupported protocol version 2"),
    (b'{"protocol": true, "peer": "x", "name": "y"}', "unsupported protocol version"),
    (b'[1]', "JSON object"),
    (b'\xff', "not UTF-8 JSON"),
    (b'{"protocol": 1, "peer": "", "name": "y"}', "peer id"),
    (b'{"protocol": 1, "peer": "x", "name": 3}', "name"),
])
def test_hello_rejects_with_a_reason(data, reason):
    with pytest.raises(InvalidHello, match=reason):
        Hello.decode(data)


def test_route_metadata_byte_layout():
    assert encode_route(Route.DOC_SYNC, "notes.txt") == (
        b"\xfe\x00\x00\x13" + b"\x08doc.sync" + b"\x09notes.txt")
    assert encode_route(Route.PING) == b"\xfe\x00\x00\x05\x04ping"


@pytest.mark.parametrize("route_, doc_id", [(Route.HELLO, None), (Route.PRESENCE, "日本語 notes 😀")])
def test_route_metadata_interoperates_with_rsocket_py(route_, doc_id):
    tags = [route_.value] + ([doc_id] if doc_id else [])
    theirs = composite(route(*tags))
    assert encode_route(route_, doc_id) == theirs
    parsed = CompositeMetadata()
    parsed.parse(encode_route(route_, doc_id))
    assert [t.decode() for t in parsed.items[0].tags] == tags
    # Other entries (here: one with a MIME name spelled out) are skipped.
    mixed = composite(metadata_item(b"{}", b"application/x.custom"), route(*tags))
    request = decode_route(mixed)
    assert (request.route, request.doc_id) == (route_, doc_id)


@pytest.mark.parametrize("metadata, reason", [
    (b"", "no metadata"),
    (b"\xfe\x00\x00\x09\x04ping", "longer than the metadata"),
    (b"\x85\x00\x00\x00", "no routing entry"),
    (b"\xfe\x00\x00\x01\x00", "empty or truncated"),
    (b"\xfe\x00\x00\x02\x01\xff", "not UTF-8"),
    (b"\xfe\x00\x00\x06\x01a\x01b\x01c", "at most 2"),
])
def test_route_metadata_rejects_with_a_reason(metadata, reason):
    with pytest.raises(MalformedMetadata, match=reason):
        decode_route(metadata)


def test_route_requires_doc_id_exactly_where_defined():
    with pytest.raises(ValueError):
        encode_route(Route.DOC_SYNC)
    with pytest.raises(ValueError):
        encode_route(Route.PING, "x")
    with pytest.raises(ValueError):
        encode_route(Route.PRESENCE, "x" * 256)


def test_documents_codec():
    documents = [DocumentInfo("a.txt", "A 😀", 12), DocumentInfo("b", "", 0)]
    assert decode_documents(encode_documents(documents)) == documents
    for bad in (b"{}", b'[{"id": 1, "title": "", "length": 0}]', b'[{"id": "a", "title": "", "length": -1}]'):
        with pytest.raises(ValueError):
            decode_documents(bad)


def _setup_bytes(**overrides) -> bytes:
    frame = to_setup_frame(Payload(Hello("p", "P").encode()), b"application/octet-stream",
                           b"message/x.rsocket.composite-metadata.v0", timedelta(seconds=3),
                           timedelta(seconds=10))
    for key, value in overrides.items():
        setattr(frame, key, value)
    return serialize_with_frame_size_header(frame)


def test_reader_reassembles_frames_fed_in_random_pieces():
    seed = random.randrange(2**32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    channel = to_request_channel_frame(1, Payload(b"x" * 3000, encode_route(Route.DOC_SYNC, "d")),
                                       initial_request_n=64)
    stream = _setup_bytes() + serialize_with_frame_size_header(channel)
    reader = FrameReader(PeerRole.DIALER)
    frames = []
    position = 0
    while position < len(stream):
        step = rng.randint(1, 700)
        frames += reader.feed(stream[position:position + step])
        position += step
    assert [type(f).__name__ for f in frames] == ["SetupFrame", "RequestChannelFrame"]
    assert bytes(frames[1].data) == b"x" * 3000 and not reader.mid_frame


def test_reader_bounds_fragmented_messages():
    limits = FrameLimits(max_frame_length=4096, max_message_length=10_000)
    reader = FrameReader(PeerRole.DIALER, limits)
    reader.feed(_setup_bytes())
    first = to_request_channel_frame(1, Payload(b"", encode_route(Route.DOC_SYNC, "d")), initial_request_n=8)
    reader.feed(serialize_with_frame_size_header(first))
    fragments = list(data_to_fragments_if_required(b"y" * 20_000, b"", 6, 1024))
    with pytest.raises(ProtocolViolation, match="fragmented messages exceed"):
        for fragment in fragments:
            frame = to_payload_frame(1, Payload(fragment.data))
            frame.flags_follows = not fragment.is_last
            reader.feed(serialize_with_frame_size_header(frame))
    with pytest.raises(ProtocolViolation):  # a failed reader stays failed
        reader.feed(b"")


def test_reader_accepts_a_fragmented_message_within_bounds():
    reader = FrameReader(PeerRole.ACCEPTOR)
    frames = []
    pieces = [b"a" * 1000, b"b" * 1000, b"c" * 10]
    for index, piece in enumerate(pieces):
        frame = to_payload_frame(2, Payload(piece))
        frame.flags_follows = index < len(pieces) - 1
        frames += reader.feed(serialize_with_frame_size_header(frame))
    assert len(frames) == 3 and all(isinstance(f, PayloadFrame) for f in frames)


def test_acceptor_must_not_send_setup():
    with pytest.raises(ProtocolViolation, match="SETUP frame from the accepting side"):
        FrameReader(PeerRole.ACCEPTOR).feed(_setup_bytes())


def test_request_channel_with_zero_credit_is_a_violation():
    frame = to_request_channel_frame(1, Payload(b"", encode_route(Route.DOC_SYNC, "d")), initial_request_n=1)
    raw = bytearray(serialize_with_frame_size_header(frame))
    raw[9:13] = b"\x00\x00\x00\x00"  # initial request-n follows the 6-byte header
    reader = FrameReader(PeerRole.DIALER)
    reader.feed(_setup_bytes())
    with pytest.raises(ProtocolViolation, match="initial request-n 0"):
        reader.feed(bytes(raw))


def test_check_setup_accepts_ours_and_refuses_others():
    reader = FrameReader(PeerRole.DIALER)
    assert check_setup(reader.feed(_setup_bytes())[0]) == Hello("p", "P")
    for overrides, code in [({"major_version": 2}, ErrorCode.UNSUPPORTED_SETUP),
                            ({"flags_lease": True}, ErrorCode.UNSUPPORTED_SETUP),
                            ({"keep_alive_milliseconds": 0}, ErrorCode.INVALID_SETUP),
                            ({"data": b"{}"}, ErrorCode.REJECTED_SETUP)]:
        frame = FrameReader(PeerRole.DIALER).feed(_setup_bytes(**overrides))[0]
        with pytest.raises(SetupRefused) as refused:
            check_setup(frame)
        assert refused.value.error_code == code and refused.value.reason
