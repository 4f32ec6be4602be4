"""Order handles that update themselves: the book applied to them, awaited fills, the fallback
read only when nobody else reads the book."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from gui_trader.broker.base import Unreachable
from gui_trader.core.order import Order, OrderStatus, Side
from gui_trader.engine.live_orders import LiveOrders, OrderHandle


def order(order_id: str, status: OrderStatus, filled: int = 0) -> Order:
    return Order(
        order_id=order_id,
        trading_symbol="RELIANCE-EQ",
        segment="nse_cm",
        token="2885",
        side=Side.SELL,
        qty=10,
        filled_qty=filled,
        price=Decimal("1400.00"),
        avg_price=Decimal("1400.00") if filled else Decimal(0),
        status=status,
        order_type="L",
        product="CNC",
        tag="T1",
    )


class Book:
    """A broker's order book as a list the test changes; counts the reads."""

    def __init__(self, *orders: Order) -> None:
        self.orders = list(orders)
        self.reads = 0
        self.fail = False

    async def read(self) -> list[Order]:
        self.reads += 1
        if self.fail:
            raise Unreachable("down")
        return list(self.orders)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_handle_follows_the_book_and_keeps_the_final_word() -> None:
    h = OrderHandle("1", "T1")
    seen: list[OrderStatus] = []
    h.on_update(lambda x: seen.append(x.status))
    assert h.apply(order("1", OrderStatus.OPEN))
    assert not h.apply(order("1", OrderStatus.OPEN))  # nothing changed: no event
    assert h.apply(order("1", OrderStatus.PARTIALLY_FILLED, 4))
    assert h.apply(order("1", OrderStatus.COMPLETE, 10))
    assert not h.apply(order("1", OrderStatus.OPEN))  # a stale read never reopens it
    assert seen == [OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.COMPLETE]
    assert h.done and h.filled_qty == 10 and h.avg_price == Decimal("1400.00")


def test_a_failing_listener_does_not_stop_the_others() -> None:
    h = OrderHandle("1")
    got: list[str] = []

    def bad(_: OrderHandle) -> None:
        raise RuntimeError("bug")

    h.on_update(bad)
    h.on_update(lambda x: got.append(x.order_id))
    h.apply(order("1", OrderStatus.OPEN))
    assert got == ["1"]


@pytest.mark.asyncio
async def test_live_orders_apply_only_touches_tracked_orders() -> None:
    book = Book()
    live = LiveOrders(book.read)
    h = live.track("1", "T1")
    assert live.track("1") is h
    changed = live.apply([order("1", OrderStatus.COMPLETE, 10), order("2", OrderStatus.OPEN)])
    assert changed == [h] and live.get("2") is None
    await asyncio.wait_for(h.wait_filled(), 1)
    await asyncio.wait_for(h.wait_done(), 1)


@pytest.mark.asyncio
async def test_settle_reads_the_book_itself_when_nobody_else_does() -> None:
    book = Book(order("1", OrderStatus.COMPLETE, 10))
    live = LiveOrders(book.read)
    h = live.track("1")
    assert await live.settle([h], timeout_s=5)
    assert book.reads == 1 and h.status is OrderStatus.COMPLETE


@pytest.mark.asyncio
async def test_settle_is_woken_by_someone_elses_read_without_reading_itself() -> None:
    clock = Clock()
    book = Book(order("1", OrderStatus.OPEN))
    live = LiveOrders(book.read, fallback_s=1000, clock=clock)
    h = live.track("1")
    live.apply(book.orders)  # just read by someone else (the engine's poll)
    waiting = asyncio.create_task(live.settle([h], timeout_s=5000))
    await asyncio.sleep(0)  # let it start waiting
    live.apply([order("1", OrderStatus.COMPLETE, 10)])  # the order feed, say
    assert await asyncio.wait_for(waiting, 5)
    assert book.reads == 0


@pytest.mark.asyncio
async def test_settle_gives_up_at_its_deadline_and_on_an_unreadable_book() -> None:
    clock = Clock()
    book = Book(order("1", OrderStatus.OPEN))
    live = LiveOrders(book.read, fallback_s=0, clock=clock)
    h = live.track("1")
    clock.now = 10.0
    assert not await live.settle([h], timeout_s=0)
    book.fail = True
    assert not await live.settle([h], timeout_s=5)
    assert h.status is OrderStatus.OPEN


@pytest.mark.asyncio
async def test_one_book_read_serves_every_waiter_asking_at_once() -> None:
    book = Book(order("1", OrderStatus.OPEN), replace(order("1", OrderStatus.OPEN), order_id="2"))
    live = LiveOrders(book.read)
    await asyncio.gather(live.refresh(), live.refresh(), live.refresh())
    assert book.reads == 1


def test_a_fill_pushed_before_the_place_reply_is_not_lost() -> None:
    """The order feed can beat the place reply: the handle made from the reply starts filled
    (a straddle leg showed `filled` up to one book read, 15 s, late)."""
    live = LiveOrders(Book().read)
    live.apply([order("A1", OrderStatus.COMPLETE, filled=10)])  # the feed, first
    handle = live.track("A1", "T1", OrderStatus.OPEN)  # then the reply: "open"
    assert handle.done and handle.filled_qty == 10
    again = live.track("A1")
    assert again is handle  # claimed once: the remembered row is gone


def test_orders_nobody_tracks_are_remembered_within_a_bound() -> None:
    from gui_trader.engine.live_orders import UNCLAIMED_MAX

    live = LiveOrders(Book().read)
    live.apply([order(f"X{i}", OrderStatus.OPEN) for i in range(UNCLAIMED_MAX + 50)])
    assert live.track("X0").order is None  # the oldest fell out
    assert live.track(f"X{UNCLAIMED_MAX + 49}").order is not None
