"""y-protocols codec: byte-compatible with pycrdt's (itself checked against Yjs), strict decoding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import (
    Awareness,
    Doc,
    Text,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)

from editor.core.lib0 import Reader, TruncatedData, write_var_uint
from editor.core.messages import (
    AwarenessEntry,
    AwarenessMessage,
    MalformedMessage,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode,
    encode,
)


def pycrdt_doc() -> Doc:
    doc = Doc(client_id=42)
    doc["text"] = text = Text()
    text += "héllo 😀 中文"
    return doc


def test_sync_messages_match_pycrdt_bytes():
    doc = pycrdt_doc()
    assert encode(SyncStep1(doc.get_state())) == create_sync_message(doc)
    update = doc.get_update()
    assert encode(SyncUpdate(update)) == create_update_message(update)
    # Step 2 is what pycrdt answers to a step 1 from an empty peer (it skips the type byte).
    reply = handle_sync_message(create_sync_message(Doc())[1:], doc)
    assert encode(SyncStep2(update)) == reply


def test_awareness_message_matches_pycrdt_bytes():
    doc = pycrdt_doc()
    awareness = Awareness(doc)
    state = {"user": {"name": "ann", "color": "#ff0000"}, "cursor": None}
    awareness.set_local_state(state)
    client = doc.client_id
    expected = create_awareness_message(awareness.encode_awareness_update([client]))
    clock = awareness.meta[client]["clock"]
    assert encode(AwarenessMessage((AwarenessEntry(client, clock, state),))) == expected
    assert decode(expected) == AwarenessMessage((AwarenessEntry(client, clock, state),))


def test_non_ascii_awareness_state_is_written_like_json_stringify():
    entry = AwarenessEntry(1, 3, {"user": {"name": "李", "color": "#0f0"}})
    data = encode(AwarenessMessage((entry,)))
    assert '{"user":{"name":"李","color":"#0f0"}}'.encode() in data
    # pycrdt escapes non-ASCII (\\u674e); both decode to the same state.
    escaped = json.dumps(entry.state, separators=(",", ":")).encode()
    payload = b"\x01" + write_var_uint(1) + write_var_uint(3) + write_var_uint(len(escaped)) + escaped
    assert decode(b"\x01" + write_var_uint(len(payload)) + payload) == AwarenessMessage((entry,))


def test_removed_state_is_null():
    data = encode(AwarenessMessage((AwarenessEntry(7, 9, None),)))
    assert data.endswith(b"\x04null")
    assert decode(data).entries[0].state is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
ids = st.integers(0, 2**53 - 1)
messages = st.one_of(
    st.builds(SyncStep1, st.binary()),
    st.builds(SyncStep2, st.binary()),
    st.builds(SyncUpdate, st.binary()),
    st.builds(
        AwarenessMessage,
        st.lists(
            st.builds(AwarenessEntry, ids, ids, st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
            max_size=4,
        ).map(tuple),
    ),
)


@given(messages)
def test_round_trip(message):
    data = encode(message)
    assert decode(data) == message
    assert encode(decode(data)) == data


@given(messages, st.data())
def test_truncated_or_extended_messages_are_malformed(message, data):
    encoded = encode(message)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(MalformedMessage):
        decode(encoded[:cut])
    with pytest.raises(MalformedMessage):
        decode(encoded + data.draw(st.binary(min_size=1, max_size=4)))


@given(st.binary(max_size=40))
def test_arbitrary_bytes_decode_or_raise_malformed(data):
    try:
        message = decode(data)
    except MalformedMessage:
        return
    assert encode(message) == data  # anything accepted is canonical


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x02\x00",  # unknown message type
        b"\x00\x03\x00",  # unknown sync type
        b"\x00\x00\x05ab",  # payload runs past the end
        b"\x80",  # truncated varint
        b"\x80\x00\x00\x00",  # overlong varint
        b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # beyond 2**53
        b"\x01\x06\x01\x01\x01\x02[]",  # state is a list
        b"\x01\x06\x01\x01\x01\x02{x",  # bad JSON
        b"\x01\x07\x01\x01\x01\x03NaN",  # non-standard JSON
        b"\x01\x05\x01\x01\x01\x01\xff",  # bad UTF-8
        b"\x01\x03\x02\x01\x01",  # fewer entries than announced
    ],
)
def test_malformed_examples(data):
    with pytest.raises(MalformedMessage):
        decode(data)


def test_decode_rejects_non_bytes():
    with pytest.raises(MalformedMessage):
        decode("text")  # type: ignore[arg-type]


def test_reader_reports_truncation():
    with pytest.raises(TruncatedData):
        Reader(b"\x05abc").read_var_uint8_array()


def test_encode_rejects_non_json_states():
    with pytest.raises(ValueError):
        encode(AwarenessMessage((AwarenessEntry(1, 1, {"x": float("nan")}),)))
    with pytest.raises(TypeError):
        encode(AwarenessMessage((AwarenessEntry(1, 1, ["not", "a", "dict"]),)))  # type: ignore[arg-type]
