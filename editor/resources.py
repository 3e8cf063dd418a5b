"""Find Chorus's data files (icons, desktop entry) from a source checkout or a PyInstaller bundle.

Standard library only, so any layer may import it. The files live in the repository's
`resources/` folder; the PyInstaller spec copies that folder to `resources/` inside the bundle,
whose root PyInstaller publishes as `sys._MEIPASS`. A plain wheel install carries no
resources: there the lookup fails with a `FileNotFoundError` that says so.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

RESOURCES_DIR_NAME = "resources"

# A folder named `resources` is only ours if it holds this file: a wheel install puts this
# module in site-packages, whose parent may hold some other project's `resources` folder.
_MARKER_FILE = "chorus.desktop"

# The repository root seen from this file: editor/resources.py -> editor/ -> root.
_SOURCE_ROOT = Path(__file__).resolve().parent.parent

# The sizes packaging/render_icons.py renders, as icons/chorus-<size>.png.
ICON_SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256, 512)


def _resources_root() -> tuple[Path, str]:
    """Return the resources folder this process should read and a description of its origin."""
    bundle_root = getattr(sys, "_MEIPASS", None)
    if bundle_root is not None:
        return Path(bundle_root) / RESOURCES_DIR_NAME, "the PyInstaller bundle"
    return _SOURCE_ROOT / RESOURCES_DIR_NAME, "the source checkout"


def resource_path(relative: str) -> Path:
    """Return the absolute path of an existing resource given as a relative POSIX path.

    Raises `ValueError` for an absolute path or one that climbs out with `..`, and
    `FileNotFoundError` when there is no resources folder or no such file in it.
    """
    parts = PurePosixPath(relative).parts
    if not relative or PurePosixPath(relative).is_absolute() or ".." in parts or "\\" in relative:
        raise ValueError(f"resource path must be relative, '/'-separated and stay inside: {relative!r}")
    root, origin = _resources_root()
    if not (root / _MARKER_FILE).is_file():
        raise FileNotFoundError(
            f"Chorus resources folder not found at {root} (looked in {origin}); resources ship "
            "with a source checkout and with the bundled application, not with a wheel install"
        )
    path = root.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"Chorus resource {relative!r} not found in {root}")
    return path


def icon_path(size: int | None = None) -> Path:
    """Return the scalable SVG icon for `size=None`, else the PNG of exactly `size` pixels.

    Raises `ValueError` for a size that is not in `ICON_SIZES`.
    """
    if size is None:
        return resource_path("icons/chorus.svg")
    if not isinstance(size, int) or isinstance(size, bool) or size not in ICON_SIZES:
        raise ValueError(f"no {size!r} px icon; rendered sizes are {ICON_SIZES}")
    return resource_path(f"icons/chorus-{size}.png")
