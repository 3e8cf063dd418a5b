"""Who is in a document: their remote carets for the editor and the participants list (dock).

Positions are code points until the editor converts them (`CodeEditor.position_of_index`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from editor.core.document import SharedDocument
from editor.core.presence import PresenceState
from editor.qt.editor_widget import RemoteCursor

__all__ = ["Participant", "ParticipantsPanel", "remote_cursors", "resolve_participants"]

_CLIENT_ROLE = Qt.ItemDataRole.UserRole
LOCAL_CLIENT = -1  # the list's row for this user


@dataclass(frozen=True)
class Participant:
    """A remote participant with their caret (`head`) and selection start (`anchor`) resolved
    to code points; both None when they have no caret in the text (or it is not here yet)."""

    client_id: int
    name: str
    color: str
    anchor: int | None
    head: int | None
    # Changes when they move their caret or type (their anchors, not the resolved positions).
    activity: str = ""


def resolve_participants(document: SharedDocument, states: Mapping[int, PresenceState]) -> list[Participant]:
    """Resolve every participant's anchors against the document's current text, by name."""
    resolved = []
    for client_id, state in states.items():
        anchor = head = None
        if state.anchor is not None and state.head is not None:
            try:
                anchor = document.resolve_anchor(state.anchor)
                head = document.resolve_anchor(state.head)
            except ValueError:  # a malformed anchor from a foreign client: show no caret
                anchor = head = None
            if anchor is None or head is None:
                anchor = head = None
        resolved.append(Participant(client_id, state.name, state.color, anchor, head,
                                    activity=repr((state.anchor, state.head))))
    resolved.sort(key=lambda p: (p.name.casefold(), p.client_id))
    return resolved


def remote_cursors(participants: Sequence[Participant]) -> list[RemoteCursor]:
    """The carets and selections to draw (participants without a caret are left out)."""
    return [RemoteCursor(p.client_id, p.name, p.color, p.head, p.anchor, activity=p.activity)
            for p in participants if p.head is not None and p.anchor is not None]


def _swatch(color: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class ParticipantsPanel(QWidget):
    """The list of people in the current document, with "Follow"."""

    participant_activated = Signal(int)  # client id: show where they are
    follow_changed = Signal(object)  # client id to follow, or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("In this document")
        self.list = QListWidget()
        self.list.setToolTip("Click someone to see where they are")
        self.list.itemClicked.connect(self._clicked)
        self.list.currentItemChanged.connect(lambda _current, _previous: self._update_follow_button())
        self.follow_button = QPushButton("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setToolTip("Keep the selected participant's caret in view until you "
                                      "type, click or scroll")
        self.follow_button.toggled.connect(self._follow_toggled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.list)
        layout.addWidget(self.follow_button)
        self._following: int | None = None
        self._rows: tuple = ()
        self._update_follow_button()

    @property
    def following(self) -> int | None:
        """The client id being followed, if any."""
        return self._following

    def set_participants(self, local: tuple[str, str, str] | None,
                         rows: Sequence[tuple[Participant, str]]) -> None:
        """Show `local` (name, colour, location) first, then each participant with their
        location text ("line:col", or "" when they have no caret)."""
        key = (local, tuple(rows))
        if key == self._rows:
            return
        self._rows = key
        selected = self.selected_client()
        self.list.clear()
        if local is not None:
            name, color, location = local
            item = QListWidgetItem(_swatch(color), f"{name} (you)" + (f"  {location}" if location else ""))
            item.setData(_CLIENT_ROLE, LOCAL_CLIENT)
            self.list.addItem(item)
        for participant, location in rows:
            text = participant.name + (f"  {location}" if location else "")
            item = QListWidgetItem(_swatch(participant.color), text)
            item.setData(_CLIENT_ROLE, participant.client_id)
            item.setToolTip(f"{participant.name}: line {location}" if location else participant.name)
            self.list.addItem(item)
            if participant.client_id == selected:
                self.list.setCurrentItem(item)
        present = {participant.client_id for participant, _location in rows}
        if self._following is not None and self._following not in present:
            self.set_following(None)  # they left
        self._update_follow_button()

    def names(self) -> list[str]:
        """The shown rows' texts (for tests)."""
        return [self.list.item(i).text() for i in range(self.list.count())]

    def selected_client(self) -> int | None:
        """The client id of the selected remote participant."""
        item = self.list.currentItem()
        client = item.data(_CLIENT_ROLE) if item is not None else None
        return client if isinstance(client, int) and client != LOCAL_CLIENT else None

    def select_client(self, client_id: int) -> bool:
        """Select the row of `client_id`; False if not listed."""
        for i in range(self.list.count()):
            if self.list.item(i).data(_CLIENT_ROLE) == client_id:
                self.list.setCurrentRow(i)
                return True
        return False

    def set_following(self, client_id: int | None) -> None:
        """Follow `client_id` (None: stop) and show it on the button."""
        if client_id == self._following:
            return
        self._following = client_id
        self.follow_button.blockSignals(True)
        self.follow_button.setChecked(client_id is not None)
        self.follow_button.blockSignals(False)
        self._update_follow_button()
        self.follow_changed.emit(client_id)

    def _clicked(self, item: QListWidgetItem) -> None:
        client = item.data(_CLIENT_ROLE)
        if isinstance(client, int) and client != LOCAL_CLIENT:
            self.participant_activated.emit(client)

    def _follow_toggled(self, checked: bool) -> None:
        target = self.selected_client() if checked else None
        if checked and target is None:  # nobody selected: nothing to follow
            self.follow_button.blockSignals(True)
            self.follow_button.setChecked(False)
            self.follow_button.blockSignals(False)
            return
        self.set_following(target)

    def _update_follow_button(self) -> None:
        self.follow_button.setEnabled(self._following is not None or self.selected_client() is not None)
