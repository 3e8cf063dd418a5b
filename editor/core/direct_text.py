"""The keystroke path into pycrdt: one transaction opened on pycrdt's Rust document directly.

pycrdt wraps every transaction in a Python object (origin bookkeeping, nesting leases, an
optional lock), and every `Text.insert` or deletion in a nested one. With one edit per
transaction, as typing makes them, that wrapping costs about as much as the edit: measured on the
automerge-paper trace with an undo manager and an update observer attached, opening the Rust
transaction directly takes 19% less time per edit in a bare pycrdt loop, and 10-15% less per
`SharedDocument.replace`. `DirectText` does for a transaction of ours
exactly what pycrdt's `Transaction.__exit__` does: commit (observers and the undo manager run
then), drop, and raise what an observer raised.

It relies on pycrdt internals (`Doc._doc`, `Doc._exceptions`, `Text.integrated`,
`hash_origin`), checked when a `DirectText` is made. pycrdt is pinned in pyproject.toml, and
`tests/core/test_direct_text.py` checks that this path and pycrdt's public API produce the same
updates byte for byte, so an upgrade that changes them fails there first.

Only for transactions that edit nothing but the text and run no Python code that reads the
document before the commit: pycrdt does not know this transaction is open.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text
from pycrdt._transaction import hash_origin

__all__ = ["DirectText"]


class DirectText:
    """Edits one integrated `Text` in transactions of one origin, bypassing pycrdt's wrappers.

    Use: `txn = direct.begin()`, then `direct.remove_range(txn, start, length)` and
    `direct.insert(txn, index, text, None)` (UTF-8 byte offsets, pycrdt's Rust methods) in a
    `try`, and `direct.end(txn)` in its `finally` (like pycrdt, the edits made before a failure
    are committed)."""

    __slots__ = ("_doc", "_rust_doc", "_origin_hash", "remove_range", "insert")

    def __init__(self, doc: Doc, text: Text, origin: str) -> None:
        rust_text = text.integrated  # raises if the text is not in a document
        self._doc = doc
        self._rust_doc = doc._doc
        self._origin_hash = hash_origin(origin)
        self.remove_range = rust_text.remove_range
        self.insert = rust_text.insert  # (txn, index, text, attributes or None)
        if not isinstance(doc._exceptions, list):
            raise TypeError("pycrdt's Doc no longer collects observer errors in a list")

    def begin(self) -> Any:
        """Open a transaction with this editor's origin (the caller must `end` it)."""
        if self._doc._txn is not None:
            raise RuntimeError("a pycrdt transaction is already open on this document")
        return self._rust_doc.create_transaction_with_origin(self._origin_hash)

    def end(self, txn: Any) -> None:
        """Commit and drop `txn`; raise an `ExceptionGroup` of what observers raised."""
        try:
            txn.commit()
            errors = self._doc._exceptions
            if errors:
                raised = tuple(errors)
                errors.clear()
                raise ExceptionGroup("Observer callback error", raised)
        finally:
            txn.drop()
