"""Validated RSocket framing over a byte stream: a sans-I/O reader that stands in front of
rsocket-py's frame parser.

rsocket-py parses whatever it is given: it serves frames sent before SETUP, keeps a
connection open after a rejected SETUP, logs a traceback per bad frame and truncates frames of
16 MiB or more. `FrameReader` takes raw bytes and returns parsed frames only once every rule
of our protocol holds; the first broken rule raises `ProtocolViolation`, and the connection is
closed by its owner. Each frame on TCP is a 24-bit big-endian length followed by that many
bytes (RSocket 1.0, "Framing", TCP transport).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

from rsocket.error_codes import ErrorCode
from rsocket.frame import (
    CONNECTION_STREAM_ID,
    ErrorFrame,
    Frame,
    FrameType,
    RequestChannelFrame,
    RequestNFrame,
    RequestStreamFrame,
    SetupFrame,
    parse_or_ignore,
    serialize_with_frame_size_header,
)

from .hello import Hello, InvalidHello
from .routes import COMPOSITE_METADATA_MIME, DATA_MIME

FRAME_LENGTH_PREFIX = 3
FRAME_HEADER_LENGTH = 6  # stream id (4) + type and flags (2)
MAX_24BIT = 0xFFFFFF

FLAG_IGNORE = 0x200
FLAG_FOLLOWS = 0x80
EXTENSION_FRAME_TYPE = 0x3F

# RSocket 1.0 error codes used on stream 0 (the spec's names; rsocket-py names 0x102
# CONNECTION_ERROR_NO_RETRY).
CONNECTION_CLOSE = 0x102

# What we accept; everything else (LEASE, RESUME, RESUME_OK, extensions) ends the connection.
_SUPPORTED_TYPES = frozenset({
    FrameType.SETUP, FrameType.KEEPALIVE, FrameType.REQUEST_RESPONSE, FrameType.REQUEST_FNF,
    FrameType.REQUEST_STREAM, FrameType.REQUEST_CHANNEL, FrameType.REQUEST_N, FrameType.CANCEL,
    FrameType.PAYLOAD, FrameType.ERROR, FrameType.METADATA_PUSH,
})
_CONNECTION_TYPES = frozenset({FrameType.SETUP, FrameType.KEEPALIVE, FrameType.METADATA_PUSH})
_REQUEST_TYPES = frozenset({
    FrameType.REQUEST_RESPONSE, FrameType.REQUEST_FNF, FrameType.REQUEST_STREAM,
    FrameType.REQUEST_CHANNEL,
})
_FRAGMENTABLE_TYPES = _REQUEST_TYPES | {FrameType.PAYLOAD}


class ProtocolViolation(Exception):
    """The peer broke the wire protocol; the message is a readable reason for the log."""


class SetupRefused(Exception):
    """A SETUP we refuse: answer ERROR(`error_code`, `reason`) on stream 0, then close."""

    def __init__(self, error_code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason


class PeerRole(Enum):
    """The role of the peer whose frames a reader parses (it decides stream id parity)."""

    DIALER = "dialer"  # the RSocket client: sends SETUP first, odd stream ids
    ACCEPTOR = "acceptor"  # the RSocket server: never sends SETUP, even stream ids


@dataclass(frozen=True)
class FrameLimits:
    """Size limits enforced on received frames."""

    # The largest single frame accepted. Our own frames stay below `fragment_size` + headers;
    # the margin admits peers that fragment at a larger size. Must stay below 16 MiB.
    max_frame_length: int = 1024 * 1024
    # The largest message (data + metadata) reassembled from fragments, over all streams.
    max_message_length: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if not FRAME_HEADER_LENGTH <= self.max_frame_length <= MAX_24BIT:
            raise ValueError("max_frame_length must fit the 24-bit frame length")


class FrameReader:
    """Bytes in, validated rsocket-py `Frame`s out; raises `ProtocolViolation` on the first fault.

    Invariants: no frame is returned before a valid-looking SETUP when the peer is the
    dialer; the acceptor never sends SETUP and the dialer sends exactly one; new streams use
    the peer's parity and strictly increasing ids (so a stream id is never reused); no frame
    exceeds `max_frame_length` and no fragmented message exceeds `max_message_length`.
    """

    def __init__(self, peer_role: PeerRole, limits: FrameLimits = FrameLimits()) -> None:
        self._peer_role = peer_role
        self._limits = limits
        self._buffer = bytearray()
        self._setup_seen = False
        self._last_stream_id = 0
        self._fragment_bytes: dict[int, int] = {}  # stream id -> bytes of an unfinished message
        self._failed: ProtocolViolation | None = None

    @property
    def mid_frame(self) -> bool:
        """True while part of a frame is buffered (the peer owes us the rest)."""
        return bool(self._buffer)

    @property
    def setup_seen(self) -> bool:
        """Whether the peer's SETUP has been read."""
        return self._setup_seen

    def feed(self, data: bytes) -> list[Frame]:
        """Append received bytes; return every frame they complete, in order."""
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        frames = []
        try:
            while len(self._buffer) >= FRAME_LENGTH_PREFIX:
                length = int.from_bytes(self._buffer[:FRAME_LENGTH_PREFIX], "big")
                # Judge the length before waiting for the body: an absurd length is hostile.
                if length < FRAME_HEADER_LENGTH:
                    raise ProtocolViolation(f"frame of {length} bytes is shorter than a frame header")
                if length > self._limits.max_frame_length:
                    raise ProtocolViolation(
                        f"frame length {length} exceeds the maximum of {self._limits.max_frame_length} bytes"
                    )
                end = FRAME_LENGTH_PREFIX + length
                if len(self._buffer) < end:
                    break
                raw = bytes(self._buffer[FRAME_LENGTH_PREFIX:end])
                del self._buffer[:end]
                frame = self._check(raw)
                if frame is not None:
                    frames.append(frame)
        except ProtocolViolation as violation:
            self._failed = violation
            raise
        return frames

    def _check(self, raw: bytes) -> Frame | None:
        stream_id, type_byte, flag_byte = struct.unpack_from(">IBB", raw)
        stream_id &= 0x7FFFFFFF  # the top bit is reserved
        type_id = type_byte >> 2
        flags = ((type_byte & 0x3) << 8) | flag_byte
        try:
            frame_type = FrameType(type_id)
        except ValueError:
            frame_type = None
        if frame_type not in _SUPPORTED_TYPES:
            if flags & FLAG_IGNORE and not (self._peer_role is PeerRole.DIALER and not self._setup_seen):
                return None  # RSocket: a frame with the IGNORE flag may be skipped if not understood
            raise ProtocolViolation(f"unsupported frame type {_type_name(type_id)}")
        if frame_type is FrameType.SETUP:
            if self._peer_role is PeerRole.ACCEPTOR:
                raise ProtocolViolation("SETUP frame from the accepting side")
            if self._setup_seen:
                raise ProtocolViolation("second SETUP frame")
        elif self._peer_role is PeerRole.DIALER and not self._setup_seen:
            raise ProtocolViolation(f"{frame_type.name} frame before SETUP")
        if frame_type is not FrameType.ERROR and (
                (frame_type in _CONNECTION_TYPES) != (stream_id == CONNECTION_STREAM_ID)):
            raise ProtocolViolation(f"{frame_type.name} frame on stream {stream_id}")
        continues_fragment = stream_id in self._fragment_bytes
        if frame_type in _REQUEST_TYPES and not continues_fragment:
            self._check_new_stream(frame_type, stream_id)
        try:
            frame = parse_or_ignore(raw)
        except Exception as error:  # rsocket-py raises anything from struct to ValueError
            raise ProtocolViolation(f"malformed {frame_type.name} frame: {error}") from None
        if frame is None:
            return None
        self._check_fields(frame)
        if frame_type in _FRAGMENTABLE_TYPES:
            self._count_fragment(frame, stream_id, follows=bool(flags & FLAG_FOLLOWS))
        if frame_type is FrameType.SETUP:
            self._setup_seen = True
        return frame

    def _check_new_stream(self, frame_type: FrameType, stream_id: int) -> None:
        odd = stream_id % 2 == 1
        if odd != (self._peer_role is PeerRole.DIALER):
            raise ProtocolViolation(
                f"{frame_type.name} on stream {stream_id}: the {self._peer_role.value} must use "
                f"{'odd' if self._peer_role is PeerRole.DIALER else 'even'} stream ids"
            )
        if stream_id <= self._last_stream_id:
            raise ProtocolViolation(f"{frame_type.name} reuses stream id {stream_id}")
        self._last_stream_id = stream_id

    def _check_fields(self, frame: Frame) -> None:
        if isinstance(frame, (RequestStreamFrame, RequestChannelFrame)) and frame.initial_request_n <= 0:
            raise ProtocolViolation(f"{frame.frame_type.name} with initial request-n {frame.initial_request_n}")
        if isinstance(frame, RequestNFrame) and frame.request_n <= 0:
            raise ProtocolViolation(f"REQUEST_N of {frame.request_n}")
        if isinstance(frame, ErrorFrame):
            try:
                bytes(frame.data or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolViolation("ERROR frame message is not UTF-8") from None

    def _count_fragment(self, frame: Frame, stream_id: int, *, follows: bool) -> None:
        size = len(frame.data or b"") + len(frame.metadata or b"")
        if not follows:
            self._fragment_bytes.pop(stream_id, None)
            return
        self._fragment_bytes[stream_id] = self._fragment_bytes.get(stream_id, 0) + size
        if sum(self._fragment_bytes.values()) > self._limits.max_message_length:
            raise ProtocolViolation(
                f"fragmented messages exceed the maximum of {self._limits.max_message_length} bytes"
            )


def _type_name(type_id: int) -> str:
    if type_id == EXTENSION_FRAME_TYPE:
        return "EXT"
    try:
        return FrameType(type_id).name
    except ValueError:
        return f"0x{type_id:02X}"


def check_setup(frame: SetupFrame) -> Hello:
    """The peer's `Hello` from a SETUP we accept; `SetupRefused` with the code and reason otherwise."""
    if frame.major_version != 1:
        raise SetupRefused(
            ErrorCode.UNSUPPORTED_SETUP,
            f"RSocket version {frame.major_version}.{frame.minor_version} is not supported (1.x is)",
        )
    if frame.flags_resume:
        raise SetupRefused(ErrorCode.UNSUPPORTED_SETUP, "resumption is not supported")
    if frame.flags_lease:
        raise SetupRefused(ErrorCode.UNSUPPORTED_SETUP, "leasing is not supported")
    metadata_mime = _mime_name(frame.metadata_encoding)
    if metadata_mime != COMPOSITE_METADATA_MIME:
        raise SetupRefused(
            ErrorCode.UNSUPPORTED_SETUP,
            f"metadata MIME type must be {COMPOSITE_METADATA_MIME}, not {metadata_mime!r}",
        )
    data_mime = _mime_name(frame.data_encoding)
    if data_mime != DATA_MIME:
        raise SetupRefused(ErrorCode.UNSUPPORTED_SETUP, f"data MIME type must be {DATA_MIME}, not {data_mime!r}")
    if frame.keep_alive_milliseconds <= 0 or frame.max_lifetime_milliseconds <= 0:
        raise SetupRefused(ErrorCode.INVALID_SETUP, "keepalive interval and max lifetime must be positive")
    try:
        return Hello.decode(frame.data or b"")
    except InvalidHello as error:
        raise SetupRefused(ErrorCode.REJECTED_SETUP, str(error)) from None


def _mime_name(raw: bytes | None) -> str:
    return bytes(raw or b"").decode("ascii", errors="replace")


def error_frame(stream_id: int, error_code: int, message: str) -> bytes:
    """A length-prefixed ERROR frame; the UTF-8 message is cut to keep frames small."""
    frame = ErrorFrame()
    frame.stream_id = stream_id
    frame.error_code = error_code
    frame.data = message.encode("utf-8")[:1024]
    return serialize_with_frame_size_header(frame)
