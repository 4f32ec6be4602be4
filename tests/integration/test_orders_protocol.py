"""Modify, cancel, history and trades through the real client; the protocol's envelopes."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from gui_trader.broker.base import DuplicateTag, OrderFinished, Rejected
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, OrderStatus, OrderType, Product, Side
from gui_trader.sim.transport import SimTransport
from tests.support.harness import IN_PROCESS_URL, client, in_process, in_process_client

INFY = Instrument("nse_cm", "1594", "INFY-EQ", "INFY", tick_size=Decimal("0.05"))


@pytest.mark.asyncio
async def test_limit_order_life_cycle() -> None:
    server = in_process()
    c = in_process_client(server)
    try:
        assert await c.orders() == []  # 5203 "No Data" is an empty book, not an error
        assert await c.trades() == []
        ltp = (await c.quotes([INFY.key]))[0].ltp
        low = INFY.round_price(ltp * Decimal("0.9"), "down")
        order_id = await c.place(
            OrderRequest(INFY, Side.BUY, 2, OrderType.LIMIT, low, Product.CNC, tag="LC1")
        )
        [order] = await c.orders()
        assert (order.order_id, order.status, order.price, order.tag) == (
            order_id,
            OrderStatus.OPEN,
            low,
            "LC1",
        )
        lower = low - INFY.tick_size
        await c.modify(order, price=lower)
        [order] = await c.orders()
        assert order.price == lower and order.status is OrderStatus.OPEN
        history = await c.order_history(order_id)
        assert history[0].raw_status == "open"  # newest first
        assert history[-1].raw_status == "put order req received"
        with pytest.raises(DuplicateTag):
            await c.place(OrderRequest(INFY, Side.BUY, 2, tag="LC1"))
        await c.cancel(order_id)
        [order] = await c.orders()
        assert order.status is OrderStatus.CANCELLED
        with pytest.raises(OrderFinished):
            await c.cancel(order_id)
        # a marketable limit fills at the market and appears in the trade book
        high = INFY.round_price(ltp * Decimal("1.05"), "up")
        filled = await c.place(OrderRequest(INFY, Side.BUY, 3, OrderType.LIMIT, high))
        [trade] = await c.trades()
        assert trade.order_id == filled and trade.qty == 3 and trade.price <= high
        [position] = await c.positions()
        assert position.net_qty == 3
        assert position.pnl(trade.price) == 0
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_exchange_rejections_are_definite() -> None:
    server = in_process()
    c = in_process_client(server)
    try:
        listing = server.exchange.universe.by_key["nse_fo|40051"]
        option = Instrument("nse_fo", listing.token, listing.trading_symbol, "NIFTY")
        with pytest.raises(Rejected, match="lot size 75"):  # the client-side check bypassed
            await c.place(OrderRequest(option, Side.SELL, 10, product=Product.NRML))
        assert server.exchange.stats["placed"] == 0
        # an RMS rejection is accepted by the OMS, then shows as rejected with a reason
        order_id = await c.place(OrderRequest(INFY, Side.SELL, 500, product=Product.CNC))
        [order] = await c.orders()
        assert order.order_id == order_id and order.status is OrderStatus.REJECTED
        assert "Insufficient holdings" in order.reject_reason
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_feed_discovery_falls_back_to_the_validate_urls() -> None:
    server = in_process()
    server.feed_discovery = "validate"  # its config service has no `<DC>_broadcast_source`
    c = in_process_client(server)
    try:
        feeds = await c.feed_endpoints()
    finally:
        await c.close()
    assert feeds.market == "ws://paper.sim/apifeed"  # http:// rewritten to ws://
    assert feeds.orders == "ws://paper.sim/realtime"
    assert server.requests["other"] >= 1  # the config service was asked first


class _LoadBalancer(httpx.AsyncBaseTransport):
    """The simulator behind a load balancer that pins the session with a cookie."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers)
        resp = await self.inner.handle_async_request(request)
        resp.headers["set-cookie"] = "lb=node7; Path=/"
        return resp


@pytest.mark.asyncio
async def test_requests_carry_the_client_headers_and_cookies() -> None:
    """Requests go to the transport directly (no httpx client layers on the order path): the
    client's own headers and a cookie a reply set must still travel with every later call."""
    server = in_process()
    lb = _LoadBalancer(SimTransport(server))
    c = client(IN_PROCESS_URL, lb)
    try:
        await c.login()
        await c.place(OrderRequest(INFY, Side.BUY, 1, tag="CK1"))
        await c.orders()
        assert all(h["user-agent"] == "gui-trader/0.1" for h in lb.seen)
        assert all(h["accept"] == "application/json" for h in lb.seen)
        assert "cookie" not in lb.seen[0]
        assert all(h["cookie"] == "lb=node7" for h in lb.seen[1:])
        assert [o.tag for o in await c.orders()] == ["CK1"]
    finally:
        await c.close()
    with pytest.raises(RuntimeError, match="closed"):
        await c.orders()
