"""Chorus: live co-editing of text documents on the local network, with no server."""

__version__ = "0.1.0"
