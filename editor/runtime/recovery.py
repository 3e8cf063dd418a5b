"""Unsaved work kept on disk while the app runs, so that a crash, a kill or a logout loses nothing.

Each running app writes into its own session folder under `recovery/` (in the app's data
folder), holding an exclusive lock on it for as long as it runs. One JSON file per unsaved
document, rewritten a moment after it changes and removed once the document is saved or closed.
A clean exit removes the folder; after a crash or a kill the folder stays, its lock free, and the
next start claims it (`claim_orphaned_sessions`) and offers its documents back.

POSIX only (`fcntl` locks), like the peer identity lock in `storage.py`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from editor.runtime.storage import atomic_write

__all__ = ["ClaimedSession", "RecoveredDocument", "RecoverySession", "claim_orphaned_sessions"]

log = logging.getLogger(__name__)

_LOCK_NAME = "session.lock"
_SUFFIX = ".json"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecoveredDocument:
    """One unsaved document as it was when last written down."""

    key: str  # stable for the document within its session (the file name)
    title: str
    text: str
    path: str | None = None  # the file it belongs to, if any
    base: str | None = None  # that file's text when last loaded or saved, to merge changes since
    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"
    written_at: float = 0.0  # wall-clock seconds
    position: int = 0  # where its tab was, to reopen the tabs in the same order
    # A document joined from a peer: its id, whole CRDT state (a Yjs update, base64) and that
    # peer, so that its edits merge with the peers' when they meet again, as offline edits do.
    doc_id: str | None = None
    crdt: str | None = None
    origin_peer: str | None = None

    def to_json(self) -> bytes:
        return json.dumps({"version": _FORMAT_VERSION, **asdict(self)}, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> RecoveredDocument:
        """Parse a written document; `ValueError` for anything malformed."""
        fields = json.loads(data.decode("utf-8"))
        if not isinstance(fields, dict) or fields.pop("version", None) != _FORMAT_VERSION:
            raise ValueError("not a recovery record of a known version")
        try:
            document = cls(**fields)
        except TypeError as error:
            raise ValueError(f"unexpected fields: {error}") from None
        texts_ok = all(isinstance(value, str) for value in (document.key, document.title, document.text))
        optional = (document.path, document.base, document.doc_id, document.crdt, document.origin_peer)
        optional_ok = all(value is None or isinstance(value, str) for value in optional)
        if not (texts_ok and optional_ok):
            raise ValueError("malformed fields")
        return document


def _lock(folder: Path) -> IO[bytes] | None:
    """The folder's lock file, locked exclusively; None if another process holds it."""
    lock_file = open(folder / _LOCK_NAME, "ab")  # noqa: SIM115 (held open while locked)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        return None
    return lock_file


class RecoverySession:
    """This app's own session folder: `write` and `remove` documents, `close` at exit."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        self.folder.mkdir(mode=0o700)  # unsaved text is private
        lock_file = _lock(self.folder)
        assert lock_file is not None, "a fresh folder cannot be locked by anyone else"
        self._lock_file: IO[bytes] | None = lock_file

    def write(self, document: RecoveredDocument) -> None:
        """Keep `document` (replacing what was kept under its key)."""
        # No fsync: this guards against the app ending, not the machine; typing must not wait.
        atomic_write(self.folder / (document.key + _SUFFIX), document.to_json(), durable=False)

    def remove(self, key: str) -> None:
        """Forget the document kept under `key` (saved, closed, or back to unmodified)."""
        (self.folder / (key + _SUFFIX)).unlink(missing_ok=True)

    def keys(self) -> set[str]:
        """The keys of the documents kept now."""
        return {path.name.removesuffix(_SUFFIX) for path in self.folder.glob("*" + _SUFFIX)}

    def close(self, *, keep: bool) -> None:
        """End the session: `keep` leaves its documents for the next start (an exit without
        asking, such as a logout); otherwise the folder goes."""
        if self._lock_file is None:
            return
        if not keep or not self.keys():
            shutil.rmtree(self.folder, ignore_errors=True)
        self._lock_file.close()  # closing drops the lock
        self._lock_file = None


class ClaimedSession:
    """A session folder whose app is gone, locked by us until `discard` or `release`."""

    def __init__(self, folder: Path, lock_file: IO[bytes]) -> None:
        self.folder = folder
        self._lock_file: IO[bytes] | None = lock_file

    def documents(self) -> list[RecoveredDocument]:
        """The documents it kept, in tab order; unreadable records are logged and skipped."""
        found = []
        for path in sorted(self.folder.glob("*" + _SUFFIX)):
            try:
                found.append(RecoveredDocument.from_json(path.read_bytes()))
            except (OSError, ValueError) as error:
                log.warning("skipping unreadable recovery record %s: %s", path, error)
        return sorted(found, key=lambda document: (document.position, document.written_at))

    def discard(self) -> None:
        """Delete the folder (its documents were restored, or the user declined them)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """Leave the folder for a later start."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def claim_orphaned_sessions(root: Path) -> list[ClaimedSession]:
    """Lock and return every session folder under `root` whose app is no longer running."""
    claimed = []
    try:
        folders = sorted(path for path in root.iterdir() if path.is_dir())
    except FileNotFoundError:
        return []
    for folder in folders:
        try:
            lock_file = _lock(folder)
        except OSError as error:
            log.warning("cannot open recovery folder %s: %s", folder, error)
            continue
        if lock_file is not None:
            claimed.append(ClaimedSession(folder, lock_file))
    return claimed

