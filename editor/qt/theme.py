"""Light or dark colours following the system (Qt 6 `QStyleHints.colorScheme()`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["apply_color_scheme", "dark_palette", "is_dark"]


def is_dark(app: QGuiApplication) -> bool:
    """True when the system asks for dark colours (or, if it does not say, the palette is dark)."""
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Unknown:
        return app.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return scheme == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    """A dark palette for styles (Fusion) that do not bring their own."""
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#2b2b2b", QPalette.ColorRole.WindowText: "#dcdcdc",
        QPalette.ColorRole.Base: "#1e1f22", QPalette.ColorRole.AlternateBase: "#2b2d30",
        QPalette.ColorRole.Text: "#dcdcdc", QPalette.ColorRole.Button: "#3c3f41",
        QPalette.ColorRole.ButtonText: "#dcdcdc", QPalette.ColorRole.Highlight: "#2f65ca",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#3c3f41",
        QPalette.ColorRole.ToolTipText: "#dcdcdc", QPalette.ColorRole.PlaceholderText: "#7f848e",
        QPalette.ColorRole.Link: "#589df6", QPalette.ColorRole.BrightText: "#ff6b68",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6f737a"))
    return palette


def apply_color_scheme(app: QApplication) -> bool:
    """Give `app` the palette matching the system scheme; returns True for dark.

    Platform themes that follow the scheme (Windows, macOS, GNOME, KDE) already switch the
    palette; elsewhere Fusion with our dark palette stands in.
    """
    dark = is_dark(app)
    palette_is_dark = app.palette().color(QPalette.ColorRole.Window).lightness() < 128
    if dark and not palette_is_dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    elif not dark and palette_is_dark:
        app.setPalette(app.style().standardPalette())
    return dark
