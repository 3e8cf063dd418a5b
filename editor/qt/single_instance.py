"""One running app per user: a second `chorus ...` hands its arguments to the first and exits.

The running app listens on a `QLocalServer` (a Unix socket in `$XDG_RUNTIME_DIR` when there is
one, else Qt's per-user name in the temporary folder; a named pipe on Windows). A launch first
tries to connect; if nobody answers it becomes the running app. Each message is one line of
JSON: `{"arguments": [...]}`, answered by `ok`.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

__all__ = ["SingleInstance", "default_server_name", "hand_over"]

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_MS = 500
_REPLY_TIMEOUT_MS = 3000
_MAX_MESSAGE_BYTES = 1 << 20


def default_server_name() -> str:
    """Where this user's running app listens."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and Path(runtime_dir).is_dir():
        return str(Path(runtime_dir) / "chorus.socket")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return f"chorus-{user}"


def hand_over(arguments: list[str], server_name: str | None = None) -> bool:
    """Give `arguments` to the running app; False if there is none (or it did not answer)."""
    socket = QLocalSocket()
    socket.connectToServer(server_name or default_server_name())
    if not socket.waitForConnected(_CONNECT_TIMEOUT_MS):
        return False
    socket.write((json.dumps({"arguments": arguments}) + "\n").encode())
    if not socket.waitForBytesWritten(_REPLY_TIMEOUT_MS):
        return False
    # Wait for the answer, so that the running app has the arguments before we exit.
    while not socket.canReadLine():
        if not socket.waitForReadyRead(_REPLY_TIMEOUT_MS):
            return False
    answered = bytes(socket.readLine().data()).strip() == b"ok"
    socket.disconnectFromServer()
    return answered


class SingleInstance(QObject):
    """The running app's end: emits `arguments_received` for every later launch."""

    arguments_received = Signal(list)  # list[str], as given on that command line

    def __init__(self, server_name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server_name = server_name or default_server_name()
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        """Start answering later launches; False (logged) if the name cannot be taken."""
        if self._server.listen(self.server_name):
            return True
        # A socket file left by a crashed app: nobody answered `hand_over`, so take it over.
        QLocalServer.removeServer(self.server_name)
        if self._server.listen(self.server_name):
            return True
        log.info("single instance: cannot listen on %s: %s", self.server_name, self._server.errorString())
        return False

    def close(self) -> None:
        """Stop answering (the socket file is removed)."""
        self._server.close()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            connection = self._server.nextPendingConnection()
            connection.readyRead.connect(lambda c=connection: self._read(c))
            connection.disconnected.connect(connection.deleteLater)

    def _read(self, connection: QLocalSocket) -> None:
        if connection.bytesAvailable() > _MAX_MESSAGE_BYTES:
            connection.abort()
            return
        while connection.canReadLine():
            line = bytes(connection.readLine().data())
            try:
                message = json.loads(line)
                arguments = [str(argument) for argument in message["arguments"]]
            except (ValueError, KeyError, TypeError) as error:
                log.info("single instance: ignoring a malformed message: %s", error)
                connection.abort()
                return
            connection.write(b"ok\n")
            connection.flush()
            self.arguments_received.emit(arguments)
