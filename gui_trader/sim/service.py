"""The paper exchange as one service per data folder: every window, monitor and command on the
same GUI_TRADER_HOME trades one book.

Why a service and not a shared file: one process matches orders, numbers them and moves prices, so
two processes can never fill the same order twice or hand out one number twice, and no process
writes back a stale copy on exit (the bug this replaces). The service holds `exchange.lock` for its
whole life (an OS lock: a killed service releases it), listens on a loopback port it writes to
`exchange.addr`, and commits every change to `exchange.sqlite3` before the reply that reports it.
So a client killed at any moment loses nothing the service received, and a killed service loses
nothing it acknowledged; a request in flight when it dies is the ordinary ambiguous case the order
desk settles by tag. Clients start it when nobody serves (sim/link.py), and it leaves on its own
after `idle_s` without a request, when its folder disappears, or when the IST day changes (the
next start settles the day).

Run as `python -m gui_trader.sim.service PAPER_DIR [IDLE_S]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn
from filelock import FileLock, Timeout

from gui_trader.core.clock import today_ist
from gui_trader.sim import snapshot
from gui_trader.sim.auth import PAPER_USER
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.paper_files import (
    ADDR,
    ALWAYS_OPEN,
    CLOCK_ENV,
    DB,
    IDLE_S,
    LOCK,
    PAPER_URL,
    REVISION,
    parse_market_rules,
)
from gui_trader.sim.serve import listen, uvicorn_config
from gui_trader.sim.server import SimServer
from gui_trader.sim.store import PaperStore

log = logging.getLogger(__name__)
LOCK_PATIENCE_S = 3.0  # far longer than any probe holds the lock, far shorter than a start


def build_exchange(store: PaperStore, folder: Path, market: str = ALWAYS_OPEN) -> Exchange:
    """The stored paper day, continued (or yesterday's, settled), with every paper account."""
    wall = _wall(folder)
    session, holidays = parse_market_rules(market)
    hours: dict[str, Any] = {"session_hours": True, "holidays": holidays} if session else {}
    ex = Exchange(base_url=PAPER_URL, real_time=True, wall=wall, users=[PAPER_USER], **hours)
    for user in store.users():
        ex.add_user(user)
    legacy = folder / "exchange.json"
    if store.empty() and legacy.exists():
        _migrate(ex, legacy)
    store.load(ex)
    _never_reuse_numbers(ex, wall())
    store.flush(ex)
    return ex


def _never_reuse_numbers(ex: Exchange, now: float) -> None:
    """Numbers continue from the later of the stored counter and the milliseconds since IST
    midnight: a paper file restored from a backup must not hand out numbers that the journal
    already holds for other orders."""
    from datetime import datetime

    from gui_trader.core.clock import IST

    t = datetime.fromtimestamp(now, IST)
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    floor = int((t - midnight).total_seconds() * 1000)
    ex.order_seq = itertools.count(max(snapshot.peek(ex.order_seq), floor))
    ex.fill_seq = itertools.count(max(snapshot.peek(ex.fill_seq), floor))


def _wall(folder: Path) -> Any:
    """Real time, or (tests) real time shifted so the folder's first service starts at a chosen
    IST time; later services of the folder keep that shift, so its clock never runs back."""
    start = os.environ.get(CLOCK_ENV)
    if not start:
        return time.time
    from gui_trader.sim.prices import session_minute_time

    kept = folder / "test-clock"
    try:
        offset = float(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        hh, mm = (int(x) for x in start.split(":"))
        target = session_minute_time(today_ist(), (hh * 60 + mm) - (9 * 60 + 15)).timestamp()
        offset = target - time.time()
        kept.write_text(repr(offset), encoding="utf-8")
    return lambda: time.time() + offset


def _migrate(ex: Exchange, legacy: Path) -> None:
    """The per-process JSON file of earlier versions: read once, then kept aside."""
    try:
        ex.restore(json.loads(legacy.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("old paper state unreadable (%s); starting a fresh paper account", exc)
    for book in ex.books.values():
        book.dirty.update(book.orders)  # every order is new to the store
    with contextlib.suppress(OSError):
        legacy.replace(legacy.with_suffix(".json.migrated"))


class PaperService:
    """One exchange, its store, and an HTTP server on loopback; leaves when not needed."""

    def __init__(self, folder: Path, idle_s: float = IDLE_S, market: str = ALWAYS_OPEN) -> None:
        self.folder, self.idle_s, self.market = folder, idle_s, market
        self.store = PaperStore(folder / DB)
        self.exchange = build_exchange(self.store, folder, market)
        self.exchange.users_source = self.store.users  # accounts added while it runs
        self.app = SimServer(self.exchange, before_reply=self._before_reply)
        self.last_request = time.monotonic()
        self.day = today_ist()
        self.file_id = _file_id(folder / DB)
        self.sock = listen(0)
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn_config(self.app, self.port))

    def _before_reply(self) -> None:
        self.last_request = time.monotonic()
        self.store.flush(self.exchange)

    async def run(self) -> None:
        self._write_addr()
        watch = asyncio.create_task(self._watch())
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            watch.cancel()
            self.store.flush(self.exchange)
            self.store.close()
            self._remove_addr()

    async def _watch(self) -> None:
        """Leave when idle, when the data folder is gone, or when the day changes."""
        while not self.server.should_exit:
            await asyncio.sleep(0.5)
            why = self._why_leave()
            if why:
                log.info("paper service leaving: %s", why)
                self.app.close()
                self.server.should_exit = True

    def _why_leave(self) -> str:
        if self.app.open_feeds:  # a window with a live feed open is not idle
            self.last_request = time.monotonic()
        if time.monotonic() - self.last_request > self.idle_s:
            return f"idle for {self.idle_s:g} s"
        if not (self.folder / ADDR).exists():
            return "its folder or address file is gone"
        if today_ist() != self.day:
            return "a new day"
        if _file_id(self.folder / DB) != self.file_id:
            return "its paper file was replaced (a restored backup?)"
        return ""

    def _write_addr(self) -> None:
        addr = {
            "pid": os.getpid(),
            "port": self.port,
            "url": f"http://127.0.0.1:{self.port}",
            "market": self.market,
            "revision": REVISION,
        }
        tmp = self.folder / f"{ADDR}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(addr), encoding="utf-8")
        tmp.replace(self.folder / ADDR)

    def _remove_addr(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            path = self.folder / ADDR
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def serve(folder: Path, idle_s: float = IDLE_S, market: str = ALWAYS_OPEN) -> int:
    """Serve `folder`'s paper book unless another process already does (then exit 0 at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK)
    try:
        # Not 0: clients probe the lock (take it and let go at once) to see whether anybody
        # serves; a probe at the moment we start must not make us think somebody does.
        lock.acquire(timeout=LOCK_PATIENCE_S)
    except Timeout:
        return 0
    try:
        service = PaperService(folder, idle_s, market)
        # uvicorn turns SIGTERM into an orderly stop, then raises it again for the handler that
        # was there before: ours only asks for the stop (also when the signal comes before
        # uvicorn is up), so the store closes and the address goes.
        signal.signal(signal.SIGTERM, lambda *_: setattr(service.server, "should_exit", True))
        asyncio.run(service.run())
    finally:
        lock.release()
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    idle = float(argv[1]) if len(argv) > 1 else IDLE_S
    market = argv[2] if len(argv) > 2 else ALWAYS_OPEN
    parse_market_rules(market)  # refuse a bad one before taking the lock
    return serve(Path(argv[0]), idle, market)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
