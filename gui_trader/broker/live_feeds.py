"""The broker's two websockets (kotak-neo-feeds.md): market data (SFeed) and order updates (HSI).

Each feed is one task that connects, authenticates with the current session, (re)subscribes what
is wanted, and reads until the socket drops; then it waits (capped backoff) and starts again with
a fresh session. Nothing here is fatal to the app: a feed that cannot connect says so through
`on_state`, and the engine keeps polling until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from gui_trader.broker.base import BrokerError
from gui_trader.broker.neo_rows import order_from_row
from gui_trader.broker.sfeed_packets import PacketReader, dividers_from_auth
from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
AUTH_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 3.0  # a close waits this long for the feed task (its handshake: 2 s), then aborts
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # then 30 s for ever
AUTH_OK = (1119, 1117)
MAX_FRAME = 4 * 1024 * 1024
# A burst's queued frames are read without the loop ever waiting (recv returns at once):
# after this long the reader yields once, so a frame can be painted between its messages.
SLICE_S = 0.004


@dataclass(frozen=True)
class FeedLogin:
    """What a feed needs to connect: where, and the live session's identity."""

    url: str
    ucc: str
    sid: str
    token: str


FeedLoginSource = Callable[[], Awaitable[FeedLogin]]
StateSink = Callable[[str, str, int], None]  # feed name, state ("live" | "reconnecting" | ...), n


class _Feed:
    name = "feed"

    def __init__(self, login: FeedLoginSource, on_state: StateSink) -> None:
        self._login = login
        self._on_state = on_state
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self.state = "off"
        self.failures = 0
        self.connects = 0
        self.last_message = 0.0
        self._side: set[asyncio.Task[Any]] = set()  # small sends started from sync code

    def _later(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.name} feed")

    async def close(self) -> None:
        """Stop, bounded: a socket whose close handshake never ends (seen once under the Qt
        loop) is aborted rather than left to hold up the app's shutdown."""
        task, self._task = self._task, None
        for side in list(self._side):
            side.cancel()
        if task is not None:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=CLOSE_WAIT_S)
            if not done:
                log.warning(
                    "%s feed: not stopped in %g s; its socket is aborted", self.name, CLOSE_WAIT_S
                )
                ws = self._ws
                if ws is not None:
                    ws.transport.abort()
                await asyncio.wait({task}, timeout=1.0)
            if task.done() and not task.cancelled():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
        self._ws = None
        self._set("off")

    def drop(self) -> None:
        """Close the socket now (tests, a session that changed): the loop reconnects."""
        if self._ws is not None:
            self._later(self._ws.close())

    def _set(self, state: str, n: int = 0) -> None:
        self.state = state
        self._on_state(self.name, state, n)

    async def _run(self) -> None:
        while True:
            try:
                login = await self._login()
                async with connect(
                    login.url,
                    open_timeout=OPEN_TIMEOUT_S,
                    close_timeout=2.0,
                    ping_interval=20.0,
                    ping_timeout=20.0,
                    max_size=MAX_FRAME,
                    proxy=None,
                    # Packed binary prices barely compress; deflate cost 2.5x the CPU per frame
                    # here (bench_ws_clients.py).
                    compression=None,
                ) as ws:
                    self._ws = ws
                    await asyncio.wait_for(self._hello(ws, login), AUTH_TIMEOUT_S)
                    self.failures = 0
                    self.connects += 1
                    self._set("live")
                    await self._read(ws)
                raise ConnectionError("closed by the server")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure means: wait, then connect again
                self._ws = None
                self.failures += 1
                log.info("%s feed: %s (attempt %d)", self.name, _why(exc), self.failures)
                self._set("reconnecting", self.failures)
                await asyncio.sleep(BACKOFF_S[min(self.failures, len(BACKOFF_S)) - 1])

    async def _hello(self, ws: ClientConnection, login: FeedLogin) -> None:
        raise NotImplementedError

    async def _read(self, ws: ClientConnection) -> None:
        raise NotImplementedError


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


class MarketFeed(_Feed):
    """Ticks for what is watched; `depth` keys get the 5-level book, the rest the touch line."""

    name = "market"

    def __init__(
        self, login: FeedLoginSource, on_quotes: Callable[[list[Quote]], None], on_state: StateSink
    ) -> None:
        super().__init__(login, on_state)
        self._on_quotes = on_quotes
        self.reader = PacketReader()
        self.wanted: dict[str, str] = {}  # key -> symbol
        self.depth: set[str] = set()
        self._sent: dict[str, str] = {}  # key -> the event it was subscribed with
        self._syncing = asyncio.Lock()  # one diff at a time, each against the last one sent

    def watch(self, keys: dict[str, str], depth: Iterable[str] = ()) -> None:
        """The whole set wanted now: what left is unsubscribed, what came is subscribed."""
        self.wanted = dict(keys)
        self.depth = {k for k in depth if k in self.wanted}
        for key, symbol in self.wanted.items():
            self.reader.watch(key, symbol)
        if self._ws is not None and self.state == "live":
            self._later(self._sync(self._ws))

    async def _hello(self, ws: ClientConnection, login: FeedLogin) -> None:
        await ws.send(
            json.dumps(
                {
                    "user": login.ucc,
                    "auth": login.sid,
                    "format": "native_batch",
                    "source": "NEOTRADEAPI",
                    "platform": "Web",
                    "version": "1.2.3",
                    "sdk_version": 2,
                    "conn_req_time": int(time.time() * 1000),
                    "sessionValidation": False,
                }
            )
        )
        for _ in range(11):  # the reply, perhaps after a few data frames
            frame = await ws.recv()
            if isinstance(frame, bytes):
                continue
            reply = json.loads(frame)
            code = reply.get("message_code") if isinstance(reply, dict) else None
            if code in AUTH_OK and reply.get("format") != "native_fallback":
                self.reader.dividers = dividers_from_auth(reply) or self.reader.dividers
                self._sent = {}  # the server forgets everything on a new connection
                await self._sync(ws)
                return
            raise ConnectionError(f"market feed refused the session: {str(reply)[:200]}")
        raise ConnectionError("market feed: no answer to the login")

    async def _sync(self, ws: ClientConnection) -> None:
        async with self._syncing:
            await self._send_diff(ws)

    async def _send_diff(self, ws: ClientConnection) -> None:
        want = {k: self._event(k) for k in self.wanted}
        gone: dict[str, list[str]] = {}
        for key, event in self._sent.items():
            if want.get(key) != event:
                gone.setdefault(event, []).append(key)
        new: dict[str, list[str]] = {}
        for key, event in want.items():
            if self._sent.get(key) != event:
                new.setdefault(event, []).append(key)
        for event, keys in gone.items():
            await ws.send(json.dumps({"event": "un" + event, **_tokens(keys)}))
        for event, keys in new.items():
            await ws.send(json.dumps({"event": event, **_tokens(keys), "ack_symbol": True}))
        for key in set(self._sent) - set(want):
            self.reader.forget(key)
        self._sent = want

    def _event(self, key: str) -> str:
        if not key.partition("|")[2].isdigit():
            return "subscribeIndices"
        return "subscribeDepth" if key in self.depth else "subscribeScrips"

    async def _read(self, ws: ClientConnection) -> None:
        slice_end = time.perf_counter() + SLICE_S
        async for frame in ws:
            self.last_message = time.monotonic()
            if isinstance(frame, bytes):
                quotes = self.reader.read(frame)
                if quotes:
                    self._on_quotes(quotes)
            # text frames: acks and notices; nothing to act on
            if time.perf_counter() > slice_end:
                await asyncio.sleep(0)
                slice_end = time.perf_counter() + SLICE_S


def _tokens(keys: list[str]) -> dict[str, str]:
    return {"inputtoken": ",".join(keys)}


class OrderFeed(_Feed):
    """Every order state change and position change of the account, pushed as it happens."""

    name = "orders"

    def __init__(
        self,
        login: FeedLoginSource,
        on_message: Callable[[str, dict[str, Any]], None],
        on_state: StateSink,
    ) -> None:
        super().__init__(login, on_state)
        self._on_message = on_message
        self.bad = 0

    async def _hello(self, ws: ClientConnection, login: FeedLogin) -> None:
        await ws.send(f"{{type:cn,Authorization:{login.token},Sid:{login.sid},src:WEB}}")
        while True:
            reply = _json(await ws.recv())
            if reply is None:
                continue
            if reply.get("type") == "cn" or reply.get("task") == "cn":
                if reply.get("ak") == "ok":
                    return
                raise ConnectionError(f"order feed refused the session: {reply.get('msg')}")

    async def _read(self, ws: ClientConnection) -> None:
        slice_end = time.perf_counter() + SLICE_S
        async for frame in ws:
            self.last_message = time.monotonic()
            if time.perf_counter() > slice_end:
                await asyncio.sleep(0)
                slice_end = time.perf_counter() + SLICE_S
            msg = _json(frame)
            if msg is None:
                self.bad += 1
                continue
            kind, data = msg.get("type"), msg.get("data")
            if kind in ("order", "position") and isinstance(data, dict):
                self._on_message(str(kind), data)


class LiveFeeds:
    """An account's two feeds as one thing for the engine: orders arrive as Orders (None: a
    message we could not read; the engine then reads the book), positions as a nudge."""

    def __init__(
        self,
        login: Callable[[str], Awaitable[FeedLogin]],
        on_quotes: Callable[[list[Quote]], None],
        on_order: Callable[[Order | None], None],
        on_position: Callable[[], None],
        on_state: StateSink,
    ) -> None:
        self._on_order, self._on_position = on_order, on_position
        self.market = MarketFeed(lambda: login("market"), on_quotes, on_state)
        self.orders = OrderFeed(lambda: login("orders"), self._message, on_state)

    def _message(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "position":
            self._on_position()
            return
        try:
            order = order_from_row(data)
        except BrokerError as exc:
            log.info("order feed: unreadable order message (%s); reading the book", exc)
            self.orders.bad += 1
            order = None
        self._on_order(order)

    def start(self) -> None:
        self.market.start()
        self.orders.start()

    def watch(self, keys: dict[str, str], depth: Iterable[str] = ()) -> None:
        self.market.watch(keys, depth)

    def states(self) -> dict[str, str]:
        return {"market": self.market.state, "orders": self.orders.state}

    async def close(self) -> None:
        await asyncio.gather(self.market.close(), self.orders.close())


def _json(frame: str | bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


__all__ = ["FeedLogin", "LiveFeeds", "MarketFeed", "OrderFeed", "websockets"]
