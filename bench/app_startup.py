"""Cold start of the desktop app to its first shown window, against a bare PySide6 window.

Each run is a fresh process (offscreen platform, empty settings and data folders, no running
instance to hand over to); the time is from just before the process is spawned to the first
show event of the main window. The baseline process only imports QtWidgets, creates the
QApplication and shows a QWidget. Medians of several alternated runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, Report, Row, Verdict, base_parser, child_environment, emit, median

TARGET_S = 1.5

# Both probes print the seconds since the spawn (passed in as a wall-clock time) at the first
# show, then leave at once: process teardown is not part of a start.
APP_PROBE = """
import os, sys, time
spawned = float(sys.argv[1])
from PySide6.QtCore import QTimer
import editor.qt.main_window as main_window
original = main_window.MainWindow.showEvent
def shown(self, event):
    original(self, event)
    def report():
        print("shown", time.time() - spawned, flush=True)
        os._exit(0)
    QTimer.singleShot(0, report)
main_window.MainWindow.showEvent = shown
from editor.app import main
sys.exit(main(["--state", sys.argv[2]]))
"""

BARE_PROBE = """
import os, sys, time
spawned = float(sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
window = QWidget()
window.resize(800, 600)
window.show()
def report():
    print("shown", time.time() - spawned, flush=True)
    os._exit(0)
QTimer.singleShot(0, report)
app.exec()
"""


def one_start(probe: str, folder: Path) -> float:
    env = child_environment()
    env.update({"QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(folder / "config"),
                "XDG_DATA_HOME": str(folder / "data"), "XDG_RUNTIME_DIR": str(folder)})
    result = subprocess.run([sys.executable, "-c", probe, repr(time.time()), str(folder / "state")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    for line in result.stdout.splitlines():
        if line.startswith("shown "):
            return float(line.split()[1])
    raise RuntimeError(f"no window shown (exit {result.returncode}):\n{result.stderr[-2000:]}")


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    app_times, bare_times = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            bare_times.append(one_start(BARE_PROBE, Path(folder)))
        with tempfile.TemporaryDirectory() as folder:
            app_times.append(one_start(APP_PROBE, Path(folder)))
    report = Report("app_startup", "Desktop app cold start to first shown window", __doc__.strip(),
                    parameters={"runs": args.runs, "app_runs_s": app_times, "bare_runs_s": bare_times})
    app_median = median(app_times)
    report.add(Row("cold start to shown window (median)", app_median, "s", median(bare_times),
                   "bare QWidget", f"< {TARGET_S:g} s",
                   Verdict.PASS if app_median < TARGET_S else Verdict.MISS))
    emit(report, args.json)


if __name__ == "__main__":
    main()
