"""Finding peers on the LAN over mDNS/DNS-SD (the only importer of zeroconf)."""

from editor.discovery.interfaces import InterfaceReport, SkippedInterface, UsedInterface, select_interfaces
from editor.discovery.mdns import (
    SERVICE_TYPE,
    BrowseResult,
    DiscoveredPeer,
    Discovery,
    DiscoveryError,
    DiscoveryEvent,
    DiscoveryState,
    NoUsableInterfaces,
    PeerAppeared,
    PeerChanged,
    PeerLeft,
    browse_once,
    instance_label,
)
from editor.discovery.txt import PeerAdvert, decode_txt, encode_txt

__all__ = [
    "SERVICE_TYPE",
    "BrowseResult",
    "DiscoveredPeer",
    "Discovery",
    "DiscoveryError",
    "DiscoveryEvent",
    "DiscoveryState",
    "InterfaceReport",
    "NoUsableInterfaces",
    "PeerAdvert",
    "PeerAppeared",
    "PeerChanged",
    "PeerLeft",
    "SkippedInterface",
    "UsedInterface",
    "browse_once",
    "decode_txt",
    "encode_txt",
    "instance_label",
    "select_interfaces",
]
