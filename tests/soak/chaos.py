"""Chaos soak: three `chorus serve` peers in a full mesh on loopback, random `chorus edit`
inserts of unique tokens, random SIGKILL + restart and SIGSTOP / SIGCONT; at the end every
peer and every file must hold the same text with every acknowledged token exactly once.

Not part of the test suite (it runs for minutes): `python -m tests.soak.chaos [--seed N]
[--seconds S]`. The seed is printed; a run with the same seed makes the same choices (the
timing of the processes still varies). Exit status 1 when a token is lost or duplicated, or
the peers do not converge.
"""

from __future__ import annotations

import argparse
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.peers import REPO, child_environment, chorus_command

PEERS = ("a", "b", "c")
TOKEN = re.compile(r"<\d+:[abc]>")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mesh:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in PEERS}
        self.processes: dict[str, subprocess.Popen] = {}
        self.stopped: set[str] = set()
        for name in PEERS:
            (root / name).mkdir()
        (root / "a" / "doc.txt").write_text("start\n", encoding="utf-8")

    def start(self, name: str) -> None:
        shared = [str(self.root / name)] if name == "a" else ["--mirror", str(self.root / name)]
        others = [arg for peer in PEERS if peer != name for arg in ("--peer", f"127.0.0.1:{self.ports[peer]}")]
        log = (self.root / f"{name}.log").open("a")
        self.processes[name] = subprocess.Popen(
            chorus_command("serve", "--listen", f"127.0.0.1:{self.ports[name]}", "--no-discovery",
                           "--name", name, *shared, *others),
            cwd=REPO, env=child_environment(), stdout=log, stderr=subprocess.STDOUT)

    def chorus(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(chorus_command(*arguments), cwd=REPO, env=child_environment(),
                              capture_output=True, text=True, timeout=60)

    def text(self, name: str) -> str | None:
        result = self.chorus("cat", f"127.0.0.1:{self.ports[name]}", "doc.txt")
        return result.stdout if result.returncode == 0 else None

    def file(self, name: str) -> str | None:
        path = self.root / name / "doc.txt"
        return path.read_text(encoding="utf-8") if path.exists() else None

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGCONT)
            process.terminate()
        for process in self.processes.values():
            process.wait(timeout=30)


def boundaries(text: str) -> list[int]:
    """Insert positions outside every token. (The peer's text may change between reading it and
    the edit, so a token can still land inside another: `tokens_in` peels such nestings.)"""
    positions, depth = [], 0
    for index, character in enumerate(text + " "):
        if depth == 0:
            positions.append(index)
        depth += {"<": 1, ">": -1}.get(character, 0)
    return positions


def tokens_in(text: str) -> list[str]:
    """Every token in `text`, a token split by another inserted into it included: complete
    tokens are peeled off, innermost first, until none is left."""
    found: list[str] = []
    while True:
        peeled = TOKEN.findall(text)
        if not peeled:
            return found
        found += peeled
        text = TOKEN.sub("", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=random.randrange(10**6))
    parser.add_argument("--seconds", type=float, default=90.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="chorus-chaos-"))
    mesh = Mesh(root)
    for name in PEERS:
        mesh.start(name)
    time.sleep(3)
    acknowledged: list[str] = []
    step, deadline = 0, time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline:
            step += 1
            name, roll = rng.choice(PEERS), rng.random()
            process = mesh.processes[name]
            if roll < 0.06 and name not in mesh.stopped:
                process.kill()
                process.wait()
                print(f"step {step}: kill {name}", flush=True)
                time.sleep(rng.uniform(0, 2))
                mesh.start(name)
            elif roll < 0.10:
                wanted = signal.SIGCONT if name in mesh.stopped else signal.SIGSTOP
                process.send_signal(wanted)
                mesh.stopped ^= {name}
                print(f"step {step}: {'cont' if wanted == signal.SIGCONT else 'stop'} {name}", flush=True)
            elif name not in mesh.stopped:
                text = mesh.text(name)
                if text is None:
                    continue
                token = f"<{step}:{name}>"
                position = rng.choice(boundaries(text))
                edit = mesh.chorus("edit", f"127.0.0.1:{mesh.ports[name]}", "doc.txt", "--insert",
                                   str(position), token)
                if edit.returncode == 0:
                    acknowledged.append(token)
                    print(f"step {step}: {token} at {name} pos {position}", flush=True)
        for name in list(mesh.stopped):
            mesh.processes[name].send_signal(signal.SIGCONT)
        mesh.stopped.clear()
        print(f"{len(acknowledged)} acknowledged edits; waiting for convergence", flush=True)
        converge_by = time.monotonic() + 60
        while True:
            texts = {name: mesh.text(name) for name in PEERS} | {f"{name} file": mesh.file(name) for name in PEERS}
            if len(set(texts.values())) == 1 and None not in texts.values():
                break
            if time.monotonic() > converge_by:
                print(f"NOT CONVERGED: {texts}  (logs in {root})")
                return 1
            time.sleep(0.5)
        present = tokens_in(texts["a"] or "")
        lost = [token for token in acknowledged if token not in present]
        doubled = [token for token in acknowledged if present.count(token) > 1]
        print(f"lost {lost}, doubled {doubled}, logs and state in {root}")
        return 1 if lost or doubled else 0
    finally:
        mesh.stop_all()


if __name__ == "__main__":
    sys.exit(main())
