"""The real app on a virtual X display, typed into with xdotool: killed with unsaved work, it
offers the work back at the next start; ended by SIGTERM (a logout), it asks nothing and keeps it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from editor.runtime.recovery import claim_orphaned_sessions
from tests.e2e.peers import REPO, child_environment, wait_for

pytestmark = pytest.mark.slow

TIMEOUT = 30.0


@pytest.fixture
def display():
    """A private Xvfb display (its number chosen by Xvfb), with xdotool to type into it."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (.ci/setup installs them)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24",
                               "-nolisten", "tcp"], pass_fds=(write_end,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as reader:
            number = reader.readline().strip()
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


class App:
    """One `chorus` app process on `display`, with its own home, settings and data folders."""

    def __init__(self, display: str, home: Path, *arguments: str) -> None:
        self.display = display
        runtime = home / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        settings = home / "config" / "chorus" / "chorus.conf"
        settings.parent.mkdir(parents=True, exist_ok=True)
        # No discovery announcements from a test; any free port.
        settings.write_text("[preferences]\ndisplay_name=Tess\ndiscovery=false\nport=0\n")
        env = child_environment() | {
            "DISPLAY": display, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"), "XDG_RUNTIME_DIR": str(runtime),
        }
        env.pop("QT_QPA_PLATFORM", None)
        self.log = home / f"app-{len(list(home.glob('app-*.log')))}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "editor", *arguments], cwd=REPO, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)

    def xdotool(self, *arguments: str) -> str:
        result = subprocess.run(["xdotool", *arguments], env={**os.environ, "DISPLAY": self.display},
                                capture_output=True, text=True, timeout=TIMEOUT)
        return result.stdout.strip() if result.returncode == 0 else ""

    def window(self, title_regex: str) -> str:
        """The id of this app's shown window whose title matches, once it is there."""

        def matching() -> str | None:
            # xdotool's own --name filter also matches other properties: compare titles here.
            shown = self.xdotool("search", "--onlyvisible", "--pid", str(self.process.pid), "--name", ".")
            for window in shown.split():
                if re.search(title_regex, self.xdotool("getwindowname", window)):
                    return window
            return None

        return wait_for(matching, TIMEOUT,
                        f"a window titled {title_regex!r} ({self.log.read_text(errors='replace')})")

    def type(self, window: str, text: str) -> None:
        self.xdotool("windowfocus", "--sync", window)
        self.xdotool("type", "--delay", "15", text)

    def key(self, window: str, key: str) -> None:
        self.xdotool("windowfocus", "--sync", window)
        self.xdotool("key", key)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)


def kept_texts(home: Path) -> str:
    """Everything the recovery folders hold now, as one string."""
    return "".join(path.read_text(encoding="utf-8", errors="replace")
                   for path in (home / "data" / "chorus" / "recovery").glob("*/*.json"))


def test_a_killed_app_offers_its_unsaved_work_back_and_a_logout_keeps_it(display, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("original\n", encoding="utf-8")

    first = App(display, home, str(notes))
    try:
        first.type(first.window("notes.txt"), "typed before the crash ")
        wait_for(lambda: "typed before the crash original" in kept_texts(home), TIMEOUT,
                 "the unsaved text in the recovery folder")
    finally:
        first.stop()  # SIGKILL: no chance to ask or to save
    assert first.process.returncode == -signal.SIGKILL
    assert notes.read_text(encoding="utf-8") == "original\n"

    second = App(display, home)
    try:
        second.key(second.window("^Chorus$"), "Return")  # "Restore the unsaved work?" -> Restore
        restored = second.window("notes.txt")
        second.key(restored, "ctrl+s")
        wait_for(lambda: notes.read_text(encoding="utf-8") == "typed before the crash original\n",
                 TIMEOUT, "the restored text saved to the file")
        second.type(restored, "after ")
        wait_for(lambda: "after typed before" in kept_texts(home), TIMEOUT, "the new unsaved text kept")
        second.process.send_signal(signal.SIGTERM)  # a logout: no question, nothing lost
        assert second.process.wait(timeout=TIMEOUT) == 0, second.log.read_text(errors="replace")
    finally:
        second.stop()
    sessions = claim_orphaned_sessions(home / "data" / "chorus" / "recovery")
    try:
        assert [d.text for s in sessions for d in s.documents()] == ["after typed before the crash original\n"]
    finally:
        for session in sessions:
            session.release()
