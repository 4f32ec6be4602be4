"""Daily MTM limits and the square-off time, in an engine that runs as the window's does
(polling a loopback simulator): the limit squares off and blocks once; a blocked account
refuses new orders in one line while exits pass, until `risk reset`; at the square-off time
only intraday (MIS) positions and orders go. Time is set, never waited for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time
from decimal import Decimal

import pytest
import pytest_asyncio

from gui_trader.cli import main
from gui_trader.config import Paths
from gui_trader.core.clock import IST, today_ist
from gui_trader.core.order import Side
from gui_trader.engine.account_risk import Trigger
from gui_trader.engine.events import EventHub, Notice
from gui_trader.engine.order_desk import TradingBlocked
from gui_trader.engine.trading import TradingEngine
from tests.integration.test_kill_switch import Sim, sim

__all__ = ["sim"]  # the fixture, shared with the kill switch's tests

WAIT_S = 15.0  # a bound, never a pause: every wait below returns as soon as it is satisfied


def clock_at(hh: int, mm: int) -> Callable[[], datetime]:
    return lambda: datetime.combine(today_ist(), time(hh, mm), IST)


@pytest_asyncio.fixture
async def engine(sim: Sim) -> AsyncIterator[TradingEngine]:
    """Account a1's engine, built as the window builds it (not started yet)."""
    from gui_trader.app import open_context

    ctx = await open_context(account="a1", paths=Paths(sim.home))
    e = TradingEngine(ctx, EventHub(), poll_s=0.1)
    e.risk.clock = clock_at(11, 0)
    yield e
    await e.stop()


async def cli(*args: str) -> int:
    """The CLI as another process would run it (its own event loop, in a thread here)."""
    return await asyncio.to_thread(main, list(args))


async def trade(account: str, *order: str) -> None:
    assert await cli(*order, "--account", account) == 0


async def fired(engine: TradingEngine) -> Trigger | None:
    """Read the books now (as a poll does; the hook runs on what it applies), then wait for
    the exit it started, if any."""
    await engine.refresh()
    trigger = engine.risk.check()  # None if the poll's own check already started it
    await asyncio.wait_for(engine.risk.wait_idle(), WAIT_S)
    return trigger


@pytest.mark.asyncio
async def test_the_max_loss_squares_everything_off_once_and_blocks_until_reset(
    sim: Sim, engine: TradingEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.pin(RELIANCE="1500", TCS="3000", INFY="1500")
    assert (
        await cli("risk", "set", "--account", "a1", "--max-loss", "1000", "--max-profit", "5000")
        == 0
    )
    await trade("a1", "buy", "RELIANCE", "--qty", "10", "--product", "MIS")
    await trade("a1", "buy", "TCS", "--qty", "2", "--product", "CNC")
    await trade("a1", "buy", "INFY", "--qty", "2", "--price", "1450", "--product", "MIS")
    queue = engine.hub.subscribe()
    assert await engine.start()
    assert engine.risk.limits.max_loss == Decimal(1000)
    sim.pin(RELIANCE="1450")  # MTM -500: inside the limit
    await fired(engine)
    assert engine.risk.snapshot().mtm == Decimal(-500) and not engine.risk.blocked
    assert len(sim.net("a1")) == 2 and len(sim.working("a1")) == 1
    sim.pin(RELIANCE="1420", TCS="2990")  # MTM -800 - 20 = -820
    await fired(engine)
    assert not engine.risk.blocked
    sim.pin(TCS="2900")  # -800 - 200 = -1000: the limit
    await fired(engine)
    # squared off at the server: flat, nothing working, every exit an R order
    assert sim.net("a1") == {} and sim.working("a1") == []
    exits = [o for o in sim.book("a1") if o["tag"].startswith("R")]
    assert sorted((o["ts"], o["tt"], o["qty"], o["prod"]) for o in exits) == [
        ("RELIANCE-EQ", "S", 10, "MIS"),
        ("TCS-EQ", "S", 2, "CNC"),
    ]
    snap = engine.risk.snapshot()
    assert snap.blocked and snap.reason.startswith("max loss: MTM -1,000 reached -1,000")
    assert any(isinstance(n, Notice) and "MAX LOSS" in n.title for n in queue)
    # once: more ticks at the loss do not exit again
    count = len(sim.book("a1"))
    sim.pin(TCS="2800")
    assert await fired(engine) is None
    assert len(sim.book("a1")) == count
    # blocked: the CLI's buy is refused in one line, nothing sent; so is the engine's own
    capsys.readouterr()
    assert await cli("buy", "LT", "--qty", "1", "--account", "a1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gui-trader: trading blocked for today on a1: max")
    assert err[0].endswith("`gui-trader risk reset --account a1` to allow orders again")
    with pytest.raises(TradingBlocked):
        await engine.place(engine.request("LT", Side.BUY, 1))
    assert len(sim.book("a1")) == count
    # reset: orders go again, and the overridden limit does not fire again today
    assert await cli("risk", "reset", "--account", "a1") == 0
    await trade("a1", "buy", "LT", "--qty", "1", "--product", "MIS")
    await engine.risk.refresh()
    assert await fired(engine) is None
    assert not engine.risk.blocked and len(sim.net("a1")) == 1


@pytest.mark.asyncio
async def test_the_profit_target_squares_off_and_blocks(
    sim: Sim, engine: TradingEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.pin(SBIN="800")
    assert await cli("risk", "set", "--account", "a1", "--max-profit", "500") == 0
    await trade("a1", "sell", "SBIN", "--qty", "10", "--product", "MIS")  # short
    assert await engine.start()
    sim.pin(SBIN="750")  # +500
    assert await fired(engine) in (Trigger.MAX_PROFIT, None)
    assert sim.net("a1") == {}
    assert engine.risk.snapshot().reason.startswith("profit target: MTM +500 reached +500")


@pytest.mark.asyncio
async def test_a_blocked_account_refuses_a_buy_but_an_exit_still_goes(
    sim: Sim, engine: TradingEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Blocked by another process (the journal says so) with a position still open: a buy is
    refused and sends nothing; the position's exit (feature X) goes through."""
    await trade("a1", "buy", "RELIANCE", "--qty", "6", "--product", "MIS")
    assert await engine.start()
    await engine.ctx.journal.block_trading("a1", today_ist(), "kill", "kill switch (test)")
    count = len(sim.book("a1"))
    with pytest.raises(TradingBlocked, match="trading blocked for today on a1: kill switch"):
        await engine.place(engine.request("RELIANCE", Side.BUY, 1))
    assert len(sim.book("a1")) == count
    [position] = [p for p in engine.positions if p.net_qty]
    outcomes = await engine.exit_position(position)
    assert [o.ok for o in outcomes] == [True] and outcomes[0].tag.startswith("X")
    assert sim.net("a1") == {}


@pytest.mark.asyncio
async def test_the_square_off_time_flattens_intraday_only(
    sim: Sim, engine: TradingEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.pin(INFY="1500", TCS="3000")
    assert await cli("risk", "set", "--account", "a1", "--square-off", "15:15") == 0
    await trade("a1", "buy", "RELIANCE", "--qty", "10", "--product", "MIS")
    await trade("a1", "sell", "SBIN", "--qty", "5", "--product", "MIS")
    await trade("a1", "buy", "TCS", "--qty", "3", "--product", "CNC")
    await trade("a1", "buy", "INFY", "--qty", "2", "--price", "1450", "--product", "MIS")
    await trade("a1", "buy", "TCS", "--qty", "1", "--price", "2900", "--product", "CNC")
    now = [datetime.combine(today_ist(), time(15, 14), IST)]
    engine.risk.clock = lambda: now[0]
    assert await engine.start()
    assert await fired(engine) is None  # 15:14: nothing yet
    assert len(sim.net("a1")) == 3 and len(sim.working("a1")) == 2
    now[0] = now[0].replace(minute=15)
    assert await fired(engine) in (Trigger.SQUARE_OFF, None)  # the poll may have been first
    assert sim.net("a1") == {("TCS-EQ", "CNC"): 3}
    assert [(o["ts"], o["prod"]) for o in sim.working("a1")] == [("TCS-EQ", "CNC")]
    assert not engine.risk.blocked  # the square-off time closes intraday, it blocks nothing
    # once a day: an MIS trade after it is the trader's own decision
    await trade("a1", "buy", "LT", "--qty", "1", "--product", "MIS")
    now[0] = now[0].replace(minute=20)
    assert await fired(engine) is None
    assert sim.net("a1") == {("TCS-EQ", "CNC"): 3, ("LT-EQ", "MIS"): 1}


@pytest.mark.asyncio
async def test_a_kill_ends_the_positions_protections_and_exits_once(
    sim: Sim, engine: TradingEngine
) -> None:
    """A protected position (an engine-watched stop and a resting target): the kill ends the
    protection, cancels its target and closes the position once; a tick through the old
    stop afterwards sends nothing."""
    sim.pin(INFY="1500")
    await trade("a1", "buy", "INFY", "--qty", "8", "--product", "MIS")
    assert await engine.start()
    p = await engine.protect("INFY", sl=Decimal("1450"), target=Decimal("1600"))
    [target] = sim.working("a1")
    assert target["tag"].startswith("R") and target["pt"] == "L"
    report = await engine.risk.kill(send=True, source="test")
    assert report.ok, report.to_json()
    assert [(c.order_id, c.status) for c in report.cancelled] == [(target["no"], "cancelled")]
    assert [(x.symbol, x.side, x.qty, x.status) for x in report.placed] == [
        ("INFY-EQ", "SELL", 8, "complete")
    ]
    assert engine.protector.for_key(p.key) is None  # ended
    count = len(sim.book("a1"))
    sim.pin(INFY="1400")
    await fired(engine)  # ticks through the old stop
    await asyncio.wait_for(engine.protector.idle(), WAIT_S)
    assert len(sim.book("a1")) == count and sim.net("a1") == {}
