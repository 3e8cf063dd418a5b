"""User preferences (display name, colour, listening port, discovery), kept in QSettings."""

from __future__ import annotations

import getpass
import zlib
from dataclasses import dataclass, replace

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

__all__ = ["OKABE_ITO", "Preferences", "PreferencesDialog", "default_preferences",
           "load_preferences", "save_preferences"]

# Okabe & Ito's colour-blind-safe palette (black left out: it reads as plain text).
OKABE_ITO: tuple[tuple[str, str], ...] = (
    ("Orange", "#E69F00"),
    ("Sky blue", "#56B4E9"),
    ("Bluish green", "#009E73"),
    ("Yellow", "#F0E442"),
    ("Blue", "#0072B2"),
    ("Vermillion", "#D55E00"),
    ("Reddish purple", "#CC79A7"),
)
# The runtime's default listening port (NodeConfig.listen_port).
DEFAULT_PORT = 4117
_PREFIX = "preferences/"


@dataclass(frozen=True)
class Preferences:
    """What the user chose; `color` is "#RRGGBB"."""

    display_name: str
    color: str
    port: int
    discovery: bool


def _account_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER variable (containers)
        return "Anonymous"


def default_preferences() -> Preferences:
    """Name from the account, a palette colour picked stably from that name, default port."""
    name = _account_name()
    color = OKABE_ITO[zlib.crc32(name.encode()) % len(OKABE_ITO)][1]
    return Preferences(display_name=name, color=color, port=DEFAULT_PORT, discovery=True)


def load_preferences(settings: QSettings) -> Preferences:
    """The saved preferences, with defaults for anything missing or invalid."""
    defaults = default_preferences()
    name = str(settings.value(_PREFIX + "display_name", defaults.display_name)).strip()
    color = str(settings.value(_PREFIX + "color", defaults.color))
    try:
        port = int(settings.value(_PREFIX + "port", defaults.port))
    except (TypeError, ValueError):
        port = defaults.port
    discovery = settings.value(_PREFIX + "discovery", defaults.discovery)
    if isinstance(discovery, str):  # INI files give strings back
        discovery = discovery.lower() in ("true", "1", "yes")
    return Preferences(
        display_name=name or defaults.display_name,
        color=QColor(color).name().upper() if QColor(color).isValid() else defaults.color,
        port=port if 0 <= port <= 65535 else defaults.port,
        discovery=bool(discovery),
    )


def save_preferences(settings: QSettings, preferences: Preferences) -> None:
    """Persist `preferences`."""
    settings.setValue(_PREFIX + "display_name", preferences.display_name)
    settings.setValue(_PREFIX + "color", preferences.color)
    settings.setValue(_PREFIX + "port", preferences.port)
    settings.setValue(_PREFIX + "discovery", preferences.discovery)
    settings.sync()


def _swatch(color: str) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class PreferencesDialog(QDialog):
    """Edits a `Preferences`; `preferences()` returns the edited value."""

    def __init__(self, preferences: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._original = preferences
        self.name_field = QLineEdit(preferences.display_name)
        self.name_field.setMaxLength(64)
        self.color_box = QComboBox()
        for label, color in OKABE_ITO:
            self.color_box.addItem(_swatch(color), label, color)
        index = self.color_box.findData(preferences.color)
        if index < 0:  # a colour from elsewhere: keep it selectable
            self.color_box.addItem(_swatch(preferences.color), preferences.color, preferences.color)
            index = self.color_box.count() - 1
        self.color_box.setCurrentIndex(index)
        self.port_box = QSpinBox()
        self.port_box.setRange(0, 65535)
        self.port_box.setSpecialValueText("any free port")
        self.port_box.setValue(preferences.port)
        self.discovery_box = QCheckBox("Find peers on the local network automatically")
        self.discovery_box.setChecked(preferences.discovery)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        form = QFormLayout(self)
        form.addRow("Display name:", self.name_field)
        form.addRow("Colour:", self.color_box)
        form.addRow("Listening port:", self.port_box)
        form.addRow("", self.discovery_box)
        form.addRow(buttons)

    def preferences(self) -> Preferences:
        """The preferences as currently edited (an empty name keeps the previous one)."""
        return replace(
            self._original,
            display_name=self.name_field.text().strip() or self._original.display_name,
            color=str(self.color_box.currentData()),
            port=self.port_box.value(),
            discovery=self.discovery_box.isChecked(),
        )
