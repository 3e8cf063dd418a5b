"""The identity a peer announces in SETUP and answers to `hello`: UTF-8 JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

PROTOCOL_VERSION = 1

# Generous bounds: identifiers are short; anything longer is a bug or hostile input.
MAX_PEER_ID_LENGTH = 128
MAX_NAME_LENGTH = 256


class InvalidHello(ValueError):
    """The SETUP/hello JSON is malformed or names an unsupported protocol version."""


class SetupRejected(ConnectionError):
    """The acceptor refused our SETUP (REJECTED_SETUP or another setup error); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"setup rejected by peer: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Hello:
    """Who a peer is: a stable `peer_id`, a display `name`, and the protocol version it speaks."""

    peer_id: str
    name: str
    protocol: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.peer_id, str) or not 0 < len(self.peer_id) <= MAX_PEER_ID_LENGTH:
            raise InvalidHello(f"peer id must be a string of 1 to {MAX_PEER_ID_LENGTH} characters")
        if not isinstance(self.name, str) or len(self.name) > MAX_NAME_LENGTH:
            raise InvalidHello(f"name must be a string of at most {MAX_NAME_LENGTH} characters")
        # bool is an int subclass; `true` is not a version.
        if not isinstance(self.protocol, int) or isinstance(self.protocol, bool):
            raise InvalidHello("protocol must be an integer")

    def encode(self) -> bytes:
        """UTF-8 JSON `{"protocol", "peer", "name"}`."""
        return json.dumps(
            {"protocol": self.protocol, "peer": self.peer_id, "name": self.name},
            ensure_ascii=False,
        ).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> Hello:
        """Parse and validate; `InvalidHello` with a readable reason, also for another version."""
        try:
            fields = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidHello(f"hello is not UTF-8 JSON: {error}") from None
        if not isinstance(fields, dict):
            raise InvalidHello("hello must be a JSON object")
        protocol = fields.get("protocol")
        if protocol != PROTOCOL_VERSION or isinstance(protocol, bool):
            raise InvalidHello(
                f"unsupported protocol version {protocol!r}: this peer speaks {PROTOCOL_VERSION}"
            )
        # Unknown keys are ignored so that later versions can add fields.
        return cls(peer_id=fields.get("peer"), name=fields.get("name"), protocol=protocol)
