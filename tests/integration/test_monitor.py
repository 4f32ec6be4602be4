"""The EMA9 monitor through the real client and the simulator, prices pinned where needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gui_trader.core.clock import IST
from gui_trader.core.order import OrderRequest, OrderStatus, OrderType, Product, Side
from gui_trader.engine.events import EventHub, MonitorAction, MonitorRow
from gui_trader.engine.journal import Journal
from gui_trader.engine.monitor import Monitor, MonitorSettings, sell_price
from gui_trader.engine.order_desk import OrderDesk
from gui_trader.market.ema import ema, ema_today
from gui_trader.market.instruments import InstrumentStore, load_instruments
from gui_trader.sim.server import SimServer
from tests.support.harness import in_process, in_process_client


@dataclass
class Rig:
    server: SimServer
    client: Any
    journal: Journal
    store: InstrumentStore
    path: Path

    def monitor(self, **kw: Any) -> Monitor:
        settings = MonitorSettings(**{"symbols": frozenset({"RELIANCE-EQ"}), **kw})
        today = self.server.exchange.today
        return Monitor(
            self.client,
            OrderDesk(self.client, self.journal, "paper"),
            self.journal,
            self.store,
            "paper",
            settings,
            paper=True,
            now=lambda: datetime.combine(today, datetime.min.time(), IST) + timedelta(hours=11),
        )

    async def ema_yesterday(self, symbol: str) -> float:
        inst = self.store.resolve(symbol)
        today = self.server.exchange.today
        candles = await self.client.candles(
            inst.key, "D", today - timedelta(days=140), today - timedelta(days=1)
        )
        return ema([float(c.close) for c in candles])

    def pin(self, symbol: str, price: Decimal) -> None:
        self.server.exchange.pin(symbol, price)

    def sells(self, symbol: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.server.exchange.order_book("PAPER1")
            if r["trdSym"] == symbol and r["trnsTp"] == "S"
        ]


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    server = in_process()
    client = in_process_client(server)
    journal = await Journal(tmp_path / "journal.sqlite3").open()
    store = await load_instruments(client, tmp_path / "cache")
    yield Rig(server, client, journal, store, tmp_path)
    await client.close()
    await journal.close()


def row(report: list[dict[str, Any]], symbol: str = "RELIANCE-EQ") -> dict[str, Any]:
    return next(r for r in report if r["symbol"] == symbol)


@pytest.mark.asyncio
async def test_initial_order_at_ema9_rounded_up_for_the_sellable_quantity(rig: Rig) -> None:
    y = await rig.ema_yesterday("RELIANCE")
    ltp = Decimal(str(round(y * 0.97, 1)))  # below EMA9: the sell rests above the market
    rig.pin("RELIANCE-EQ", ltp)
    report = await rig.monitor().cycle()
    r = row(report)
    expected = sell_price(ema_today(y, float(ltp)), rig.store.resolve("RELIANCE"))
    assert r["action"] == "placed" and Decimal(r["order_price"]) == expected
    [order] = rig.sells("RELIANCE-EQ")
    assert order["qty"] == 40 and Decimal(order["prc"]) == expected and order["prod"] == "CNC"
    assert order["ordSt"] == "open" and order["GuiOrdId"].startswith("M")


@pytest.mark.asyncio
async def test_a_new_low_lowers_the_order_with_one_modify_and_a_rise_never_raises(rig: Rig) -> None:
    y = await rig.ema_yesterday("RELIANCE")
    mon = rig.monitor()
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 0.97, 1))))
    first = Decimal(row(await mon.cycle())["order_price"])
    lower = Decimal(str(round(y * 0.95, 1)))
    rig.pin("RELIANCE-EQ", lower)
    r = row(await mon.cycle())
    assert r["action"] == "modified" and rig.server.requests.get("modify") == 1
    new_price = sell_price(ema_today(y, float(lower)), rig.store.resolve("RELIANCE"))
    assert Decimal(r["order_price"]) == new_price < first
    assert Decimal(rig.sells("RELIANCE-EQ")[0]["prc"]) == new_price
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 0.99, 1))))  # higher, still below the order
    r = row(await mon.cycle())
    assert r["action"] == "unchanged" and Decimal(r["order_price"]) == new_price
    assert rig.server.requests.get("modify") == 1
    assert len(rig.sells("RELIANCE-EQ")) == 1


@pytest.mark.asyncio
async def test_an_open_sell_order_is_adopted_not_duplicated(rig: Rig) -> None:
    y = await rig.ema_yesterday("RELIANCE")
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 0.97, 1))))
    inst = rig.store.resolve("RELIANCE")
    mine = await rig.client.place(
        OrderRequest(
            inst, Side.SELL, 40, OrderType.LIMIT, Decimal("1700.00"), Product.CNC, tag="MANUAL1"
        )
    )
    r = row(await rig.monitor().cycle())
    assert r["order_id"] == mine
    assert r["action"] in ("adopted", "modified")  # adopted, then lowered to EMA9 at once
    assert len(rig.sells("RELIANCE-EQ")) == 1
    assert rig.server.exchange.stats["placed"] == 1


@pytest.mark.asyncio
async def test_the_five_percent_rule_skips_with_a_reason(rig: Rig) -> None:
    y = await rig.ema_yesterday("TITAN")
    entry = Decimal("3813.45")  # the demo holding's average
    rig.pin("TITAN-EQ", Decimal(str(round(float(entry) * 0.80, 1))))
    r = row(await rig.monitor(symbols=frozenset({"TITAN-EQ"})).cycle(), "TITAN-EQ")
    assert ema_today(y, float(entry) * 0.8) < float(entry) * 0.95
    assert r["action"] == "skipped" and "below entry" in r["reason"]
    assert rig.sells("TITAN-EQ") == []
    r = row(
        await rig.monitor(symbols=frozenset({"TITAN-EQ"}), max_below_entry_pct=Decimal(50)).cycle(),
        "TITAN-EQ",
    )
    assert r["action"] == "placed"  # the threshold is a setting


@pytest.mark.asyncio
async def test_a_fill_closes_the_position_with_the_right_pnl(rig: Rig) -> None:
    y = await rig.ema_yesterday("RELIANCE")
    mon = rig.monitor()
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 0.97, 1))))
    price = Decimal(row(await mon.cycle())["order_price"])
    event = mon.rows["RELIANCE-EQ"].row(dry_run=False)  # what the window's chart draws from
    assert [p for _, p in event.moves] == [str(price)] and not event.closed
    rig.pin("RELIANCE-EQ", price + Decimal(5))  # the market trades up through the sell
    r = row(await mon.cycle())
    assert r["action"] == "filled" and mon.rows["RELIANCE-EQ"].row(dry_run=False).closed
    assert Decimal(r["pnl"]) == (price - Decimal("1350.65")) * 40
    r = row(await mon.cycle())  # it has left the monitor: nothing more happens to it
    assert rig.server.requests.get("modify") is None and len(rig.sells("RELIANCE-EQ")) == 1


@pytest.mark.asyncio
async def test_a_fill_between_cycles_closes_the_position_when_the_book_is_read(rig: Rig) -> None:
    """The sell follows its handle: whoever reads the book (the window's poll, the order feed)
    closes the position at once, with its P&L, and the monitor publishes the row."""
    hub = EventHub()
    events = hub.subscribe()
    y = await rig.ema_yesterday("RELIANCE")
    mon = rig.monitor()
    mon.hub = hub
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 0.97, 1))))
    price = Decimal(row(await mon.cycle())["order_price"])
    events.clear()
    rig.pin("RELIANCE-EQ", price + Decimal(5))
    await mon.desk.book()  # any read of the book, not a monitor cycle
    m = mon.rows["RELIANCE-EQ"]
    assert m.closed and m.action is MonitorAction.FILLED
    assert Decimal(m.pnl or "0") == (price - Decimal("1350.65")) * 40
    [published] = [e for e in events if isinstance(e, MonitorRow)]
    assert published.closed and published.order_status is OrderStatus.COMPLETE
    r = row(await mon.cycle())  # the next cycle agrees and sends nothing
    assert r["action"] == "filled" and len(rig.sells("RELIANCE-EQ")) == 1


@pytest.mark.asyncio
async def test_a_restart_continues_from_the_lowest_ema9(rig: Rig) -> None:
    y = await rig.ema_yesterday("RELIANCE")
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 0.95, 1))))
    first = row(await rig.monitor().cycle())
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 0.99, 1))))
    again = row(await rig.monitor().cycle())  # a new process: state from the journal
    assert again["lowest_ema9"] == first["lowest_ema9"]
    assert again["order_price"] == first["order_price"] and again["action"] == "unchanged"
    assert rig.server.exchange.stats["placed"] == 1


@pytest.mark.asyncio
async def test_dry_run_shows_everything_and_sends_nothing(rig: Rig) -> None:
    report = await rig.monitor(symbols=None, dry_run=True).cycle()
    assert len(report) == 6 and all(r["ema9"] for r in report)
    assert all(r["reason"].startswith("dry run") or r["action"] == "skipped" for r in report)
    assert rig.server.exchange.stats["placed"] == 0
    assert await rig.journal.load_monitor("paper", rig.server.exchange.today) == {}


@pytest.mark.asyncio
async def test_live_mode_waits_for_the_open_and_stops_at_the_close(rig: Rig) -> None:
    today = rig.server.exchange.today
    weekday = today + timedelta(days=(7 - today.weekday()) % 7)  # a Monday
    evening = datetime.combine(weekday, datetime.min.time(), IST) + timedelta(hours=16)
    mon = Monitor(
        rig.client,
        OrderDesk(rig.client, rig.journal, "x"),
        rig.journal,
        rig.store,
        "x",
        MonitorSettings(),
        paper=False,
        now=lambda: evening,
    )
    assert await mon.run() == []  # after 15:30: nothing to do today
    holiday = Monitor(
        rig.client,
        OrderDesk(rig.client, rig.journal, "x"),
        rig.journal,
        rig.store,
        "x",
        MonitorSettings(holidays=frozenset({weekday})),
        paper=False,
        now=lambda: evening - timedelta(hours=5),
    )
    assert await holiday.wait_for_open() is False
    assert rig.server.requests.get("holdings") is None


@pytest.mark.asyncio
async def test_one_symbol_failing_never_stops_the_others(rig: Rig) -> None:
    original = rig.server.exchange.place

    def refuse_infy(ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        if j["ts"] == "INFY-EQ":
            from gui_trader.sim.exchange import SimError

            raise SimError(1009, "please provide valid price")
        return original(ucc, j)

    rig.server.exchange.place = refuse_infy  # type: ignore[method-assign]
    for symbol in ("RELIANCE", "INFY", "SBIN"):
        y = await rig.ema_yesterday(symbol)
        rig.pin(f"{symbol}-EQ", Decimal(str(round(y * 0.97, 1))))
    report = await rig.monitor(symbols=frozenset({"RELIANCE-EQ", "INFY-EQ", "SBIN-EQ"})).cycle()
    assert row(report, "INFY-EQ")["action"] == "skipped"
    assert "not placed" in row(report, "INFY-EQ")["reason"]
    assert row(report, "RELIANCE-EQ")["action"] == row(report, "SBIN-EQ")["action"] == "placed"


@pytest.mark.asyncio
async def test_a_failing_cycle_is_counted_for_back_off_not_a_crash(rig: Rig) -> None:
    rig.server.faults.update({"routes": ["holdings"], "rates": {"error_5xx": 1.0}})
    mon = rig.monitor()
    assert await mon.run(skip_wait=True, once=True) == []
    assert mon.failures == 1
    rig.server.faults.update({"rates": {}})
    await mon.run(skip_wait=True, once=True)
    assert mon.failures == 0


@pytest.mark.asyncio
async def test_a_sell_that_fills_while_its_cycle_runs_is_shown_filled_by_that_cycle(
    rig: Rig,
) -> None:
    """The order feed can report the fill of a marketable sell before the cycle that placed
    it has ended (the cycle ignores handle updates then); the cycle's last word must be
    "filled", not a "placed" that stays until the next cycle, an interval later."""
    hub = EventHub()
    events = hub.subscribe()
    y = await rig.ema_yesterday("RELIANCE")
    rig.pin("RELIANCE-EQ", Decimal(str(round(y * 1.05, 1))))  # above EMA9: fills at once
    mon = rig.monitor()
    mon.hub = hub
    place = rig.client.place

    async def place_then_feed(req: OrderRequest) -> str:  # the feed's push, as the reply lands
        order_id: str = await place(req)
        book = await rig.client.orders()
        mon.desk.live.track(order_id)  # the desk tracks it on this reply
        mon.desk.live.apply(book)
        return order_id

    rig.client.place = place_then_feed
    await mon.cycle()
    rows = [e for e in events if isinstance(e, MonitorRow) and e.symbol == "RELIANCE-EQ"]
    assert rows[-1].action is MonitorAction.FILLED and rows[-1].closed
    assert rows[-1].order_status is OrderStatus.COMPLETE and rows[-1].pnl is not None


@pytest.mark.asyncio
async def test_fills_at_once_names_the_sells_placed_at_or_under_the_last_price(rig: Rig) -> None:
    y_rel, y_infy = await rig.ema_yesterday("RELIANCE"), await rig.ema_yesterday("INFY")
    rig.pin("RELIANCE-EQ", Decimal(str(round(y_rel * 1.03, 1))))  # LTP above EMA9
    rig.pin("INFY-EQ", Decimal(str(round(y_infy * 0.98, 1))))  # LTP below EMA9: rests
    mon = rig.monitor(
        symbols=frozenset({"RELIANCE-EQ", "INFY-EQ"}),
        dry_run=True,
        max_below_entry_pct=Decimal(100),
    )
    await mon.cycle()
    assert mon.fills_at_once() == ["RELIANCE-EQ"]
    assert rig.server.exchange.stats["placed"] == 0
