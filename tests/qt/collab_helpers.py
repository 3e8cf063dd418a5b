"""Helpers for co-editing window tests: a qasync loop driven from a test, and pairs of real
windows, each with its own node, linked over loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from editor.qt.collaboration import Collaboration
from tests.tasks import tasks_left_running
from editor.qt.main_window import DocumentTab, MainWindow, UnsavedChoice, document_with_text
from editor.runtime.events import SyncStatus
from editor.runtime.node import Node, NodeConfig

TIMEOUT = 10.0


def run_on_qt_loop(coroutine_function: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    """Run a test body on a qasync loop over the test's QApplication; fail on leaked tasks."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)

    async def body() -> None:
        await asyncio.wait_for(coroutine_function(), timeout)
        leftover = await tasks_left_running()
        for task in leftover:
            task.cancel()
        assert not leftover, f"leaked tasks: {[repr(t.get_coro()) for t in leftover]}"

    try:
        loop.run_until_complete(body())
    finally:
        loop.close()


async def until(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Poll `condition` on the running loop until it holds; AssertionError after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


def node_config(name: str, discovery_on: tuple[str, ...] | None = None) -> NodeConfig:
    """A loopback node; with `discovery_on`, it also advertises and browses on those interfaces."""
    return NodeConfig(name=name, listen_host="127.0.0.1", listen_port=0,
                      discovery=discovery_on is not None, interfaces=discovery_on)


@dataclass
class Peer:
    """One app window with its own node and collaboration layer."""

    name: str
    node: Node
    window: MainWindow
    collaboration: Collaboration

    def tab(self, doc_id: str) -> DocumentTab:
        return next(tab for tab in self.window.tab_list() if tab.document.doc_id == doc_id)


@contextlib.asynccontextmanager
async def peers(folder: Path, *names: str, discovery_on: tuple[str, ...] | None = None):
    """Running app windows (offscreen), one node each; closed and stopped afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for name in names:
            node = await stack.enter_async_context(Node(node_config(name, discovery_on)))
            settings = QSettings(str(folder / f"{name}.ini"), QSettings.Format.IniFormat)
            window = MainWindow(collaboration=node, settings=settings)
            window.ask_unsaved = lambda tabs: UnsavedChoice.DISCARD
            window.resize(900, 600)
            window.show()
            collaboration = Collaboration(window, node, advertised_host="127.0.0.1")
            running.append(Peer(name, node, window, collaboration))
        try:
            yield running
        finally:
            for peer in running:
                await peer.collaboration.aclose()
                peer.window.close()
                peer.window.deleteLater()


async def share_and_join(host: Peer, guest: Peer, text: str = "") -> tuple[DocumentTab, DocumentTab]:
    """`host` shares a new tab holding `text`; `guest` joins it and waits until synced."""
    # Loaded text, as from a file: history that Undo does not take back.
    tab = host.window.add_document(document_with_text(text), "shared.txt")
    host.collaboration.set_shared(tab, True)
    if host.node.peer_id not in guest.node.links:
        await guest.node.dial("127.0.0.1", host.node.port)
    doc_id = tab.document.doc_id
    await until(lambda: any(d.doc_id == doc_id for d in guest.node.peer_documents.get(host.node.peer_id, ())),
                "the guest to see the shared document")
    remote = guest.node.find_remote_document(host.node.peer_id, doc_id)
    joined = guest.collaboration.join(host.node.peer_id, remote)
    entry = guest.node.documents[doc_id]
    await until(lambda: entry.sync_status is SyncStatus.SYNCED, "the join to sync")
    return tab, joined


def shown(tab: DocumentTab) -> str:
    return tab.editor.toPlainText()


async def converged(*tabs: DocumentTab, expected: str | None = None) -> str:
    """Wait until every tab's widget shows the same text (and `expected` if given)."""

    def same() -> bool:
        texts = {shown(tab) for tab in tabs}
        return len(texts) == 1 and (expected is None or texts == {expected})

    await until(same, f"the windows to converge on {expected!r}" if expected is not None else "convergence")
    for tab in tabs:
        assert tab.binding.mismatch() is None, tab.binding.mismatch()
    return shown(tabs[0])
