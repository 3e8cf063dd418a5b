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
def peers(tmp_path):
    """Start `chorus serve` peers on loopback; every one is stopped after the test."""
    started: list[ServeProcess] = []

    def spawn(name: str, *arguments: str) -> ServeProcess:
        peer = ServeProcess(["--listen", "127.0.0.1:0", *arguments], name=name, cwd=tmp_path)
        started.append(peer)
        return peer.start()

    yield spawn
    for peer in started:
        peer.stop()


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


def start_client(peer: ServeProcess, doc: str, *options: str, name: str = "yjs-node") -> subprocess.Popen[str]:
    """Run client.mjs against `peer` without waiting (so that Chorus can edit meanwhile)."""
    host, port = peer.address.rsplit(":", 1)
    argv = [NODE, str(CLIENT), host, port, doc, "--name", name, "--verbose",
            "--timeout", str(CLIENT_TIMEOUT), *options]
    return subprocess.Popen(argv, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8")


def finish_client(process: subprocess.Popen[str], *serving: ServeProcess) -> dict:
    """Wait for client.mjs; its JSON result, or a failure that shows its trace and the peers' logs."""
    out, err = process.communicate(timeout=CLIENT_TIMEOUT + 10)
    if process.returncode != 0:
        logs = "\n".join(f"--- {peer.name} log ---\n{peer.log()}" for peer in serving)
        pytest.fail(f"client.mjs exited {process.returncode}\n--- client trace ---\n{err}\n{logs}")
    return json.loads(out)


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


def test_yjs_client_and_chorus_peers_converge_on_concurrent_edits(tmp_path, peers) -> None:
    a, b, files = share_and_mirror(tmp_path, peers, "😀 base 中文\n")
    # The Yjs client joins at B and types after the emoji (code point 2 is UTF-16 offset 3)
    # while a Chorus user appends at A; each edit must travel A <-> B <-> node.
    client = start_client(b, "notes.txt", "--insert", "2", "👍🏽 from yjs ",
                          "--expect", "中文 from chorus\n")
    chorus_edit = start_chorus("edit", a.address, "notes.txt", "--append", "中文 from chorus\n")
    _, err = chorus_edit.communicate(timeout=60)
    assert chorus_edit.returncode == 0, err
    result = finish_client(client, a, b)

    expected = "😀 👍🏽 from yjs base 中文\n中文 from chorus\n"
    assert result["title"] == "notes.txt"
    assert result["text"] == expected
    wait_for_files(files, expected)
    assert cat(a, "notes.txt") == expected
    assert cat(b, "notes.txt") == expected
    assert_no_complaints(a, b)


def test_yjs_deletion_across_emoji_reaches_every_peer(tmp_path, peers) -> None:
    a, b, files = share_and_mirror(tmp_path, peers, "a😀👍🏽中b\n")
    # Delete "😀👍🏽" (3 code points, 6 UTF-16 units) from node connected to A. A delete-only
    # update does not move the state vector: A must relay it to B all the same.
    client = start_client(a, "notes.txt", "--delete", "1", "3")
    result = finish_client(client, a, b)

    assert result["text"] == "a中b\n"
    wait_for_files(files, "a中b\n")
    assert cat(b, "notes.txt") == "a中b\n"
    assert_no_complaints(a, b)


def test_two_yjs_clients_see_each_others_text_and_presence_through_chorus(tmp_path, peers) -> None:
    a, b, files = share_and_mirror(tmp_path, peers, "shared\n")
    # Zoë's Yjs joins at A, Ali's at B: text and presence must cross A <-> B both ways, and
    # each client waits until it holds the other's presence (name and caret).
    zoe = start_client(a, "notes.txt", "--insert", "0", "Zoë ✍️ ", "--expect", "Ali 🖖",
                       "--expect-participant", "Ali", name="Zoë")
    ali = start_client(b, "notes.txt", "--append", "Ali 🖖\n", "--expect", "Zoë ✍️",
                       "--expect-participant", "Zoë", name="Ali")
    seen_by_zoe, seen_by_ali = finish_client(zoe, a, b), finish_client(ali, a, b)

    expected = "Zoë ✍️ shared\nAli 🖖\n"
    assert seen_by_zoe["text"] == seen_by_ali["text"] == expected
    assert "Ali" in seen_by_zoe["participants"] and "Zoë" in seen_by_ali["participants"]
    wait_for_files(files, expected)
    assert_no_complaints(a, b)


def test_unknown_document_is_reported_with_what_the_peer_shares(tmp_path, peers) -> None:
    shared = tmp_path / "a"
    shared.mkdir()
    (shared / "notes.txt").write_text("x\n", encoding="utf-8")
    a = peers("alice", str(shared))
    client = start_client(a, "missing.txt")
    _, err = client.communicate(timeout=CLIENT_TIMEOUT + 10)
    assert client.returncode == EXIT_UNKNOWN_DOCUMENT, err
    assert "no document 'missing.txt'" in err and "notes.txt" in err
