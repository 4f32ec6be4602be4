"""Serve the paper exchange on 127.0.0.1 for tests, benchmarks and demos (`gui-trader sim`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from gui_trader.sim.exchange import Exchange, SimUser
from gui_trader.sim.faults import FaultPlan
from gui_trader.sim.feeds import DEFAULT_INTERVAL_S
from gui_trader.sim.server import ConnectionDropped, SimServer


class _HideDrops(logging.Filter):
    """A deliberate hang-up is a simulated fault, not a server error worth a traceback; nor is a
    hung request cancelled when a graceful shutdown runs out of time."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped | asyncio.CancelledError)


def listen(port: int = 0) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every reply body waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    return sock


def start(
    *,
    latency_ms: float = 0.0,
    jitter_ms: float = 0.0,
    seed: int = 7,
    users: list[SimUser] | None = None,
    feed_interval_s: float = DEFAULT_INTERVAL_S,
    **exchange_kw: Any,
) -> ServerThread:
    """A listening simulator on a free loopback port (use as a context manager)."""
    sock = listen()
    app = build(
        int(sock.getsockname()[1]),
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        seed=seed,
        users=users,
        feed_interval_s=feed_interval_s,
        **exchange_kw,
    )
    return ServerThread(app, sock)


def build(
    port: int,
    *,
    latency_ms: float = 0.0,
    jitter_ms: float = 0.0,
    seed: int = 7,
    users: list[SimUser] | None = None,
    feed_interval_s: float = DEFAULT_INTERVAL_S,
    **exchange_kw: Any,
) -> SimServer:
    exchange = Exchange(seed=seed, users=users, base_url=f"http://127.0.0.1:{port}", **exchange_kw)
    return SimServer(
        exchange,
        FaultPlan(latency_ms=latency_ms, jitter_ms=jitter_ms),
        feed_interval_s=feed_interval_s,
    )


def uvicorn_config(app: SimServer, port: int) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_HideDrops())
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="asyncio",
        http="h11",
        ws="websockets-sansio",  # the live feeds (sim/feeds.py)
        timeout_keep_alive=30,
        # Hung and trickling requests are open on purpose: never wait long for them to finish
        # (open feeds are closed by SimServer.close(), and by uvicorn with 1012).
        timeout_graceful_shutdown=1,
        backlog=4096,
    )


def serve_forever(app: SimServer, port: int) -> None:
    uvicorn.Server(uvicorn_config(app, port)).run()


def serve_socket(
    app: SimServer, sock: socket.socket, ready: Callable[[], None] | None = None
) -> None:
    """Serve on an already listening socket until SIGINT/SIGTERM, then exit 0.

    uvicorn stops in order on SIGTERM and then raises it again for the handler that was there
    before it: ours, which only asks the server to stop, so the process ends with 0 rather than
    killed by the signal. A signal that comes before uvicorn has put in its own handlers (the
    caller read the banner and stopped us at once) stops the server as soon as it is up."""
    server = uvicorn.Server(uvicorn_config(app, int(sock.getsockname()[1])))

    def stop(*_: object) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ready is not None:  # the banner: only once a signal can no longer kill us outright
        ready()
    server.run(sockets=[sock])


class ServerThread:
    """The simulator over a real loopback socket, in a background thread with its own loop."""

    def __init__(self, app: SimServer, sock: socket.socket) -> None:
        self.app, self.sock = app, sock
        self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, self.port))
        self.thread = threading.Thread(target=self._run, name="sim-server", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        # An explicit loop: under qasync (< 3.12) the global policy would hand us a Qt loop.
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            self.loop = runner.get_loop()
            runner.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> ServerThread:
        # The socket already listens, so clients may connect before uvicorn is up: no wait.
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Hung and slow requests would hold up uvicorn's graceful shutdown: let go of them first.
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self.loop.call_soon_threadsafe(self.app.close)
        self.server.should_exit = True
        self.thread.join(timeout=10)
