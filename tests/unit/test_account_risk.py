"""Account risk's pure decisions (MTM, which exit is due, what to cancel and flatten), its
bounded limits, the journal's per-day block, and the desk's one block check."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gui_trader.core.clock import IST, today_ist
from gui_trader.core.instrument import Instrument
from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order, OrderRequest, OrderStatus, OrderType, Product, Side
from gui_trader.core.portfolio import Position
from gui_trader.core.risk_limits import RiskLimits, parse_hhmm, parse_rupees
from gui_trader.engine.account_risk import (
    Trigger,
    decide,
    exit_requests,
    mtm,
    to_cancel,
    to_flatten,
)
from gui_trader.engine.journal import IntentState, Journal
from gui_trader.engine.order_desk import OrderDesk, TradingBlocked, request_record
from tests.support.harness import in_process, in_process_client

RELIANCE = Instrument("nse_cm", "2885", "RELIANCE-EQ", "RELIANCE")
D100 = Decimal(100)


def position(
    net: int, avg: str = "100", product: str = "MIS", token: str = "2885", ltp: str = "0"
) -> Position:
    price = Decimal(avg)
    if net >= 0:
        return Position(
            "X-EQ", "nse_cm", token, product, net, 0, price * net, Decimal(0), ltp=Decimal(ltp)
        )
    return Position(
        "X-EQ", "nse_cm", token, product, 0, -net, Decimal(0), price * -net, ltp=Decimal(ltp)
    )


def quote(token: str, ltp: str) -> Quote:
    return Quote("nse_cm", token, "X", Decimal(ltp))


def at(hh: int, mm: int) -> datetime:
    return datetime.combine(today_ist(), time(hh, mm), IST)


# ------------------------------------------------------------------ MTM and decisions
def test_mtm_is_realised_plus_unrealised_at_the_latest_quote() -> None:
    long10 = position(10, "100", token="1")  # +10 @ 100
    closed = Position("Y-EQ", "nse_cm", "2", "MIS", 5, 5, Decimal(500), Decimal(450))  # -50 booked
    short = position(-4, "50", token="3", ltp="55")  # no quote: the position's own LTP
    quotes = {"nse_cm|1": quote("1", "90")}
    assert mtm([long10, closed, short], quotes) == Decimal(-100 - 50 - 20)


def test_decide_fires_each_exit_once_and_only_past_its_threshold() -> None:
    limits = RiskLimits(Decimal(1000), Decimal(2000), time(15, 15))
    noon = at(12, 0)
    assert decide(Decimal(-999), limits, noon) is None
    assert decide(Decimal(-1000), limits, noon) is Trigger.MAX_LOSS
    assert decide(Decimal(-5000), limits, noon, frozenset({"max-loss"})) is None
    assert decide(Decimal(2000), limits, noon) is Trigger.MAX_PROFIT
    assert decide(Decimal(0), limits, at(15, 14)) is None
    assert decide(Decimal(0), limits, at(15, 15)) is Trigger.SQUARE_OFF
    assert decide(Decimal(0), limits, at(15, 20), frozenset({"square-off"})) is None
    # blocked: no MTM exit (nothing new can be opened), but intraday still squares off
    assert decide(Decimal(-5000), limits, noon, blocked=True) is None
    assert decide(Decimal(-5000), limits, at(15, 16), blocked=True) is Trigger.SQUARE_OFF
    assert decide(Decimal(-(10**9)), RiskLimits(), at(15, 29)) is None


def test_the_time_square_off_takes_only_intraday_orders_and_positions() -> None:
    def order(no: str, product: str, status: OrderStatus) -> Order:
        return Order(no, "X-EQ", "nse_cm", "2885", Side.BUY, 1, 0, status, "L", product, D100, D100)

    book = [
        order("1", "MIS", OrderStatus.OPEN),
        order("2", "CNC", OrderStatus.OPEN),
        order("3", "MIS", OrderStatus.COMPLETE),
        order("4", "NRML", OrderStatus.PARTIALLY_FILLED),
    ]
    assert [o.order_id for o in to_cancel(book, mis_only=True)] == ["1"]
    assert [o.order_id for o in to_cancel(book, mis_only=False)] == ["1", "2", "4"]
    mis, cnc = position(10, token="1"), position(7, product="CNC", token="2")
    assert to_flatten([mis, cnc, position(0)], (), mis_only=True) == [(mis, 10)]
    assert to_flatten([mis, cnc], (), mis_only=False) == [(mis, 10), (cnc, 7)]


def test_exits_still_in_flight_are_never_sent_twice() -> None:
    """An earlier (crashed) run's exit may still land: what it would close is not closed
    again; only the rest is."""
    long10, short4 = position(10, token="1"), position(-4, token="2")

    def req(token: str, side: str, qty: int) -> dict[str, Any]:
        return {"segment": "nse_cm", "token": token, "product": "MIS", "side": side, "qty": qty}

    assert to_flatten([long10], [req("1", "S", 10)], False) == []
    assert to_flatten([long10], [req("1", "S", 6)], False) == [(long10, 4)]
    assert to_flatten([long10, short4], [req("2", "B", 4)], False) == [(long10, 10)]
    # an in-flight exit larger than the position never turns into an opposite trade
    assert to_flatten([long10], [req("1", "S", 12)], False) == []


def test_exit_requests_are_market_orders_sliced_at_the_freeze_quantity() -> None:
    nifty = Instrument("nse_fo", "1", "NIFTYCE", "NIFTY", lot_size=75, freeze_qty=1800)
    reqs = exit_requests(nifty, -75 * 30, "NRML")
    assert [(r.side, r.qty, r.order_type, r.product) for r in reqs] == [
        (Side.BUY, 1800, OrderType.MARKET, Product.NRML),
        (Side.BUY, 450, OrderType.MARKET, Product.NRML),
    ]


# ------------------------------------------------------------------ limits
def test_limits_are_bounded_and_refused_in_one_line() -> None:
    assert parse_rupees("25,000", "max loss") == Decimal(25000)
    assert parse_hhmm("15:15") == time(15, 15)
    for bad in ("0", "-5", "1e5", "nan", "1000000001", "12.345", ""):
        with pytest.raises(ValueError, match="max loss") as info:
            parse_rupees(bad, "max loss")
        assert "\n" not in str(info.value)
    for bad in ("16:00", "9:15", "09:14", "25:00", "noon"):
        with pytest.raises(ValueError, match="square-off"):
            parse_hhmm(bad)
    limits = RiskLimits(Decimal(1000), None, time(15, 15))
    assert RiskLimits.from_toml("a1", limits.to_toml()) == limits
    with pytest.raises(ValueError, match=r"config.toml \[risk.a1\]: max profit"):
        RiskLimits.from_toml("a1", {"max_profit": "lots"})


# ------------------------------------------------------------------ the journal's block
@pytest.mark.asyncio
async def test_the_block_is_per_account_and_day_and_an_exit_claims_once(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "j.sqlite3").open()
    other = await Journal(tmp_path / "j.sqlite3").open()  # another process on the folder
    day = today_ist()
    try:
        assert await journal.risk_day("a1", day) is None
        await journal.block_trading("a1", day, "kill", "kill switch (cli)")
        await journal.block_trading("a1", day, "max-loss", "later reason")
        seen = await other.risk_day("a1", day)
        assert seen is not None and seen.blocked and seen.reason == "kill switch (cli)"
        assert await other.risk_day("a2", day) is None
        assert await other.risk_day("a1", day.replace(year=day.year - 1)) is None
        # an automatic exit is claimed by exactly one caller, whichever process
        assert await journal.claim_exit("a2", day, "max-loss", ("max-loss", "MTM -1000"))
        assert not await other.claim_exit("a2", day, "max-loss", ("max-loss", "MTM -1200"))
        before = await other.unblock_trading("a2", day)
        assert before is not None and before.blocked and before.reason == "MTM -1000"
        # the override stands: the same limit neither fires nor blocks again today
        assert not await journal.claim_exit("a2", day, "max-loss", ("max-loss", "MTM -1500"))
        after = await journal.risk_day("a2", day)
        assert after is not None and not after.blocked and after.fired == {"max-loss"}
    finally:
        await other.close()
        await journal.close()


# ------------------------------------------------------------------ the desk's gate
@pytest.mark.asyncio
async def test_a_blocked_account_refuses_new_orders_before_the_journal_but_exits_pass(
    tmp_path: Path,
) -> None:
    server = in_process()
    broker = in_process_client(server)
    journal = await Journal(tmp_path / "j.sqlite3").open()
    desk = OrderDesk(broker, journal, "paper")
    buy = OrderRequest(RELIANCE, Side.BUY, 3, product=Product.MIS)
    try:
        await journal.block_trading("paper", today_ist(), "kill", "kill switch (test)")
        with pytest.raises(TradingBlocked) as info:
            await desk.place(buy)
        assert str(info.value) == (
            "trading blocked for today on paper: kill switch (test); "
            "`gui-trader risk reset --account paper` to allow orders again"
        )
        with pytest.raises(TradingBlocked):
            await desk.prepare([buy], feature="S", group="g", metas=[None])
        assert await journal.all() == []  # nothing journaled
        assert server.exchange.order_book("PAPER1") == []  # nothing sent
        # a journaled request (a fan-out marks its intents sent first) is refused by send
        [tag] = await journal.new_intents_sent("F", [("paper", request_record(buy))], None)
        refused = await desk.send(replace(buy, tag=tag), marked=True)
        assert refused.status is OrderStatus.REJECTED and "trading blocked" in refused.error
        intent = await journal.by_tag(tag)
        assert intent is not None and intent.state is IntentState.FAILED
        # exits pass: position exit, risk exit, kill, monitor
        for feature in "XRKM":
            out = await desk.place(buy, feature=feature)
            assert out.ok and out.tag.startswith(feature)
        assert len(server.exchange.order_book("PAPER1")) == 4
        await journal.unblock_trading("paper", today_ist())
        assert (await desk.place(buy)).ok
    finally:
        await broker.close()
        await journal.close()
