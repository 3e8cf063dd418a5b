"""Real `chorus` processes for end-to-end tests: start, watch logs, stop, kill, query."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (\S+):(\d+) as .* \(peer (\w+)\)")


def chorus_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "editor", *arguments]


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class ServeProcess:
    """One `chorus serve` child process, its stderr collected line by line."""

    def __init__(self, arguments: Sequence[str], *, name: str, cwd: Path, discovery: bool = False,
                 wrap: Callable[[list[str]], list[str]] | None = None,
                 connect_host: str = "127.0.0.1") -> None:
        self.arguments = list(arguments)
        self.name = name
        self.cwd = cwd
        self.discovery = discovery
        self.wrap = wrap or (lambda argv: argv)  # e.g. run inside a network namespace
        self.connect_host = connect_host
        self.started_at = 0.0
        self.lines: list[str] = []
        self.port: int | None = None
        self.peer_id: str | None = None
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> ServeProcess:
        self.lines = []
        self.line_times: list[float] = []
        options = [] if self.discovery else ["--no-discovery"]
        argv = self.wrap(chorus_command("serve", "--name", self.name, *options, *self.arguments))
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(argv, cwd=self.cwd, env=child_environment(),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, encoding="utf-8")
        self._reader = threading.Thread(target=self._collect, args=(self.process,), daemon=True)
        self._reader.start()
        match = self.wait_for_log(LISTENING, timeout)
        self.port, self.peer_id = int(match.group(2)), match.group(3)
        return self

    def restart(self, timeout: float = 20.0) -> ServeProcess:
        """Start again on the same port, as a restarted peer would (its peers re-dial it)."""
        assert self.port is not None
        self.arguments = [f"127.0.0.1:{self.port}" if arg == "127.0.0.1:0" else arg
                          for arg in self.arguments]
        return self.start(timeout)

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        with process.stderr:
            for line in process.stderr:
                self.lines.append(line.rstrip("\n"))
                self.line_times.append(time.monotonic())

    def _reaped(self) -> int:
        """Wait for the exited process's log to be read to the end; its exit code."""
        assert self.process is not None
        code = self.process.wait()
        self._reader.join(timeout=10)
        return code

    @property
    def address(self) -> str:
        return f"{self.connect_host}:{self.port}"

    def log_time(self, pattern: str, after: int = 0) -> float:
        """When (time.monotonic) the first line matching `pattern` was read."""
        regex = re.compile(pattern)
        for line, at in zip(self.lines[after:], self.line_times[after:]):
            if regex.search(line):
                return at
        raise AssertionError(f"{self.name} never logged {pattern!r}")

    def wait_for_log(self, pattern: re.Pattern[str] | str, timeout: float, after: int = 0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found():
            if self.process is not None and self.process.poll() is not None and not any(
                    regex.search(line) for line in self.lines[after:]):
                raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n" + self.log())
            return next((m for line in self.lines[after:] if (m := regex.search(line))), None)

        try:
            return wait_for(found, timeout, f"{self.name} to log {regex.pattern!r}")
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- {self.name} log ---\n{self.log()}") from None

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    def send(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int:
        """Ask the peer to shut down cleanly (SIGTERM) and wait for it."""
        if self.process is None:
            return 0
        if self.process.poll() is not None:
            return self._reaped()
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self._reaped()
            raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.log()}") from None
        return self._reaped()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self._reaped()


def run_chorus(*arguments: str, timeout: float = 30.0, cwd: Path | None = None,
               wrap: Callable[[list[str]], list[str]] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one client command (`docs`, `cat`, `edit`) to completion."""
    argv = chorus_command(*arguments)
    return subprocess.run(wrap(argv) if wrap else argv, env=child_environment(), cwd=cwd or REPO,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def start_chorus(*arguments: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start one client command without waiting (for concurrent edits)."""
    return subprocess.Popen(chorus_command(*arguments), env=child_environment(), cwd=cwd or REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8")


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


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
