"""Starting the desktop app: display checks, the QApplication, the qasync loop, the Node, the
window, and handing arguments to an already running app."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import qasync
from PySide6.QtCore import QLibrary, QLibraryInfo, QSettings, QStandardPaths, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from editor.qt.collaboration import Collaboration
from editor.qt.links import is_link
from editor.qt.main_window import MainWindow
from editor.qt.preferences import load_preferences
from editor.qt.recovery import RecoveryKeeper, restore_unsaved_work
from editor.qt.single_instance import SingleInstance, hand_over
from editor.resources import ICON_SIZES, icon_path
from editor.runtime.node import Node, NodeConfig
from editor.runtime.recovery import RecoverySession, claim_orphaned_sessions

__all__ = ["EXIT_NO_DISPLAY", "LaunchRequest", "configure_application", "default_state_dir",
           "display_problem", "run"]

log = logging.getLogger(__name__)

APPLICATION_NAME = "chorus"  # lowercase: it is the X11 WM class and the settings folder
EXIT_NO_DISPLAY = 1
# Set (to anything) to make the app print "shown" at its first shown window and quit.
STARTUP_PROBE_ENV = "CHORUS_STARTUP_PROBE"
RECOVERY_FOLDER = "recovery"  # in the state folder: unsaved work of running and ended sessions
XCB_PACKAGES = ("libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 "
                "libxcb-xkb1 libxcb-shape0 libxcb-xinerama0 libxkbcommon-x11-0")


@dataclass(frozen=True)
class LaunchRequest:
    """What the command line asked for: files (absolute paths) and `chorus://` links."""

    paths: tuple[Path, ...] = ()
    links: tuple[str, ...] = ()
    state_dir: Path | None = None  # the node's identity; default: the user's data folder
    single_instance: bool = True
    server_name: str | None = None  # the single-instance socket; default: per user

    def arguments(self) -> list[str]:
        """The request as command-line arguments for the running app."""
        return [str(path) for path in self.paths] + list(self.links)


def display_problem(environ: dict[str, str] | None = None, platform: str = sys.platform) -> str | None:
    """Why Qt could not open a window here (one line), or None. Checked before QApplication,
    which would abort the process instead of explaining."""
    environ = dict(os.environ if environ is None else environ)
    if not platform.startswith("linux"):
        return None
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        return None  # offscreen, wayland, vnc...: the user chose; Qt reports its own errors
    if not environ.get("DISPLAY") and not (environ.get("WAYLAND_DISPLAY") and not chosen):
        return ("cannot open a window: no display (neither DISPLAY nor WAYLAND_DISPLAY nor "
                "QT_QPA_PLATFORM is set); for a headless peer use `chorus serve`")
    if environ.get("WAYLAND_DISPLAY") and not chosen:
        return None  # Qt may use its Wayland plugin
    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    library = QLibrary(str(plugin))
    if not library.load():
        return (f"cannot open a window: Qt's X11 platform plugin does not load "
                f"({library.errorString()}); install the missing libraries, on Debian/Ubuntu: "
                f"sudo apt install {XCB_PACKAGES}")
    return None


def configure_application(app: QApplication) -> None:
    """Names (WM class, settings location, desktop entry) and the window icon."""
    app.setOrganizationName(APPLICATION_NAME)
    app.setApplicationName(APPLICATION_NAME)
    app.setApplicationDisplayName("Chorus")
    app.setDesktopFileName(APPLICATION_NAME)
    icon = QIcon()
    for size in ICON_SIZES:
        try:
            icon.addFile(str(icon_path(size)))
        except FileNotFoundError as error:  # a wheel install carries no resources
            log.info("no window icon: %s", error)
            break
    if not icon.isNull():
        app.setWindowIcon(icon)


def default_state_dir() -> Path:
    """Where the app's node keeps its identity (e.g. ~/.local/share/chorus)."""
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(data or Path.home() / ".local" / "share") / APPLICATION_NAME


def run(request: LaunchRequest) -> int:
    """Open the app (or hand the request to the running one); the process exit code."""
    problem = display_problem()
    if problem is not None:
        print(f"chorus: {problem}", file=sys.stderr)
        return EXIT_NO_DISPLAY
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APPLICATION_NAME])
    configure_application(app)
    if request.single_instance and hand_over(request.arguments(), request.server_name):
        print("chorus: opened in the running Chorus window", file=sys.stderr)
        return 0
    app.setQuitOnLastWindowClosed(False)  # else closing the window stops the loop mid-await
    return qasync.run(_run_app(app, request))


async def start_node(config: NodeConfig, stack: contextlib.AsyncExitStack) -> tuple[Node, str | None]:
    """Start a node on the configured port, or on a free one if that is taken; the node and,
    after a fallback, a sentence saying so."""
    try:
        return await stack.enter_async_context(Node(config)), None
    except OSError as error:
        if config.listen_port == 0 or error.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        node = await stack.enter_async_context(Node(replace(config, listen_port=0)))
        return node, (f"Port {config.listen_port} is in use; listening on port {node.port} instead")


def open_arguments(window: MainWindow, collaboration: Collaboration, arguments: list[str]) -> None:
    """Open files and join links given on a command line (this one or a later launch's)."""
    for argument in arguments:
        if is_link(argument):
            collaboration.open_link(argument)
        else:
            window.open_file(Path(argument))


async def _run_app(app: QApplication, request: LaunchRequest) -> int:
    preferences = load_preferences(QSettings())
    config = NodeConfig(
        name=preferences.display_name,
        color=preferences.color,
        state_dir=request.state_dir or default_state_dir(),
        listen_host="0.0.0.0",
        listen_port=preferences.port,
        discovery=preferences.discovery,
    )
    # The window first: starting the node (listening, mDNS probing) takes a while, and the
    # user can read and type meanwhile; tabs opened now join the network once it is up.
    window = MainWindow(collaboration=True)
    recovery_root = config.state_dir / RECOVERY_FOLDER
    keeper = RecoveryKeeper(window, RecoverySession(recovery_root))
    if request.paths or not request.links:
        window.open_paths(list(request.paths))
    window.show()
    probing = bool(os.environ.get(STARTUP_PROBE_ENV))
    if probing:
        # For startup measurements of installed builds: say when the window is up, then quit.
        QTimer.singleShot(0, lambda: (print("shown", flush=True), window.close()))
    window.statusBar().showMessage("Starting the network…")
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
            # A logout or a kill asks nothing: the unsaved documents are kept for the next start.
            loop.add_signal_handler(signum, window.close_without_asking)
    try:
        await _serve_window(window, request, config, closed,
                            recovery_root=None if probing else recovery_root)
    finally:
        keeper.finish(keep=window.closed_without_asking or not closed.is_set())
    return 0


async def _serve_window(window: MainWindow, request: LaunchRequest, config: NodeConfig,
                        closed: asyncio.Event, *, recovery_root: Path | None) -> None:
    """Run the node and the collaboration layer until the window closes; offer the unsaved
    work of ended sessions under `recovery_root` once the node is up (joined documents need it)."""
    async with contextlib.AsyncExitStack() as stack:
        node, port_note = await start_node(config, stack)
        window.collaboration = node
        collaboration = Collaboration(window, node)
        window.statusBar().showMessage(port_note or f"Listening on port {node.port}", 0 if port_note else 5000)
        if recovery_root is not None:
            # A Qt callback, not this task: the question runs a nested event loop.
            QTimer.singleShot(0, lambda: restore_unsaved_work(window, claim_orphaned_sessions(recovery_root),
                                                              node=node))
        instance = SingleInstance(request.server_name)
        if request.single_instance:
            instance.listen()

        def later_launch(arguments: list[str]) -> None:
            open_arguments(window, collaboration, arguments)
            if not window.tab_list():
                window.new_document()
            window.showNormal()
            window.raise_()
            window.activateWindow()

        instance.arguments_received.connect(later_launch)
        open_arguments(window, collaboration, list(request.links))
        if not closed.is_set():
            await closed.wait()
        instance.close()
        await collaboration.aclose()
