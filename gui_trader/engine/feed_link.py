"""The engine's side of the live feeds: what to subscribe, and what a tick or an order message
changes. Polling stays as reconciliation (slow while the feeds are live) and as the fallback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order, OrderStatus
from gui_trader.engine.events import FeedState

if TYPE_CHECKING:
    from gui_trader.broker.base import Feeds
    from gui_trader.engine.trading import TradingEngine

log = logging.getLogger(__name__)

RECONCILE_S = 15.0  # the REST books while the order feed is live: a safety net, not the source


class FeedLink:
    """One account's feeds wired into its engine (vn.py's gateway -> event engine flow)."""

    def __init__(self, engine: TradingEngine) -> None:
        self.engine = engine
        self.depth: set[str] = set()  # keys shown with the 5-level book (the selected symbol)
        self.ticks = 0
        self.order_messages = 0
        self._states = {"market": "off", "orders": "off"}
        self._failures = {"market": 0, "orders": 0}
        self._seen_live: set[str] = set()
        self._refresh_task: asyncio.Task[None] | None = None
        self._again = False  # a message came since the last book read began
        self._full_wanted = False
        self.last_full = time.monotonic()
        self._wanted: tuple[dict[str, str], set[str]] | None = None
        self.feeds: Feeds = engine.ctx.broker.live_feeds(
            self._quotes, self._order, self._position, self._state
        )

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        self.feeds.start()
        self.sync()

    async def close(self) -> None:
        if self._refresh_task is not None:
            self._refresh_task.cancel()
        await self.feeds.close()

    @property
    def market_live(self) -> bool:
        return self._states["market"] == "live"

    @property
    def orders_live(self) -> bool:
        return self._states["orders"] == "live"

    def subscribed(self) -> set[str]:
        """The instrument keys the market feed streams now."""
        return set(self._wanted[0]) if self._wanted is not None else set()

    def poll_due(self, full_every_s: float = RECONCILE_S) -> bool:
        """Is a REST read of the books due? Every poll while the order feed is down; every
        `full_every_s` while it is live."""
        return not self.orders_live or time.monotonic() - self.last_full >= full_every_s

    # ------------------------------------------------------------------ subscriptions
    def sync(self, depth: Iterable[str] | None = None) -> None:
        """Subscribe to what the trader looks at now; what left is unsubscribed."""
        if depth is not None:
            self.depth = set(depth)
        wanted = (self.engine.watched(), set(self.depth))
        if wanted != self._wanted:
            self._wanted = wanted
            self.feeds.watch(*wanted)

    # ------------------------------------------------------------------ feed callbacks
    def _quotes(self, quotes: list[Quote]) -> None:
        self.ticks += len(quotes)
        self.engine._apply_quotes(quotes)

    def _order(self, order: Order | None) -> None:
        self.order_messages += 1
        if order is None:
            self.refresh_soon()
            return
        self.engine._apply_orders([order])
        if order.filled_qty or order.status is OrderStatus.COMPLETE:
            self.refresh_soon()  # positions and funds follow a fill

    def _position(self) -> None:
        self.refresh_soon()

    def _state(self, name: str, state: str, failures: int) -> None:
        was = self._states.get(name)
        self._states[name] = state
        self._failures[name] = failures
        if state == "live":
            if name in self._seen_live and was != "live":
                log.info("%s feed back: reading the books again (no replay is promised)", name)
                self.refresh_soon(full=True)
            self._seen_live.add(name)
            if name == "market":
                self._wanted = None
                self.sync()
        self.engine.hub.publish(
            FeedState(self._states["market"], self._states["orders"], max(self._failures.values()))
        )

    def refresh_soon(self, full: bool = False) -> None:
        """One book read for a burst of messages (a fill brings order + position pushes). A
        message that comes while a read runs asks for one more: that read may have taken the
        positions before the fill."""
        self._again = True
        self._full_wanted |= full
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.ensure_future(self._refresh())

    async def _refresh(self) -> None:
        from gui_trader.broker.base import BrokerError

        while self._again:
            self._again = False
            full, self._full_wanted = self._full_wanted, False
            with contextlib.suppress(BrokerError):
                await self.engine.refresh(full=full)


__all__ = ["RECONCILE_S", "FeedLink", "Follow"]


class Follow:
    """A headless stream (`quote --follow`, `orders --follow`): feed items into a queue, and
    REST reads every second while the market feed is not live (`source` "poll")."""

    def __init__(
        self,
        engine: TradingEngine,
        keys: dict[str, str],
        poll_s: float = 1.0,
        on_state: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.on_state = on_state
        self.poll_s = poll_s
        self.queue: asyncio.Queue[Quote | Order] = asyncio.Queue(maxsize=10_000)
        self.states = {"market": "off", "orders": "off"}
        self.dropped = 0
        self.feeds: Feeds = engine.ctx.broker.live_feeds(
            self._put_many, self._order, lambda: None, self._state
        )
        self._poller: asyncio.Task[None] | None = None
        self._side: asyncio.Future[None] | None = None

    def _put(self, item: Quote | Order) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1  # a reader that cannot keep up loses ticks, never the loop

    def _put_many(self, quotes: list[Quote]) -> None:
        for q in quotes:
            self._put(q)

    def _order(self, order: Order | None) -> None:
        if order is not None:
            self._put(order)

    def _state(self, name: str, state: str, failures: int) -> None:
        was, self.states[name] = self.states[name], state
        log.info("%s feed %s%s", name, state, f" ({failures})" if failures else "")
        if name == "orders" and state == "live" and was != "live":
            # No replay is promised after a (re)connect: the book says where every order is.
            self._side = asyncio.ensure_future(self._book())
        if self.on_state is not None:
            self.on_state(name, state, failures)

    async def _book(self) -> None:
        from gui_trader.broker.base import BrokerError

        with contextlib.suppress(BrokerError):
            for order in await self.engine.ctx.broker.orders():
                self._put(order)

    async def __aenter__(self) -> Follow:
        self.feeds.start()
        self.feeds.watch(self.keys)
        if self.keys:
            self._poller = asyncio.create_task(self._poll(), name="follow poll")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        await self.feeds.close()

    async def _poll(self) -> None:
        from gui_trader.broker.base import BrokerError

        while True:
            if self.states["market"] != "live":
                with contextlib.suppress(BrokerError):
                    for q in await self.engine.ctx.broker.quotes(list(self.keys)):
                        self._put(q)
            await asyncio.sleep(self.poll_s)
