"""Render docs/screenshot.png: the real window co-editing with a second peer.

Run under a display (e.g. Xvfb): `python -m tests.qt.screenshot_scene docs/screenshot.png`.
Two windows with their own nodes link over loopback TCP; the second one selects and types, so
its caret, selection and name flag show in the first, with the Network panel and the
participants list filled from the real nodes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication

from editor.core.offsets import utf16_offset
from editor.qt.application import configure_application
from editor.qt.preferences import Preferences
from tests.qt.collab_helpers import peers, run_on_qt_loop, share_and_join, until
from tests.qt.helpers import place_caret, type_text

SAMPLE = '''"""Shared notes for the release."""

import sys


def greet(name: str) -> str:
    # Emoji and CJK render, not boxes.
    return f"Hello, {name} \U0001F600 你好"


class Counter:
    def __init__(self):
        self.count = 0

    def bump(self) -> int:
        self.count += 1
        return self.count


if __name__ == "__main__":
    print(greet(sys.argv[1]), Counter().bump())
'''


def main(output: Path) -> None:
    app = QApplication([sys.argv[0]])
    configure_application(app)

    async def scene() -> None:
        with tempfile.TemporaryDirectory() as folder:
            async with peers(Path(folder), "Ada", "Grace", "Linus") as (ada, grace, linus):
                grace.collaboration.apply_preferences(Preferences("Grace", "#D55E00", 0, False))
                linus.collaboration.apply_preferences(Preferences("Linus", "#0072B2", 0, False))
                ada.collaboration.apply_preferences(Preferences("Ada", "#009E73", 0, False))
                tab_ada, tab_grace = await share_and_join(ada, grace, SAMPLE)
                tab_ada.set_title("notes.py")
                tab_todo = ada.window.new_document()
                tab_todo.binding.set_text("todo:\n")
                tab_todo.set_title("todo.md")
                ada.window.tabs.setCurrentWidget(tab_ada)
                await linus.node.dial("127.0.0.1", ada.node.port)
                await until(lambda: ada.node.peer_id in linus.node.peer_documents, "linus to list")
                remote = linus.node.find_remote_document(ada.node.peer_id, tab_ada.document.doc_id)
                tab_l = linus.collaboration.join(ada.node.peer_id, remote)
                await until(lambda: tab_l.editor.toPlainText() == SAMPLE, "linus to sync")
                # Grace types a comment and selects a word; Linus sits in the class.
                position = SAMPLE.index("    return f")
                place_caret(tab_grace.editor, utf16_offset(SAMPLE, position))
                type_text(tab_grace.editor, "    # greet everyone 👋\n")
                text = tab_grace.editor.toPlainText()
                await until(lambda: tab_l.editor.toPlainText() == text, "linus to see grace's typing")
                start = text.index("self.count = 0") + len("self.")
                place_caret(tab_grace.editor, utf16_offset(text, start + 5), anchor=utf16_offset(text, start))
                place_caret(tab_l.editor, utf16_offset(text, text.index("return self.count") + 6))
                cursor = tab_ada.editor.textCursor()
                cursor.setPosition(utf16_offset(text, text.index("import sys") + 10))
                tab_ada.editor.setTextCursor(cursor)
                await until(lambda: len(tab_ada.editor.remote_cursors()) == 2, "both carets in Ada's window")
                await until(lambda: len(ada.window.participants_panel.names()) == 3, "the participants list")
                ada.window.resize(1180, 680)
                await asyncio.sleep(0.5)  # let the window manager-less display settle
                QApplication.processEvents()
                image = ada.window.grab()
                assert image.save(str(output)), f"cannot write {output}"
                print(f"wrote {output} ({image.width()}x{image.height()})")

    run_on_qt_loop(scene)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png"))
