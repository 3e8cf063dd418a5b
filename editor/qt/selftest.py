"""The widget half of `chorus --self-test`: two real editor windows, each with its own node in
this process, co-edit over loopback TCP by key presses and must converge."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6.QtCore import QEvent, QSettings, Qt
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from editor.qt.collaboration import Collaboration
from editor.qt.main_window import DocumentTab, MainWindow, UnsavedChoice
from editor.runtime.events import SyncStatus
from editor.runtime.node import Node, NodeConfig

__all__ = ["type_keys", "widgets_converge"]

WIDGETS_TIMEOUT = 15.0
REMOTE_TYPING = "B> 👍🏽 中\n"


def type_keys(editor: QPlainTextEdit, text: str) -> None:
    """Type `text` as key presses, one code point each ("\\n" as Return). QTest.keyClicks
    cannot send non-ASCII text, so the events are built here."""
    for character in text:
        key, key_text = (Qt.Key.Key_Return, "\r") if character == "\n" else (Qt.Key.Key_unknown, character)
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(editor, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, key_text))


def widgets_converge(report: Callable[[str], None], sample: str, timeout: float = WIDGETS_TIMEOUT) -> None:
    """Run the two-window check on a qasync loop; raises (AssertionError, TimeoutError, ...)
    if the windows do not show the same text within `timeout` seconds."""
    app = QApplication.instance() or QApplication(["chorus-self-test"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    try:
        loop.run_until_complete(asyncio.wait_for(_converge(report, sample), timeout))
    finally:
        loop.close()


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _converge(report: Callable[[str], None], sample: str) -> None:
    loopback = {"listen_host": "127.0.0.1", "listen_port": 0}
    with tempfile.TemporaryDirectory(prefix="chorus-self-test-") as folder:
        async with contextlib.AsyncExitStack() as stack:
            alice = await stack.enter_async_context(Node(NodeConfig(name="window A", **loopback)))
            bob = await stack.enter_async_context(Node(NodeConfig(name="window B", **loopback)))
            window_a, collaboration_a = _window(alice, Path(folder) / "a.ini")
            window_b, collaboration_b = _window(bob, Path(folder) / "b.ini")
            try:
                tab_a = window_a.new_document()
                collaboration_a.set_shared(tab_a, True)
                await bob.dial("127.0.0.1", alice.port)
                await bob.wait_until(lambda: alice.peer_id in bob.peer_documents, WIDGETS_TIMEOUT)
                remote = bob.find_remote_document(alice.peer_id, tab_a.document.doc_id)
                tab_b = collaboration_b.join(alice.peer_id, remote)
                entry_b = bob.documents[remote.doc_id]
                await _until(lambda: entry_b.sync_status is SyncStatus.SYNCED, WIDGETS_TIMEOUT, "the join")
                report("window B joined window A's document over TCP")

                type_keys(tab_a.editor, sample)
                await _until(lambda: _shown(tab_b) == sample, WIDGETS_TIMEOUT,
                             "window B to show what was typed in window A")
                tab_b.editor.moveCursor(QTextCursor.MoveOperation.End)
                type_keys(tab_b.editor, REMOTE_TYPING)
                expected = sample + REMOTE_TYPING
                await _until(lambda: _shown(tab_a) == _shown(tab_b) == expected, WIDGETS_TIMEOUT,
                             "both windows to show the same text")
                for tab in (tab_a, tab_b):
                    problem = tab.binding.mismatch()
                    if problem is not None:
                        raise AssertionError(f"an editor disagrees with its document: {problem}")
                report(f"typed in both windows; both show the same {len(expected)} characters")
            finally:
                for window, collaboration in ((window_a, collaboration_a), (window_b, collaboration_b)):
                    await collaboration.aclose()
                    window.close()
                    window.deleteLater()


def _window(node: Node, settings_file: Path) -> tuple[MainWindow, Collaboration]:
    window = MainWindow(collaboration=node, settings=QSettings(str(settings_file), QSettings.Format.IniFormat))
    window.ask_unsaved = lambda tabs: UnsavedChoice.DISCARD  # never a modal question here
    return window, Collaboration(window, node, advertised_host="127.0.0.1")


def _shown(tab: DocumentTab) -> str:
    return tab.editor.toPlainText()
