"""`chorus://HOST:PORT/DOC_ID` links to a shared document, and this machine's LAN address."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

__all__ = ["SCHEME", "DocumentLink", "format_link", "is_link", "lan_address", "parse_host_port",
           "parse_link"]

SCHEME = "chorus"
DEFAULT_PORT = 4117
# A documentation address (RFC 5737): connecting a UDP socket towards it sends nothing but
# makes the kernel pick the interface a LAN peer would reach us on.
_ROUTE_PROBE = ("192.0.2.1", 9)


@dataclass(frozen=True)
class DocumentLink:
    """Where a shared document lives: a peer's address and the document's id."""

    host: str
    port: int
    doc_id: str

    def __str__(self) -> str:
        return format_link(self.host, self.port, self.doc_id)


def format_link(host: str, port: int, doc_id: str) -> str:
    """The link text; an IPv6 host is bracketed."""
    shown_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{SCHEME}://{shown_host}:{port}/{quote(doc_id, safe='')}"


def is_link(text: str) -> bool:
    """True if `text` looks like a chorus link (it may still be malformed)."""
    return text.lower().startswith(SCHEME + "://")


def parse_link(text: str) -> DocumentLink:
    """Parse a link; `ValueError` saying what is wrong with it."""
    parts = urlsplit(text.strip())
    if parts.scheme.lower() != SCHEME:
        raise ValueError(f"not a {SCHEME}:// link: {text!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    host = parts.hostname
    doc_id = unquote(parts.path.lstrip("/"))
    if not host:
        raise ValueError(f"no host in {text!r}")
    if not doc_id or "/" in doc_id:
        raise ValueError(f"no document id in {text!r} (expected {SCHEME}://HOST:PORT/DOC)")
    return DocumentLink(host, port if port is not None else DEFAULT_PORT, doc_id)


def lan_address() -> str:
    """This machine's address on the LAN (the interface of the default route), else its
    host name."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(_ROUTE_PROBE)
        address = probe.getsockname()[0]
    except OSError:  # no route at all (offline machine): peers may still resolve the name
        return socket.gethostname()
    finally:
        probe.close()
    return address if address and not address.startswith("0.") else socket.gethostname()


def parse_host_port(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """"HOST", "HOST:PORT" or "[IPv6]:PORT" -> (host, port); `ValueError` if malformed."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"not an address: {text!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a bare host name, IPv4 address, or unbracketed IPv6 address
        host, port_text = text, ""
    if not host:
        raise ValueError(f"no host in {text!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, port
