"""Exceptions of the protocol layer that callers handle."""

from __future__ import annotations


class LinkClosed(ConnectionError):
    """The link is closed or closed while the operation was pending; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"link closed: {reason}")
        self.reason = reason


class RequestFailed(Exception):
    """The peer answered a request with an error, or with a malformed answer."""


class RequestTimeout(TimeoutError):
    """The peer did not answer a request in time."""


class UnknownDocument(LookupError):
    """Raised by `LinkHandler.accept_channel` for a document this peer does not have."""

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"unknown document {doc_id!r}")
        self.doc_id = doc_id


class ChannelAlreadyOpen(Exception):
    """A doc.sync channel for this document is already open on this link."""


class ChannelClosed(Exception):
    """The channel is closed; nothing more can be sent on it."""


class NoCredit(Exception):
    """`DocChannel.send` without credit: wait for `ChannelEndpoint.credit_granted`."""
