"""A client's way to the paper service of its data folder (sim/service.py), started on demand.

The wire client speaks to `http://paper.sim`; this transport sends each request to the port the
service wrote down. When nothing answers there (no service yet, or it left: idle, killed, a new
day), it starts one and tries once more. A refused connection means the request never left, so
that retry cannot place anything twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from filelock import FileLock, Timeout

from gui_trader.sim.paper_files import (
    ADDR,
    ALWAYS_OPEN,
    DB,
    IDLE_ENV,
    IDLE_S,
    LOCK,
    LOG,
    PAPER_HOST,
    PAPER_URL,
    REVISION,
    SPAWN_LOCK,
)

if TYPE_CHECKING:
    from gui_trader.sim.store import PaperStore

START_TIMEOUT_S = 30.0  # a cold start imports the simulator (~1 s); a loaded CI box is slower
NOT_THERE = (httpx.ConnectError, httpx.ConnectTimeout)


class PaperUnavailable(OSError):
    """The paper service could not be started (its log says why)."""


def serving_port(folder: Path) -> int | None:
    """The port of the service that holds this folder's lock, or None when nobody serves it."""
    addr = _serving(folder)
    return None if addr is None else int(str(addr["port"]))


def _serving(folder: Path) -> dict[str, object] | None:
    if not _lock_held(folder):
        return None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        addr = json.loads((folder / ADDR).read_text(encoding="utf-8"))
        int(str(addr["port"]))
        return dict(addr)
    return None  # starting: the address is not written yet


def ensure_service(
    folder: Path, timeout_s: float = START_TIMEOUT_S, market: str = ALWAYS_OPEN
) -> int:
    """The running service's port, starting one if needed (blocking: call it in a thread).

    A held lock is not enough: a service killed a moment ago may not have released it yet, and
    one starting has not listened yet. Only a port that accepts a connection is an answer. A
    service that keeps other market hours than `market` (the config changed), or speaks another
    revision (the app was updated while it ran), is replaced: the book is on disk."""

    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with FileLock(folder / SPAWN_LOCK, timeout=timeout_s):
        child: subprocess.Popen[bytes] | None = None
        while time.monotonic() < deadline:
            addr = _serving(folder)
            if addr is not None and (
                addr.get("market", ALWAYS_OPEN) != market or addr.get("revision") != REVISION
            ):
                stop_service(folder, max(0.1, deadline - time.monotonic()))
                continue
            if addr is not None and _answers(int(str(addr["port"]))):
                return int(str(addr["port"]))
            if not _lock_held(folder):
                if child is not None and child.poll() not in (None, 0):
                    break  # ours started and failed: its log says why
                if child is None or child.poll() == 0:
                    # none yet, or ours left at once, having seen the lock taken (another
                    # service that has since gone, or a probe like ours): start one again
                    child = _spawn(folder, market)
            time.sleep(0.02)
    raise PaperUnavailable(
        f"the paper exchange did not start within {timeout_s:g} s (see {folder / LOG})"
    )


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True


def _lock_held(folder: Path) -> bool:
    lock = FileLock(folder / LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _spawn(folder: Path, market: str) -> subprocess.Popen[bytes]:
    idle = os.environ.get(IDLE_ENV) or str(IDLE_S)
    cmd = [sys.executable, "-m", "gui_trader.sim.service", str(folder), idle, market]
    with (folder / LOG).open("ab") as log:
        if sys.platform == "win32":
            flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
            return subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, creationflags=flags
            )
        # A session of its own: Ctrl-C in the terminal that started it leaves it be.
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


def stop_service(folder: Path, timeout_s: float = 10.0) -> bool:
    """Ask the folder's service to leave and wait for it (tests, `gui-trader sim --stop`)."""
    import signal

    try:
        pid = int(json.loads((folder / ADDR).read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _lock_held(folder):
        time.sleep(0.02)
    return not _lock_held(folder)


class PaperTransport(httpx.AsyncBaseTransport):
    """Requests for paper.sim go to the folder's service; a missing service is started."""

    def __init__(
        self, folder: Path, inner: httpx.AsyncBaseTransport, market: str = ALWAYS_OPEN
    ) -> None:
        self.folder = folder
        self.inner = inner
        self.market = market
        self.port: int | None = None

    async def start(self) -> int:
        import asyncio

        self.port = await asyncio.to_thread(
            ensure_service, self.folder, START_TIMEOUT_S, self.market
        )
        return self.port

    async def route(self, url: str) -> str:
        """A feed URL on paper.sim, pointed at the service's port (started if need be; asked
        again on every reconnect, since a restarted service listens elsewhere)."""
        parsed = httpx.URL(url)
        if parsed.host != PAPER_HOST:
            return url
        port = await self.start()
        return str(parsed.copy_with(host="127.0.0.1", port=port))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.host != PAPER_HOST:
            return await self.inner.handle_async_request(request)
        if self.port is None:
            await self.start()
        try:
            return await self.inner.handle_async_request(self._routed(request, url))
        except NOT_THERE:
            await self.start()
            return await self.inner.handle_async_request(self._routed(request, url))

    def _routed(self, request: httpx.Request, url: httpx.URL) -> httpx.Request:
        request.url = url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return request

    async def aclose(self) -> None:
        await self.inner.aclose()


def paper_users(folder: Path) -> PaperStore:
    """The folder's paper accounts (the store is safe to open beside the running service)."""
    from gui_trader.sim.store import PaperStore

    return PaperStore(folder / DB)


__all__ = ["PAPER_URL", "PaperTransport", "PaperUnavailable", "ensure_service", "stop_service"]
