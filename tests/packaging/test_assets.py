"""The files in resources/: icon source and renders, desktop entry, install note."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from editor.resources import ICON_SIZES

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"
RENDER_SCRIPT = REPO / "packaging" / "render_icons.py"


def run_render(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run packaging/render_icons.py in its own process (it creates a QGuiApplication)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, str(RENDER_SCRIPT), *arguments], env=env,
                          capture_output=True, text=True, timeout=60)


def test_committed_pngs_match_a_fresh_render_of_the_svg() -> None:
    result = run_render("--check")
    assert result.returncode == 0, result.stderr


def test_check_notices_a_stale_or_missing_png(tmp_path) -> None:
    assert run_render("--output", str(tmp_path)).returncode == 0
    shutil.copy(tmp_path / "chorus-16.png", tmp_path / "chorus-24.png")  # wrong size
    (tmp_path / "chorus-64.png").unlink()
    result = run_render("--check", "--output", str(tmp_path))
    assert result.returncode == 1
    assert "chorus-24.png: differs" in result.stderr
    assert "chorus-64.png: missing" in result.stderr
    assert "chorus-16.png" not in result.stderr


def test_render_script_and_lookup_agree_on_the_sizes() -> None:
    # Read the script's constant without importing it (importing loads Qt into this process).
    tree = ast.parse(RENDER_SCRIPT.read_text(encoding="utf-8"))
    sizes = next(
        ast.literal_eval(node.value) for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ICON_SIZES" for t in node.targets)
    )
    assert tuple(sizes) == ICON_SIZES == (16, 24, 32, 48, 64, 128, 256, 512)


def test_svg_is_a_square_plain_svg() -> None:
    root = ElementTree.parse(RESOURCES / "icons" / "chorus.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 512 512"
    # No bitmaps, scripts or external references: the icon must render the same everywhere.
    tags = {element.tag.split("}")[-1] for element in root.iter()}
    assert not tags & {"image", "script", "foreignObject", "style", "filter"}


def read_desktop_entry() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read(RESOURCES / "chorus.desktop", encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_entry_has_the_required_keys() -> None:
    entry = read_desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Chorus"
    assert entry["GenericName"] == "Collaborative Text Editor"
    assert entry["Exec"] == "chorus %U"
    assert entry["Icon"] == "chorus"
    assert entry["Terminal"] == "false"
    assert entry["StartupWMClass"] == "chorus"
    assert entry["Categories"] == "Utility;TextEditor;Development;"
    assert entry["MimeType"] == "text/plain;x-scheme-handler/chorus;"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (Debian: desktop-file-utils)")
def test_desktop_entry_passes_desktop_file_validate() -> None:
    # Hints are advice, not errors: listing both Utility and Development is one, and wanted.
    result = subprocess.run(["desktop-file-validate", "--no-hints", str(RESOURCES / "chorus.desktop")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_install_note_carries_the_version_placeholder_build_sh_fills_in() -> None:
    text = (RESOURCES / "INSTALL.txt").read_text(encoding="utf-8")
    assert "chorus-@VERSION@-linux-x86_64.tar.gz" in text
    assert text.isascii()
