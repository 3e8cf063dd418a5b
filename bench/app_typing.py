"""Application time per keystroke and per applied remote edit in the real window stack.

Offscreen. A `MainWindow` tab bound to its `SharedDocument` through `DocumentBinding`, shared
by a running `Node` with a `Collaboration` layer (caret publishing, remote-caret refresh), and
joined by a second node over loopback TCP, so every keystroke also feeds a live channel. A
keystroke is one KeyPress+KeyRelease sent to the editor in the middle of the text, timed to
the return of `sendEvent` plus the event-loop turn it schedules (flush, caret, presence). A
remote edit is an update made on a separate replica, applied to the tab's document (it
patches the widget). Baseline: the same key events into a bare QPlainTextEdit holding the
same text. Documents of 10 KB, 100 KB and 1 MB, ASCII and non-ASCII (emoji and CJK).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qasync  # noqa: E402
from PySide6.QtCore import QEvent, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QKeyEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QPlainTextEdit  # noqa: E402

from benchlib import Report, Row, Verdict, base_parser, emit, median  # noqa: E402
from editor.core.document import SharedDocument  # noqa: E402
from editor.qt.collaboration import Collaboration  # noqa: E402
from editor.qt.main_window import MainWindow, UnsavedChoice, document_with_text  # noqa: E402
from editor.runtime.events import SyncStatus  # noqa: E402
from editor.runtime.node import Node, NodeConfig  # noqa: E402

TARGET_S = 0.002
SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000}
LINES = {"ascii": "the quick brown fox jumps over the lazy dog 0123456789\n",
         "non-ascii": "naïve café 😀 👍🏽 中文字符 テキスト ünïcödé text line\n"}
TYPED = {"ascii": "x", "non-ascii": "中"}


def text_of(kind: str, size: int) -> str:
    line = LINES[kind]
    return line * max(1, size // len(line.encode()))


def press(widget: QPlainTextEdit, character: str) -> None:
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(widget, QKeyEvent(kind, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier, character))


async def one_turn() -> None:
    """Let the work a keystroke scheduled (flush, caret publishing) run."""
    await asyncio.sleep(0)


async def time_keystrokes(widget: QPlainTextEdit, character: str, count: int) -> list[float]:
    cursor = widget.textCursor()
    cursor.setPosition(widget.document().characterCount() // 2)
    widget.setTextCursor(cursor)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        press(widget, character)
        await one_turn()
        times.append(time.perf_counter() - started)
    return times


async def measure(report: Report, count: int) -> None:
    loopback = {"listen_host": "127.0.0.1", "listen_port": 0}
    with tempfile.TemporaryDirectory() as folder:
        async with contextlib.AsyncExitStack() as stack:
            host = await stack.enter_async_context(Node(NodeConfig(name="typist", **loopback)))
            guest = await stack.enter_async_context(Node(NodeConfig(name="watcher", **loopback)))
            window = MainWindow(collaboration=host, settings=QSettings(str(Path(folder) / "s.ini"),
                                                                       QSettings.Format.IniFormat))
            window.ask_unsaved = lambda tabs: UnsavedChoice.DISCARD
            collaboration = Collaboration(window, host, advertised_host="127.0.0.1")
            await guest.dial("127.0.0.1", host.port)
            try:
                for kind in LINES:
                    for label, size in SIZES.items():
                        text = text_of(kind, size)
                        tab = window.add_document(document_with_text(text), f"{label}.txt")
                        collaboration.set_shared(tab, True)
                        doc_id = tab.document.doc_id
                        await guest.wait_until(lambda: any(d.doc_id == doc_id for d in
                                                           guest.peer_documents.get(host.peer_id, ())), 30)
                        entry = guest.join(host.peer_id, guest.find_remote_document(host.peer_id, doc_id))
                        await guest.wait_until(lambda: entry.sync_status is SyncStatus.SYNCED, 60)
                        typed = await time_keystrokes(tab.editor, TYPED[kind], count)

                        bare = QPlainTextEdit()
                        bare.setPlainText(text)
                        base = await time_keystrokes(bare, TYPED[kind], count)
                        bare.deleteLater()

                        # Remote edits: a replica of the document types; each update is applied.
                        replica = SharedDocument(doc_id)
                        replica.apply_update(tab.document.encode_state(), "seed")
                        updates = []
                        replica.subscribe_updates(lambda update, source: updates.append(update)
                                                  if source is None else None)
                        middle = len(replica) // 3
                        for i in range(count):
                            replica.insert(middle + i, TYPED[kind])
                        remote = []
                        for update in updates:
                            started = time.perf_counter()
                            tab.document.apply_update(update, "bench")
                            await one_turn()
                            remote.append(time.perf_counter() - started)
                        assert tab.binding.mismatch() is None

                        value = median(typed)
                        report.add(Row(f"keystroke, {label} {kind}", value, "s", median(base),
                                       "bare QPlainTextEdit", f"< {TARGET_S * 1e3:g} ms",
                                       Verdict.PASS if value < TARGET_S else Verdict.MISS))
                        remote_value = median(remote)
                        report.add(Row(f"remote edit applied, {label} {kind}", remote_value, "s",
                                       median(base), "bare QPlainTextEdit keystroke",
                                       f"< {TARGET_S * 1e3:g} ms",
                                       Verdict.PASS if remote_value < TARGET_S else Verdict.MISS))
                        guest.close_document(doc_id)
                        window.close_tab(tab)
            finally:
                await collaboration.aclose()
                window.close()


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="keystrokes per document")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setQuitOnLastWindowClosed(False)
    report = Report("app_typing", "Keystroke and remote-edit cost in the desktop app", __doc__.strip(),
                    parameters={"count": args.count, "sizes": SIZES})
    loop = qasync.QEventLoop(app)
    try:
        loop.run_until_complete(measure(report, args.count))
    finally:
        loop.close()
    emit(report, args.json)


if __name__ == "__main__":
    main()
