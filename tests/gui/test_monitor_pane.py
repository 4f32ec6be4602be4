"""The Monitor pane: the first start says how many sells fill at once, the countdown counts
down, Action / P&L / Reason are in view at 1366x768, and actions show in the cycle they happen."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

import httpx
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui_trader.core.clock import today_ist
from gui_trader.engine.events import MonitorState
from gui_trader.gui.main_window import MainWindow
from gui_trader.gui.monitor_controller import countdown
from gui_trader.gui.monitor_model import REASON
from tests.gui.conftest import Runner
from tests.gui.test_window import shown

# the demo holdings: (symbol, quantity, average price)
HOLDINGS = {
    "RELIANCE-EQ": Decimal("1350.65"),
    "INFY-EQ": Decimal("1502.15"),
    "SBIN-EQ": Decimal("857.10"),
    "TITAN-EQ": Decimal("3813.45"),
    "ITC-EQ": Decimal("388.45"),
    "TATASTEEL-EQ": Decimal("148.21"),
}
# where each price is pinned, relative to yesterday's EMA9: above it, the sell is marketable
PIN = {
    "RELIANCE-EQ": 1.03,
    "SBIN-EQ": 1.02,
    "ITC-EQ": 1.04,
    "INFY-EQ": 0.97,
    "TATASTEEL-EQ": 0.98,
    "TITAN-EQ": 0.97,
}


def ema9(closes: list[float]) -> float:
    """pandas ewm(span=9, adjust=False), written out here rather than taken from the app."""
    value = closes[0]
    for close in closes[1:]:
        value = 0.2 * close + 0.8 * value
    return value


def pin(window: MainWindow, prices: dict[str, Decimal]) -> None:
    addr = json.loads((window.paths.root / "paper" / "exchange.addr").read_text())
    reply = httpx.post(f"{addr['url']}/_sim/pin", json={s: str(p) for s, p in prices.items()})
    reply.raise_for_status()


def expected_at_once(
    window: MainWindow, run: Runner, skip_pct: Decimal
) -> tuple[list[str], list[str]]:
    """Pin every holding's price around its EMA9 and work out, independently of the monitor,
    which limit sells at EMA9 (rounded up to the tick) are placed, and which of them the
    market is already above."""
    engine = window.engine
    assert engine is not None
    today = today_ist()
    ltps: dict[str, Decimal] = {}
    marketable, placed = [], []
    for symbol, factor in PIN.items():
        inst = engine.instrument(symbol)
        candles = run(
            engine.ctx.broker.candles(
                inst.key, "D", today - timedelta(days=140), today - timedelta(days=1)
            )
        )
        closes = [float(c.close) for c in candles if c.time.date() < today]
        assert len(closes) >= 60
        yesterday = ema9(closes)
        tick = inst.tick_size
        ltp = (Decimal(repr(yesterday * factor)) / tick).quantize(Decimal(1)) * tick
        ltps[symbol] = ltp
        today_ema = 0.2 * float(ltp) + 0.8 * yesterday
        sell = (Decimal(repr(today_ema)) / tick).to_integral_value(ROUND_CEILING) * tick
        if sell < HOLDINGS[symbol] * (1 - skip_pct / 100):
            continue  # skipped: EMA9 too far below the entry
        placed.append(symbol)
        if ltp >= sell:
            marketable.append(symbol)
    pin(window, ltps)
    return marketable, placed


def test_the_first_start_says_how_many_sells_fill_at_once_and_asks(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    pane, monitors = window.monitor_pane, window.monitors
    pane.interval.setValue(3600)  # one cycle in this test
    at_once, placed = expected_at_once(window, run, Decimal(str(pane.max_below.value())))
    assert sorted(at_once) == ["ITC-EQ", "RELIANCE-EQ", "SBIN-EQ"]  # the pins say so
    questions: list[str] = []

    async def decline(title: str, text: str) -> bool:
        questions.append(text)
        return False

    window.ask = decline  # type: ignore[method-assign]
    qtbot.mouseClick(pane.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not monitors.starting, timeout=15_000)
    [text] = questions
    assert f"{len(at_once)} of them will FILL AT ONCE" in text
    assert all(s in text for s in at_once)
    assert f"place {len(placed)} limit sells" in text
    assert monitors.monitor is None and pane.start.isEnabled()
    engine = window.engine
    assert engine is not None
    book = run(engine.ctx.broker.orders())
    assert [o for o in book if o.side.value == "S"] == []  # declined: nothing sent
    window.drain()
    assert window.monitor_model.rowCount() == 0  # the forecast is not the monitor's state

    async def accept(title: str, text: str) -> bool:
        return True

    window.ask = accept  # type: ignore[method-assign]
    qtbot.mouseClick(pane.start, Qt.MouseButton.LeftButton)

    def actions() -> dict[str, str]:
        return {r.symbol: r.action.value for r in window.monitor_model.rows()}

    # the marketable sells fill at once, and the first cycle's rows say so (interval 1 h:
    # there is no second cycle to catch up)
    shown(
        window,
        qtbot,
        lambda: sorted(s for s, a in actions().items() if a == "filled") == sorted(at_once),
        timeout=20_000,
    )
    assert {s: a for s, a in actions().items() if s not in at_once} == {
        s: "placed" if s in placed else "skipped" for s in PIN if s not in at_once
    }
    window.monitor_pane.stop.click()
    shown(window, qtbot, lambda: window.monitors.monitor is None, timeout=10_000)


def test_next_cycle_counts_down_as_the_timer_ticks(window: MainWindow) -> None:
    monitors, now = window.monitors, [1000.0]
    monitors.clock = lambda: now[0]
    window.hub.publish(MonitorState(True, False, 60.0, next_cycle_at=1065.0))
    window.drain()
    assert monitors.timer.isActive() and monitors.timer.interval() == 1000
    assert window.monitor_pane.state.text() == "next cycle in 1:05"
    now[0] += 3
    monitors.tick()  # what the timer calls once a second
    assert window.monitor_pane.state.text() == "next cycle in 1:02"
    now[0] += 61.5
    monitors.tick()
    assert window.monitor_pane.state.text() == "next cycle in 1 s"
    window.hub.publish(MonitorState(False, False, 60.0))
    window.drain()
    assert not monitors.timer.isActive() and window.monitor_pane.state.text() == "stopped"


def test_countdown_text() -> None:
    assert [countdown(s) for s in (0, 0.2, 59, 59.5, 60, 3599, 3600, 3725)] == [
        "0 s",
        "1 s",
        "59 s",
        "1:00",
        "1:00",
        "59:59",
        "1:00:00",
        "1:02:05",
    ]


def test_action_pnl_and_reason_are_in_view_at_1366x768(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    window.showNormal()
    window.resize(1366, 768)
    pane = window.monitor_pane
    pane.dry_run.setChecked(True)
    pane.interval.setValue(3600)
    qtbot.mouseClick(pane.start, Qt.MouseButton.LeftButton)
    shown(window, qtbot, lambda: window.monitor_model.rowCount() == 6, timeout=15_000)
    window.docks["monitor"].raise_()
    qtbot.waitUntil(lambda: pane.table.isVisible())
    table, header = pane.table, pane.table.horizontalHeader()
    width = table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()
    titles = [str(table.model().headerData(c, Qt.Orientation.Horizontal)) for c in range(10)]
    for name in ("Action", "P&L", "Reason"):
        col = titles.index(name)
        left = header.sectionViewportPosition(col)
        assert left >= 0 and left + header.sectionSize(col) <= width, (name, left, width)
    assert header.sectionSize(REASON) >= 100  # room to read the start of a reason
    reason = window.monitor_model.index(0, REASON)
    assert reason.data(Qt.ItemDataRole.ToolTipRole) == reason.data()  # the full text
    pane.stop.click()
    shown(window, qtbot, lambda: window.monitors.monitor is None, timeout=10_000)
