"""The y-protocols message codec, byte-compatible with Yjs (y-protocols/sync.js, awareness.js).

    sync step 1   varUint(0) varUint(0) varUint8Array(state vector)
    sync step 2   varUint(0) varUint(1) varUint8Array(update)
    update        varUint(0) varUint(2) varUint8Array(update)
    awareness     varUint(1) varUint8Array(awareness update)

    awareness update = varUint(n) then n x (varUint client id, varUint clock,
                                            varString JSON state, "null" for a removed state)

JSON states are written like JavaScript's `JSON.stringify` (no spaces, UTF-8 rather than
\\u escapes). `decode` accepts exactly one message filling all of `data` and raises
`MalformedMessage` for anything else.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from editor.core.lib0 import Reader, TruncatedData, write_var_string, write_var_uint, write_var_uint8_array

__all__ = [
    "AwarenessEntry",
    "AwarenessMessage",
    "MalformedMessage",
    "Message",
    "SyncStep1",
    "SyncStep2",
    "SyncUpdate",
    "decode",
    "encode",
]


class MalformedMessage(ValueError):
    """The bytes are not one well-formed y-protocols message."""


class MessageType(enum.IntEnum):
    """y-protocols top-level message types."""

    SYNC = 0
    AWARENESS = 1


class SyncType(enum.IntEnum):
    """y-protocols sync message types."""

    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


@dataclass(frozen=True, slots=True)
class SyncStep1:
    """The opening of a sync: my state vector, so that the peer sends what I miss."""

    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    """The reply to step 1: everything the asker missed."""

    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    """An incremental document update."""

    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's awareness state at `clock`; `state` None means the client left."""

    client_id: int
    clock: int
    state: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    """A batch of awareness entries."""

    entries: tuple[AwarenessEntry, ...]


Message: TypeAlias = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessMessage

_SYNC_TYPE_OF: Final = {SyncStep1: SyncType.STEP1, SyncStep2: SyncType.STEP2, SyncUpdate: SyncType.UPDATE}


def _state_to_json(state: dict[str, Any] | None) -> str:
    if state is not None and not isinstance(state, dict):
        raise TypeError(f"an awareness state is a dict or None, got {type(state).__name__}")
    # allow_nan=False: JSON.stringify would silently turn NaN into null.
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reject_constant(name: str) -> None:
    raise MalformedMessage(f"non-standard JSON constant {name}")


def encode_awareness_update(entries: tuple[AwarenessEntry, ...] | list[AwarenessEntry]) -> bytes:
    """The awareness update payload (what y-protocols `encodeAwarenessUpdate` returns)."""
    out = [write_var_uint(len(entries))]
    for entry in entries:
        out.append(write_var_uint(entry.client_id))
        out.append(write_var_uint(entry.clock))
        out.append(write_var_string(_state_to_json(entry.state)))
    return b"".join(out)


def encode(message: Message) -> bytes:
    """The wire bytes of `message`."""
    if isinstance(message, AwarenessMessage):
        return write_var_uint(MessageType.AWARENESS) + write_var_uint8_array(
            encode_awareness_update(message.entries))
    sync_type = _SYNC_TYPE_OF.get(type(message))
    if sync_type is None:
        raise TypeError(f"not a message: {message!r}")
    payload = message.state_vector if isinstance(message, SyncStep1) else message.update
    return write_var_uint(MessageType.SYNC) + write_var_uint(sync_type) + write_var_uint8_array(bytes(payload))


def decode_awareness_update(payload: bytes) -> tuple[AwarenessEntry, ...]:
    """Parse an awareness update payload; `MalformedMessage` if it is not one."""
    reader = Reader(payload)
    try:
        entries = []
        for _ in range(reader.read_var_uint()):
            client_id = reader.read_var_uint()
            clock = reader.read_var_uint()
            raw = reader.read_var_string()
            try:
                state = json.loads(raw, parse_constant=_reject_constant)
            except json.JSONDecodeError as exc:
                raise MalformedMessage(f"awareness state of client {client_id} is not JSON: {exc}") from None
            if state is not None and not isinstance(state, dict):
                raise MalformedMessage(f"awareness state of client {client_id} is a {type(state).__name__}")
            entries.append(AwarenessEntry(client_id, clock, state))
    except TruncatedData as exc:
        raise MalformedMessage(f"bad awareness update: {exc}") from None
    except RecursionError:
        raise MalformedMessage("awareness state nested too deeply") from None
    if not reader.at_end:
        raise MalformedMessage("trailing bytes after the awareness update")
    return tuple(entries)


def decode(data: bytes) -> Message:
    """Parse exactly one message from `data`; `MalformedMessage` if it is not one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessage(f"expected bytes, got {type(data).__name__}")
    reader = Reader(bytes(data))
    message: Message
    try:
        message_type = reader.read_var_uint()
        if message_type == MessageType.SYNC:
            sync_type = reader.read_var_uint()
            payload = reader.read_var_uint8_array()
            if sync_type == SyncType.STEP1:
                message = SyncStep1(payload)
            elif sync_type == SyncType.STEP2:
                message = SyncStep2(payload)
            elif sync_type == SyncType.UPDATE:
                message = SyncUpdate(payload)
            else:
                raise MalformedMessage(f"unknown sync message type {sync_type}")
        elif message_type == MessageType.AWARENESS:
            message = AwarenessMessage(decode_awareness_update(reader.read_var_uint8_array()))
        else:
            raise MalformedMessage(f"unknown message type {message_type}")
    except TruncatedData as exc:
        raise MalformedMessage(str(exc)) from None
    if not reader.at_end:
        raise MalformedMessage("trailing bytes after the message")
    return message
