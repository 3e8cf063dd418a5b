"""The shared document: one pycrdt `Doc` holding one `Text` named "text", spoken to in code points.

Everything pycrdt does wrong at the edges is contained here: positions in UTF-8 bytes are
converted with a `TextIndex` kept in step with the text; pycrdt exceptions and Rust panics
(`pyo3_runtime.PanicException`, a `BaseException`) become `ValueError` (bad local input),
`InvalidUpdate` (bad remote update) or `RuntimeError` (misuse), and the document is left
untouched; observers only do bookkeeping and every callback runs after the transaction.

Origins: local edits run in a transaction whose origin is `_LOCAL_ORIGIN`, and the undo manager
tracks that origin only, so undo never removes what another peer typed. Remote updates run under
`_REMOTE_ORIGIN`. pycrdt hands observers a hash instead of the origin, so the document keeps its
own record of what is being applied right now and from which source (`_Activity`).

Anchor JSON (the awareness `cursor.anchor` / `cursor.head` value). It is the shape of Yjs
`relativePositionToJSON` with Yjs item ids (clocks in UTF-16 units), so Yjs clients can read it.
pycrdt's own StickyIndex mixes bytes and clocks on non-ASCII text; `editor.core.anchors`
derives exact ids from it.

    {"item": {"client": <uint>, "clock": <uint>}, "assoc": 0 | -1}   relative to a character
    {"tname": "text", "assoc": 0 | -1}                                 start or end of the text

`assoc` 0 (`Assoc.AFTER`) sticks to the character after the position, -1 (`Assoc.BEFORE`) to the
character before it. A position at the very end with `Assoc.AFTER` is emitted as
`{"tname": "text", "assoc": 0}`, as Yjs does (it resolves to the end of the text). Yjs may also
send `"type": {"client", "clock"}` for nested types; Chorus has none, so such anchors never
resolve. `assoc` may be omitted (Yjs reads it as 0).

Embeds. A Chorus text is plain text, but a foreign Yjs client may put an embed (an object or a
nested type) or formatting into it. Formatting takes no room and is ignored. An embed is no text
yet counts as one unit in pycrdt's offsets: while the remote transaction that brought it is
walked, it stands in the index as one byte and in the reported changes as `EMBED_PLACEHOLDER`;
right after, the document deletes every embed in a transaction of its own, which goes to every
peer (the sender included), so all replicas converge on plain text.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, NoReturn, TypeAlias

from pycrdt import Assoc, Doc, Text, TextEvent, TransactionEvent, UndoManager, get_update
from pycrdt import merge_updates as _merge_updates

from editor.core.anchor_cache import AnchorCache
from editor.core.anchors import ascii_item_id_at, ascii_locate_unit, item_id_at, locate_unit
from editor.core.direct_text import DirectText
from editor.core.lib0 import MAX_SAFE_INTEGER, Reader, TruncatedData, read_state_vector
from editor.core.offsets import AsciiIndex, TextIndex, utf8_length
from editor.core.textdiff import minimal_edit

__all__ = [
    "EMBED_PLACEHOLDER",
    "Assoc",
    "ChangeOrigin",
    "InvalidUpdate",
    "SharedDocument",
    "TextChange",
    "TextDeleted",
    "TextInserted",
    "Unsubscribe",
    "merge_updates",
    "validate_anchor",
]

TEXT_NAME: Final = "text"
EMPTY_UPDATE: Final = b"\x00\x00"
# How an embed shows in reported changes (U+FFFC OBJECT REPLACEMENT CHARACTER), and the one-byte
# character that stands for it in the index while it is there (module docstring, "Embeds").
EMBED_PLACEHOLDER: Final = "\ufffc"
_EMBED_STAND_IN: Final = "\x00"


class InvalidUpdate(ValueError):
    """A remote update could not be decoded or applied; the document is unchanged."""


class ChangeOrigin(enum.Enum):
    """Why the text changed, for changes not made by `insert`/`delete`/`replace` themselves."""

    REMOTE = "remote"
    UNDO = "undo"
    REDO = "redo"


@dataclass(frozen=True, slots=True)
class TextInserted:
    """`text` was inserted before code point `index`."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class TextDeleted:
    """`length` code points were deleted starting at code point `index`."""

    index: int
    length: int


TextChange: TypeAlias = TextInserted | TextDeleted
UpdateCallback: TypeAlias = Callable[[bytes, object | None], None]
ChangeCallback: TypeAlias = Callable[[list[TextChange], ChangeOrigin], None]
Unsubscribe: TypeAlias = Callable[[], None]


# pycrdt transaction origins (the undo manager tracks the local one only). Plain strings: pycrdt
# hashes the origin of every transaction, and an enum member hashes in Python.
_LOCAL_ORIGIN: Final = "chorus.local"
_REMOTE_ORIGIN: Final = "chorus.remote"


class _Activity(enum.Enum):
    """What the document is doing inside the current pycrdt transaction."""

    LOCAL_EDIT = enum.auto()
    REMOTE = enum.auto()
    UNDO = enum.auto()
    REDO = enum.auto()


_CHANGE_ORIGIN_OF: Final = {
    _Activity.REMOTE: ChangeOrigin.REMOTE,
    _Activity.UNDO: ChangeOrigin.UNDO,
    _Activity.REDO: ChangeOrigin.REDO,
}


@dataclass(slots=True)
class _Applying:
    """The record of the transaction in progress: what, from where, which text changes."""

    activity: _Activity
    source: object | None
    changes: list[TextChange]
    embedded: bool = False  # the transaction brought an embed (module docstring, "Embeds")


class _Outgoing(NamedTuple):
    """What one committed transaction hands to subscribers (a tuple: one per keystroke)."""

    update: bytes | None  # None: the transaction changed nothing
    source: object | None
    changes: list[TextChange] | None  # None: nothing to report to change subscribers
    origin: ChangeOrigin | None


# The record of every local edit: local edits have no source, and their changes are not
# recorded (the text is not observed during them), so one shared record serves them all.
_LOCAL_EDIT: Final = _Applying(_Activity.LOCAL_EDIT, None, [])


def _is_rust_panic(exc: BaseException) -> bool:
    """True for pyo3's PanicException, which derives from BaseException and is not importable."""
    kind = type(exc)
    return kind.__module__ == "pyo3_runtime" and kind.__name__ == "PanicException"


def _reraise_translated(exc: BaseException, error: type[Exception], what: str) -> NoReturn:
    """Raise a pycrdt exception or Rust panic as `error`; re-raise real BaseExceptions as is."""
    if isinstance(exc, Exception):
        raise error(f"{what}: {exc}") from exc
    if _is_rust_panic(exc):
        raise error(f"{what}: pycrdt panicked: {exc}") from None
    raise exc


@contextmanager
def _translated(error: type[Exception], what: str) -> Iterator[None]:
    """Translate what escapes the block with `_reraise_translated`."""
    try:
        yield
    except BaseException as exc:
        _reraise_translated(exc, error, what)


def merge_updates(updates: list[bytes]) -> bytes:
    """One update equivalent to all of `updates` (measured: a few microseconds for a few dozen
    small updates, but it grows faster than linearly: merge short runs only).
    `InvalidUpdate` if one of them is corrupt."""
    try:
        return _merge_updates(*updates)
    except BaseException as exc:
        _reraise_translated(exc, InvalidUpdate, "cannot merge updates")


def _check_declared_counts(update: bytes) -> None:
    """Reject an update whose leading counts exceed its size, before pycrdt sees it.

    Measured: yrs reserves memory for the declared number of clients and structs up front, so
    six bytes of garbage declaring 2**28 clients cost a quarter of a second and gigabytes of
    address space. An update v1 starts with varUint(clients), then per client
    varUint(structs), client, clock, structs: every count needs at least a byte per item.
    """
    reader = Reader(update)
    try:
        clients = reader.read_var_uint()
        if clients > len(update):
            raise InvalidUpdate(f"invalid update: declares {clients} clients in {len(update)} bytes")
        if clients:
            structs = reader.read_var_uint()
            if structs > len(update):
                raise InvalidUpdate(f"invalid update: declares {structs} structs in {len(update)} bytes")
    except TruncatedData as exc:
        raise InvalidUpdate(f"invalid update: {exc}") from None


def _carries_structs(update: bytes) -> bool:
    """True if an update holds structs (its first varUint counts the clients with structs)."""
    return update[:1] != b"\x00"



def _check_id(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"anchor {what} must be an integer in 0..2**53-1, got {value!r}")
    return value


def _check_id_pair(value: object, what: str) -> dict[str, int]:
    if not isinstance(value, dict) or set(value) != {"client", "clock"}:
        raise ValueError(f"anchor {what} must be {{'client': .., 'clock': ..}}, got {value!r}")
    return {"client": _check_id(value["client"], f"{what}.client"),
            "clock": _check_id(value["clock"], f"{what}.clock")}


def validate_anchor(anchor: object) -> dict[str, Any]:
    """Check the shape of an anchor (module docstring) and return it normalised: `assoc`
    present and 0 or -1; `ValueError` if it is not an anchor at all."""
    if not isinstance(anchor, dict):
        raise ValueError(f"an anchor is a JSON object, got {type(anchor).__name__}")
    unknown = set(anchor) - {"item", "type", "tname", "assoc"}
    if unknown:
        raise ValueError(f"unknown anchor fields {sorted(unknown)}")
    assoc = anchor.get("assoc", 0)
    if type(assoc) is not int:
        raise ValueError(f"anchor assoc must be an integer, got {assoc!r}")
    normal: dict[str, Any] = {}
    if anchor.get("item") is not None:
        normal["item"] = _check_id_pair(anchor["item"], "item")
    elif anchor.get("type") is not None:
        normal["type"] = _check_id_pair(anchor["type"], "type")
    elif isinstance(anchor.get("tname"), str):
        normal["tname"] = anchor["tname"]
    else:
        raise ValueError("an anchor needs one of 'item', 'type' or 'tname'")
    # Yjs: assoc >= 0 associates with the right-hand character.
    normal["assoc"] = int(Assoc.AFTER) if assoc >= 0 else int(Assoc.BEFORE)
    return normal


class SharedDocument:
    """One co-edited text: local edits, remote updates, local-only undo, anchors; code points."""

    def __init__(self, doc_id: str, *, client_id: int | None = None,
                 capture_timeout_ms: int = 500) -> None:
        self.doc_id = doc_id
        self._doc: Doc = Doc(client_id=client_id)
        self._text: Text = self._doc.get(TEXT_NAME, type=Text)
        # Identity conversions until the first non-ASCII character (then a chunked index).
        self._index: AsciiIndex | TextIndex = AsciiIndex()
        self._applying: _Applying | None = None
        # Remote updates not fully integrated yet (see apply_update).
        self._held_updates: list[bytes] = []
        # Filled by observers inside a transaction, drained by `_deliver` after it.
        self._outbox: deque[_Outgoing] = deque()
        self._delivering = False
        self._update_callbacks: list[UpdateCallback] = []
        self._change_callbacks: list[ChangeCallback] = []
        # The text is observed only around remote, undo and redo transactions: pycrdt computes
        # an event's delta by walking the text from its start (measured: 85 us per edit at
        # offset 80k), and local edits know their change already (`replace` keeps the index).
        self._doc.observe(self._on_transaction)
        self._undo = UndoManager(scopes=[self._text], capture_timeout_millis=capture_timeout_ms)
        self._undo.include_origin(_LOCAL_ORIGIN)
        self._direct = DirectText(self._doc, self._text, _LOCAL_ORIGIN)
        # Where recently used anchors are, moved along with every change (probing pycrdt for
        # them costs milliseconds on non-ASCII text).
        self._anchors = AnchorCache()

    # -- reading ------------------------------------------------------------------------

    @property
    def client_id(self) -> int:
        """This replica's Yjs client id."""
        return self._doc.client_id

    @property
    def text(self) -> str:
        """The whole text (O(n))."""
        return str(self._text)

    def __len__(self) -> int:
        return len(self._index)

    def state_vector(self) -> bytes:
        """The encoded state vector (what this replica has integrated)."""
        self._check_not_busy()
        return self._doc.get_state()

    def encode_state(self, since: bytes | None = None) -> bytes:
        """An update holding everything not covered by state vector `since` (all if None),
        plus the whole delete set."""
        self._check_not_busy()
        if since is not None:
            try:
                read_state_vector(since)
            except TruncatedData as exc:
                raise ValueError(f"malformed state vector: {exc}") from None
        with _translated(ValueError, "cannot encode the document state"):
            return self._doc.get_update(since)

    @property
    def can_undo(self) -> bool:
        """True if `undo()` would change something."""
        return self._undo.can_undo()

    @property
    def can_redo(self) -> bool:
        """True if `redo()` would change something."""
        return self._undo.can_redo()

    # -- local edits -------------------------------------------------------------------

    def insert(self, index: int, text: str) -> None:
        """Insert `text` before code point `index` (a local, undoable edit)."""
        self.replace(index, 0, text)

    def delete(self, index: int, length: int) -> None:
        """Delete `length` code points from code point `index` (a local, undoable edit)."""
        self.replace(index, length, "")

    def replace(self, index: int, length: int, text: str) -> None:
        """Replace `length` code points at `index` by `text` in one transaction and one update."""
        # The keystroke path: one transaction, written out rather than run through `_run`
        # (measured on a trace replay: 8% less time per edit than the generic path), opened on
        # pycrdt's Rust document directly (10-15% less again: see `editor.core.direct_text`).
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        if type(index) is not int or type(length) is not int:
            raise TypeError("index and length must be int")
        text_index = self._index
        if length < 0 or not 0 <= index <= index + length <= len(text_index):
            raise ValueError(f"range {index}+{length} out of 0..{len(text_index)}")
        ascii_text = text.isascii()
        if not ascii_text:
            utf8_length(text)  # ValueError for lone surrogates, which the Rust side cannot hold
        if length == 0 and not text:
            return
        self._check_not_busy()
        start, end = text_index.utf8_span(index, length)
        self._applying = _LOCAL_EDIT
        try:
            if not ascii_text and isinstance(text_index, AsciiIndex):
                self._first_non_ascii_edit(start, end, text)
            else:
                direct = self._direct
                txn = direct.begin()
                try:
                    if end > start:
                        direct.remove_range(txn, start, end - start)
                    if text:
                        direct.insert(txn, start, text, None)
                    # Reached only if pycrdt accepted the edit: the index follows the text.
                    text_index.replace(index, length, text)
                finally:
                    direct.end(txn)
        except BaseException as exc:
            _reraise_translated(exc, ValueError, "local edit failed")
        finally:
            self._applying = None
        if self._anchors:
            self._anchors.replaced(index, length, len(text))
        self._deliver()

    def _first_non_ascii_edit(self, start: int, end: int, text: str) -> None:
        """The edit that brings the first non-ASCII text: through pycrdt's public API, which
        can read the edited text inside the transaction to build the chunked index."""
        with self._doc.transaction(origin=_LOCAL_ORIGIN):
            if end > start:
                del self._text[start:end]
            self._text.insert(start, text)
            self._index = TextIndex(str(self._text))

    def set_text(self, new_text: str) -> None:
        """Make the text equal `new_text` through one minimal local edit."""
        index, deleted, inserted = minimal_edit(self.text, new_text)
        self.replace(index, deleted, inserted)

    def undo(self) -> bool:
        """Undo this peer's last edit group (never another peer's); False if nothing to undo."""
        return bool(self._run(_Activity.UNDO, None, self._undo.undo, RuntimeError, "undo failed"))

    def redo(self) -> bool:
        """Redo what `undo` took back; False if nothing to redo."""
        return bool(self._run(_Activity.REDO, None, self._undo.redo, RuntimeError, "redo failed"))

    # -- remote updates ----------------------------------------------------------------

    def apply_update(self, update: bytes, source: object) -> list[TextChange]:
        """Apply a remote update from `source`; return its code-point changes (also delivered
        to `subscribe_changes`). `InvalidUpdate`, document untouched, if it is corrupt."""
        if not isinstance(update, bytes | bytearray | memoryview):
            raise TypeError(f"update must be bytes, got {type(update).__name__}")
        data = bytes(update)  # pycrdt rejects bytearray
        _check_declared_counts(data)
        # While earlier updates wait for missing structs, this one may release them; they can
        # come from any source, so the relay must not skip this update's own source then.
        relay_source = source if not self._held_updates else None
        state_before = self._doc.get_state() if self._held_updates else None
        applying = self._run(_Activity.REMOTE, relay_source, lambda: self._doc.apply_update(data),
                             InvalidUpdate, "invalid update", return_record=True)
        self._track_held(data)
        if state_before is not None and self._held_updates and self._doc.get_state() != state_before:
            return applying.changes + self._integrate_held()
        return applying.changes

    # -- subscriptions -----------------------------------------------------------------

    def subscribe_updates(self, callback: UpdateCallback) -> Unsubscribe:
        """Call `callback(update, source)` after every transaction that changed the document;
        `source` is the `apply_update` tag, None for local edits, undo and redo."""
        self._update_callbacks.append(callback)
        return lambda: self._remove(self._update_callbacks, callback)

    def subscribe_changes(self, callback: ChangeCallback) -> Unsubscribe:
        """Call `callback(changes, origin)` with code-point changes, in order, for remote
        updates, undo and redo (not for this document's own insert/delete/replace)."""
        self._change_callbacks.append(callback)
        return lambda: self._remove(self._change_callbacks, callback)

    @staticmethod
    def _remove(callbacks: list[Any], callback: Any) -> None:
        if callback in callbacks:
            callbacks.remove(callback)

    # -- anchors -----------------------------------------------------------------------

    def anchor_at(self, index: int, assoc: Assoc = Assoc.AFTER) -> dict[str, Any]:
        """A JSON-able position that follows the text at code point `index` (module docstring)."""
        self._check_not_busy()
        assoc = Assoc(assoc)
        if type(index) is not int or not 0 <= index <= len(self._index):
            raise ValueError(f"index {index!r} out of range 0..{len(self._index)}")
        # At the ends Yjs anchors to the type itself (and pycrdt panics on the end + AFTER).
        if assoc is Assoc.AFTER and index == len(self._index):
            return {"tname": TEXT_NAME, "assoc": int(Assoc.AFTER)}
        if assoc is Assoc.BEFORE and index == 0:
            return {"tname": TEXT_NAME, "assoc": int(Assoc.BEFORE)}
        after = assoc is Assoc.AFTER
        known = self._anchors.item_at(index, after)
        if known is not None:
            return {"item": {"client": known[0], "clock": known[1]}, "assoc": int(assoc)}
        with _translated(RuntimeError, "cannot create an anchor"):
            if isinstance(self._index, AsciiIndex):
                # All ASCII: pycrdt's ids are exact, no probing (measured: 5 ms -> microseconds).
                client, clock = ascii_item_id_at(self._text, index if assoc is Assoc.AFTER else index - 1)
            elif assoc is Assoc.AFTER:
                client, clock = item_id_at(self._text, self._index, index)
            else:
                # BEFORE sticks to the last UTF-16 unit of the character before the position.
                client, clock = item_id_at(self._text, self._index, index - 1)
                clock += self._index.utf16_of(index) - self._index.utf16_of(index - 1) - 1
        self._anchors.remember(client, clock, after, index, created=True)
        return {"item": {"client": client, "clock": clock}, "assoc": int(assoc)}

    def resolve_anchor(self, anchor: dict[str, Any]) -> int | None:
        """The code point index an anchor points at now; None if it cannot be resolved (its
        character has not arrived yet, or it belongs to another type). `ValueError` if
        `anchor` is not an anchor."""
        self._check_not_busy()
        normal = validate_anchor(anchor)
        after = normal["assoc"] == int(Assoc.AFTER)
        if "type" in normal or normal.get("tname", TEXT_NAME) != TEXT_NAME:
            return None
        if "tname" in normal:
            # Yjs: a type-relative position is the end (AFTER) or the start (BEFORE).
            return len(self._index) if after else 0
        client, clock = normal["item"]["client"], normal["item"]["clock"]
        known = self._anchors.position(client, clock, after)
        if known is not None:
            return known
        # Resolving an item this replica has not integrated makes pycrdt panic.
        if clock >= read_state_vector(self._doc.get_state()).get(client, 0):
            return None
        with _translated(RuntimeError, "cannot resolve an anchor"):
            if isinstance(self._index, AsciiIndex):
                located = ascii_locate_unit(self._text, client, clock)
            else:
                located = locate_unit(self._text, self._index, client, clock)
        if located is None:
            return None
        offset, visible = located
        if visible and not after:
            offset += 1  # BEFORE: just after the unit it sticks to
        position = self._index_of_utf16_rounded(offset, up=not after)
        if visible and self._index.utf16_of(position) == offset:
            self._anchors.remember(client, clock, after, position, created=False)
        return position

    def _index_of_utf16_rounded(self, offset: int, *, up: bool) -> int:
        """Code point index of a UTF-16 offset; inside a surrogate pair, round down or up."""
        try:
            return self._index.index_of_utf16(offset)
        except ValueError:
            return self._index.index_of_utf16(offset + 1 if up else offset - 1)

    # -- machinery ---------------------------------------------------------------------

    def _check_not_busy(self) -> None:
        if self._applying is not None:
            raise RuntimeError("the document is inside a transaction (called from an observer?)")

    def _run(self, activity: _Activity, source: object | None, action: Callable[[], Any],
             error: type[Exception], what: str, *, return_record: bool = False) -> Any:
        """Run `action` (remote, undo or redo; local edits have their own path in `replace`)
        as one transaction of `activity` with the text observed, then deliver what it produced."""
        self._check_not_busy()
        applying = _Applying(activity, source, [])
        self._applying = applying
        text_events = self._text.observe(self._on_text_event)
        # A plain try rather than `with _translated(...)`: this runs once per remote update,
        # and the generator-based context manager cost 8% of an edit (measured).
        try:
            if activity is _Activity.REMOTE:
                with self._doc.transaction(origin=_REMOTE_ORIGIN):
                    result = action()
            else:
                # The undo manager opens its own transaction under its own origin.
                result = action()
        except BaseException as exc:
            self._anchors.clear()  # the text may have changed in ways not recorded
            _reraise_translated(exc, error, what)
        finally:
            self._text.unobserve(text_events)
            self._applying = None
        self._follow_anchors(applying.changes)
        if applying.embedded:
            self._remove_embeds()
        self._deliver()
        return applying if return_record else result

    def _remove_embeds(self) -> None:
        """Delete every embed from the text in one transaction of our own, sent to every peer;
        the changes report each placeholder's deletion (module docstring, "Embeds")."""
        pieces: list[str] = []
        positions: list[int] = []  # code point indices of the embeds, ascending
        length = 0
        for content, _attributes in self._text.diff():
            if isinstance(content, str):
                pieces.append(content)
                length += len(content)
            else:
                pieces.append(_EMBED_STAND_IN)
                positions.append(length)
                length += 1
        text = "".join(pieces)
        self._index = AsciiIndex(len(text)) if text.isascii() else TextIndex(text)
        changes: list[TextChange] = []
        self._applying = _Applying(_Activity.REMOTE, None, changes)
        try:
            with self._doc.transaction(origin=_REMOTE_ORIGIN):
                for position in reversed(positions):
                    offset = self._index.utf8_of(position)
                    del self._text[offset:offset + 1]
                    self._index.delete(position, 1)
                    changes.append(TextDeleted(position, 1))
        except BaseException as exc:
            self._anchors.clear()
            _reraise_translated(exc, InvalidUpdate, "cannot remove an embed")
        finally:
            self._applying = None
        self._follow_anchors(changes)

    def _follow_anchors(self, changes: list[TextChange]) -> None:
        """Move the remembered anchors through `changes`, in order."""
        anchors = self._anchors
        if not anchors:
            return
        for change in changes:
            if isinstance(change, TextInserted):
                anchors.inserted(change.index, len(change.text))
            else:
                anchors.deleted(change.index, change.length)

    def _on_text_event(self, event: TextEvent) -> None:
        """Keep the index in step and record code-point changes (bookkeeping only)."""
        applying = self._applying
        if applying is None:
            raise RuntimeError("the text changed outside SharedDocument")
        if isinstance(self._index, AsciiIndex):
            self._record_ascii_delta(event.delta, applying)
            return
        changes = applying.changes
        position = 0  # UTF-8 offset into the text as changed so far
        for op in event.delta:
            if "retain" in op:
                position += op["retain"]
            elif "insert" in op:
                inserted = op["insert"]
                index = self._index.index_of_utf8(position)
                if isinstance(inserted, str):
                    self._index.insert(index, inserted)
                    changes.append(TextInserted(index, inserted))
                    position += utf8_length(inserted)
                else:
                    applying.embedded = True
                    self._index.insert(index, _EMBED_STAND_IN)
                    changes.append(TextInserted(index, EMBED_PLACEHOLDER))
                    position += 1
            elif "delete" in op:
                start = self._index.index_of_utf8(position)
                end = self._index.index_of_utf8(position + op["delete"])
                self._index.delete(start, end - start)
                changes.append(TextDeleted(start, end - start))

    def _record_ascii_delta(self, delta: list[dict[str, Any]], applying: _Applying) -> None:
        """The delta walk while the text was ASCII: retain and delete count bytes of the text as
        it was (ASCII, so bytes are code points); inserted text counts its own code points."""
        index = 0
        all_ascii = True
        recorded: list[TextChange] = []
        for op in delta:
            if "retain" in op:
                index += op["retain"]
            elif "insert" in op:
                inserted = op["insert"]
                if not isinstance(inserted, str):
                    # One unit, as in pycrdt's offsets; `_remove_embeds` rebuilds the index.
                    applying.embedded = True
                    inserted = EMBED_PLACEHOLDER
                all_ascii = all_ascii and inserted.isascii()
                recorded.append(TextInserted(index, inserted))
                index += len(inserted)
            elif "delete" in op:
                recorded.append(TextDeleted(index, op["delete"]))
        applying.changes.extend(recorded)
        if all_ascii:
            for change in recorded:
                if isinstance(change, TextInserted):
                    self._index.insert(change.index, change.text)
                else:
                    self._index.delete(change.index, change.length)
        else:
            self._index = TextIndex(str(self._text))  # the text as this transaction left it

    def _on_transaction(self, event: TransactionEvent) -> None:
        """Queue the transaction's update and changes for delivery after it commits."""
        applying = self._applying
        if applying is None:
            raise RuntimeError("the document changed outside SharedDocument")
        update = event.update
        if update == EMPTY_UPDATE:
            update = None
        if applying is _LOCAL_EDIT:
            self._outbox.append(_Outgoing(update, None, None, None))
            return
        self._outbox.append(_Outgoing(
            update=update,
            source=applying.source,
            changes=list(applying.changes) if applying.changes else None,
            origin=_CHANGE_ORIGIN_OF[applying.activity],
        ))

    def _track_held(self, update: bytes | None) -> None:
        """Remember remote updates whose structs pycrdt holds back for missing dependencies."""
        state = self._doc.get_state()
        candidates = [*self._held_updates, update] if update is not None else self._held_updates
        self._held_updates = [held for held in candidates if _carries_structs(get_update(held, state))]

    def _integrate_held(self) -> list[TextChange]:
        """Apply the held updates again, merged, for as long as that integrates more of them.

        pycrdt 0.14.13 can keep structs pending after what they waited for has arrived:
        measured with three updates of one client, u3 (which also waits for others), then u2,
        then u1: u1 integrates, u2 stays pending until it is delivered again. Without this, a
        peer that hears updates out of order (over two paths of a mesh) shows text missing.
        """
        changes: list[TextChange] = []
        while self._held_updates:
            state_before = self._doc.get_state()
            retry = merge_updates(self._held_updates)
            record = self._run(_Activity.REMOTE, None, lambda: self._doc.apply_update(retry),
                               InvalidUpdate, "invalid update", return_record=True)
            changes.extend(record.changes)
            self._track_held(None)
            if self._doc.get_state() == state_before:
                break
        return changes

    def _deliver(self) -> None:
        """Call subscribers in transaction order; edits they make are queued behind."""
        if self._delivering:
            return
        self._delivering = True
        outbox = self._outbox
        try:
            while outbox:
                update, source, changes, origin = outbox.popleft()
                if changes is not None and origin is not None:
                    for change_callback in list(self._change_callbacks):
                        change_callback(changes, origin)
                if update is not None:
                    for update_callback in list(self._update_callbacks):
                        update_callback(update, source)
        finally:
            self._delivering = False
