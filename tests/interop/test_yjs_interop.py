"""Interoperability: a stock Yjs document in node, over a stock rsocket-js TCP client, co-edits
with real `chorus serve` peers through the protocol as docs/protocol.md documents it.

The node side (client.mjs) is built only from npm packages nobody on the team wrote. Install
them once with `cd tests/interop && npm ci`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e.peers import ServeProcess, read_text, run_chorus, start_chorus, wait_for

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "client.mjs"
NODE = shutil.which("node")
CONVERGE = 20.0  # generous for shared CI machines; every wait ends as soon as peers agree
CLIENT_TIMEOUT = 30.0

# Exit codes of client.mjs (the same as the `chorus` command's).
EXIT_UNKNOWN_DOCUMENT = 4

if NODE is None:
    pytest.skip("node is not installed: the Yjs interop test needs Node.js 18 or later",
                allow_module_level=True)
if not (HERE / "node_modules").is_dir():
    pytest.skip("the npm packages of the interop test are missing: run `cd tests/interop && npm ci`",
                allow_module_level=True)


@pytest.fixture
def client():
    """Start client.mjs runs (`client(peer, doc, *options, name=..., timeout=...)`); any still
    running after the test are killed."""
    started: list[Client] = []

    def start(peer: ServeProcess, doc: str, *options: str, **keywords) -> Client:
        started.append(Client(peer, doc, *options, **keywords))
        return started[-1]

    yield start
    for run in started:
        if run.process.stdout is not None and not run.process.stdout.closed:
            run.kill()


def share_and_mirror(tmp_path: Path, spawn, text: str):
    """A shares notes.txt holding `text`; B mirrors A. Returns (a, b, [file at A, file at B])."""
    shared = tmp_path / "a"
    shared.mkdir()
    (shared / "notes.txt").write_text(text, encoding="utf-8")
    a = spawn("alice", str(shared))
    b = spawn("bob", "--mirror", str(tmp_path / "b"), "--peer", a.address)
    files = [shared / "notes.txt", tmp_path / "b" / "notes.txt"]
    wait_for(lambda: read_text(files[1]) == text, CONVERGE, "B to mirror A's document")
    return a, b, files


class Client:
    """One run of client.mjs against a Chorus peer; its stderr trace is collected as it comes."""

    def __init__(self, peer: ServeProcess, doc: str, *options: str, name: str = "yjs-node",
                 timeout: float = CLIENT_TIMEOUT) -> None:
        host, port = peer.address.rsplit(":", 1)
        argv = [NODE, str(CLIENT), host, port, doc, "--name", name, "--verbose",
                "--timeout", str(timeout), *options]
        self.name = name
        self.timeout = timeout
        self.trace: list[str] = []
        self.output = ""
        self.process = subprocess.Popen(argv, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, encoding="utf-8")
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.trace.append(line.rstrip("\n"))

    def wait_for_trace(self, needle: str) -> None:
        """Poll the trace until a line contains `needle` (the client reached that step)."""
        wait_for(lambda: any(needle in line for line in self.trace) or self.process.poll() is not None,
                 self.timeout, f"{self.name} to trace {needle!r}")
        assert any(needle in line for line in self.trace), "\n".join(self.trace)

    def wait_exit(self) -> int:
        """Wait for the client to exit (it enforces its own timeout); its exit code."""
        assert self.process.stdout is not None and self.process.stderr is not None
        self.output = self.process.stdout.read()
        returncode = self.process.wait(timeout=self.timeout + 10)
        self._reader.join(timeout=5)
        self.process.stdout.close()
        self.process.stderr.close()
        return returncode

    def kill(self) -> None:
        """Stop a client still running (a test that failed half-way) and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.wait_exit()

    def finish(self, *serving: ServeProcess) -> dict:
        """Wait for the exit; the JSON result, or a failure showing the trace and the peers' logs."""
        if self.wait_exit() != 0:
            logs = "\n".join(f"--- {peer.name} log ---\n{peer.log()}" for peer in serving)
            trace = "\n".join(self.trace)
            pytest.fail(f"{self.name}: client.mjs exited {self.process.returncode}\n"
                        f"--- {self.name} trace ---\n{trace}\n{logs}")
        return json.loads(self.output)


def wait_for_files(files: list[Path], expected: str) -> None:
    """Poll until every file holds `expected`; on timeout, fail showing what they hold."""
    try:
        wait_for(lambda: all(read_text(path) == expected for path in files), CONVERGE,
                 f"every file to hold {expected!r}")
    except AssertionError as error:
        held = {path.parent.name: read_text(path) for path in files}
        raise AssertionError(f"{error}; they hold {held!r}") from None


def assert_no_complaints(*serving: ServeProcess) -> None:
    """Chorus logs what it dislikes in a peer's frames or messages (a malformed presence, a
    protocol violation) at WARNING or above: the stock client must cause none."""
    for peer in serving:
        complaints = [line for line in peer.lines if re.search(r" (WARNING|ERROR|CRITICAL) |Traceback", line)]
        assert not complaints, f"{peer.name} complained:\n" + "\n".join(complaints)


def cat(peer: ServeProcess, doc: str) -> str:
    result = run_chorus("cat", peer.address, doc)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_yjs_client_and_chorus_peers_converge_on_concurrent_edits(tmp_path, peers, client) -> None:
    a, b, files = share_and_mirror(tmp_path, peers, "😀 base 中文\n")
    # The Yjs client joins at B and types after the emoji (code point 2 is UTF-16 offset 3)
    # while a Chorus user appends at A; each edit must travel A <-> B <-> node.
    yjs = client(b, "notes.txt", "--insert", "2", "👍🏽 from yjs ", "--expect", "中文 from chorus\n")
    chorus_edit = start_chorus("edit", a.address, "notes.txt", "--append", "中文 from chorus\n")
    _, err = chorus_edit.communicate(timeout=60)
    assert chorus_edit.returncode == 0, err
    result = yjs.finish(a, b)

    expected = "😀 👍🏽 from yjs base 中文\n中文 from chorus\n"
    assert result["title"] == "notes.txt"
    assert result["text"] == expected
    wait_for_files(files, expected)
    assert cat(a, "notes.txt") == expected
    assert cat(b, "notes.txt") == expected
    assert_no_complaints(a, b)


def test_yjs_deletion_across_emoji_reaches_every_peer(tmp_path, peers, client) -> None:
    a, b, files = share_and_mirror(tmp_path, peers, "a😀👍🏽中b\n")
    # Delete "😀👍🏽" (3 code points, 6 UTF-16 units) from node connected to A. A delete-only
    # update does not move the state vector: A must relay it to B all the same.
    result = client(a, "notes.txt", "--delete", "1", "3").finish(a, b)

    assert result["text"] == "a中b\n"
    wait_for_files(files, "a中b\n")
    assert cat(b, "notes.txt") == "a中b\n"
    assert_no_complaints(a, b)


def test_yjs_clients_at_two_chorus_peers_share_text_and_presence(tmp_path, peers, client) -> None:
    a, b, files = share_and_mirror(tmp_path, peers, "shared\n")
    # Zoë's Yjs joins at A; once she is in, Ali's joins at B. Ali's text and his presence (a
    # stock awareness update: name and caret) must reach Zoë through B and A.
    zoe = client(a, "notes.txt", "--insert", "0", "Zoë ✍️ ", "--expect", "Ali 🖖",
                 "--expect-participant", "Ali", name="Zoë")
    zoe.wait_for_trace("synced:")
    ali = client(b, "notes.txt", "--append", "Ali 🖖\n", "--expect", "Zoë ✍️", name="Ali")
    seen_by_zoe, seen_by_ali = zoe.finish(a, b), ali.finish(a, b)

    expected = "Zoë ✍️ shared\nAli 🖖\n"
    assert seen_by_zoe["text"] == seen_by_ali["text"] == expected
    assert seen_by_zoe["participants"] == ["Ali"]
    wait_for_files(files, expected)
    assert_no_complaints(a, b)


def test_late_yjs_joiner_learns_the_presence_of_those_already_in(tmp_path, peers, client) -> None:
    a, b, _ = share_and_mirror(tmp_path, peers, "shared\n")
    # Zoë stays until the test says goodbye (after Ali has finished): she must not leave while
    # Ali is still joining, or Ali would rightly end up seeing nobody.
    zoe = client(a, "notes.txt", "--expect", "Ali 🖖", "--expect", "goodbye", name="Zoë")
    zoe.wait_for_trace("-> presence")
    # Zoë's presence passed B before Ali came. Well within the 15 s renewal, Ali must know she
    # is there.
    ali = client(b, "notes.txt", "--append", "Ali 🖖\n", "--expect-participant", "Zoë",
                 name="Ali", timeout=8.0)
    try:
        assert ali.finish(a, b)["participants"] == ["Zoë"]
    finally:
        run_chorus("edit", a.address, "notes.txt", "--append", "goodbye\n")
        zoe.finish(a, b)


def test_unknown_document_is_reported_with_what_the_peer_shares(tmp_path, peers, client) -> None:
    shared = tmp_path / "a"
    shared.mkdir()
    (shared / "notes.txt").write_text("x\n", encoding="utf-8")
    a = peers("alice", str(shared))
    lost = client(a, "missing.txt")
    assert lost.wait_exit() == EXIT_UNKNOWN_DOCUMENT, "\n".join(lost.trace)
    assert "no document 'missing.txt'" in lost.trace[-1] and "notes.txt" in lost.trace[-1]


def test_embeds_from_a_rich_text_yjs_client_are_removed_and_formatting_is_harmless(tmp_path, peers, client) -> None:
    a, b, files = share_and_mirror(tmp_path, peers, "😀 plain 中文\n")
    # A Yjs editor with rich text embeds an image after the emoji, makes a word bold and types;
    # Chorus documents are plain text: every peer removes the embed (the Yjs client sees it go)
    # and keeps the typed text, and positions stay right for edits made afterwards.
    result = client(b, "notes.txt", "--embed", "1", "--bold", "3", "5", "--insert", "0", "yjs ",
                    "--expect-plain").finish(a, b)
    expected = "yjs 😀 plain 中文\n"
    assert result["text"] == expected and result["embeds"] == 0
    wait_for_files(files, expected)
    edit = run_chorus("edit", a.address, "notes.txt", "--insert", "5", "!")
    assert edit.returncode == 0, edit.stderr
    wait_for_files(files, "yjs 😀! plain 中文\n")
    assert cat(b, "notes.txt") == "yjs 😀! plain 中文\n"
    assert_no_complaints(a, b)
