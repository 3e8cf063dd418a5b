"""The installer bundle: size unpacked and as .tar.gz, build time, and the bundled app's cold start.

Builds with `packaging/build.sh` reusing the development environment (the time of PyInstaller
and the tarball, not of installing packages), unless `--no-build` is given and `dist/` holds a
build. Cold start: from just before the process is spawned to the "shown" line the app prints
at its first shown window when CHORUS_STARTUP_PROBE is set (offscreen, empty settings); the
baseline is the same probe on the source-run app (`python -m editor`), alternated, medians.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, Report, Row, Verdict, base_parser, child_environment, emit, median

UNPACKED_TARGET = 150 * 1024 * 1024
TARBALL_TARGET = 60 * 1024 * 1024
START_TARGET_S = 1.5
DIST = REPO / "dist"


def build() -> float:
    env = child_environment()
    env["CHORUS_BUILD_PYTHON"] = str(REPO / ".venv" / "bin" / "python")
    started = time.monotonic()
    subprocess.run(["bash", str(REPO / "packaging" / "build.sh")], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)
    return time.monotonic() - started


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def cold_start(argv: list[str]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        env = child_environment()
        env.update({"QT_QPA_PLATFORM": "offscreen", "CHORUS_STARTUP_PROBE": "1",
                    "XDG_CONFIG_HOME": folder, "XDG_DATA_HOME": folder, "XDG_RUNTIME_DIR": folder})
        started = time.monotonic()
        process = subprocess.Popen([*argv, "--new-instance", "--state", os.path.join(folder, "state")],
                                   cwd=folder, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        try:
            for line in process.stdout:
                if line.strip() == "shown":
                    return time.monotonic() - started
            raise RuntimeError(f"{argv[0]} exited ({process.wait()}) without showing a window")
        finally:
            process.wait(timeout=30)


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="measure the build already in dist/")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report = Report("bundle", "Installer bundle (PyInstaller, Linux x86_64)", __doc__.strip())
    build_time = None if args.no_build else build()
    executable = DIST / "chorus" / "chorus"
    tarballs = sorted(DIST.glob("chorus-*-linux-x86_64.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not executable.exists() or not tarballs:
        raise SystemExit("no bundle in dist/: run without --no-build")
    unpacked, tarball = folder_size(DIST / "chorus"), tarballs[-1].stat().st_size
    report.add(Row("bundle unpacked", unpacked, "bytes", None, "", "< 150 MiB",
                   Verdict.PASS if unpacked < UNPACKED_TARGET else Verdict.MISS))
    report.add(Row("bundle as .tar.gz", tarball, "bytes", None, "", "< 60 MiB",
                   Verdict.PASS if tarball < TARBALL_TARGET else Verdict.MISS))
    if build_time is not None:
        report.add(Row("build time (PyInstaller + tarball)", build_time, "s"))
    bundled, source = [], []
    for _ in range(args.runs):
        bundled.append(cold_start([str(executable)]))
        source.append(cold_start([sys.executable, "-m", "editor"]))
    report.add(Row("bundled app cold start to shown window (median)", median(bundled), "s",
                   median(source), "source-run app", f"< {START_TARGET_S:g} s",
                   Verdict.PASS if median(bundled) < START_TARGET_S else Verdict.MISS))
    report.parameters = {"runs": args.runs, "bundled_s": bundled, "source_s": source,
                         "tarball": tarballs[-1].name}
    emit(report, args.json)


if __name__ == "__main__":
    main()
