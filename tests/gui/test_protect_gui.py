"""Protections in the window: the Stop / Target columns, the Protect dialog (bad input stays,
with the reason in the dialog), the chart's stop and target lines."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui_trader.core.order import Product
from gui_trader.engine.protection_rules import StopAt
from gui_trader.gui.main_window import MainWindow
from gui_trader.gui.protect_dialog import ProtectDialog
from tests.gui.conftest import Runner
from tests.gui.test_window import cell, find_row, shown


def levels(window: MainWindow, symbol: str) -> tuple[Decimal, Decimal, Decimal]:
    engine = window.engine
    assert engine is not None
    inst = engine.instrument(symbol)
    ltp = engine.quotes[inst.key].ltp
    sl = inst.round_price(ltp * Decimal("0.9"), "down")
    target = inst.round_price(ltp * Decimal("1.1"), "up")
    return ltp, sl, target


def test_a_protected_holding_shows_its_levels_in_the_table_and_on_the_chart(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None and engine.protector.driving
    _, sl, target = levels(window, "RELIANCE")
    run(engine.protect("RELIANCE", sl=sl, target=target, stop_at=StopAt.ENGINE))
    model = window.holdings_model
    stop_col, target_col = model.GUARD_COLUMNS
    shown(window, qtbot, lambda: cell(model, find_row(model, 0, "RELIANCE"), stop_col) != "")
    row = find_row(model, 0, "RELIANCE")
    assert cell(model, row, stop_col) == f"{sl:,.2f}"
    assert cell(model, row, target_col) == f"{target:,.2f}"
    qtbot.waitUntil(lambda: window.charts.chart is not None, timeout=15_000)
    window.charts.show_symbol("RELIANCE-EQ")
    chart = window.charts.chart
    qtbot.waitUntil(lambda: chart.stop_line.isVisible(), timeout=15_000)
    assert chart.stop_line.value() == float(sl)
    assert chart.target_line.value() == float(target)
    run(engine.unprotect("RELIANCE"))
    shown(window, qtbot, lambda: cell(model, find_row(model, 0, "RELIANCE"), stop_col) == "")
    assert not chart.stop_line.isVisible()


def test_the_protect_dialog_keeps_bad_input_and_says_why(window: MainWindow) -> None:
    engine = window.engine
    assert engine is not None
    inst = engine.instrument("RELIANCE")
    ltp, sl, _ = levels(window, "RELIANCE")
    dialog = ProtectDialog(inst, long=True, qty=40, ltp=ltp, parent=window)
    above = inst.round_price(ltp * Decimal("1.05"), "up")
    dialog.sl.setText(str(above))
    dialog._accept()
    assert dialog.result() == 0 and "must be below the last price" in dialog.error.text()
    assert dialog.sl.text() == str(above)  # kept as typed
    dialog.sl.setText("12.34.5")
    dialog._accept()
    assert "is not a price" in dialog.error.text()
    dialog.sl.setText(str(sl))
    dialog.trail.setText("1.5%")
    dialog._accept()
    assert dialog.result() == 1
    assert dialog.result_sl == sl and str(dialog.result_trail) == "1.5%"
    dialog.deleteLater()


def test_the_positions_menu_offers_protection_for_open_positions(
    window: MainWindow, qtbot: QtBot
) -> None:
    from gui_trader.gui.models import PositionsModel

    assert [PositionsModel.columns[i].title for i in PositionsModel.GUARD_COLUMNS] == [
        "Stop",
        "Target",
        "Trail",
    ]
    assert window.positions.table.contextMenuPolicy() == Qt.ContextMenuPolicy.CustomContextMenu


def test_the_ticket_buys_and_protects_what_fills(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    """Stop and target typed on the ticket: checked before sending, then armed on the fill."""
    engine = window.engine
    assert engine is not None
    ticket = window.ticket
    ticket.symbol.setText("TCS")
    ticket.qty.setValue(2)
    ticket.product.setCurrentIndex(ticket.product.findData(Product.MIS))
    run(engine.read_quotes([engine.instrument("TCS")]))
    ltp, sl, target = levels(window, "TCS")
    ticket.sl.setText(str(ltp * 2))  # a stop above the price of a buy: refused, nothing sent
    ticket.buy.click()
    assert "must be below" in ticket.message.text()
    assert engine.open_orders() == [] and not engine.protector.open()
    ticket.sl.setText(str(sl))
    ticket.target.setText(str(target))
    ticket.buy.click()
    qtbot.waitUntil(lambda: bool(engine.protector.open()), timeout=15_000)
    [p] = engine.protector.open()
    qtbot.waitUntil(lambda: len(p.target_orders) == 1, timeout=15_000)
    assert (p.symbol, p.qty, p.sl, p.target) == ("TCS-EQ", 2, sl, target)
    model = window.positions_model
    target_col = model.GUARD_COLUMNS[1]
    shown(window, qtbot, lambda: cell(model, find_row(model, 0, "TCS-EQ"), target_col) != "")
    assert cell(model, find_row(model, 0, "TCS-EQ"), target_col) == f"{target:,.2f}"
