"""One window per data folder: a second `gui-trader` on the same folder brings the first to
the front and exits, instead of a second engine on the same journal and sessions.

The first window listens on a QLocalServer named after the folder (and the user); a second
start connects, sends "raise", waits for "ok" and leaves. Nothing listens after a kill -9, but
on Unix the socket file stays: a failed connect removes it before listening. A file lock in
the data folder makes the check-then-listen one step, so two windows started at the same
moment cannot both become the first. CLI commands never come here.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QWidget

__all__ = ["SingleInstance", "bring_to_front", "server_name"]

log = logging.getLogger(__name__)
RAISE, OK = b"raise\n", b"ok\n"
CONNECT_MS = 1000
ANSWER_MS = 5000  # the first window answers from its event loop: a busy frame must not fail it


def server_name(folder: Path) -> str:
    """Stable for one folder however it is spelled; short enough for a Unix socket path."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = ""
    key = f"{user}\0{folder.expanduser().resolve()}"
    return "gui_trader-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def bring_to_front(window: QWidget) -> None:
    """Shown, un-minimised, on top and focused (as far as the window manager lets it)."""
    state = window.windowState() & ~Qt.WindowState.WindowMinimized
    window.setWindowState(state | Qt.WindowState.WindowActive)
    window.show()
    window.raise_()
    window.activateWindow()


class SingleInstance(QObject):
    """claim() once before the window opens: True means this process is the first."""

    raise_requested = Signal()

    def __init__(self, folder: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.name = server_name(folder)
        self.server: QLocalServer | None = None
        self.answered = False  # after claim() returned False: the first window said "ok"

    def claim(self) -> bool:
        locks = self.folder / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(locks / "window.lock", timeout=10):
                if self._ask_the_first():
                    return False
                QLocalServer.removeServer(self.name)  # a socket file left by a killed window
                server = QLocalServer(self)
                server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
                if not server.listen(self.name):
                    log.warning("single-instance server not started: %s", server.errorString())
                    return True  # the window still opens; only the raising is lost
                server.newConnection.connect(self._on_connection)
                self.server = server
                return True
        except Timeout:  # another start holds the lock for long: let this window open
            log.warning("window.lock busy in %s; opening anyway", self.folder)
            return True

    def attach(self, window: QWidget) -> None:
        """A second start raises this window from now on."""
        self.raise_requested.connect(lambda: bring_to_front(window))

    def close(self) -> None:
        if self.server is not None:
            self.server.close()  # removes the socket file on Unix
            self.server = None

    def _ask_the_first(self) -> bool:
        """Is a window already listening? If so it was asked to come to the front."""
        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(CONNECT_MS):
            return False
        sock.write(RAISE)
        sock.waitForBytesWritten(CONNECT_MS)
        reply = b""
        while OK not in reply and sock.waitForReadyRead(ANSWER_MS):
            reply += bytes(sock.readAll().data())
        self.answered = OK in reply
        sock.disconnectFromServer()
        return True

    def _on_connection(self) -> None:
        assert self.server is not None
        while (sock := self.server.nextPendingConnection()) is not None:
            sock.readyRead.connect(self._reader(sock))
            sock.disconnected.connect(sock.deleteLater)

    def _reader(self, sock: QLocalSocket) -> Callable[[], None]:
        buffer = bytearray()

        def read() -> None:
            buffer.extend(bytes(sock.readAll().data()))
            if RAISE in buffer:
                buffer.clear()
                log.info("another start on %s: bringing this window to the front", self.folder)
                self.raise_requested.emit()
                sock.write(OK)
                sock.flush()

        return read
