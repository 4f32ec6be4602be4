"""Orders that update themselves (ib_async's `Trade`): one handle per order of ours, kept
current by whatever reads the book (the engine's poll, the desk's look-ups, and next the order
feed), with awaitable fill and done events, so no caller polls the book for its own orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal

from gui_trader.broker.base import BrokerError
from gui_trader.core.order import Order, OrderStatus

UNCLAIMED_MAX = 1024  # orders seen before their handle was made, kept for a late track()

log = logging.getLogger(__name__)

Listener = Callable[["OrderHandle"], None]


def _signature(o: Order) -> tuple[object, ...]:
    return (o.status, o.filled_qty, o.qty, o.price, o.avg_price, o.reject_reason, o.trigger_price)


class OrderHandle:
    """One order at the broker, as it stands now; `done` and `filled` can be awaited."""

    def __init__(self, order_id: str, tag: str = "", status: OrderStatus = OrderStatus.OPEN):
        self.order_id = order_id
        self.tag = tag
        self.status = status
        self.order: Order | None = None  # the broker's latest word on it
        self._done = asyncio.Event()
        self._filled = asyncio.Event()
        self._listeners: list[Listener] = []
        if status.terminal:
            self._done.set()

    @property
    def done(self) -> bool:
        return self.status.terminal

    @property
    def filled_qty(self) -> int:
        return self.order.filled_qty if self.order else 0

    @property
    def avg_price(self) -> Decimal:
        return self.order.avg_price if self.order else Decimal(0)

    @property
    def reason(self) -> str:
        return self.order.reject_reason if self.order else ""

    def on_update(self, listener: Listener) -> None:
        """Called with the handle after every change the engine sees (on the loop, quickly)."""
        self._listeners.append(listener)

    async def wait_done(self) -> None:
        await self._done.wait()

    async def wait_filled(self) -> None:
        """Fully filled; a handle that ends otherwise never sets this (wait on done too)."""
        await self._filled.wait()

    def apply(self, order: Order) -> bool:
        """The broker's latest row for this order; True if it changed anything."""
        if self.order is not None and _signature(self.order) == _signature(order):
            return False
        if self.done and not order.status.terminal:
            return False  # a stale read after the final word: the final word stands
        self.order, self.status = order, order.status
        if not self.tag and order.tag:
            self.tag = order.tag
        if order.status is OrderStatus.COMPLETE:
            self._filled.set()
        if order.status.terminal:
            self._done.set()
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # one listener's bug must not stop the book being applied
                log.exception("order %s: a listener failed", self.order_id)
        return True


class LiveOrders:
    """The account's orders as handles, applied from every book read; `settle` waits for a set
    of them to end, reading the book itself only when nobody else has for `fallback_s`."""

    def __init__(
        self,
        read_book: Callable[[], Awaitable[list[Order]]],
        *,
        fallback_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_book = read_book
        self.fallback_s = fallback_s
        self.clock = clock
        self._handles: dict[str, OrderHandle] = {}
        # Orders seen before anyone tracked them: a feed can push a fill before the place
        # reply arrives; the handle made from that reply starts from it (bounded).
        self._unclaimed: OrderedDict[str, Order] = OrderedDict()
        self._changed = asyncio.Event()  # replaced after every change: waiters hold the old one
        self._last_read = float("-inf")
        self._reading: asyncio.Task[list[Order]] | None = None

    def track(
        self, order_id: str, tag: str = "", status: OrderStatus = OrderStatus.OPEN
    ) -> OrderHandle:
        """The handle of an order we placed (the same handle every time it is asked for)."""
        handle = self._handles.get(order_id)
        if handle is None:
            handle = self._handles[order_id] = OrderHandle(order_id, tag, status)
            early = self._unclaimed.pop(order_id, None)
            if early is not None:
                handle.apply(early)
        return handle

    def get(self, order_id: str) -> OrderHandle | None:
        return self._handles.get(order_id)

    def apply(self, orders: Iterable[Order]) -> list[OrderHandle]:
        """A book read (or a feed push): every tracked order in it brought up to date."""
        self._last_read = self.clock()
        changed = []
        for o in orders:
            handle = self._handles.get(o.order_id)
            if handle is None:
                self._unclaimed[o.order_id] = o
                self._unclaimed.move_to_end(o.order_id)
                if len(self._unclaimed) > UNCLAIMED_MAX:
                    self._unclaimed.popitem(last=False)
            elif handle.apply(o):
                changed.append(handle)
        if changed:
            self._changed.set()
            self._changed = asyncio.Event()
        return changed

    async def refresh(self) -> list[Order]:
        """Read the book once (one read shared by every waiter that asks at the same time)."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._read_book())
        book = await asyncio.shield(self._reading)
        self.apply(book)
        return book

    async def settle(self, handles: Iterable[OrderHandle], timeout_s: float) -> bool:
        """Wait until every handle is done or the time is up; True if all are done."""
        pending = [h for h in handles if not h.done]
        deadline = self.clock() + timeout_s
        while pending:
            left = deadline - self.clock()
            if left <= 0:
                return False
            if self.clock() - self._last_read >= self.fallback_s:
                try:
                    await self.refresh()
                except BrokerError as exc:
                    log.warning("order book unreadable while waiting for fills: %s", exc)
                    return False
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(left, self.fallback_s))
            pending = [h for h in pending if not h.done]
        return True
