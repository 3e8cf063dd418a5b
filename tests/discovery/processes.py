"""Driving discovery peers in child processes: read their JSON lines and wait for conditions."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEER_SCRIPT = Path(__file__).with_name("peer_process.py")


def peer_argv(peer_id: str, name: str, port: int, interfaces: Sequence[str] = (), docs: int = 0) -> list[str]:
    """The command line of one peer process."""
    argv = [sys.executable, str(PEER_SCRIPT), "--id", peer_id, "--name", name, "--port", str(port)]
    argv += ["--docs", str(docs)]
    for interface in interfaces:
        argv += ["--interface", interface]
    return argv


class PeerProcess:
    """A running peer process whose output lines are collected by a reader thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[dict] = []
        self.stderr_lines: list[str] = []
        self._incoming: queue.Queue[dict] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @classmethod
    def start(cls, argv: Sequence[str]) -> PeerProcess:
        return cls(subprocess.Popen(argv, cwd=REPO, text=True, **pipes()))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._incoming.put(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line.rstrip())

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float) -> dict:
        """Return the first line (seen so far or arriving before `timeout`) matching `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if predicate(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no matching line within {timeout} s; got {self.lines}; stderr {self.stderr_lines[-20:]}"
                )
            try:
                self.lines.append(self._incoming.get(timeout=remaining))
            except queue.Empty:
                pass

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def quit(self, timeout: float = 10.0) -> int:
        """Ask the peer to close cleanly, wait for it to exit and return its exit status."""
        if self.process.poll() is None:
            self.send("quit")
        code = self.process.wait(timeout)
        self._close_pipes()
        return code

    def kill(self) -> None:
        """Stop the process if it still runs (only this process, by its PID) and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for reader in self._readers:
            reader.join(5)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def pipes() -> dict:
    return {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}


def is_event(kind: str, **peer_fields: object) -> Callable[[dict], bool]:
    """A predicate on lines: event `kind` about a peer with these field values."""

    def match(line: dict) -> bool:
        peer = line.get("peer", {})
        return line["event"] == kind and all(peer.get(k) == v for k, v in peer_fields.items())

    return match
