"""DNS-SD TXT record codec for a Chorus advertisement (pure: no I/O, no zeroconf).

Keys (RFC 6763 section 6): ``id`` peer id, ``v`` protocol version, ``name`` display name,
``docs`` number of shared documents. Unknown keys are ignored so later versions can add some.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

KEY_PEER_ID = b"id"
KEY_PROTOCOL = b"v"
KEY_NAME = b"name"
KEY_DOCS = b"docs"

# RFC 6763 section 6.1: one "key=value" string is at most 255 bytes.
MAX_ENTRY_BYTES = 255
MAX_NAME_BYTES = MAX_ENTRY_BYTES - len(KEY_NAME) - 1
MAX_PEER_ID_BYTES = MAX_ENTRY_BYTES - len(KEY_PEER_ID) - 1


@dataclass(frozen=True)
class PeerAdvert:
    """What one peer says about itself on the network."""

    peer_id: str
    name: str
    protocol: int
    docs: int = 0


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Return the longest prefix of `text` whose UTF-8 encoding fits in `max_bytes`."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    # Cutting bytes may split a character: drop the partial tail instead of failing.
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def encode_txt(advert: PeerAdvert) -> dict[bytes, bytes]:
    """Encode an advert as TXT properties; raise ValueError for an advert nobody could decode."""
    peer_id = advert.peer_id.encode("utf-8")
    if not peer_id or len(peer_id) > MAX_PEER_ID_BYTES:
        raise ValueError(f"peer id must be 1..{MAX_PEER_ID_BYTES} UTF-8 bytes: {advert.peer_id!r}")
    if advert.protocol < 1:
        raise ValueError(f"protocol version must be positive: {advert.protocol}")
    if advert.docs < 0:
        raise ValueError(f"document count must not be negative: {advert.docs}")
    return {
        KEY_PEER_ID: peer_id,
        KEY_PROTOCOL: str(advert.protocol).encode("ascii"),
        KEY_NAME: truncate_utf8(advert.name, MAX_NAME_BYTES).encode("utf-8"),
        KEY_DOCS: str(advert.docs).encode("ascii"),
    }


def _positive_int(raw: bytes | None) -> int | None:
    """Parse a plain decimal (no sign, no spaces) or return None."""
    if raw is None or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_txt(properties: Mapping[bytes, bytes | None], *, source: str = "") -> PeerAdvert | None:
    """Decode TXT properties; None if `id` or `v` is missing or bad, defaults for a bad `name`/`docs`.

    Never raises for bad input; each call with problems logs exactly one WARNING naming them.
    """
    problems: list[str] = []

    peer_id = _text(properties.get(KEY_PEER_ID))
    if not peer_id or not peer_id.isprintable():
        problems.append(f"id={properties.get(KEY_PEER_ID)!r}")
        peer_id = None

    protocol = _positive_int(properties.get(KEY_PROTOCOL))
    if protocol is None or protocol < 1:
        problems.append(f"v={properties.get(KEY_PROTOCOL)!r}")
        protocol = None

    name = _text(properties.get(KEY_NAME))
    if name is None or not name.isprintable():
        problems.append(f"name={properties.get(KEY_NAME)!r}")
        name = ""

    docs = _positive_int(properties.get(KEY_DOCS))
    if docs is None:
        problems.append(f"docs={properties.get(KEY_DOCS)!r}")
        docs = 0

    usable = peer_id is not None and protocol is not None
    if problems:
        outcome = "ignoring these values" if usable else "ignoring the advert"
        log.warning("bad TXT record%s (%s): %s", f" of {source}" if source else "", outcome, ", ".join(problems))
    if not usable:
        return None
    assert peer_id is not None and protocol is not None
    return PeerAdvert(peer_id=peer_id, name=name, protocol=protocol, docs=docs)
