"""editor.resources: one lookup that works from the checkout and from a PyInstaller bundle."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from editor import resources
from editor.resources import ICON_SIZES, icon_path, resource_path

REPO = Path(__file__).resolve().parents[2]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first chunk, right after the signature)."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert header[12:16] == b"IHDR"
    return struct.unpack(">II", header[16:24])


def make_resources(root: Path, *files: str) -> Path:
    """Create a resources folder (with its marker file) holding empty `files` under `root`."""
    folder = root / "resources"
    for relative in ("chorus.desktop", *files):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(b"")
    return folder


@pytest.fixture
def no_bundle(monkeypatch):
    """Run as from source even if the test session itself were frozen."""
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)


def test_resolves_files_of_the_checkout(no_bundle) -> None:
    path = resource_path("icons/chorus.svg")
    assert path == REPO / "resources" / "icons" / "chorus.svg"
    assert path.is_absolute() and path.is_file()
    assert resource_path("chorus.desktop").is_file()


def test_resolves_a_folder_too(no_bundle) -> None:
    assert resource_path("icons").is_dir()


def test_missing_file_names_what_was_asked(no_bundle) -> None:
    with pytest.raises(FileNotFoundError, match=r"'icons/nope\.png'"):
        resource_path("icons/nope.png")


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../pyproject.toml", "icons/../../x", r"icons\chorus.svg"])
def test_rejects_paths_that_are_not_plain_relative_ones(no_bundle, bad: str) -> None:
    with pytest.raises(ValueError):
        resource_path(bad)


def test_bundle_root_wins_over_the_checkout(tmp_path, monkeypatch) -> None:
    folder = make_resources(tmp_path, "icons/chorus-16.png")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("icons/chorus-16.png") == folder / "icons" / "chorus-16.png"
    # A file only the checkout has is not found: the bundle must carry everything it needs.
    with pytest.raises(FileNotFoundError):
        resource_path("icons/chorus.svg")


def test_bundle_without_resources_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    with pytest.raises(FileNotFoundError, match="PyInstaller bundle"):
        resource_path("icons/chorus.svg")


def test_wheel_install_without_resources_says_so(tmp_path, monkeypatch, no_bundle) -> None:
    # Installed from a wheel, the module sits in site-packages with no resources beside it.
    monkeypatch.setattr(resources, "_SOURCE_ROOT", tmp_path / "site-packages")
    with pytest.raises(FileNotFoundError, match="wheel install"):
        resource_path("icons/chorus.svg")


def test_a_foreign_resources_folder_is_not_taken_for_ours(tmp_path, monkeypatch, no_bundle) -> None:
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    (tmp_path / "resources" / "icons" / "chorus.svg").write_text("<svg/>")
    monkeypatch.setattr(resources, "_SOURCE_ROOT", tmp_path)
    with pytest.raises(FileNotFoundError):
        resource_path("icons/chorus.svg")


def test_icon_path_defaults_to_the_scalable_icon(no_bundle) -> None:
    assert icon_path() == resource_path("icons/chorus.svg")


@pytest.mark.parametrize("size", ICON_SIZES)
def test_icon_path_gives_a_png_of_exactly_that_size(no_bundle, size: int) -> None:
    assert png_size(icon_path(size)) == (size, size)


@pytest.mark.parametrize("size", [0, 20, 1024, -16, 16.0, True, "16"])
def test_icon_path_rejects_sizes_that_were_not_rendered(no_bundle, size) -> None:
    with pytest.raises(ValueError, match="rendered sizes"):
        icon_path(size)
