"""Keeps a shared document and its file on disk in step, in both directions.

Document -> file: every change schedules a write (debounced, atomic replace), so the file is on
disk within `write_delay` of the last change (and at least every `max_write_delay` while
changes keep coming). File -> document: the file is polled; an edit made by another program is
merged as a three-way merge against the baseline (the text last known to be on disk), so it
combines with concurrent remote edits instead of overwriting them.

Another program may be in the middle of writing the file (a slow generator redirected into it,
an editor that writes in place). Measured before this rule: a file rewritten in place over a
second was merged half-written, and the next write of a remote edit replaced it while the
program went on writing into the replaced file, losing the rest of its output. So an outside
change is read only once the file has stayed the same for a whole poll interval, and the file
is never replaced while it holds a change not merged yet (the write waits for the merge).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from editor.core.document import InvalidUpdate, SharedDocument
from editor.core.textdiff import minimal_edit
from editor.core.textfile import (
    UndecodableText,
    UnencodableText,
    decode_text_file,
    encode_text_file,
)
from editor.runtime.storage import (
    DocumentRecord,
    FileFormat,
    FileState,
    atomic_write,
    new_document_id,
)

log = logging.getLogger(__name__)

# Measured defaults: a write lands within 0.5 s of the last change; an outside edit is merged
# within two poll intervals (seen, then seen unchanged), well inside the 1 s asked for.
WRITE_DELAY = 0.25
MAX_WRITE_DELAY = 2.0
POLL_INTERVAL = 0.3


def merge_three_way(base: str, disk: str, current: str) -> str:
    """Combine the edit base->disk with the edit base->current, keeping both.

    Each side is reduced to one minimal edit (a replaced range of `base`). Disjoint edits both
    apply; overlapping ones delete the union of their ranges and keep both insertions (the
    disk's first), which is what a CRDT does with two concurrent replacements: no text that
    either side typed is lost.
    """
    if disk == base:
        return current
    if current == base:
        return disk
    i, deleted_i, inserted_i = minimal_edit(base, disk)
    j, deleted_j, inserted_j = minimal_edit(base, current)
    end_i, end_j = i + deleted_i, j + deleted_j
    if end_i <= j:  # the disk edit lies before ours (or touches it)
        return base[:i] + inserted_i + base[end_i:j] + inserted_j + base[end_j:]
    if end_j <= i:  # ours lies before the disk edit
        return base[:j] + inserted_j + base[end_j:i] + inserted_i + base[end_i:]
    low, high = min(i, j), max(end_i, end_j)
    first, second = (inserted_i, inserted_j) if i <= j else (inserted_j, inserted_i)
    return base[:low] + first + second + base[high:]


Signature = tuple[int, int, int]  # (mtime_ns, size, inode): any write or replacement changes it


class DiskWatch:
    """Notices another program's changes to one file, once they rest, never our own writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known: Signature | None = None  # the file as we last read or wrote it
        self._settling: Signature | None = None  # an outside change seen once, maybe unfinished

    def remember(self) -> None:
        """The file as it is now is ours (just read or written)."""
        self._known, self._settling = self._signature(), None

    def forget(self) -> None:
        """The file is gone: whatever appears there next is an outside change."""
        self._known = self._settling = None

    def changed(self) -> bool:
        """Whether the file differs from what we last read or wrote (False if it is gone)."""
        try:
            return self._signature() != self._known
        except FileNotFoundError:
            return False

    def read_change(self, *, settled: bool = True) -> bytes | None:
        """The file's bytes if another program changed it, else None. With `settled`, only once
        it has not changed since the previous call (its writer may still be at work).
        `OSError` (`FileNotFoundError` if it is gone) when it cannot be read."""
        signature = self._signature()
        if signature == self._known:
            self._settling = None
            return None
        if settled and signature != self._settling:
            self._settling = signature
            return None
        data = self.path.read_bytes()
        if self._signature() != signature:  # written to while we read it
            self._settling = None
            return None
        self._known, self._settling = signature, None
        return data

    def _signature(self) -> Signature:
        stat = os.stat(self.path)
        return stat.st_mtime_ns, stat.st_size, stat.st_ino


class FileBinding:
    """One shared document bound to one text file and its `.chorus/` records."""

    def __init__(
        self,
        path: Path,
        document: SharedDocument,
        title: str,
        file_state: FileState,
        file_format: FileFormat,
        baseline: str | None,
        *,
        write_delay: float = WRITE_DELAY,
        max_write_delay: float = MAX_WRITE_DELAY,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.path = path
        self.document = document
        self.title = title
        self.file_format = file_format
        self.poll_interval = poll_interval
        self._state = file_state
        self._baseline = baseline
        self._write_delay = write_delay
        self._max_write_delay = max_write_delay
        self._disk = DiskWatch(path)
        self._write_handle: asyncio.TimerHandle | None = None
        self._first_unwritten_change: float | None = None
        self._reported_problem: str | None = None
        self._state_dirty = False

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        doc_id: str | None = None,
        title: str | None = None,
        **timing: float,
    ) -> FileBinding:
        """Load (or start) the document of `path`, merging edits made while we were away.

        `doc_id` and `title` are given for a document joined from a peer (a mirror file); for a
        file shared from here they come from `.chorus/` or are created. Raises `OSError` or
        `UndecodableText` when the file cannot be read.
        """
        path = path.resolve()
        file_state = FileState(path)
        record = file_state.load_record()
        disk = cls._read(path) if path.exists() else None

        if record is not None and (doc_id is None or record.doc_id == doc_id):
            doc_id, title = record.doc_id, title or record.title
        else:
            record = None
            doc_id = doc_id or new_document_id()
            title = title or path.name
        file_format = (
            FileFormat(disk.encoding, disk.bom, disk.newline)
            if disk is not None
            else (record.file_format if record else FileFormat())
        )

        document = SharedDocument(doc_id)
        state = file_state.load_state() if record is not None else None
        disk_text = disk.text if disk is not None else None
        baseline = file_state.load_baseline(disk_text) if record is not None else None
        if state:
            document.apply_update(state, source=file_state)
        if record is not None:
            _replay_logged_updates(document, file_state)
        baseline_changed = disk_text is not None and disk_text != baseline
        if baseline_changed:
            # Edited by another program while no node watched it (or a brand-new file).
            merged = merge_three_way(baseline if baseline is not None else document.text,
                                     disk_text, document.text)
            if merged != document.text:
                if record is not None:  # (a brand-new file is not an edit)
                    log.info("merged an edit made to %s while it was not watched", path)
                document.set_text(merged)
            baseline = disk_text
        binding = cls(path, document, title, file_state, file_format, baseline, **timing)
        # The CRDT state must be durable before any peer sees this history: a restart that
        # re-created it from the file alone would duplicate the text at every peer.
        file_state.save_record(DocumentRecord(doc_id, title, file_format))
        file_state.save_state(document.encode_state())
        file_state.clear_updates()
        if baseline_changed:
            # Kept on disk too, so that a later open tells an outside edit from our own text.
            file_state.save_baseline(baseline)
        if disk is not None:
            binding._disk.remember()
        if document.text != baseline:
            binding.write_now()
        return binding

    @staticmethod
    def _read(path: Path):
        return decode_text_file(path.read_bytes())

    # ------------------------------------------------------------ doc -> file

    def document_changed(self, update: bytes | None = None) -> None:
        """Called after every change of the document (`update`: the change, to log at once):
        schedule a debounced write."""
        if update is not None:
            try:
                self._state.append_update(update)
            except OSError as error:
                self._report_once(f"cannot log a change of {self.path}: {error}")
        self._state_dirty = True
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._first_unwritten_change is None:
            self._first_unwritten_change = now
        if self._write_handle is not None:
            self._write_handle.cancel()
        overdue = self._first_unwritten_change + self._max_write_delay - now
        self._write_handle = loop.call_later(
            max(0.0, min(self._write_delay, overdue)), self.write_now
        )

    def write_now(self, *, last: bool = False) -> None:
        """Persist the CRDT state, then the file if its text changed, then the baseline.

        A file changed by another program and not merged yet is not replaced: the write waits
        for the merge, or with `last` (closing) is left to the next `open`, which merges it."""
        if self._write_handle is not None:
            self._write_handle.cancel()
            self._write_handle = None
        self._first_unwritten_change = None
        try:
            if self._state_dirty or not self._baseline_matches_document():
                self._state.save_state(self.document.encode_state())
                self._state.clear_updates()
                self._state_dirty = False
            text = self.document.text
            if text != self._baseline or not self.path.exists():
                if self._disk.changed():
                    # Replacing it now would lose that change (or the rest of a write still
                    # under way): merge it first, on the next poll, then write.
                    if not last:
                        self._write_handle = asyncio.get_running_loop().call_later(
                            self.poll_interval, self.write_now)
                    return
                data = encode_text_file(text, self.file_format.encoding, self.file_format.bom,
                                        self.file_format.newline)
                self._state.prepare_baseline(text)
                atomic_write(self.path, data)
                self._disk.remember()
                self._state.commit_baseline(text)
                self._baseline = text
            self._reported_problem = None
        except (OSError, UnencodableText) as error:
            self._report_once(f"cannot write {self.path}: {error}")

    def _baseline_matches_document(self) -> bool:
        return self._baseline == self.document.text

    # ------------------------------------------------------------ file -> doc

    def check_disk(self) -> bool:
        """Merge an edit another program made to the file; True if the document changed."""
        try:
            data = self._disk.read_change()
            if data is None:
                return False
            decoded = decode_text_file(data)
        except FileNotFoundError:
            self._report_once(f"{self.path} was removed; it is written again on the next change")
            self._disk.forget()
            return False
        except (OSError, UndecodableText) as error:
            self._report_once(f"cannot read {self.path}: {error}")
            return False
        self._reported_problem = None
        if decoded.text == self._baseline:
            return False
        current = self.document.text
        merged = merge_three_way(self._baseline if self._baseline is not None else current,
                                 decoded.text, current)
        self._baseline = decoded.text
        self.file_format = FileFormat(decoded.encoding, decoded.bom, decoded.newline)
        self._state.save_baseline(decoded.text)
        if merged == current:
            return False
        log.info("merged an outside edit of %s", self.path)
        self.document.set_text(merged)
        return True

    async def watch(self) -> None:
        """Poll the file for outside edits until cancelled; flush pending writes on the way out."""
        try:
            while True:
                await asyncio.sleep(self.poll_interval)
                self.check_disk()
        finally:
            if self._write_handle is not None or self._state_dirty:
                self.write_now(last=True)
            self._state.close_log()

    def _report_once(self, problem: str) -> None:
        if problem != self._reported_problem:
            log.warning("%s", problem)
            self._reported_problem = problem


def _replay_logged_updates(document: SharedDocument, file_state: FileState) -> None:
    """Apply the changes logged after the state was last saved (a process killed before its
    debounced save); a corrupt record ends the replay, with a warning."""
    for update in file_state.load_updates():
        try:
            document.apply_update(update, source=file_state)
        except InvalidUpdate as error:
            log.warning("ignoring the rest of the change log of %s: %s", file_state.file_path, error)
            return
