"""Attacks on stops, targets, trails, straddle guards and the kill switch over the loopback
simulator: a broker that refuses a modify, a position that shrinks under its protection, a
second process on the same account, a kill from elsewhere racing a stop. The server's book
is the truth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from gui_trader.core.order import OrderRequest, OrderType, Product, Side
from gui_trader.engine.protection_rules import BadProtection, PState, StopAt, Trail
from gui_trader.engine.trading import TradingEngine
from gui_trader.sim.paper_accounts import numbered_users
from gui_trader.sim.serve import start
from tests.integration.test_protection import (
    Sim,
    buy,
    buys,
    configure,
    open_engine,
    sold_straddle,
    tick,
    until_done,
)

D = Decimal


@pytest.fixture
def sim(home: Path) -> Iterator[Sim]:
    """One live account on a loopback simulator, no feeds, no background polling."""
    with start(users=numbered_users(1), unique_tags=True) as server:
        yield Sim(server, home, configure(home, server, feeds=False))


@pytest_asyncio.fixture
async def engine(sim: Sim) -> AsyncIterator[TradingEngine]:
    e = await open_engine(sim.home)
    yield e
    await e.stop()


def faults(sim: Sim, route: str, *queue: str) -> None:
    sim.admin("POST", "/_sim/faults", {"routes": [route], "queue": list(queue)})


def net(sim: Sim, symbol: str) -> int:
    """Net filled units of this symbol at the server (all products)."""
    total = 0
    for o in sim.admin("GET", "/_sim/book")["orders"]:
        if o["ts"] == symbol and o["ucc"] == sim.ucc:
            filled = int(o.get("filled", o["qty"] if o["status"] == "complete" else 0))
            total += filled if o["tt"] == "B" else -filled
    return total


async def sell(engine: TradingEngine, symbol: str, qty: int, product: Product) -> None:
    req = OrderRequest(engine.instrument(symbol), Side.SELL, qty, OrderType.MARKET, None, product)
    out = await engine.place(req)
    assert out.ok, out.error
    await engine.refresh(full=True)


@pytest.mark.asyncio
async def test_an_engine_stop_whose_target_reprice_is_refused_still_exits(
    sim: Sim, engine: TradingEngine
) -> None:
    """The stop turns the resting target into the exit by one modify; the broker refuses that
    modify (5xx, three times). The position must still be closed, not left resting at the
    target with the protection stuck in EXITING."""
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", sl=D("3000"), target=D("3200"))
    faults(sim, "modify", "error_5xx", "error_5xx", "error_5xx")
    sim.pin("TCS", "2990")
    await tick(engine, "TCS")
    await until_done(engine, p.id)
    assert net(sim, "TCS-EQ") == 0
    assert [o for o in sim.orders("TCS-EQ") if o["status"] in ("open", "trigger pending")] == []


@pytest.mark.asyncio
async def test_a_trailed_broker_stop_whose_modify_is_refused_is_still_kept(
    sim: Sim, engine: TradingEngine
) -> None:
    """The trail moves the stop up; the broker refuses the modify of the resting SL order.
    The stop the trader sees (3130) must still be kept: a fall to 3120 exits."""
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", trail=Trail(D("20")), stop_at=StopAt.BROKER)
    assert p.sl == D("3080")
    faults(sim, "modify", "error_5xx", "error_5xx", "error_5xx")
    sim.pin("TCS", "3150")
    await tick(engine, "TCS")
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert p.sl == D("3130")  # what the window shows
    sim.pin("TCS", "3120")  # below the shown stop, above the one still at the broker
    await tick(engine, "TCS")
    await engine.refresh()
    await until_done(engine, p.id)
    assert net(sim, "TCS-EQ") == 0


@pytest.mark.asyncio
async def test_a_position_sold_down_by_hand_shrinks_its_resting_target(
    sim: Sim, engine: TradingEngine
) -> None:
    """10 bought, target for 10 resting; 6 sold by hand. The target must not sell 10 (the
    account would be short 6): never more than is held is sold."""
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", target=D("3200"))
    await sell(engine, "TCS", 6, Product.MIS)
    await asyncio.wait_for(engine.protector.idle(), 10)
    sim.pin("TCS", "3210")
    await engine.refresh()
    await until_done(engine, p.id)
    assert net(sim, "TCS-EQ") == 0  # not -6


@pytest.mark.asyncio
async def test_a_second_process_cannot_add_a_second_protection_on_one_position(
    sim: Sim, engine: TradingEngine
) -> None:
    """Two processes opened on one account before either protected RELIANCE: each protects
    it. The second must be refused (two targets of 40 on a position of 40 sell 80)."""
    sim.pin("RELIANCE", "1480")
    other = await open_engine(sim.home)  # started before the first protection exists
    try:
        await engine.protect("RELIANCE", target=D("1600"))
        with pytest.raises(BadProtection, match="already protected"):
            await other.protect("RELIANCE", target=D("1650"))
    finally:
        await other.stop()
    for q in await engine.protector._pick_up():  # the driver's 2 s look
        await engine.protector._resume(q)
    resting = [o for o in sim.orders("RELIANCE-EQ") if o["status"] == "open"]
    assert sum(o["qty"] for o in resting) <= 40


async def _stop_loop(engine: TradingEngine) -> None:
    """The driver between two of its 2 s looks at the journal (deterministic)."""
    task = engine.protector._loop_task
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    engine.protector._loop_task = None


@pytest.mark.asyncio
async def test_a_kill_from_another_process_is_not_exited_again_by_the_drivers_stop(
    sim: Sim, engine: TradingEngine
) -> None:
    """The window drives an engine stop on TCS; `gui-trader kill` (another process) flattens
    the account. A tick through the stop before the window has read the new positions must
    not sell again (the account would be short)."""
    sim.pin("TCS", "3100")
    await buy(engine, "TCS", 10, Product.MIS)
    p = await engine.protect("TCS", sl=D("3000"))
    await _stop_loop(engine)
    other = await open_engine(sim.home)
    try:
        report = await other.risk.kill(send=True, source="test")
        assert report.ok, report.summary()
    finally:
        await other.stop()
    assert net(sim, "TCS-EQ") == 0
    sim.pin("TCS", "2990")
    await tick(engine, "TCS")
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert net(sim, "TCS-EQ") == 0
    assert p.id  # (kept for the failure message)


@pytest.mark.asyncio
async def test_a_kill_from_another_process_ends_the_drivers_straddle_guard(
    sim: Sim, engine: TradingEngine
) -> None:
    """A sold straddle guarded in the window; a kill elsewhere buys both legs back. A tick
    through the combined stop afterwards must not buy them again (long options)."""
    from gui_trader.engine.straddle_guard import StraddleStops

    summary, ce, pe = await sold_straddle(sim, engine, lots=1)
    g = await engine.guard_straddle(summary, StraddleStops(combined_sl_pct=D(10)))
    await _stop_loop(engine)
    other = await open_engine(sim.home)
    try:
        report = await other.risk.kill(send=True, source="test")
        assert report.ok, report.summary()
    finally:
        await other.stop()
    assert net(sim, ce) == net(sim, pe) == 0
    sim.admin("POST", "/_sim/pin", {ce: "140", pe: "100"})
    await tick(engine, ce, pe)
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert len(buys(sim, ce)) == len(buys(sim, pe)) == 1, g.reason
    assert net(sim, ce) == net(sim, pe) == 0


@pytest.mark.asyncio
async def test_the_next_day_a_closed_position_is_not_given_its_target_again(sim: Sim) -> None:
    """Protected yesterday (MIS, target resting); the position was closed while the app was
    away (the broker's square-off, another app). The next start must not place the target
    again: a SELL 10 on no position is a short."""
    first = await open_engine(sim.home)
    sim.pin("TCS", "3100")
    await buy(first, "TCS", 10, Product.MIS)
    p = await first.protect("TCS", target=D("3200"))
    [old] = p.target_orders
    await first.ctx.desk.cancel(old)  # DAY orders end with the session
    p.orders_day = "2026-01-01"
    await first.protector._save(p)
    first.protector.items.clear()
    first.protector.driving = False  # gone: what follows is someone else's doing
    await sell(first, "TCS", 10, Product.MIS)
    await first.stop()
    assert net(sim, "TCS-EQ") == 0
    second = await open_engine(sim.home)
    try:
        await asyncio.wait_for(second.protector.idle(), 10)
        resting = [o for o in sim.orders("TCS-EQ") if o["status"] == "open"]
        assert resting == []
        assert second.protector.items[p.id].state is PState.DONE
    finally:
        await second.stop()


@pytest.mark.asyncio
async def test_a_protection_committed_late_by_another_process_is_still_armed(
    sim: Sim, engine: TradingEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stamps its row, then waits for the journal's write lock (up to 10 s)
    while the driver writes and reads newer rows: its row lands with a stamp older than the
    driver's last look. It must still be picked up and armed (else a stop is forgotten)."""
    import time

    sim.pin("RELIANCE", "1480")
    sim.pin("TCS", "3100")
    other = await open_engine(sim.home)
    try:
        await buy(engine, "TCS", 10, Product.MIS)
        await engine.protect("TCS", target=D("3200"))
        await engine.protector._pick_up()  # the driver's look: it has seen its own row
        stamped = time.time() - 5.0  # taken before the lock wait
        monkeypatch.setattr("gui_trader.engine.journal.time.time", lambda: stamped)
        p = await other.protect("RELIANCE", target=D("1600"))
        monkeypatch.undo()
    finally:
        await other.stop()
    for q in await engine.protector._pick_up():  # the next 2 s look
        await engine.protector._resume(q)
    assert p.id in engine.protector.items
    assert [o["status"] for o in sim.orders("RELIANCE-EQ")] == ["open"]


@pytest.mark.asyncio
async def test_a_cnc_holding_with_target_and_broker_stop_stays_protected(
    sim: Sim, engine: TradingEngine
) -> None:
    """A delivery holding of 40: the target (SELL 40 LIMIT) rests, the broker refuses the
    SL (SELL 40 more than is held). The stop must still be kept (watched here) and, when hit,
    exit 40 once: the target becomes the exit."""
    sim.pin("RELIANCE", "1480")
    await engine.refresh(full=True)
    p = await engine.protect("RELIANCE", sl=D("1450"), target=D("1600"), stop_at=StopAt.BROKER)
    await engine.refresh()  # the book (or the order feed) tells the SL was rejected
    await asyncio.wait_for(engine.protector.idle(), 10)
    assert p.sl == D("1450") and p.state is PState.ACTIVE and p.stop_at is StopAt.ENGINE
    sim.pin("RELIANCE", "1440")
    await tick(engine, "RELIANCE", times=2)
    await until_done(engine, p.id)
    sold = sum(o["qty"] for o in sim.orders("RELIANCE-EQ") if o["status"] == "complete")
    assert sold == 40, sorted((o["pt"], o["status"]) for o in sim.orders("RELIANCE-EQ"))


@pytest.mark.asyncio
async def test_a_stop_whose_exit_the_broker_refused_fires_again_on_the_next_tick(
    sim: Sim, engine: TradingEngine
) -> None:
    """The stop fires; its market exit is not placed (the broker answers garbage to every
    try). The position is still open below the stop: the next tick must try again, not leave
    the protection EXITING with nothing on the wire until a restart."""
    sim.pin("INFY", "1560")
    await engine.refresh(full=True)
    p = await engine.protect("INFY", sl=D("1500"))
    faults(sim, "place", *["garbage"] * 6)
    sim.pin("INFY", "1490")
    await tick(engine, "INFY")
    await asyncio.wait_for(engine.protector.idle(), 30)
    assert sim.orders("INFY-EQ") == []  # nothing landed
    faults(sim, "place")  # the broker answers again
    sim.pin("INFY", "1489")
    await tick(engine, "INFY")
    await until_done(engine, p.id)
    assert [o["status"] for o in sim.orders("INFY-EQ")] == ["complete"]
