"""Route names and the composite/routing metadata that carries them (pure codec, no rsocket).

Composite metadata (RSocket extension "Composite Metadata", v0) is a sequence of entries:
one byte `0x80 | id` for a well-known MIME type (or `len - 1` then the ASCII MIME name),
a 24-bit big-endian content length, then the content. The routing entry
(`message/x.rsocket.routing.v0`, well-known id 0x7E) holds tags, each one length byte
followed by that many UTF-8 bytes. Tag 1 is the route; tag 2, where a route needs it, the
document id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

COMPOSITE_METADATA_MIME = "message/x.rsocket.composite-metadata.v0"
ROUTING_MIME = "message/x.rsocket.routing.v0"
DATA_MIME = "application/octet-stream"
ROUTING_MIME_ID = 0x7E  # RSocket well-known MIME type table

MAX_TAG_BYTES = 255  # a routing tag's length is one byte


class Interaction(Enum):
    """The RSocket interaction model a route is served on."""

    REQUEST_RESPONSE = "request-response"
    FIRE_AND_FORGET = "fire-and-forget"
    REQUEST_CHANNEL = "request-channel"


class Route(Enum):
    """Every route of protocol version 1."""

    HELLO = "hello"
    DOCS = "docs"
    DOCS_CHANGED = "docs.changed"
    DOC_SYNC = "doc.sync"
    PRESENCE = "presence"
    PING = "ping"

    @property
    def interaction(self) -> Interaction:
        """How the route is requested."""
        return _INTERACTIONS[self]

    @property
    def takes_doc_id(self) -> bool:
        """Whether a second routing tag names the document."""
        return self in (Route.DOC_SYNC, Route.PRESENCE)


_INTERACTIONS = {
    Route.HELLO: Interaction.REQUEST_RESPONSE,
    Route.DOCS: Interaction.REQUEST_RESPONSE,
    Route.PING: Interaction.REQUEST_RESPONSE,
    Route.DOCS_CHANGED: Interaction.FIRE_AND_FORGET,
    Route.PRESENCE: Interaction.FIRE_AND_FORGET,
    Route.DOC_SYNC: Interaction.REQUEST_CHANNEL,
}


class MalformedMetadata(ValueError):
    """Request metadata that is not composite metadata with a usable routing entry."""


@dataclass(frozen=True)
class RouteRequest:
    """The decoded routing of one request: a route name (maybe unknown) and an optional doc id."""

    route_name: str
    doc_id: str | None

    @property
    def route(self) -> Route | None:
        """The known route, or None for a name this version does not serve."""
        try:
            return Route(self.route_name)
        except ValueError:
            return None


def check_doc_id(doc_id: str) -> None:
    """`ValueError` unless `doc_id` fits in one routing tag (1 to 255 UTF-8 bytes)."""
    if not isinstance(doc_id, str) or not 0 < len(doc_id.encode("utf-8")) <= MAX_TAG_BYTES:
        raise ValueError(f"document id must be 1 to {MAX_TAG_BYTES} UTF-8 bytes: {doc_id!r}")


def encode_route(route: Route, doc_id: str | None = None) -> bytes:
    """Composite metadata holding one routing entry: the route, then `doc_id` if the route takes one."""
    if route.takes_doc_id != (doc_id is not None):
        raise ValueError(f"route {route.value!r} {'needs' if route.takes_doc_id else 'takes no'} document id")
    tags = [route.value] if doc_id is None else [route.value, doc_id]
    if doc_id is not None:
        check_doc_id(doc_id)
    content = b"".join(_encode_tag(tag) for tag in tags)
    return bytes([0x80 | ROUTING_MIME_ID]) + len(content).to_bytes(3, "big") + content


def _encode_tag(tag: str) -> bytes:
    raw = tag.encode("utf-8")
    return bytes([len(raw)]) + raw


def decode_route(metadata: bytes | None) -> RouteRequest:
    """Find the routing entry in composite metadata; `MalformedMetadata` with a readable reason."""
    if not metadata:
        raise MalformedMetadata("request carries no metadata (a routing entry is required)")
    tags = None
    for mime, content in _composite_entries(bytes(metadata)):
        if mime == ROUTING_MIME_ID or mime == ROUTING_MIME:
            tags = _routing_tags(content)
            break  # the first routing entry wins; other entries are ignored
    if tags is None:
        raise MalformedMetadata("composite metadata has no routing entry")
    if not tags:
        raise MalformedMetadata("routing entry has no tags")
    if len(tags) > 2:
        raise MalformedMetadata(f"routing entry has {len(tags)} tags; at most 2 are defined")
    return RouteRequest(route_name=tags[0], doc_id=tags[1] if len(tags) == 2 else None)


def _composite_entries(metadata: bytes):
    offset = 0
    while offset < len(metadata):
        first = metadata[offset]
        offset += 1
        if first & 0x80:
            mime: int | str = first & 0x7F
        else:
            length = first + 1  # a MIME name is never empty, so the byte holds length - 1
            raw = metadata[offset:offset + length]
            if len(raw) < length:
                raise MalformedMetadata("composite metadata entry has a truncated MIME type")
            try:
                mime = raw.decode("ascii")
            except UnicodeDecodeError:
                raise MalformedMetadata("composite metadata MIME type is not ASCII") from None
            offset += length
        if offset + 3 > len(metadata):
            raise MalformedMetadata("composite metadata entry has a truncated length")
        length = int.from_bytes(metadata[offset:offset + 3], "big")
        offset += 3
        if offset + length > len(metadata):
            raise MalformedMetadata("composite metadata entry is longer than the metadata")
        yield mime, metadata[offset:offset + length]
        offset += length


def _routing_tags(content: bytes) -> list[str]:
    tags = []
    offset = 0
    while offset < len(content):
        length = content[offset]
        offset += 1
        raw = content[offset:offset + length]
        if length == 0 or len(raw) < length:
            raise MalformedMetadata("routing tag is empty or truncated")
        try:
            tags.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedMetadata("routing tag is not UTF-8") from None
        offset += length
    return tags
