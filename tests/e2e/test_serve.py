"""End to end: real `chorus serve` processes on loopback, driven by the real CLI."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.peers import ServeProcess, read_text, run_chorus, start_chorus, wait_for

pytestmark = pytest.mark.slow

CONVERGE = 20.0  # generous: CI machines are shared; the wait ends as soon as peers agree


def make_chain(tmp_path: Path, spawn, text: str):
    """A shares notes.txt; B mirrors A; C mirrors B (so C only reaches A through B)."""
    shared = tmp_path / "a"
    shared.mkdir()
    (shared / "notes.txt").write_text(text, encoding="utf-8")
    a = spawn("alice", str(shared))
    b = spawn("bob", "--mirror", str(tmp_path / "b"), "--peer", a.address)
    c = spawn("carol", "--mirror", str(tmp_path / "c"), "--peer", b.address)
    files = [shared / "notes.txt", tmp_path / "b" / "notes.txt", tmp_path / "c" / "notes.txt"]
    wait_for(lambda: read_text(files[2]) == text, CONVERGE, "the document to reach C through B")
    return a, b, c, files


def converged(files: list[Path]) -> str | None:
    texts = {read_text(path) for path in files}
    return texts.pop() if len(texts) == 1 and None not in texts else None


def wait_converged(files: list[Path], what: str, accept=lambda text: True,
                   timeout: float = CONVERGE) -> str:
    """Wait until every file holds the same text and `accept(text)` holds."""
    def agreed():
        text = converged(files)
        return text if text is not None and accept(text) else None

    try:
        return wait_for(agreed, timeout, what)
    except AssertionError as error:
        contents = "\n".join(f"  {path}: {read_text(path)!r}" for path in files)
        raise AssertionError(f"{error}; the files hold:\n{contents}") from None


def cat(peer: ServeProcess, doc: str) -> str:
    result = run_chorus("cat", peer.address, doc)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_chain_converges_on_concurrent_edits_at_both_ends(tmp_path, peers) -> None:
    a, b, c, files = make_chain(tmp_path, peers, "hello\n")
    at_a = start_chorus("edit", a.address, "notes.txt", "--insert", "0", "😀👍🏽 from A ")
    at_c = start_chorus("edit", c.address, "notes.txt", "--append", "中文 from C\n")
    for process in (at_a, at_c):
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    final = wait_converged(files, "all three files to agree on both edits",
                           lambda text: "from A" in text and "from C" in text)
    assert final == "😀👍🏽 from A hello\n中文 from C\n"
    for peer in (a, b, c):
        assert cat(peer, "notes.txt") == final
    # Deletions travel the chain too (a delete-only update does not move the state vector).
    result = run_chorus("edit", c.address, "notes.txt", "--delete", "0", "3")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: converged(files) == final[3:], CONVERGE, "the deletion typed at C to reach A")


def test_killed_peer_restarts_without_duplicating_or_losing_text(tmp_path, peers) -> None:
    a, b, c, files = make_chain(tmp_path, peers, "line one\n")
    assert run_chorus("edit", b.address, "notes.txt", "--append", "from B\n").returncode == 0
    wait_converged(files, "B's edit to spread", lambda text: "from B" in text)
    b.kill()
    assert run_chorus("edit", a.address, "notes.txt", "--append", "while B was down\n").returncode == 0
    # An edit made to B's own file while B is down merges when B starts again.
    (tmp_path / "b" / "notes.txt").write_text("line one\nfrom B\noffline at B\n", encoding="utf-8")
    b.restart()
    expected = "line one\nfrom B\noffline at B\nwhile B was down\n"
    alternative = "line one\nfrom B\nwhile B was down\noffline at B\n"
    final = wait_converged(files, "B to catch up after its restart",
                           lambda text: "offline at B" in text and "while B was down" in text)
    assert final in (expected, alternative), final
    assert final.count("line one") == 1 and final.count("from B") == 1


def test_an_acknowledged_edit_survives_a_kill_right_after_it(tmp_path, peers) -> None:
    """The state is saved only after a short rest; the change log covers the moments between."""
    shared = tmp_path / "alone"
    shared.mkdir()
    notes = shared / "notes.txt"
    notes.write_text("start\n", encoding="utf-8")
    alone = peers("alone", str(shared))  # no other peer holds the edits
    for number in range(3):
        edit = run_chorus("edit", alone.address, "notes.txt", "--append", f"acknowledged {number}\n")
        assert edit.returncode == 0, edit.stderr
    alone.kill()  # SIGKILL at once: before the debounced save
    alone.restart()
    expected = "start\nacknowledged 0\nacknowledged 1\nacknowledged 2\n"
    assert cat(alone, "notes.txt") == expected
    wait_for(lambda: read_text(notes) == expected, CONVERGE, "the file to be written on restart")


def test_stopped_peer_is_detected_and_catches_up_after_sigcont(tmp_path, peers) -> None:
    a, b, c, files = make_chain(tmp_path, peers, "start\n")
    mark, mark_c = len(b.lines), len(c.lines)
    c.send(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        b.wait_for_log(r"peer disconnected: carol", 15.0, after=mark)
        detected_after = time.monotonic() - stopped_at
        assert detected_after <= 11.0, f"silent peer noticed only after {detected_after:.1f} s"
        assert run_chorus("edit", a.address, "notes.txt", "--append", "while C slept\n").returncode == 0
    finally:
        c.send(signal.SIGCONT)
    wait_for(lambda: converged(files) == "start\nwhile C slept\n", 30.0, "C to catch up after SIGCONT")
    # Reconnecting is told as connection events alone: both ends reopening the document's
    # channel at once is routine, and rsocket-py's own chatter stays out of the log.
    b.wait_for_log(r"peer connected: carol", 15.0, after=mark)
    for peer, since in ((b, mark), (c, mark_c)):
        noise = [line for line in peer.lines[since:] if "channel to" in line or " DEBUG " in line]
        assert not noise, peer.log()


def test_outside_file_edit_merges_with_concurrent_remote_edit(tmp_path, peers) -> None:
    text = "alpha\nbeta\ngamma\n"
    a, b, c, files = make_chain(tmp_path, peers, text)
    # Another program rewrites A's file while a remote edit arrives from C.
    at_c = start_chorus("edit", c.address, "notes.txt", "--append", "delta from C\n")
    files[0].write_text("ALPHA\nbeta\ngamma\n", encoding="utf-8")
    _, err = at_c.communicate(timeout=60)
    assert at_c.returncode == 0, err
    final = wait_converged(files, "the outside edit and C's edit to merge",
                           lambda text: "ALPHA" in text and "delta" in text)
    assert final == "ALPHA\nbeta\ngamma\ndelta from C\n"


def test_outside_saves_during_remote_typing_are_never_overwritten(tmp_path, peers) -> None:
    """Another editor saves the shared file right after each edit a peer makes: `chorus serve`
    is then about to write the peer's edit to the file, and must not replace the unmerged save
    (it did, before the write waited for the merge: most rounds lost their save)."""
    shared = tmp_path / "a"
    shared.mkdir()
    path = shared / "notes.txt"
    path.write_text("middle\n", encoding="utf-8")
    a = peers("alice", str(shared))
    rounds = 16
    for i in range(rounds):
        assert run_chorus("edit", a.address, "notes.txt", "--append", f"remote {i}\n").returncode == 0
        time.sleep(0.1)  # into the quarter second before serve writes that edit (the race)
        text = read_text(path) or ""  # as an editor would: its buffer, one line added, saved
        staged = path.with_name(".notes.txt.saving")
        staged.write_text(f"outside {i}\n" + text, encoding="utf-8")
        os.replace(staged, path)
    wanted = [f"{who} {i}\n" for who in ("outside", "remote") for i in range(rounds)]

    def complete() -> str | None:
        text = read_text(path)
        return text if text is not None and all(line in text for line in wanted) else None

    try:
        final = wait_for(complete, CONVERGE, "every save and every remote edit in the file")
    except AssertionError:
        raise AssertionError(f"lost: {[w for w in wanted if w not in (read_text(path) or '')]}") from None
    assert final.count("middle\n") == 1
    wait_for(lambda: cat(a, "notes.txt") == read_text(path), CONVERGE, "the document to match the file")


def test_client_errors_have_distinct_exit_codes(tmp_path, peers) -> None:
    shared = tmp_path / "docs"
    shared.mkdir()
    (shared / "a.txt").write_text("abc", encoding="utf-8")
    a = peers("alice", str(shared))
    listing = run_chorus("docs", a.address)
    assert listing.returncode == 0 and "a.txt" in listing.stdout
    assert listing.stderr == ""  # a one-shot command does not print the connection log
    unknown = run_chorus("cat", a.address, "missing.txt")
    assert unknown.returncode == 4
    assert unknown.stderr.strip() == "chorus: the peer has no document 'missing.txt' (it shares 'a.txt')"
    by_stem = run_chorus("cat", a.address, "A")  # case and extension left out
    assert by_stem.returncode == 0 and by_stem.stdout == "abc"
    bad_position = run_chorus("edit", a.address, "a.txt", "--insert", "99", "x")
    assert bad_position.returncode == 5
    assert bad_position.stderr.strip() == "chorus: bad position: 99 is past the end of 'a.txt' (3 characters)"
    not_a_number = run_chorus("edit", a.address, "a.txt", "--delete", "one", "1")
    assert not_a_number.returncode == 5 and "whole number" in not_a_number.stderr
    # Nothing listens on port 1 on loopback.
    unreachable = run_chorus("docs", "127.0.0.1:1")
    assert unreachable.returncode == 3
    assert unreachable.stderr.strip() == ("chorus: cannot reach 127.0.0.1:1: "
                                          "connection refused (nothing listens on that port)")
    assert cat(a, "a.txt") == "abc"


def test_serve_logs_one_line_per_connection_event(tmp_path, peers) -> None:
    shared = tmp_path / "docs"
    shared.mkdir()
    (shared / "a.txt").write_text("abc", encoding="utf-8")
    a = peers("alice", str(shared))
    mark = len(a.lines)
    assert run_chorus("edit", a.address, "a.txt", "--append", "d").returncode == 0
    a.wait_for_log(r"peer disconnected: ", 15.0, after=mark)
    lines = a.lines[mark:]
    assert [line for line in lines if "peer connected: " in line], a.log()
    # The client's document channel closes with its connection: no line of its own.
    assert not [line for line in lines if "channel to" in line], a.log()


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path, peers) -> None:
    first = peers("first")
    result = run_chorus("serve", "--listen", first.address, "--no-discovery", cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("chorus: cannot listen on"), result.stderr
    assert "Traceback" not in result.stderr
