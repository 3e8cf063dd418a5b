#!/usr/bin/env bash
# Build the Linux bundle and its tarball in one command:
#   dist/chorus/chorus                             the one-folder PyInstaller bundle
#   dist/chorus-VERSION-linux-ARCH.tar.gz          the bundle, desktop entry, icons, INSTALL.txt
#
# Environment (all optional):
#   CHORUS_BUILD_VENV    venv to create or reuse; the project is installed into it with its
#                        `packaging` extra (default: build/packaging-venv)
#   CHORUS_BUILD_PYTHON  use this interpreter as it is, installing nothing (it must already
#                        have the project's dependencies and PyInstaller, e.g. the dev .venv)
#   CHORUS_DIST_DIR      output folder (default: dist)
#   CHORUS_WORK_DIR      PyInstaller's work folder (default: build/pyinstaller)
#   CHORUS_STRIP=0       do not strip the binaries
#   SOURCE_DATE_EPOCH    timestamp stored in the tarball (default: the last commit's)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST_DIR="$(realpath -m "${CHORUS_DIST_DIR:-$ROOT/dist}")"
WORK_DIR="$(realpath -m "${CHORUS_WORK_DIR:-$ROOT/build/pyinstaller}")"

die() { echo "build.sh: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "this script builds the Linux bundle; see packaging/README.md for macOS and Windows"
for tool in readelf strip tar gzip; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt install binutils tar gzip)"
done

if [ -n "${CHORUS_BUILD_PYTHON:-}" ]; then
  PY="$CHORUS_BUILD_PYTHON"
  "$PY" -c 'import PyInstaller, PySide6, pycrdt, rsocket, zeroconf, qasync' \
    || die "$PY lacks the project's dependencies or PyInstaller"
else
  VENV="$(realpath -m "${CHORUS_BUILD_VENV:-$ROOT/build/packaging-venv}")"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    python3 -m venv "$VENV"
  fi
  PY="$VENV/bin/python"
  echo "== installing the project with its packaging extra into $VENV"
  # setuptools builds in build/lib: a stale copy there could hold modules deleted since.
  rm -rf "$ROOT/build/lib"
  "$PY" -m pip install --quiet --disable-pip-version-check "$ROOT[packaging]"
fi

VERSION="$(cd "$ROOT" && "$PY" -c 'import editor; print(editor.__version__)')"
ARCH="$(uname -m)"
NAME="chorus-$VERSION-linux-$ARCH"

echo "== PyInstaller: $DIST_DIR/chorus (version $VERSION)"
started=$(date +%s)
(cd "$ROOT" && "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$DIST_DIR" --workpath "$WORK_DIR" packaging/chorus.spec)
built=$(date +%s)

echo "== tarball: $DIST_DIR/$NAME.tar.gz"
STAGE="$WORK_DIR/stage"
rm -rf "$STAGE"
mkdir -p "$STAGE/$NAME/icons"
cp -a "$DIST_DIR/chorus" "$STAGE/$NAME/chorus"
cp "$ROOT/resources/chorus.desktop" "$STAGE/$NAME/"
cp "$ROOT/resources/icons/chorus.svg" "$ROOT"/resources/icons/chorus-*.png "$STAGE/$NAME/icons/"
sed "s/@VERSION@/$VERSION/g" "$ROOT/resources/INSTALL.txt" > "$STAGE/$NAME/INSTALL.txt"

# Same inputs, same bytes: sorted names, fixed owner and time, no name or time in gzip's header.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)"
fi
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -cf - "$NAME" | gzip -n > "$DIST_DIR/$NAME.tar.gz"
rm -rf "$STAGE"
packed=$(date +%s)

unpacked_bytes=$(du -sb "$DIST_DIR/chorus" | cut -f1)
tarball_bytes=$(stat -c %s "$DIST_DIR/$NAME.tar.gz")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "== done: bundle $(mib "$unpacked_bytes") unpacked, tarball $(mib "$tarball_bytes");" \
  "PyInstaller $((built - started)) s, tarball $((packed - built)) s"
