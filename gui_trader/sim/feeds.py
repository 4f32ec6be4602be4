"""The simulator's two live feeds on its own HTTP port: a WebSocket on `/realtime` is the order
feed (sim/order_feed.py), one on any other path the SFeed market feed (sim/market_feed.py).

One ticker for all connections runs while any is open: every `interval_s` it reads the picture
of each subscribed instrument once, and sends each market connection one binary message with a
packet for each of its instruments that moved; it also matches the working orders of every
account with an order feed open, so fills are pushed as the market reaches them (committed
first, through `commit`, as every reply is). After each HTTP request the order feeds get that
request's changes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from gui_trader.sim import feed_packets as fp
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.feed_socket import GOING_AWAY, POLICY, RESTART, FeedSocket
from gui_trader.sim.market_data import Picture
from gui_trader.sim.market_feed import MarketConn, batches
from gui_trader.sim.market_feed import authenticate as market_auth
from gui_trader.sim.order_feed import (
    AUTH_FAILED,
    BAD_REQUEST,
    CONNECTED,
    Baseline,
    OrderConn,
    authenticate,
    baseline,
    parse_frame,
)

log = logging.getLogger(__name__)
ORDER_PATH = "/realtime"
DEFAULT_INTERVAL_S = 0.2
UNSUPPORTED = 1003


class FeedHub:
    def __init__(
        self,
        exchange: Exchange,
        interval_s: float = DEFAULT_INTERVAL_S,
        commit: Callable[[], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.interval_s = interval_s
        self.commit = commit
        self.markets: set[MarketConn] = set()
        self.orders: set[OrderConn] = set()
        self.sockets: set[FeedSocket] = set()
        self.closed = False
        self._last: dict[str, Picture] = {}  # the picture each instrument was last pushed at
        self._minute: dict[str, int] = {}  # the session minute of each one's last full look
        self._open: bool | None = None  # the market status last pushed
        self._ticker: asyncio.Task[None] | None = None
        self.rounds = 0  # ticker rounds run (tests and benchmarks)

    @property
    def open_connections(self) -> int:
        return len(self.sockets)

    # ---------------------------------------------------------------- connections
    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        sock = FeedSocket(scope, receive, send)
        if self.closed:
            await receive()
            await send({"type": "websocket.close", "code": GOING_AWAY})
            return
        if not await sock.accept():
            return
        self.sockets.add(sock)
        try:
            if sock.path.rstrip("/") == ORDER_PATH:
                await self._order_feed(sock, baseline(self.exchange.books))
            else:
                await self._market_feed(sock)
        finally:
            self.sockets.discard(sock)
            self.markets = {c for c in self.markets if c.sock is not sock}
            self.orders = {c for c in self.orders if c.sock is not sock}
            await sock.finish()

    async def _market_feed(self, sock: FeedSocket) -> None:
        first = await sock.recv()
        if first is None:
            return
        if isinstance(first, bytes):  # the legacy binary HSM protocol: not served
            sock.close(UNSUPPORTED, "HSM is not served; use the SFeed JSON protocol")
            await self._drain(sock)
            return
        ucc = await market_auth(sock, self.exchange, first)
        if ucc is None:
            await self._drain(sock)
            return
        conn = MarketConn(sock, self.exchange, ucc)
        self.markets.add(conn)
        self._start()
        while (frame := await sock.recv()) is not None:
            if isinstance(frame, bytes):
                continue
            try:
                data = json.loads(frame)
            except ValueError:
                continue
            if isinstance(data, dict):
                conn.handle(data)

    async def _order_feed(self, sock: FeedSocket, since: dict[str, Baseline]) -> None:
        conn: OrderConn | None = None
        while (frame := await sock.recv()) is not None:
            text = frame.decode(errors="replace") if isinstance(frame, bytes) else frame
            parsed = parse_frame(text)
            if conn is None and parsed.get("type") == "cn":
                ucc = authenticate(self.exchange, parsed)
                if ucc is None:
                    sock.put(json.dumps(AUTH_FAILED))
                    sock.close(POLICY, "authentication failed")
                    continue
                conn = OrderConn(sock, ucc, since.get(ucc))
                self.orders.add(conn)
                sock.put(json.dumps(CONNECTED))
                self.publish()  # what happened since the socket opened
                self._start()
                continue
            sock.put(json.dumps(BAD_REQUEST))  # `{type:hb}` included, as the live server does

    @staticmethod
    async def _drain(sock: FeedSocket) -> None:
        while await sock.recv() is not None:
            pass

    def drop(self, code: int = RESTART) -> int:
        """Close every feed connection from the server's side (tests: a dropped feed)."""
        socks = list(self.sockets)
        for sock in socks:
            sock.close(code, "dropped by the server")
        return len(socks)

    def close(self) -> None:
        """Shutting down: close every connection and stop the ticker."""
        self.closed = True
        self.drop(GOING_AWAY)
        if self._ticker is not None:
            self._ticker.cancel()

    # ---------------------------------------------------------------- pushes
    def _start(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        while (self.markets or self.orders) and not self.closed:
            await asyncio.sleep(self.interval_s)
            try:
                self.tick()
            except Exception:  # a bad round must not end the feeds
                log.exception("feed tick failed")

    def tick(self) -> None:
        self.rounds += 1
        self._push_market()
        if self.orders:
            for ucc in {c.ucc for c in self.orders}:
                self.exchange.match(ucc)
            self.publish()

    def _push_market(self) -> None:
        if not self.markets:
            return
        market, universe = self.exchange.market, self.exchange.universe
        wanted = {key for c in self.markets for key, _level in c.subs}
        moved: dict[str, Picture] = {}
        minute = int(self.exchange.seconds() // 60)
        for key in wanted:
            x = universe.by_key[key]
            last = self._last.get(key)
            # the last price first (cheap): the rest of a picture only changes with it, or with
            # the minute (the day's range and volume grow a minute at a time)
            if last is not None and self._minute.get(key) == minute and market.ltp(x) == last.ltp:
                continue
            now = market.picture(x)
            self._minute[key] = minute
            if now.moved(last):
                moved[key] = self._last[key] = now
        status: list[bytes] = []
        if any(c.status for c in self.markets):
            is_open = self.exchange.market_open()
            if is_open != self._open:
                self._open = is_open
                status = [fp.market_status(s, is_open) for s in ("nse_cm", "nse_fo")]
        if not moved and not status:
            return
        cache: dict[tuple[str, int], bytes] = {}
        for c in self.markets:
            packets = list(status) if c.status else []
            for sub in c.subs:
                key, level = sub
                pic = moved.get(key)
                if pic is None:
                    continue
                packet = cache.get(sub)
                if packet is None:
                    packet = cache[sub] = fp.encode(universe.by_key[key], pic, level, market)
                packets.append(packet)
            for message in batches(packets):
                c.sock.put(message)

    def publish(self) -> None:
        """Push every order-state change and fill since the last push to the order feeds
        (after committing them: a client is never told of a change the store could lose)."""
        if not self.orders:
            return
        outgoing: list[tuple[OrderConn, list[str]]] = []
        for c in self.orders:
            book = self.exchange.books.get(c.ucc)
            if book is None:
                continue
            messages = c.pending(self.exchange, book)
            if messages:
                outgoing.append((c, messages))
        if not outgoing:
            return
        if self.commit is not None:
            self.commit()
        for c, messages in outgoing:
            for m in messages:
                c.sock.put(m)

    async def stop(self) -> None:
        """Wait for the ticker to end after close() (tests)."""
        if self._ticker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
