"""Render resources/icons/chorus.svg to the PNG icons (chorus-<size>.png) with Qt SVG.

Usage: python packaging/render_icons.py           regenerate every PNG
       python packaging/render_icons.py --check   exit 1 if a PNG is missing or out of date
       (--output DIR reads or writes the PNGs in DIR instead of resources/icons)

Runs headless (the offscreen platform unless QT_QPA_PLATFORM says otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt  # noqa: E402  (the platform must be chosen first)
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
ICONS_DIR = REPO_ROOT / "resources" / "icons"
SOURCE_SVG = ICONS_DIR / "chorus.svg"

# The same list as editor.resources.ICON_SIZES, repeated so that this script runs without the
# project installed; tests/packaging checks the two agree.
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

# Largest per-channel difference (0-255) tolerated by --check: another Qt release may round
# antialiased edges a little differently without the icon having changed.
CHECK_TOLERANCE = 8


def png_path(directory: Path, size: int) -> Path:
    """Return where the PNG of `size` pixels lives in `directory`."""
    return directory / f"chorus-{size}.png"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """Render the whole SVG into a transparent, antialiased `size` x `size` image."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter, QRectF(0, 0, size, size))
    finally:
        painter.end()
    return image


def max_channel_difference(a: QImage, b: QImage) -> int:
    """Return the largest difference of any ARGB channel between two same-sized images."""
    a = a.convertToFormat(QImage.Format.Format_ARGB32)
    b = b.convertToFormat(QImage.Format.Format_ARGB32)
    if a.size() != b.size():
        return 255
    worst = 0
    for y in range(a.height()):
        for x in range(a.width()):
            pa, pb = a.pixel(x, y), b.pixel(x, y)
            for shift in (0, 8, 16, 24):
                worst = max(worst, abs(((pa >> shift) & 0xFF) - ((pb >> shift) & 0xFF)))
    return worst


def main(argv: list[str] | None = None) -> int:
    """Regenerate the PNGs, or with --check report which ones differ from a fresh render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=ICONS_DIR, metavar="DIR",
                        help="folder of the PNGs (default: resources/icons)")
    args = parser.parse_args(argv)

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841  (keeps Qt alive)
    renderer = QSvgRenderer(str(SOURCE_SVG))
    if not renderer.isValid():
        print(f"error: {SOURCE_SVG} is not a valid SVG for Qt", file=sys.stderr)
        return 2

    stale = []
    for size in ICON_SIZES:
        fresh = render(renderer, size)
        target = png_path(args.output, size)
        if args.check:
            existing = QImage(str(target))
            # Small icons are compared pixel by pixel; the large ones at a 64 px sample keep
            # the pure-Python comparison quick.
            if existing.isNull():
                stale.append(f"{target.name}: missing")
                continue
            if size > 64:
                existing, fresh = (
                    img.scaled(64, 64, Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
                    for img in (existing, fresh)
                )
            difference = max_channel_difference(existing, fresh)
            if difference > CHECK_TOLERANCE:
                stale.append(f"{target.name}: differs by up to {difference}/255")
        elif not fresh.save(str(target), "PNG"):
            print(f"error: could not write {target}", file=sys.stderr)
            return 2
        else:
            print(f"wrote {target}")
    if stale:
        print("out of date (run packaging/render_icons.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
