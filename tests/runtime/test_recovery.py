"""The recovery store: session folders, their locks, and claiming the ones left by ended apps."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap

import pytest

from editor.runtime.recovery import RecoveredDocument, RecoverySession, claim_orphaned_sessions


def document(key: str, text: str, **fields) -> RecoveredDocument:
    return RecoveredDocument(key=key, title=f"{key}.txt", text=text, **fields)


def test_a_running_session_is_not_claimed_and_a_closed_one_keeps_only_if_asked(tmp_path):
    root = tmp_path / "recovery"
    session = RecoverySession(root)
    assert stat.S_IMODE(session.folder.stat().st_mode) == 0o700  # unsaved text is private
    session.write(document("a", "😀 unsaved\r\n中文", path="/x/a.txt", base="old", encoding="cp1252",
                           bom=True, newline="\r\n", written_at=2.0))
    session.write(document("b", "first", written_at=1.0, position=1))
    session.write(document("b", "second", written_at=3.0))  # replaces
    assert session.keys() == {"a", "b"}
    assert claim_orphaned_sessions(root) == []  # its app (this test) still runs it
    session.remove("a")
    session.close(keep=True)
    (claimed,) = claim_orphaned_sessions(root)
    assert claim_orphaned_sessions(root) == []  # claimed: locked by the claimer now
    assert [d.text for d in claimed.documents()] == ["second"]
    claimed.release()
    (again,) = claim_orphaned_sessions(root)
    again.discard()
    assert not again.folder.exists() and claim_orphaned_sessions(root) == []


def test_every_field_survives_the_round_trip(tmp_path):
    session = RecoverySession(tmp_path)
    kept = document("k", "😀 unsaved\n中文", path="/x/k.txt", base="old 😀", encoding="cp1252",
                    bom=True, newline="\r\n", written_at=12.5, position=3)
    session.write(kept)
    session.close(keep=True)
    (claimed,) = claim_orphaned_sessions(tmp_path)
    assert claimed.documents() == [kept]
    claimed.discard()


def test_closing_without_keeping_or_with_nothing_kept_removes_the_folder(tmp_path):
    dropped = RecoverySession(tmp_path)
    dropped.write(document("a", "x"))
    dropped.close(keep=False)
    empty = RecoverySession(tmp_path)
    empty.close(keep=True)
    assert not dropped.folder.exists() and not empty.folder.exists()
    assert claim_orphaned_sessions(tmp_path) == []


@pytest.mark.allowed_log("skipping unreadable recovery record")
def test_unreadable_records_are_skipped_with_a_warning(tmp_path, caplog):
    session = RecoverySession(tmp_path)
    session.write(document("good", "kept"))
    (session.folder / "garbage.json").write_bytes(b"\xff\x00 not json")
    (session.folder / "future.json").write_text('{"version": 99, "key": "f"}')
    (session.folder / "wrong.json").write_text('{"version": 1, "key": 5, "title": "t", "text": "x"}')
    session.close(keep=True)
    (claimed,) = claim_orphaned_sessions(tmp_path)
    assert [d.key for d in claimed.documents()] == ["good"]
    assert sum("skipping unreadable recovery record" in r.message for r in caplog.records) == 3
    claimed.discard()


def test_a_session_whose_process_was_killed_is_claimed(tmp_path):
    """A real process writes a document and dies by SIGKILL: its lock goes with it."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from editor.runtime.recovery import RecoveredDocument, RecoverySession
        session = RecoverySession(Path({str(tmp_path)!r}))
        session.write(RecoveredDocument(key="k", title="t.txt", text="typed before the kill"))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    (claimed,) = claim_orphaned_sessions(tmp_path)
    assert [d.text for d in claimed.documents()] == ["typed before the kill"]
    claimed.discard()
