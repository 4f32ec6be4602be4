"""Stops, targets and trails on a live account trading a loopback simulator, judged by the
server's own book: exits happen once, the other side is cancelled, a restart does not exit
twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gui_trader.app import open_context
from gui_trader.cli import main
from gui_trader.config import AccountConfig, Config, Paths
from gui_trader.core.order import OrderRequest, OrderType, Product, Side
from gui_trader.engine.events import EventHub
from gui_trader.engine.protection_rules import BadProtection, PState, StopAt, Trail
from gui_trader.engine.trading import TradingEngine
from gui_trader.sim.paper_accounts import numbered_users
from gui_trader.sim.serve import ServerThread, start
from tests.integration.test_live_feeds import until

D = Decimal


@dataclass
class Sim:
    server: ServerThread
    home: Path
    ucc: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        url = self.server.url + path
        return httpx.request(method, url, json=body, timeout=10.0).raise_for_status().json()

    def pin(self, symbol: str, price: str | None) -> None:
        self.admin("POST", "/_sim/pin", {f"{symbol}-EQ": price})

    def orders(self, ts: str) -> list[dict[str, Any]]:
        return [
            o
            for o in self.admin("GET", "/_sim/book")["orders"]
            if o["ts"] == ts and o["ucc"] == self.ucc
        ]


def configure(home: Path, server: ServerThread, *, feeds: bool) -> str:
    """One live account `a1` on this simulator (its login in the keyring); returns its UCC."""
    from gui_trader.broker.vault import VaultKey, store_secrets

    u = numbered_users(1)[0]
    paths = Paths(home).ensure()
    config = Config.load(paths.config)
    config.accounts["a1"] = AccountConfig("a1", u.mobile, u.ucc, server.url)
    store_secrets(
        VaultKey(paths.keyring_scope, "a1", u.ucc),
        consumer_key=u.consumer_key,
        mpin=u.mpin,
        totp_secret=u.totp_secret,
    )
    config.orders_per_second = config.requests_per_second = 1000.0
    config.deadline_s, config.landing_s = 2.0, 0.2
    config.extra["market"] = {"always_open": True}
    config.extra["feeds"] = {"enabled": feeds}
    config.save()
    return u.ucc


@pytest.fixture
def sim(home: Path) -> Iterator[Sim]:
    """One live account on a loopback simulator; no feeds and no background polling, so each
    test decides when a price is seen."""
    with start(users=numbered_users(1), unique_tags=True) as server:
        yield Sim(server, home, configure(home, server, feeds=False))


async def open_engine(home: Path) -> TradingEngine:
    ctx = await open_context(account="a1", paths=Paths(home))
    engine = TradingEngine(ctx, EventHub(), poll_s=3600.0)
    assert await engine.start()
    return engine


@pytest_asyncio.fixture
async def engine(sim: Sim) -> AsyncIterator[TradingEngine]:
    e = await open_engine(sim.home)
    yield e
    await e.stop()


async def tick(engine: TradingEngine, *symbols: str, times: int = 1) -> None:
    """What a feed tick does: the last prices applied to the engine (stops run on them)."""
    insts = [engine.instrument(s) for s in symbols]
    for _ in range(times):
        await engine.read_quotes(insts)


async def until_done(engine: TradingEngine, pid: str) -> None:
    await asyncio.wait_for(engine.protector.wait_all_done([pid]), 30)


async def buy(engine: TradingEngine, symbol: str, qty: int, product: Product) -> None:
    req = OrderRequest(engine.instrument(symbol), Side.BUY, qty, OrderType.MARKET, None, product)
    out = await engine.place(req)
    assert out.ok, out.error
    await engine.refresh(full=True)


@pytest.mark.asyncio
async def test_an_engine_stop_hit_by_ticks_exits_once_through_the_target(
    sim: Sim, engine: TradingEngine
) -> None:
    sim.pin("RELIANCE", "1480")
    await engine.refresh(full=True)
    p = await engine.protect("RELIANCE", sl=D("1450"), target=D("1600"))
    assert p.state is PState.ACTIVE and len(p.target_orders) == 1
    assert [o["status"] for o in sim.orders("RELIANCE-EQ")] == ["open"]
    sim.pin("RELIANCE", "1440")
    await tick(engine, "RELIANCE", times=3)  # three ticks through the stop: one exit
    await until_done(engine, p.id)
    sells = sim.orders("RELIANCE-EQ")
    assert len(sells) == 1  # the target order became the exit: nothing else was sent
    assert sells[0]["status"] == "complete" and sells[0]["qty"] == 40
    assert p.reason.startswith("stop 1450 hit at 1440")
    assert engine.protector.trigger_to_wire_ms  # measured


@pytest.mark.asyncio
async def test_an_engine_stop_without_a_target_sends_one_market_exit(
    sim: Sim, engine: TradingEngine
) -> None:
    sim.pin("INFY", "1560")
    await engine.refresh(full=True)
    p = await engine.protect("INFY", sl=D("1500"))
    assert sim.orders("INFY-EQ") == []  # nothing rests at the broker for an engine stop
    sim.pin("INFY", "1490")
    await tick(engine, "INFY", times=2)
    await until_done(engine, p.id)
    sells = sim.orders("INFY-EQ")
    assert [(o["tt"], o["pt"], o["qty"], o["status"]) for o in sells] == [
        ("S", "MKT", 25, "complete")
    ]
    assert all(o["tag"].startswith("R") for o in sells)


@pytest.mark.asyncio
async def test_a_target_fill_cancels_the_broker_stop(sim: Sim, engine: TradingEngine) -> None:
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", sl=D("3000"), target=D("3200"), stop_at=StopAt.BROKER)
    assert len(p.stop_orders) == 1 and len(p.target_orders) == 1
    sim.pin("TCS", "3210")
    await engine.refresh()  # the book read after the market crossed the target
    await until_done(engine, p.id)
    by_type = {o["pt"]: o["status"] for o in sim.orders("TCS-EQ") if o["tt"] == "S"}
    assert by_type == {"L": "complete", "SL": "cancelled"}
    assert p.reason.startswith("target 3200 filled")


@pytest.mark.asyncio
async def test_a_broker_stop_fill_cancels_the_target(sim: Sim, engine: TradingEngine) -> None:
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", sl=D("3000"), target=D("3200"), stop_at=StopAt.BROKER)
    sim.pin("TCS", "2990")
    await engine.refresh()
    await until_done(engine, p.id)
    by_type = {o["pt"]: o["status"] for o in sim.orders("TCS-EQ") if o["tt"] == "S"}
    assert by_type == {"L": "cancelled", "SL": "complete"}


@pytest.mark.asyncio
async def test_a_partial_target_fill_resizes_the_broker_stop(
    sim: Sim, engine: TradingEngine
) -> None:
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", sl=D("3000"), target=D("3200"), stop_at=StopAt.BROKER)
    sim.admin("POST", "/_sim/fill", {"no": p.target_orders[0], "qty": 4})
    await engine.refresh()  # the book shows the partial fill: the stop is resized
    await asyncio.wait_for(engine.protector.idle(), 10)
    stop = next(o for o in sim.orders("TCS-EQ") if o["pt"] == "SL")
    assert stop["qty"] == 6 and stop["status"] == "trigger pending"
    assert p.state is PState.ACTIVE


@pytest.mark.asyncio
async def test_a_trailing_stop_only_moves_in_the_traders_favour(
    sim: Sim, engine: TradingEngine
) -> None:
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", trail=Trail(D("20")), stop_at=StopAt.BROKER)
    assert p.sl == D("3080")
    for price, want in (("3150", "3130"), ("3135", "3130"), ("3170.05", "3150.05")):
        sim.pin("TCS", price)
        await tick(engine, "TCS")
        await asyncio.wait_for(engine.protector.idle(), 10)
        assert p.sl == D(want), price
    await asyncio.wait_for(engine.protector.idle(), 10)  # the trail's modify is done
    stop = next(o for o in sim.orders("TCS-EQ") if o["pt"] == "SL")
    assert D(stop["trigger"]) == D("3150.05")
    sim.pin("TCS", "3150")  # through the trailed stop: the broker's SL order fills
    await engine.refresh()
    await until_done(engine, p.id)
    assert [o["status"] for o in sim.orders("TCS-EQ") if o["pt"] == "SL"] == ["complete"]


@pytest.mark.asyncio
async def test_levels_on_the_wrong_side_are_refused_and_nothing_is_sent(
    sim: Sim, engine: TradingEngine
) -> None:
    sim.pin("RELIANCE", "1480")
    await engine.refresh(full=True)
    for sl, target, why in (
        (D("1490"), None, "stop 1490 must be below the last price 1480"),
        (None, D("1470"), "target 1470 must be above the last price 1480"),
        (D("1450.03"), None, "on RELIANCE-EQ's tick"),
    ):
        with pytest.raises(BadProtection, match=why):
            await engine.protect("RELIANCE", sl=sl, target=target)
    with pytest.raises(BadProtection, match="no open position in TCS-EQ"):
        await engine.protect("TCS", sl=D("3000"))
    assert sim.orders("RELIANCE-EQ") == []


@pytest.mark.asyncio
async def test_a_restart_between_trigger_and_exit_does_not_exit_twice(sim: Sim) -> None:
    """The stop fired and its exit was sent; the process died before it heard the answer. The
    next start finds the exit by its tag and does not send another."""
    first = await open_engine(sim.home)
    sim.pin("INFY", "1560")
    await first.refresh(full=True)
    p = await first.protect("INFY", sl=D("1500"))
    inst = first.instrument("INFY")
    # The exit as `_new_exit` starts it: tags written down, the protection EXITING, then sent.
    req = OrderRequest(inst, Side.SELL, 25, OrderType.MARKET, None, Product.CNC)
    [ready] = await first.ctx.desk.prepare([req], feature="R", group=p.id, metas=[None])
    p.state, p.reason, p.exit_tags = PState.EXITING, "stop 1500 hit at 1490", [ready.tag or ""]
    await first.protector._save(p)
    await first.ctx.desk.send(ready)  # it reached the broker ...
    first.protector.items.clear()  # ... and then the process was gone (kill -9)
    await first.stop()
    sim.pin("INFY", "1490")
    second = await open_engine(sim.home)
    try:
        q = second.protector.items[p.id]
        await until_done(second, p.id)
        assert q.state is PState.DONE
        await tick(second, "INFY", times=2)  # below the stop again: nothing more
    finally:
        await second.stop()
    assert [o["status"] for o in sim.orders("INFY-EQ")] == ["complete"]


@pytest.mark.asyncio
async def test_an_exit_never_sent_before_a_restart_is_sent_once(sim: Sim) -> None:
    first = await open_engine(sim.home)
    sim.pin("INFY", "1560")
    await first.refresh(full=True)
    p = await first.protect("INFY", sl=D("1500"))
    inst = first.instrument("INFY")
    req = OrderRequest(inst, Side.SELL, 25, OrderType.MARKET, None, Product.CNC)
    [ready] = await first.ctx.desk.prepare([req], feature="R", group=p.id, metas=[None])
    p.state, p.exit_tags = PState.EXITING, [ready.tag or ""]
    await first.protector._save(p)  # decided and written down, never sent: then gone
    first.protector.items.clear()
    await first.stop()
    second = await open_engine(sim.home)
    try:
        await until_done(second, p.id)
    finally:
        await second.stop()
    sells = sim.orders("INFY-EQ")
    assert len(sells) == 1 and sells[0]["status"] == "complete" and sells[0]["tag"] != ready.tag


@pytest.mark.asyncio
async def test_a_position_closed_by_hand_ends_its_protection(
    sim: Sim, engine: TradingEngine
) -> None:
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", sl=D("3000"), target=D("3200"))
    [position] = [x for x in engine.positions if x.trading_symbol == "TCS-EQ"]
    await engine.exit_position(position)
    await until_done(engine, p.id)
    assert p.reason == "the position is closed"
    target = next(o for o in sim.orders("TCS-EQ") if o["pt"] == "L")
    assert target["status"] == "cancelled"


def test_the_cli_protects_watches_and_says_what_ctrl_c_leaves(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    """`protect --detach` arms and returns; `--remove` cancels what rests; bad levels refuse."""
    sim.pin("RELIANCE", "1480")
    assert main(["protect", "RELIANCE", "--sl", "1500", "--account", "a1"]) == 2
    assert "must be below the last price" in capsys.readouterr().err
    assert main(["protect", "RELIANCE", "--target", "1600", "--detach", "--account", "a1"]) == 0
    assert "armed" in capsys.readouterr().out
    assert [o["status"] for o in sim.orders("RELIANCE-EQ")] == ["open"]
    assert main(["protect", "RELIANCE", "--remove", "--account", "a1", "--json"]) == 0
    assert '"watching": "removed"' in capsys.readouterr().out
    assert [o["status"] for o in sim.orders("RELIANCE-EQ")] == ["cancelled"]
    assert main(["buy", "TCS", "--qty", "1", "--sl", "3200", "--account", "a1"]) == 2
    assert "nothing sent" in capsys.readouterr().err
    assert sim.orders("TCS-EQ") == []


@pytest.mark.asyncio
async def test_a_feed_tick_triggers_the_stop(home: Path) -> None:
    """With the live feed on, nobody reads a quote: the tick itself fires the stop."""
    with start(users=numbered_users(1), unique_tags=True, feed_interval_s=0.02) as server:
        sim = Sim(server, home, configure(home, server, feeds=True))
        sim.pin("INFY", "1560")
        engine = await open_engine(home)
        try:
            assert engine.feed is not None
            p = await engine.protect("INFY", sl=D("1500"))
            sim.pin("INFY", "1490")
            await until_done(engine, p.id)
            assert p.reason.startswith("stop 1500 hit at 1490")
        finally:
            await engine.stop()
        assert [(o["tt"], o["status"]) for o in sim.orders("INFY-EQ")] == [("S", "complete")]


# ---------------------------------------------------------------- straddles
async def sold_straddle(sim: Sim, engine: TradingEngine, lots: int) -> tuple[Any, str, str]:
    """A NIFTY straddle sold at 100 + 100 (prices pinned), filled; returns its summary."""
    from gui_trader.engine.straddle_plan import StraddleSpec

    store = engine.instruments
    assert store is not None
    expiry = store.expiries("NIFTY")[0]
    row = store.chain("NIFTY", expiry)[len(store.chain("NIFTY", expiry)) // 2]
    assert row.call is not None and row.put is not None
    ce, pe = row.call.trading_symbol, row.put.trading_symbol
    sim.admin("POST", "/_sim/pin", {ce: "100", pe: "100"})
    spec = StraddleSpec(
        "NIFTY",
        expiry,
        lots,
        batch_lots=lots,
        call_strike=row.strike,
        put_strike=row.strike,
        delay_s=0.0,
    )
    plan = await engine.prepare_straddle(spec)
    assert plan.ok, plan.problems
    summary = await engine.straddle_run(plan).execute()
    assert summary.complete
    await engine.refresh(full=True)
    return summary, ce, pe


def buys(sim: Sim, symbol: str) -> list[dict[str, Any]]:
    return [
        o for o in sim.admin("GET", "/_sim/book")["orders"] if o["ts"] == symbol and o["tt"] == "B"
    ]


@pytest.mark.asyncio
async def test_a_combined_stop_buys_back_both_legs_together_freeze_sliced(
    sim: Sim, engine: TradingEngine
) -> None:
    from gui_trader.engine.straddle_guard import StraddleStops

    summary, ce, pe = await sold_straddle(sim, engine, lots=30)  # 2250 a leg: above the freeze
    g = await engine.guard_straddle(summary, StraddleStops(combined_sl_pct=D(10)))
    sim.admin("POST", "/_sim/pin", {ce: "125", pe: "90"})  # 215: 7.5 % against: nothing yet
    await tick(engine, ce, pe)
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert g.state is PState.ACTIVE and buys(sim, ce) == []
    sim.admin("POST", "/_sim/pin", {ce: "140", pe: "90"})  # 230: 15 % against
    await tick(engine, ce, pe, times=3)
    await asyncio.wait_for(engine.protector.wait_all_done([g.id]), 30)
    for symbol in (ce, pe):
        rows = buys(sim, symbol)
        assert sorted(o["qty"] for o in rows) == [450, 1800]  # freeze-sliced, once
        assert {o["status"] for o in rows} == {"complete"}
    assert g.reason.startswith("combined premium 230")


@pytest.mark.asyncio
async def test_a_refused_straddle_exit_is_armed_again_and_goes_on_a_later_tick(
    sim: Sim, engine: TradingEngine
) -> None:
    """Both exit legs refused outright (429, nothing placed): the guard is not left EXITING
    with nothing on the wire; it is armed again and a later tick through its stop exits, once."""
    from gui_trader.engine.straddle_guard import StraddleStops

    summary, ce, pe = await sold_straddle(sim, engine, lots=1)
    g = await engine.guard_straddle(summary, StraddleStops(combined_sl_pct=D(10)))
    guards = engine.protector.straddles
    sim.admin("POST", "/_sim/faults", {"routes": ["place"], "queue": ["retry_after_long"] * 2})
    sim.admin("POST", "/_sim/pin", {ce: "140", pe: "90"})  # 230: 15 % against
    await tick(engine, ce, pe)
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert g.state is PState.ACTIVE and all(leg.open for leg in g.legs)
    assert buys(sim, ce) == buys(sim, pe) == []  # refused: nothing placed
    sim.admin("POST", "/_sim/pin", {ce: "141"})  # stops run on a price that moved
    await tick(engine, ce, pe)  # within the retry pause: not asked again
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert buys(sim, ce) == buys(sim, pe) == []
    guards._retry_at.clear()  # the pause has passed
    sim.admin("POST", "/_sim/pin", {ce: "142"})
    await tick(engine, ce, pe)
    await asyncio.wait_for(engine.protector.wait_all_done([g.id]), 30)
    for symbol in (ce, pe):
        assert [o["status"] for o in buys(sim, symbol)] == ["complete"]  # once


@pytest.mark.asyncio
async def test_a_leg_stop_moves_the_other_legs_stop_to_cost(
    sim: Sim, engine: TradingEngine
) -> None:
    from gui_trader.engine.straddle_guard import StraddleStops

    summary, ce, pe = await sold_straddle(sim, engine, lots=1)
    g = await engine.guard_straddle(summary, StraddleStops(leg_sl_pct=D(50)))
    assert [leg.sl for leg in g.legs] == [D(150), D(150)]
    sim.admin("POST", "/_sim/pin", {ce: "155", pe: "60"})
    await tick(engine, ce, pe)
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert [o["qty"] for o in buys(sim, ce)] == [75] and buys(sim, pe) == []
    assert g.legs[1].sl == D(100)  # the PUT's stop is now its cost
    sim.admin("POST", "/_sim/pin", {pe: "101"})
    await tick(engine, pe)
    await asyncio.wait_for(engine.protector.wait_all_done([g.id]), 30)
    assert [o["qty"] for o in buys(sim, pe)] == [75]


@pytest.mark.asyncio
async def test_lock_and_trail_on_the_combined_mtm(sim: Sim, engine: TradingEngine) -> None:
    from gui_trader.engine.straddle_guard import StraddleStops

    summary, ce, pe = await sold_straddle(sim, engine, lots=1)
    stops = StraddleStops(lock_at=D(2000), trail_by=D(1000))
    g = await engine.guard_straddle(summary, stops)
    for c, p_, exited in (("80", "80", False), ("85", "85", False), ("90", "90", True)):
        sim.admin("POST", "/_sim/pin", {ce: c, pe: p_})  # MTM 3000, 2250, 1500
        await tick(engine, ce, pe)
        await asyncio.wait_for(engine.protector.idle(), 10)
        assert (g.state is PState.DONE) is exited, (c, g.reason)
    assert g.peak_mtm == D(3000)
    assert len(buys(sim, ce)) == len(buys(sim, pe)) == 1


@pytest.mark.asyncio
async def test_another_process_adds_and_the_driver_arms_it(sim: Sim, engine: TradingEngine) -> None:
    """The window drives the account's protections; a second process (here a second engine,
    refused the lock) only writes one to the journal; the driver picks it up and arms it."""
    sim.pin("RELIANCE", "1480")
    other = await open_engine(sim.home)
    try:
        assert engine.protector.driving and not other.protector.driving
        p = await other.protect("RELIANCE", target=D("1600"))
        assert p.target_orders == [] and sim.orders("RELIANCE-EQ") == []  # not armed there
        for q in await engine.protector._pick_up():  # what its 2 s loop does
            await engine.protector._resume(q)
        mine = engine.protector.items[p.id]
        assert len(mine.target_orders) == 1
        assert [o["status"] for o in sim.orders("RELIANCE-EQ")] == ["open"]
    finally:
        await other.stop()


@pytest.mark.asyncio
async def test_the_next_day_its_resting_orders_are_placed_again(sim: Sim) -> None:
    """DAY orders end with the session: a protection carried to a new day places its target
    again, once."""
    first = await open_engine(sim.home)
    sim.pin("RELIANCE", "1480")
    await first.refresh(full=True)
    p = await first.protect("RELIANCE", target=D("1600"))
    [old] = p.target_orders
    await first.ctx.desk.cancel(old)
    p.orders_day = "2026-01-01"  # as if armed on an earlier day (its order is gone now)
    await first.protector._save(p)
    first.protector.items.clear()
    await first.stop()
    second = await open_engine(sim.home)
    try:
        q = second.protector.items[p.id]
        assert len(q.target_orders) == 1 and q.target_orders != [old]
    finally:
        await second.stop()
    assert sorted(o["status"] for o in sim.orders("RELIANCE-EQ")) == ["cancelled", "open"]


@pytest.mark.asyncio
async def test_a_straddle_closed_by_hand_is_never_exited_again(
    sim: Sim, engine: TradingEngine
) -> None:
    from gui_trader.engine.straddle_guard import StraddleStops

    summary, ce, pe = await sold_straddle(sim, engine, lots=1)
    g = await engine.guard_straddle(summary, StraddleStops(combined_sl_pct=D(10)))
    for position in [x for x in engine.positions if x.trading_symbol in (ce, pe)]:
        await engine.exit_position(position)  # closed by hand (a kill does the same)
    await engine.refresh(full=True)
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert g.state is PState.DONE and g.reason == "the straddle's positions are closed"
    sim.admin("POST", "/_sim/pin", {ce: "200", pe: "200"})  # far through the stop
    await tick(engine, ce, pe, times=2)
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert len(buys(sim, ce)) == len(buys(sim, pe)) == 1  # the hand exits only


@pytest.mark.asyncio
async def test_an_order_on_a_live_fed_price_is_guarded_without_a_quote_trip(home: Path) -> None:
    """The guards judge a market order on the last price; with the market feed live for the
    symbol that price is current, so no quote read stands between the click and the wire."""
    with start(users=numbered_users(1), unique_tags=True, feed_interval_s=0.02) as server:
        sim = Sim(server, home, configure(home, server, feeds=True))
        engine = await open_engine(home)
        try:
            feed = engine.feed
            assert feed is not None
            inst = engine.instrument("INFY")  # held: the feed streams it
            await until(lambda: engine._live_price(inst.key))  # the feed's first ticks
            before = sim.admin("GET", "/_sim/stats")["requests"].get("quotes", 0)
            req = OrderRequest(inst, Side.BUY, 1, OrderType.MARKET, None, Product.CNC)
            assert (await engine.place(req)).ok
            assert sim.admin("GET", "/_sim/stats")["requests"].get("quotes", 0) == before
        finally:
            await engine.stop()
