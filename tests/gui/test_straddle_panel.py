"""The Straddle panel against the paper exchange: legs show their fills while the run goes on,
the countdown counts down, the money (premium, breakevens) is exact, the idle state shows no
made-up numbers, and the panel follows the theme."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui_trader.core import display
from gui_trader.core.order import OrderStatus
from gui_trader.engine.events import LegProgress, QuotesUpdated, RunState
from gui_trader.engine.straddle_plan import Leg
from gui_trader.gui.main_window import MainWindow
from gui_trader.gui.straddle_figures import LegFills, breakevens
from gui_trader.gui.straddle_panel import StraddlePanel
from gui_trader.market.instruments import INDICES
from tests.gui.conftest import Runner
from tests.gui.test_window import shown


@pytest.fixture
def panel(window: MainWindow) -> Iterator[StraddlePanel]:
    window.docks["straddle"].raise_()
    yield window.straddle


def arm(panel: StraddlePanel, qtbot: QtBot, *, lots: int, delay: float) -> None:
    panel.lots.setValue(lots)
    panel.batch.setValue(1)
    panel.delay.setValue(delay)
    qtbot.mouseClick(panel.arm, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(panel.fire.isEnabled, timeout=10_000)


def cell(panel: StraddlePanel, row: int, col: int) -> str:
    item = panel.batches.item(row, col)
    return "" if item is None else item.text()


def test_legs_show_filled_while_the_run_goes_on_and_the_countdown_counts_down(
    window: MainWindow, panel: StraddlePanel, qtbot: QtBot
) -> None:
    arm(panel, qtbot, lots=2, delay=60)  # two batches, a minute apart
    assert panel.progress.format().endswith("armed")
    qtbot.mouseClick(panel.fire, Qt.MouseButton.LeftButton)
    shown(
        window,
        qtbot,
        lambda: (
            "filled @" in cell(panel, 0, 2)
            and "filled @" in cell(panel, 0, 3)
            and panel.run_state is not None
            and panel.run_state.state is RunState.WAITING
        ),  # the first batch done, the run still on
        timeout=15_000,
    )
    state = panel.run_state
    assert state is not None and state.state is RunState.WAITING
    assert panel.summary is None and panel.abort.isEnabled()
    assert cell(panel, 1, 2).endswith("planned")
    assert "premium collected ₹" in panel.figures.text()

    assert panel.timer.isActive() and panel.timer.interval() == 1000
    assert state.next_batch_at is not None
    now = state.next_batch_at - 42.2
    panel.clock = lambda: now
    panel.tick()  # what the timer calls once a second
    assert panel.progress.format() == "%v / %m batches · next batch in 43 s"
    now += 3
    panel.tick()
    assert panel.progress.format() == "%v / %m batches · next batch in 40 s"

    qtbot.mouseClick(panel.abort, Qt.MouseButton.LeftButton)
    shown(window, qtbot, lambda: panel.summary is not None, timeout=10_000)
    assert "ABORTED" in panel.result.text() and not panel.timer.isActive()
    assert "aborted" in panel.progress.format()


def test_premium_collected_and_breakevens_are_exact_for_a_strangle(
    window: MainWindow, panel: StraddlePanel, qtbot: QtBot, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None
    panel.mode.setCurrentIndex(2)  # distinct call and put strikes
    middle = panel.call_strike.count() // 2
    panel.call_strike.setCurrentIndex(middle + 2)
    panel.put_strike.setCurrentIndex(middle - 2)
    arm(panel, qtbot, lots=3, delay=0)
    plan = panel.plan
    assert plan is not None and plan.call is not None and plan.put is not None
    call_strike, put_strike = plan.call.strike, plan.put.strike
    assert call_strike is not None and put_strike is not None and call_strike > put_strike
    qtbot.mouseClick(panel.fire, Qt.MouseButton.LeftButton)
    shown(window, qtbot, lambda: panel.summary is not None, timeout=20_000)
    book = run(engine.ctx.broker.orders())
    value, qty = {}, {}
    for symbol in (plan.call.trading_symbol, plan.put.trading_symbol):
        fills = [o for o in book if o.trading_symbol == symbol]
        assert len(fills) == 3 and all(o.status is OrderStatus.COMPLETE for o in fills)
        value[symbol] = sum((o.avg_price * o.filled_qty for o in fills), Decimal(0))
        qty[symbol] = sum(o.filled_qty for o in fills)
    per_unit = sum((value[s] / qty[s] for s in value), Decimal(0))
    text = panel.figures.text()
    assert f"premium collected {display.rupees(sum(value.values(), Decimal(0)))}" in text
    assert f"{display.price(per_unit)} per unit" in text
    low, high = put_strike - per_unit, call_strike + per_unit
    assert f"breakevens {display.price(low)} and {display.price(high)}" in text


def test_breakevens_and_premium_from_fills() -> None:
    assert breakevens(Decimal(25900), Decimal(25900), Decimal("128.65")) == (
        Decimal("25771.35"),
        Decimal("26028.65"),
    )
    assert breakevens(Decimal(26000), Decimal(25800), Decimal("150.25")) == (
        Decimal("25649.75"),
        Decimal("26150.25"),
    )
    fills = LegFills()
    assert fills.per_unit is None and fills.total == 0

    def leg(batch: int, kind: Leg, sl: int, filled: int, avg: str) -> LegProgress:
        status = OrderStatus.COMPLETE
        return LegProgress("S1", batch, kind, sl, filled, status, "1", "", filled, Decimal(avg))

    fills.apply(leg(1, Leg.CE, 1, 75, "60.10"))
    assert fills.per_unit is None  # the PUT has not filled yet
    fills.apply(leg(1, Leg.PE, 1, 75, "70.20"))
    fills.apply(leg(2, Leg.CE, 1, 150, "61.00"))
    fills.apply(leg(2, Leg.PE, 1, 150, "69.90"))
    assert (
        fills.total
        == Decimal("60.10") * 75
        + Decimal("70.20") * 75
        + Decimal("61.00") * 150
        + Decimal("69.90") * 150
    )
    ce = (Decimal("60.10") * 75 + Decimal("61.00") * 150) / 225
    pe = (Decimal("70.20") * 75 + Decimal("69.90") * 150) / 225
    assert fills.per_unit == ce + pe


def test_the_idle_panel_shows_no_batches_and_no_made_up_strikes(
    window: MainWindow, panel: StraddlePanel, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None and engine.instruments is not None
    assert panel.mode.currentText() == "ATM"
    assert not panel.progress.isVisibleTo(panel)  # no "0 / 100 batches"
    assert not panel.call_strike.isVisibleTo(panel) and not panel.put_strike.isVisibleTo(panel)
    run(engine.refresh())
    window.drain()
    panel.on_quotes(QuotesUpdated(()))
    spot = engine.quotes[INDICES["NIFTY"].key].ltp
    expiry = panel.expiry.currentData()
    strikes = [r.strike for r in engine.instruments.chain("NIFTY", expiry)]
    atm = min(range(len(strikes)), key=lambda i: (abs(strikes[i] - spot), strikes[i]))
    assert panel.atm_label.text() == f"ATM {display.amount(strikes[atm], places=0)} now"
    panel.steps.setValue(1)
    ce, pe = (display.amount(strikes[i], places=0) for i in (atm + 1, atm - 1))
    assert panel.atm_label.text() == f"CE {ce} · PE {pe} now"
    panel.mode.setCurrentIndex(1)
    assert panel.call_strike.isVisibleTo(panel) and not panel.atm_label.isVisibleTo(panel)


def test_the_chain_highlights_the_atm_row_and_moves_it_with_the_spot(
    window: MainWindow, panel: StraddlePanel, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None and engine.instruments is not None
    run(engine.refresh())
    window.drain()
    panel.on_quotes(QuotesUpdated(()))
    strikes = [r.strike for r in engine.instruments.chain("NIFTY", panel.expiry.currentData())]

    def bold(row: int, col: int = 1) -> bool:
        item = panel.chain.item(row, col)
        assert item is not None
        return item.font().bold()

    def bold_rows() -> list[int]:
        return [n for n in range(panel.chain.rowCount()) if bold(n)]

    key = INDICES["NIFTY"].key
    spot = engine.quotes[key].ltp
    atm = min(range(len(strikes)), key=lambda i: (abs(strikes[i] - spot), strikes[i]))
    assert bold_rows() == [atm]
    moved = atm + 2 if atm + 2 < len(strikes) else atm - 2
    engine.quotes[key] = replace(engine.quotes[key], ltp=strikes[moved])
    panel.on_quotes(QuotesUpdated(()))
    assert bold_rows() == [moved]  # the old row is plain again, in every column
    assert not any(bold(atm, c) for c in range(3))
    panel.on_quotes(QuotesUpdated(()))
    assert bold_rows() == [moved]


def test_the_chain_writes_only_new_quotes_and_tells_the_view_once(
    window: MainWindow, panel: StraddlePanel, run: Runner
) -> None:
    """A tick rewrites the cells whose quote is new, with one dataChanged for the view (one
    signal per cell cost 2-7 ms a tick); the text is the new price."""
    engine = window.engine
    assert engine is not None and engine.instruments is not None
    run(engine.refresh())
    window.drain()
    panel.on_quotes(QuotesUpdated(()))
    rows = engine.instruments.chain("NIFTY", panel.expiry.currentData())
    model = panel.chain.model()
    changes: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda a, b, _roles=(): changes.append((a.row(), a.column(), b.row(), b.column()))
    )
    panel.on_quotes(QuotesUpdated(()))  # nothing new: nothing written, nothing signalled
    assert changes == []
    n = next(i for i, r in enumerate(rows) if r.call is not None and r.call.key in engine.quotes)
    call = rows[n].call
    assert call is not None
    new = engine.quotes[call.key].ltp + Decimal("1.05")
    engine.quotes[call.key] = replace(engine.quotes[call.key], ltp=new)
    panel.on_quotes(QuotesUpdated(()))
    item = panel.chain.item(n, 0)
    assert item is not None and item.text() == display.price(new)
    assert changes == [(n, 0, n, 2)]


def test_the_atm_text_says_arm_resolves_it_without_a_spot(window: MainWindow) -> None:
    panel = StraddlePanel(window.spawn, window.confirm)  # no engine: no spot, no chain
    assert panel.atm_label.text() == "ATM (resolved at Arm)"
    assert not panel.progress.isVisibleTo(panel)
    panel.deleteLater()


def test_buffer_only_for_limit_orders(panel: StraddlePanel) -> None:
    assert panel.kind.currentText() == "MKT" and not panel.buffer.isEnabled()
    panel.kind.setCurrentText("LIMIT")
    assert panel.buffer.isEnabled()
    panel.kind.setCurrentText("MKT")
    assert not panel.buffer.isEnabled()


def test_a_setup_change_after_arm_disarms(panel: StraddlePanel, qtbot: QtBot) -> None:
    arm(panel, qtbot, lots=2, delay=0)
    assert not panel.setup.isVisibleTo(panel)  # armed: the setup folds away
    assert "2 lots" in panel.setup_toggle.text()
    panel.setup_toggle.click()
    panel.lots.setValue(3)
    assert panel.plan is None and not panel.fire.isEnabled()
    assert "Arm again" in panel.plan_text.text()
    assert not panel.progress.isVisibleTo(panel) and panel.batches.rowCount() == 0


def lightness(widget: object) -> int:
    image = widget.grab().toImage()  # type: ignore[attr-defined]
    return int(image.pixelColor(image.width() // 2, 4).lightness())


def test_the_panel_follows_the_theme(
    window: MainWindow, panel: StraddlePanel, qtbot: QtBot
) -> None:
    arm(panel, qtbot, lots=2, delay=0)
    try:
        window.set_dark(True)
        QApplication.processEvents()  # the palette reaches the widgets as posted events
        assert lightness(panel.arm) < 100  # not a white button in the dark
        assert "#c62828" in panel.fire.styleSheet()
        text = panel.palette().color(panel.foregroundRole())
        assert text.lightness() > 128
        assert panel.plot.getAxis("left").pen().color() == text
        window.set_dark(False)
        QApplication.processEvents()
        assert lightness(panel.arm) > 180
        assert panel.plot.getAxis("left").pen().color().lightness() < 128
    finally:
        window.set_dark(False)
