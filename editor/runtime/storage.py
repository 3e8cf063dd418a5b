"""Durable state kept next to shared files, in a `.chorus/` folder.

For a file `notes/todo.txt` the node keeps, in `notes/.chorus/`:

- `todo.txt.json`: the document id and title, and how the file is encoded on disk;
- `todo.txt.ystate`: the CRDT state (a Yjs update holding the whole history);
- `todo.txt.base`: the text (UTF-8) as it was last known to be on disk. Comparing the file with
  this baseline tells an edit made by another program (to merge) from a file that is merely
  behind the document (to rewrite). Without it a restart could not tell the two apart;
- `todo.txt.ylog`: every update since the state was last saved, appended as it happens (each a
  4-byte big-endian length, then the update), so that a killed process loses no change it
  had acknowledged: the state is saved only after a short rest (debounced with the file).

Writes are atomic (temporary file + fsync + rename) and ordered: CRDT state; the text about to
be written as `todo.txt.base.new`; the file; then `.base.new` renamed over `.base`. A crash
anywhere in between leaves a state from which `load_baseline` recovers the true baseline: the
file matches either the old or the new baseline, or it was edited by another program.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import tempfile
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

STATE_FOLDER = ".chorus"
_LOG_LENGTH_BYTES = 4


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a mix.

    `durable` also waits until the data is on the disk (fsync), so it survives a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        if path.exists():
            # Keep the permissions the user gave the file.
            os.chmod(tmp_name, path.stat().st_mode & 0o7777)
        else:
            # mkstemp creates 0600; a new file gets the usual umask-based mode instead.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class FileFormat:
    """How a document's text is stored on disk (the CRDT always holds "\\n" newlines)."""

    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"


@dataclass(frozen=True)
class DocumentRecord:
    """What `.chorus/NAME.json` holds about one shared file."""

    doc_id: str
    title: str
    file_format: FileFormat = FileFormat()

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DocumentRecord:
        raw = json.loads(data)
        return cls(
            doc_id=str(raw["doc_id"]),
            title=str(raw["title"]),
            file_format=FileFormat(**raw.get("file_format", {})),
        )


class FileState:
    """The `.chorus/` records of one file: metadata, CRDT state and on-disk baseline."""

    def __init__(self, file_path: Path) -> None:
        self.file_path = file_path
        folder = file_path.parent / STATE_FOLDER
        self._record_path = folder / f"{file_path.name}.json"
        self._state_path = folder / f"{file_path.name}.ystate"
        self._baseline_path = folder / f"{file_path.name}.base"
        self._next_baseline_path = folder / f"{file_path.name}.base.new"
        self._log_path = folder / f"{file_path.name}.ylog"
        self._log_fd: int | None = None
        self._close_log_fd: weakref.finalize | None = None

    def load_record(self) -> DocumentRecord | None:
        """The stored record, or None when there is none or it cannot be read."""
        try:
            return DocumentRecord.from_json(self._record_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable %s: %s", self._record_path, error)
            return None

    def load_state(self) -> bytes | None:
        try:
            return self._state_path.read_bytes()
        except FileNotFoundError:
            return None

    def load_baseline(self, disk_text: str | None) -> str | None:
        """The text last known to be on disk, given what the file holds now.

        If a write was interrupted (`.base.new` still exists), the file holds the old or the new
        baseline; if it holds neither, another program edited it, most likely after our write.
        """
        committed = self._read_text(self._baseline_path)
        pending = self._read_text(self._next_baseline_path)
        if pending is None:
            return committed
        baseline = committed if disk_text == committed else pending
        self.commit_baseline(baseline)
        return baseline

    def _read_text(self, path: Path) -> str | None:
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            log.warning("ignoring unreadable %s: %s", path, error)
            return None

    # -- the update log ---------------------------------------------------------------

    def append_update(self, update: bytes) -> None:
        """Log one update. No fsync: the log guards against the process dying (the kernel
        still writes what it was given); `save_state` guards against the machine failing."""
        if self._log_fd is None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._log_fd = fd
            self._close_log_fd = weakref.finalize(self, os.close, fd)
        os.write(self._log_fd, len(update).to_bytes(_LOG_LENGTH_BYTES, "big") + update)

    def load_updates(self) -> list[bytes]:
        """The logged updates, oldest first (a record cut short by a crash is dropped)."""
        try:
            data = self._log_path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as error:
            log.warning("ignoring unreadable %s: %s", self._log_path, error)
            return []
        updates, offset = [], 0
        while offset + _LOG_LENGTH_BYTES <= len(data):
            size = int.from_bytes(data[offset:offset + _LOG_LENGTH_BYTES], "big")
            offset += _LOG_LENGTH_BYTES
            if offset + size > len(data):
                break
            updates.append(data[offset:offset + size])
            offset += size
        if offset != len(data):
            log.warning("%s ends with an incomplete record (%d bytes): ignored",
                        self._log_path, len(data) - offset)
        return updates

    def clear_updates(self) -> None:
        """The saved state holds every logged update now: empty the log."""
        if self._log_fd is not None:
            os.ftruncate(self._log_fd, 0)
        else:
            self._log_path.unlink(missing_ok=True)

    def close_log(self) -> None:
        if self._close_log_fd is not None:
            self._close_log_fd()
        self._log_fd = self._close_log_fd = None

    def save_record(self, record: DocumentRecord) -> None:
        atomic_write(self._record_path, record.to_json())

    def save_state(self, state: bytes) -> None:
        atomic_write(self._state_path, state)

    def save_baseline(self, text: str) -> None:
        """Record the text now on disk (after reading the file)."""
        atomic_write(self._baseline_path, text.encode("utf-8"))
        self._next_baseline_path.unlink(missing_ok=True)

    def prepare_baseline(self, text: str) -> None:
        """Record the text about to be written, before writing the file."""
        atomic_write(self._next_baseline_path, text.encode("utf-8"))

    def commit_baseline(self, text: str) -> None:
        """The prepared text is on disk now: make it the baseline."""
        if self._read_text(self._next_baseline_path) == text:
            os.replace(self._next_baseline_path, self._baseline_path)
        else:
            self.save_baseline(text)


class PeerIdentity:
    """This peer's id, held under an exclusive lock on its state folder while the node runs.

    Two peers must never share an id (each would ignore the other as itself), yet two
    `chorus serve` processes may well be pointed at the same folder. The second one gets a
    temporary id instead of the stored one.
    """

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file: IO[bytes] | None = open(state_dir / "peer.lock", "wb")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            self.peer_id = secrets.token_hex(8)
            self.temporary = True
            log.warning("another Chorus peer is using %s; running with a temporary identity",
                        state_dir)
            return
        self.peer_id = load_or_create_peer_id(state_dir)
        self.temporary = False

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing drops the lock
            self._lock_file = None


def load_or_create_peer_id(state_dir: Path) -> str:
    """A stable id for this peer, kept in `state_dir/peer.json` (created on first use)."""
    path = state_dir / "peer.json"
    try:
        peer_id = json.loads(path.read_bytes())["peer_id"]
        if isinstance(peer_id, str) and peer_id:
            return peer_id
        log.warning("ignoring malformed %s", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring unreadable %s: %s", path, error)
    peer_id = secrets.token_hex(8)
    atomic_write(path, json.dumps({"peer_id": peer_id}).encode())
    return peer_id


def new_document_id() -> str:
    """A fresh, globally unique document id (64 random bits, hex)."""
    return secrets.token_hex(8)
