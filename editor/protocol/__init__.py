"""Wire protocol v1: Chorus messages over RSocket (the only importer of rsocket).

See docs/protocol.md for the wire format and docs/architecture.md for the contract.
"""

from .channel import ChannelEndpoint, ChannelState, DocChannel
from .connect import DEFAULT_PORT, Listener, accept_stream, dial, listen, memory_link_pair, open_dialed
from .errors import (
    ChannelAlreadyOpen,
    ChannelClosed,
    LinkClosed,
    NoCredit,
    RequestFailed,
    RequestTimeout,
    UnknownDocument,
)
from .framing import FrameLimits
from .hello import PROTOCOL_VERSION, Hello, InvalidHello, SetupRejected
from .link import DocumentInfo, Link, LinkHandler, LinkSettings, LinkState
from .routes import Route
from .streams import ByteStream, MemoryPipe
from .transport import RSOCKET_LOG, silence_rsocket_logs

__all__ = [
    "DEFAULT_PORT", "PROTOCOL_VERSION",
    "ByteStream", "ChannelAlreadyOpen", "ChannelClosed", "ChannelEndpoint", "ChannelState",
    "DocChannel", "DocumentInfo", "FrameLimits", "Hello", "InvalidHello", "Link", "LinkClosed",
    "LinkHandler", "LinkSettings", "LinkState", "Listener", "MemoryPipe", "NoCredit",
    "RSOCKET_LOG", "RequestFailed", "RequestTimeout", "Route", "SetupRejected", "UnknownDocument",
    "accept_stream", "dial", "listen", "memory_link_pair", "open_dialed", "silence_rsocket_logs",
]
