"""Shared plumbing of the benchmarks: traces, statistics, child processes, reporting.

Every benchmark script builds a `Report` (rows of metric / value / baseline / ratio / target /
verdict), prints it as a table, or as JSON with `--json`. Child processes are started through
`Child`, which reads their line-oriented stdout and stops them by PID.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
TRACES_ENV = "CHORUS_TRACES"
DEFAULT_TRACES = REPO.parent / "shared" / "traces"


# ---------------------------------------------------------------------------- traces


class TracesMissing(SystemExit):
    """The editing traces folder is absent: the benchmark cannot run."""


def traces_dir(explicit: str | None = None) -> Path:
    """The traces folder: `--traces`, else $CHORUS_TRACES, else ../shared/traces from the repo."""
    chosen = Path(explicit or os.environ.get(TRACES_ENV) or DEFAULT_TRACES)
    if not (chosen / "sequential_traces").is_dir():
        raise TracesMissing(
            f"editing traces not found in {chosen} (expected sequential_traces/ inside).\n"
            f"Pass --traces DIR or set {TRACES_ENV}; the traces are josephg/editing-traces "
            "(github.com/josephg/editing-traces), CC BY 4.0."
        )
    return chosen


@dataclass(frozen=True)
class Trace:
    """A sequential editing trace: patches (position, deleted, inserted) in code points."""

    name: str
    patches: tuple[tuple[int, int, str], ...]
    end_content: str


def load_trace(folder: Path, name: str = "automerge-paper", *, ascii_only: bool = True) -> Trace:
    """Load `sequential_traces[/ascii_only]/NAME.json.gz`; patches flattened in order."""
    base = folder / "sequential_traces"
    path = (base / "ascii_only" if ascii_only else base) / f"{name}.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        data = json.load(stream)
    if data.get("startContent", ""):
        raise ValueError(f"{path}: traces with a start content are not supported")
    patches = tuple((pos, deleted, inserted) for txn in data["txns"]
                    for pos, deleted, inserted in txn["patches"])
    return Trace(name, patches, data["endContent"])


def trace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--traces", metavar="DIR", default=None,
                        help=f"editing traces folder (default ${TRACES_ENV} or {DEFAULT_TRACES})")


# ---------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux /proc), in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------- child processes


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """A child process speaking lines on stdin/stdout; stderr kept for error messages."""

    def __init__(self, argv: Sequence[str], *, name: str, cwd: Path = REPO) -> None:
        self.name = name
        self.process = subprocess.Popen(
            list(argv), cwd=cwd, env=child_environment(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self.pid = self.process.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @classmethod
    def peer(cls, role: str, *arguments: str, name: str | None = None) -> Child:
        """Start `bench/peer.py ROLE ...` (the benchmark's headless helper peers)."""
        return cls([sys.executable, str(BENCH / "peer.py"), role, *arguments], name=name or role)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, prefix: str, timeout: float) -> list[str]:
        """The words after `prefix` on the next stdout line starting with it (others skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {prefix!r} line in {timeout:g} s\n{self.log()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.process.wait(5)
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}) before "
                                   f"{prefix!r}\n{self.log()}")
            if line.split(" ", 1)[0] == prefix:
                return line.split()[1:]

    def expect_json(self, prefix: str, timeout: float) -> Any:
        """The JSON document on the next line `PREFIX {...}`."""
        words = self.expect(prefix, timeout)
        return json.loads(" ".join(words))

    def log(self) -> str:
        return "\n".join(self.stderr_lines[-40:])

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (after SIGCONT, in case it was stopped), then SIGKILL; by PID, idempotent."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout=5)


class Children:
    """Every child a benchmark starts; `with Children() as kids:` stops them all at the end."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def add(self, child: Child) -> Child:
        self._children.append(child)
        return child

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for child in reversed(self._children):
            child.stop()


# ---------------------------------------------------------------------------- reporting


class Verdict(Enum):
    PASS = "PASS"
    MISS = "MISS"
    INFO = "-"  # a figure shown for context, with no target


@dataclass(frozen=True)
class Row:
    """One measured figure next to its same-run baseline, and its target."""

    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    verdict: Verdict = Verdict.INFO

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


@dataclass
class Report:
    """What one benchmark found: rows, the method in words, and its parameters."""

    name: str
    title: str
    method: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    @property
    def verdict(self) -> Verdict:
        judged = [row.verdict for row in self.rows if row.verdict is not Verdict.INFO]
        if not judged:
            return Verdict.INFO
        return Verdict.MISS if Verdict.MISS in judged else Verdict.PASS

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            item = asdict(row)
            item["verdict"] = row.verdict.value
            item["ratio"] = row.ratio
            rows.append(item)
        return {"name": self.name, "title": self.title, "method": self.method, "rows": rows,
                "notes": self.notes, "parameters": self.parameters, "verdict": self.verdict.value,
                "machine": machine_summary()}

    def table(self) -> str:
        lines = [f"== {self.title}", self.method, ""]
        header = ("metric", "value", "baseline", "ratio", "target", "verdict")
        body = [(row.metric, format_value(row.value, row.unit),
                 (f"{format_value(row.baseline, row.unit)} ({row.baseline_label})"
                  if row.baseline is not None else "-"),
                 f"{row.ratio:.2f}x" if row.ratio is not None else "-",
                 row.target or "-", row.verdict.value) for row in self.rows]
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body)]
        for cells in (header, *body):
            lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)))
        lines.extend(f"note: {note}" for note in self.notes)
        lines.append(f"verdict: {self.verdict.value}")
        return "\n".join(lines)


def format_value(value: float, unit: str) -> str:
    """A figure in a readable unit: s -> ms/us, bytes -> KiB/MiB."""
    if unit == "s":
        if abs(value) < 1e-3:
            return f"{value * 1e6:.0f} us"
        if abs(value) < 1:
            return f"{value * 1e3:.2f} ms"
        return f"{value:.2f} s"
    if unit == "bytes":
        if abs(value) >= 1024 * 1024:
            return f"{value / (1024 * 1024):.2f} MiB"
        if abs(value) >= 1024:
            return f"{value / 1024:.1f} KiB"
        return f"{value:.0f} B"
    if unit in ("", "x"):
        return f"{value:.3g}{unit}"
    return f"{value:.4g} {unit}"


def emit(report: Report, as_json: bool) -> None:
    """Print the report: JSON on stdout with `--json` (the table then goes to stderr)."""
    if as_json:
        print(report.table(), file=sys.stderr)
        print(json.dumps(report.to_json(), indent=1))
    else:
        print(report.table())


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    return parser


def library_versions() -> dict[str, str]:
    versions = {}
    for package in ("pycrdt", "rsocket", "zeroconf", "qasync", "PySide6-Essentials"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def machine_summary() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass  # not Linux: keep platform's guess
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": library_versions(),
        "load_average": os.getloadavg(),
    }
