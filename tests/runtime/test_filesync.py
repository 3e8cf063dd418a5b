"""A shared file and another program writing it: outside edits are read once the file rests,
and the file is never replaced while it holds an outside change not merged yet."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from editor.core.document import SharedDocument
from editor.runtime.filesync import FileBinding

POLL = 0.05


def remote_append(binding: FileBinding, text: str) -> None:
    """An edit arriving from a peer: applied to the document, then the write is scheduled."""
    peer = SharedDocument(binding.document.doc_id)
    peer.apply_update(binding.document.encode_state(), source="file")
    peer.insert(len(peer.text), text)
    binding.document.apply_update(peer.encode_state(since=binding.document.state_vector()), "peer")
    binding.document_changed()


async def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(POLL / 5)


async def test_a_file_still_being_written_is_merged_only_once_it_rests(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("one\ntwo\nthree\n", encoding="utf-8")
    binding = FileBinding.open(path, poll_interval=POLL)
    # Another program rewrites the file in place, in pieces; each look sees another size.
    with path.open("w", encoding="utf-8") as writer:
        writer.write("ONE\n")
        writer.flush()
        assert not binding.check_disk()  # changed since the last look: it may not be done
        writer.write("TWO\n")
        writer.flush()
        assert not binding.check_disk()
        writer.write("THREE\n")
    assert binding.document.text == "one\ntwo\nthree\n"  # never the half-written file
    assert not binding.check_disk()  # the last piece changed it again
    assert binding.check_disk()  # unchanged since the last look: merged whole
    assert binding.document.text == "ONE\nTWO\nTHREE\n"


async def test_an_unmerged_outside_edit_is_not_overwritten_by_a_remote_edit(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("base\n", encoding="utf-8")
    binding = FileBinding.open(path, write_delay=0.0, poll_interval=POLL)
    watcher = asyncio.create_task(binding.watch())
    try:
        path.write_text("saved by another editor\nbase\n", encoding="utf-8")
        remote_append(binding, "from a peer\n")
        binding.write_now()  # before any poll has seen the outside save
        assert path.read_text(encoding="utf-8") == "saved by another editor\nbase\n"
        expected = "saved by another editor\nbase\nfrom a peer\n"
        await wait_for(lambda: path.read_text(encoding="utf-8") == expected)
        assert binding.document.text == expected
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_closing_leaves_an_unmerged_outside_edit_for_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("base\n", encoding="utf-8")
    binding = FileBinding.open(path, poll_interval=POLL)
    path.write_text("outside\nbase\n", encoding="utf-8")
    remote_append(binding, "remote\n")
    binding.write_now(last=True)
    assert path.read_text(encoding="utf-8") == "outside\nbase\n"
    reopened = FileBinding.open(path, poll_interval=POLL)  # merges the outside edit
    assert reopened.document.text == "outside\nbase\nremote\n"
    assert path.read_text(encoding="utf-8") == "outside\nbase\nremote\n"


@pytest.mark.allowed_log("ends with an incomplete record")
async def test_changes_logged_since_the_last_save_are_replayed_on_open(tmp_path: Path, caplog) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("saved\n", encoding="utf-8")
    binding = FileBinding.open(path, poll_interval=POLL)
    updates = []
    binding.document.subscribe_updates(lambda update, _source: updates.append(update))
    binding.document.insert(6, "logged 😀\n")  # a change the debounced save has not reached
    binding.document.insert(0, "first ")
    for update in updates:
        binding.document_changed(update)
    assert (tmp_path / ".chorus" / "notes.txt.ylog").stat().st_size > 0
    # The process dies here (no write_now): the file and the saved state lack both changes.
    assert path.read_text(encoding="utf-8") == "saved\n"
    with (tmp_path / ".chorus" / "notes.txt.ylog").open("ab") as log:
        log.write(b"\x00\x00\x01\x00cut short")  # a record the kill interrupted
    binding._state.close_log()

    reopened = FileBinding.open(path, poll_interval=POLL)
    assert reopened.document.text == "first saved\nlogged 😀\n"
    assert path.read_text(encoding="utf-8") == "first saved\nlogged 😀\n"  # written at open
    assert not (tmp_path / ".chorus" / "notes.txt.ylog").exists()  # folded into the state
    assert "ends with an incomplete record" in caplog.text
    reopened._state.close_log()
    assert FileBinding.open(path, poll_interval=POLL).document.text == "first saved\nlogged 😀\n"


async def test_a_saved_state_empties_the_log(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("a\n", encoding="utf-8")
    binding = FileBinding.open(path, poll_interval=POLL)
    remote_append(binding, "b\n")
    log = tmp_path / ".chorus" / "notes.txt.ylog"
    binding.document_changed(binding.document.encode_state())  # as the node passes updates
    assert log.stat().st_size > 0
    binding.write_now()
    assert log.stat().st_size == 0 and path.read_text(encoding="utf-8") == "a\nb\n"
    binding._state.close_log()
