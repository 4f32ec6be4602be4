"""The live feeds drive the engine: ticks reach quotes, order pushes beat the next poll, nothing
polls quotes while the feed is healthy, a dropped feed reconnects and re-subscribes, and a feed
that cannot connect falls back to polling and says so. Against the paper service over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gui_trader.app import open_engine
from gui_trader.broker.neo import NeoClient
from gui_trader.core.order import OrderStatus, Side
from gui_trader.engine.events import EventHub, FeedState
from gui_trader.engine.trading import TradingEngine
from gui_trader.sim.link import serving_port

NIFTY = "nse_cm|Nifty 50"


async def until(check: Callable[[], object], within_s: float = 20.0) -> None:
    """Wait for a condition the feeds make true (another process pushes; bounded)."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def admin(home: Path, method: str, path: str) -> dict[str, Any]:
    port = serving_port(home / "paper")
    assert port is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
        reply = await c.request(method, path)
        reply.raise_for_status()
        body = reply.json()
    assert isinstance(body, dict)
    return body


class FeedStates:
    """The FeedState events the engine published, read off its hub."""

    def __init__(self, hub: EventHub) -> None:
        self.queue = hub.subscribe()

    def seen(self) -> list[FeedState]:
        return [e for e in self.queue if isinstance(e, FeedState)]


async def engine_for(home: Path) -> tuple[TradingEngine, FeedStates]:
    hub = EventHub()
    states = FeedStates(hub)
    engine = await open_engine(hub, paper=True, watchlist=["SBIN", "NIFTY"])
    engine.poll_s = 3600.0  # after the first read, only the feeds tell the engine anything
    return engine, states


def fed(engine: TradingEngine, key: str) -> bool:
    q = engine.quotes.get(key)
    return q is not None and q.source == "feed"


@pytest.mark.asyncio
async def test_ticks_and_order_pushes_drive_the_engine(home: Path) -> None:
    engine, states = await engine_for(home)
    try:
        assert await engine.start()
        feed = engine.feed
        assert feed is not None
        await until(lambda: feed.market_live and feed.orders_live)
        assert states.seen()[-1].summary == "feed live"
        sbin = engine.instrument("SBIN").key
        before = (await admin(home, "GET", "/_sim/stats"))["requests"].get("quotes", 0)
        await until(lambda: fed(engine, sbin) and fed(engine, NIFTY))
        q = engine.quotes[sbin]
        assert q.bid > 0 and q.ask > q.bid and q.ltp > 0
        assert engine.quotes[NIFTY].ltp > Decimal(1000)
        ticks = feed.ticks
        await until(lambda: feed.ticks > ticks)  # updates keep coming, not just the snapshot
        # An order the engine learns of only through the order feed: placed and cancelled
        # behind its back (no book read follows), while no poll is due for an hour.
        broker = engine.ctx.broker
        assert isinstance(broker, NeoClient)
        tick = Decimal("0.05")
        low = (q.ltp * Decimal("0.9") / tick).to_integral_value() * tick
        req = replace(engine.request("SBIN", Side.BUY, 1, price=low), tag="FEEDT1")
        order_id = await broker.place(req)
        await until(lambda: order_id in engine.orders)
        await broker.cancel(order_id)
        await until(lambda: engine.orders[order_id].status is OrderStatus.CANCELLED)
        assert engine.orders[order_id].tag == "FEEDT1"
        after = (await admin(home, "GET", "/_sim/stats"))["requests"].get("quotes", 0)
        assert after == before  # nothing polled the quotes while the feed was live
    finally:
        await engine.stop()


@pytest.mark.asyncio
async def test_a_dropped_feed_reconnects_resubscribes_and_rereads_the_books(home: Path) -> None:
    engine, states = await engine_for(home)
    try:
        assert await engine.start()
        feed = engine.feed
        assert feed is not None
        await until(lambda: feed.market_live and feed.orders_live)
        sbin = engine.instrument("SBIN").key
        await until(lambda: fed(engine, sbin))
        full = feed.last_full
        await admin(home, "POST", "/_sim/drop_feeds")
        await until(lambda: any(s.market == "reconnecting" for s in states.seen()))
        await until(lambda: feed.market_live and feed.orders_live)
        engine.quotes.pop(sbin)
        await until(lambda: fed(engine, sbin))  # subscribed again on the new connection
        await until(lambda: feed.last_full > full)  # the books were read again
    finally:
        await engine.stop()


@pytest.mark.asyncio
async def test_a_refused_feed_falls_back_to_polling_and_says_so(home: Path) -> None:
    engine, states = await engine_for(home)
    engine.poll_s = 0.05
    broker = engine.ctx.broker
    assert isinstance(broker, NeoClient)

    async def nowhere(url: str) -> str:
        return "ws://127.0.0.1:9/refused"  # the discard port: nothing listens

    broker.ws_route = nowhere
    try:
        assert await engine.start()
        feed = engine.feed
        assert feed is not None
        await until(lambda: any(s.summary == "polling" for s in states.seen()))
        assert not feed.market_live
        sbin = engine.instrument("SBIN").key
        engine.quotes.pop(sbin, None)
        await until(lambda: sbin in engine.quotes)
        assert engine.quotes[sbin].source == "poll"
    finally:
        await engine.stop()
