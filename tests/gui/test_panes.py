"""The table panes as a trader reads them: lakh/crore figures, whole symbols, the watchlist's
Chg % in view, positions' realised / unrealised against the fills, the P&L summary, Exit all,
and a watchlist symbol that cannot be added."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from gui_trader.config import Config
from gui_trader.core import display
from gui_trader.core.clock import now_ist
from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order, OrderStatus, Product, Side
from gui_trader.core.portfolio import Holding, Position
from gui_trader.engine.events import OrderUpdated, PositionsUpdated, QuotesUpdated
from gui_trader.gui import theme
from gui_trader.gui.main_window import MainWindow
from gui_trader.gui.models import (
    NEW_ROWS_PER_FRAME,
    RIGHT,
    HoldingsModel,
    OrdersModel,
    PositionsModel,
    WatchlistModel,
    apply_number_grouping,
)
from gui_trader.gui.panes import HoldingsPane, PositionsPane, WatchlistPane
from gui_trader.gui.summary_bar import PnlSummary
from gui_trader.gui.table_view import MiddleElide, TradingTable
from tests.gui.conftest import Runner
from tests.gui.test_window import shown

CALL, PUT = "NIFTY25DEC2625900CE", "NIFTY25DEC2625900PE"


class Desk:
    """What a pane asks of the window, recorded (the pane-level tests have no window)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def exit_position(self, position: Position) -> None:
        self.calls.append(("exit", position))

    def exit_all(self) -> None:
        self.calls.append(("exit all", None))

    def cancel_orders(self, order_ids: list[str]) -> None:
        self.calls.append(("cancel", order_ids))

    def cancel_all_open(self) -> None:
        self.calls.append(("cancel all", None))

    def modify_order(self, order: Order) -> None:
        self.calls.append(("modify", order))

    def add_watch(self, symbol: str) -> None:
        self.calls.append(("watch", symbol))

    def remove_watch(self, key: str) -> None:
        self.calls.append(("unwatch", key))

    def pick_symbol(self, symbol: str) -> None:
        self.calls.append(("pick", symbol))

    def protect_symbol(self, symbol: str) -> None:
        self.calls.append(("protect", symbol))

    def unprotect_symbol(self, symbol: str) -> None:
        self.calls.append(("unprotect", symbol))


@pytest.fixture
def indian() -> Iterator[None]:
    """Each test starts in the default grouping and leaves it so."""
    display.set_grouping("indian")
    yield
    display.set_grouping("indian")


def texts(model: object, title: str) -> list[str]:
    col = [c.title for c in model.columns].index(title)  # type: ignore[attr-defined]
    return [str(model.index(r, col).data()) for r in range(model.rowCount())]  # type: ignore[attr-defined]


def column(model: object, title: str) -> int:
    return [c.title for c in model.columns].index(title)  # type: ignore[attr-defined]


def booked(amount: str) -> Position:
    """A closed position whose whole P&L is booked: bought 10 for ₹10 lakh, sold for more."""
    buy = Decimal("1000000.00")
    return Position("RELIANCE-EQ", "nse_cm", "2885", "MIS", 10, 10, buy, buy + Decimal(amount))


# ------------------------------------------------------------------ formats
def test_figures_in_lakh_crore_two_decimals_right_aligned(qtbot: QtBot, indian: None) -> None:
    model = PositionsModel()
    model.apply_positions([booked("58525354.58")])
    model.flush()
    assert texts(model, "P&L") == ["+5,85,25,354.58"]
    assert texts(model, "Realised") == ["+5,85,25,354.58"]
    assert texts(model, "Unrealised") == ["0.00"]
    assert texts(model, "Buy qty") == ["10"] and texts(model, "Sell qty") == ["10"]
    pnl = model.index(0, column(model, "P&L"))
    assert pnl.data(Qt.ItemDataRole.TextAlignmentRole) == RIGHT

    holdings = HoldingsModel()
    pane = HoldingsPane(holdings, Desk())
    qtbot.addWidget(pane)
    crore = Holding("BIG", "BIG-EQ", "nse_cm", "1", 100000, 100000, Decimal("500.00"))
    holdings.apply_holdings([crore])
    holdings.apply_quotes([Quote("nse_cm", "1", "BIG-EQ", Decimal("585.25354"), Decimal("580.00"))])
    holdings.flush()
    pane.update_total()
    assert texts(holdings, "Qty") == ["1,00,000"]
    assert texts(holdings, "LTP") == ["585.25"]
    assert texts(holdings, "P&L") == ["+85,25,354.00"]
    assert texts(holdings, "Day chg") == ["+5,25,354.00"]  # (585.25354 - 580) x 1 lakh
    assert texts(holdings, "Day %") == ["+0.91%"]
    assert texts(holdings, "P&L %") == ["+17.05%"]
    assert "value ₹5,85,25,354.00" in pane.total.text()

    apply_number_grouping(Config(Path("x.toml"), extra={"number_grouping": "international"}))
    again = PositionsModel()
    again.apply_positions([booked("58525354.58")])
    again.flush()
    assert texts(again, "P&L") == ["+58,525,354.58"]


def test_times_in_ist_with_the_date_when_not_today(indian: None) -> None:
    model = OrdersModel()
    now = now_ist().replace(microsecond=0)
    yesterday = now - timedelta(days=1)
    for n, at in (("1", now), ("2", yesterday)):
        model.apply(
            Order(
                n,
                "SBIN-EQ",
                "nse_cm",
                "3045",
                Side.BUY,
                5,
                5,
                OrderStatus.COMPLETE,
                "MKT",
                "MIS",
                Decimal(0),
                Decimal("812.05"),
                time=at,
            ),
            external=False,
        )
    model.flush()
    assert texts(model, "Time") == [
        now.strftime("%H:%M:%S"),
        yesterday.strftime("%d %b %H:%M:%S"),
    ]
    assert texts(model, "Product") == ["MIS", "MIS"]
    assert texts(model, "Order no") == ["1", "2"]


def test_profit_and_loss_colours_follow_the_theme(qapp: QApplication) -> None:
    """A theme switch recolours the cells in place, without reformatting."""
    model = PositionsModel()
    model.apply_positions([booked("100.00")])
    model.flush()
    index = model.index(0, column(model, "P&L"))
    try:
        theme.apply_theme(qapp, "light")
        assert index.data(Qt.ItemDataRole.ForegroundRole) == QColor(theme.STATUS["profit"][0])
        theme.apply_theme(qapp, "dark")
        assert index.data(Qt.ItemDataRole.ForegroundRole) == QColor(theme.STATUS["profit"][1])
    finally:
        theme.apply_theme(qapp, "light")


def test_the_summary_and_the_totals_recolour_on_a_theme_switch(
    qtbot: QtBot, qapp: QApplication
) -> None:
    positions, holdings = PositionsModel(), HoldingsModel()
    summary = PnlSummary(positions, holdings)
    pane = PositionsPane(positions, Desk())
    qtbot.addWidget(summary)
    qtbot.addWidget(pane)
    positions.apply_positions([booked("100.00")])
    positions.flush()
    summary.refresh()
    pane.update_total()
    summary.show()
    pane.show()
    qtbot.waitExposed(pane)
    light, dark = theme.STATUS["profit"]

    def coloured(hex_colour: str) -> bool:
        return hex_colour in summary.values["day"].styleSheet() and (
            hex_colour in pane.total.styleSheet()
        )

    try:
        theme.apply_theme(qapp, "light")
        qtbot.waitUntil(lambda: coloured(light), timeout=2_000)
        theme.apply_theme(qapp, "dark")  # Qt posts every widget a PaletteChange: nothing else
        qtbot.waitUntil(lambda: coloured(dark), timeout=2_000)
    finally:
        theme.apply_theme(qapp, "light")
    assert summary.text("day") == "+₹100.00" and summary.text("realised") == "+₹100.00"
    assert pane.exit_all_button.isEnabled() is False  # closed: nothing to exit


# ------------------------------------------------------------------ symbols
def test_symbols_elide_in_the_middle_and_show_whole_in_the_tooltip(qtbot: QtBot) -> None:
    model = WatchlistModel()
    pane = WatchlistPane(model, Desk())
    qtbot.addWidget(pane)
    pane.resize(270, 300)  # the watchlist's default width at 1366
    pane.show()
    qtbot.waitExposed(pane)
    for n, symbol in enumerate((CALL, PUT)):
        quote = Quote("nse_fo", str(n), symbol, Decimal("25884.25"), Decimal("25960.10"))
        model.add(symbol, f"nse_fo|{n}", quote)
    model.flush()
    table = pane.table
    width = table.columnWidth(0)
    metrics = QFontMetrics(table.font())
    assert metrics.horizontalAdvance(CALL) > width - 8  # too long for the column: elided
    shown_as = []
    for row in range(2):
        index = table.model().index(row, 0)
        option = QStyleOptionViewItem()
        delegate = table.itemDelegateForColumn(0)
        assert isinstance(delegate, MiddleElide)
        delegate.initStyleOption(option, index)  # what the cell's paint uses
        assert option.textElideMode == Qt.TextElideMode.ElideMiddle
        text = metrics.elidedText(str(index.data()), option.textElideMode, width - 8)
        shown_as.append(text)
        assert index.data(Qt.ItemDataRole.ToolTipRole) == index.data()  # the whole symbol
    assert shown_as[0] != shown_as[1]
    assert shown_as[0].endswith("CE") and shown_as[1].endswith("PE")
    assert all("…" in t for t in shown_as)
    for model_type in (OrdersModel, PositionsModel, HoldingsModel, WatchlistModel):
        assert model_type.columns[0 if model_type is not OrdersModel else 1].elide_middle


def test_saved_column_widths_from_before_do_not_come_back(qtbot: QtBot, tmp_path: Path) -> None:
    """A narrow width remembered under the old key is not restored; a remembered width under
    the new key is widened again if the numbers no longer fit it."""
    from PySide6.QtCore import QSettings

    settings = QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat)
    model = WatchlistModel()
    model.add("RELIANCE-EQ", "k", Quote("nse_cm", "1", "R", Decimal("1487.15"), Decimal("1400")))
    model.flush()
    table = TradingTable("watchlist")
    qtbot.addWidget(table)
    table.setModel(model)
    ltp = column(model, "LTP")
    fitted = table.columnWidth(ltp)
    table.setColumnWidth(ltp, 20)
    table.save(settings)
    assert table._key().startswith("header/v2/")
    again = TradingTable("watchlist")
    qtbot.addWidget(again)
    again.setModel(model)
    again.restore(settings)
    assert again.columnWidth(ltp) == fitted


# ------------------------------------------------------------------ the window
def test_the_watchlist_shows_chg_pct_without_scrolling_at_1366(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.resize(1366, 738)
    window.default_sizes()
    engine = window.engine
    assert engine is not None and engine.instruments is not None
    window.add_watch(
        next(i.trading_symbol for i in engine.instruments.all if i.option_type == "CE")
    )
    model = window.watch_model
    shown(window, qtbot, lambda: model.rowCount() == 6 and all(r.quote for r in model.rows()))
    table = window.watchlist.table
    qtbot.waitUntil(lambda: window.docks["watchlist"].width() >= 260, timeout=5_000)
    pct = column(model, "Chg %")
    header = table.horizontalHeader()
    assert not table.isColumnHidden(pct)
    assert header.sectionViewportPosition(pct) + header.sectionSize(pct) <= table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0  # nothing beyond the viewport
    ltp = column(model, "LTP")
    values = [str(model.index(r, ltp).data()) for r in range(model.rowCount())]
    metrics = QFontMetrics(model.mono)
    assert all(metrics.horizontalAdvance(v) <= table.columnWidth(ltp) for v in values)


def open_rows(window: MainWindow) -> dict[str, Position]:
    return {r.position.trading_symbol: r.position for r in window.positions_model.rows()}


def test_positions_show_buy_sell_realised_and_unrealised_from_the_fills(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None
    bought = run(engine.place(engine.request("SBIN", Side.BUY, 10, product=Product.MIS)))
    sold = run(engine.place(engine.request("SBIN", Side.SELL, 4, product=Product.MIS)))
    assert bought.ok and sold.ok
    model = window.positions_model
    shown(
        window,
        qtbot,
        lambda: (
            any(r.position.sell_qty == 4 for r in model.rows())
            and all(engine.orders[o].status is OrderStatus.COMPLETE for o in engine.orders)
        ),
    )
    buy_px = engine.orders[bought.order_id].avg_price
    sell_px = engine.orders[sold.order_id].avg_price
    [row] = model.rows()
    realised = (sell_px - buy_px) * 4  # the 4 sold against the buy's price
    unrealised = (row.ltp - buy_px) * 6  # the 6 still held, at the last price
    assert (row.realised, row.unrealised) == (realised, unrealised)
    assert texts(model, "Buy qty") == ["10"] and texts(model, "Sell qty") == ["4"]
    assert texts(model, "Net qty") == ["6"]
    assert texts(model, "Realised") == [display.amount(realised, sign=True)]
    assert texts(model, "Unrealised") == [display.amount(unrealised, sign=True)]
    assert texts(model, "P&L") == [display.amount(realised + unrealised, sign=True)]


def test_the_summary_bar_adds_up(window: MainWindow, qtbot: QtBot, run: Runner) -> None:
    engine = window.engine
    assert engine is not None
    run(engine.place(engine.request("ITC", Side.BUY, 20, product=Product.MIS)))
    run(engine.place(engine.request("ITC", Side.SELL, 5, product=Product.MIS)))
    run(engine.refresh(full=True))
    shown(
        window,
        qtbot,
        lambda: (
            window.summary.funds is not None
            and any(r.position.sell_qty == 5 for r in window.positions_model.rows())
            and window.holdings_model.rowCount() == 6
        ),
    )
    window.summary.refresh()  # what it shows after this frame, read before the next one
    day = realised = unrealised = Decimal(0)
    for r in window.positions_model.rows():
        p = r.position
        total = p.sell_amount - p.buy_amount + p.net_qty * r.ltp * p.multiplier
        matched = min(p.buy_qty, p.sell_qty)
        booked_ = matched * (p.sell_amount / p.sell_qty - p.buy_amount / p.buy_qty)
        day += total
        realised += booked_
        unrealised += total - booked_
    for h in window.holdings_model.rows():
        day += (h.ltp - h.prev_close) * h.holding.qty
        unrealised += (h.ltp - h.holding.avg_price) * h.holding.qty
    summary = window.summary

    def rupees(value: Decimal) -> str:
        return display.rupees(value.quantize(Decimal("0.01")), sign=True)

    assert summary.text("day") == rupees(day)
    assert summary.text("realised") == rupees(realised)
    assert summary.text("unrealised") == rupees(unrealised)
    assert summary.text("overall") == rupees(realised + unrealised)
    funds = engine.funds
    assert funds is not None
    assert summary.text("used") == display.rupees(funds.margin_used)
    assert summary.text("available") == display.rupees(funds.available)


def test_exit_all_sends_one_exit_per_open_position(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None
    for symbol, side, qty in (("SBIN", Side.BUY, 5), ("ITC", Side.BUY, 10), ("INFY", Side.SELL, 3)):
        assert run(engine.place(engine.request(symbol, side, qty, product=Product.MIS))).ok
    button = window.positions.exit_all_button
    shown(window, qtbot, lambda: len(open_rows(window)) == 3 and button.isEnabled())
    asked: list[str] = []

    def confirm(title: str, text: str) -> bool:
        asked.append(text)
        return True

    window.confirm = confirm  # type: ignore[method-assign]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and "Close 3 positions" in asked[0]  # one question for all
    shown(
        window,
        qtbot,
        lambda: (
            all(p.net_qty == 0 for p in open_rows(window).values()) and not engine.open_orders()
        ),
        timeout=15_000,
    )
    exits = [r.order for r in window.orders_model.rows() if r.order.tag.startswith("X")]
    assert sorted((o.trading_symbol, o.side, o.qty) for o in exits) == [
        ("INFY-EQ", Side.BUY, 3),
        ("ITC-EQ", Side.SELL, 10),
        ("SBIN-EQ", Side.SELL, 5),
    ]
    assert not button.isEnabled()


def test_an_unknown_watchlist_symbol_keeps_the_text_and_says_why(
    window: MainWindow, qtbot: QtBot
) -> None:
    pane = window.watchlist
    before = len(window.watch_model.keys())
    pane.add.setText("NOSUCHSYM")
    qtbot.keyClick(pane.add, Qt.Key.Key_Return)
    assert pane.add.text() == "NOSUCHSYM"  # kept for correcting
    assert pane.error.isVisibleTo(pane) and "unknown symbol" in pane.error.text()
    assert QApplication.activeModalWidget() is None  # no pop-up
    assert len(window.watch_model.keys()) == before
    assert window.engine is not None and "NOSUCHSYM" not in window.engine.watch
    qtbot.keyClicks(pane.add, "X")  # typing again clears the complaint
    assert not pane.error.isVisibleTo(pane)
    pane.add.setText("ITC")
    qtbot.keyClick(pane.add, Qt.Key.Key_Return)
    assert pane.add.text() == "" and not pane.error.isVisibleTo(pane)
    assert len(window.watch_model.keys()) == before + 1


# ------------------------------------------------------------------ a frame at the limit
@pytest.fixture
def bare(qtbot: QtBot, home: Path) -> Iterator[MainWindow]:
    """The window with no engine and its frame timer stopped: the test drains by hand."""
    w = MainWindow()
    w.drain_timer.stop()
    qtbot.addWidget(w)
    yield w
    w.close()


def held(token: int, qty: int) -> Position:
    return Position(
        f"S{token:03d}-EQ", "nse_cm", str(token), "CNC", qty, 0, Decimal(100 * qty), Decimal(0)
    )


def order(status: OrderStatus, filled: int = 0) -> Order:
    return Order(
        "7", "SBIN-EQ", "nse_cm", "3045", Side.BUY, 5, filled, status, "MKT", "MIS",
        Decimal(0), Decimal("812.05"),
    )  # fmt: skip


def test_a_frame_applies_every_order_and_only_the_latest_book(bare: MainWindow) -> None:
    """Orders and log lines are applied in order; a book a later one superseded in the same
    frame is never shown."""
    w = bare
    w.hub.publish(PositionsUpdated(tuple(held(t, 1) for t in (1, 2, 3))))
    w.hub.publish(OrderUpdated(order(OrderStatus.OPEN), external=False))
    w.hub.publish(OrderUpdated(order(OrderStatus.COMPLETE, 5), external=False))
    w.hub.publish(PositionsUpdated((held(2, 4),)))
    w.hub.publish(QuotesUpdated((Quote("nse_cm", "2", "nse_cm|2", Decimal("101.50")),)))
    assert w.drain() == 5 + 1  # the events, then the quote
    assert texts(w.orders_model, "Status") == [OrderStatus.COMPLETE.value]
    assert texts(w.orders_model, "Filled") == ["5"]
    assert texts(w.positions_model, "Symbol") == ["S002-EQ"]
    assert texts(w.positions_model, "LTP") == ["101.50"]
    assert "1 position (1 open)" in w.positions.total.text()


def test_a_bursts_new_rows_share_one_frame_budget_orders_first(bare: MainWindow) -> None:
    """New rows cost the frame their items: every table together shows at most
    NEW_ROWS_PER_FRAME a frame, the orders first; the rest follow in the next frames."""
    w = bare
    for i in range(20):
        o = order(OrderStatus.OPEN)
        w.hub.publish(OrderUpdated(replace(o, order_id=f"B{i}"), external=False))
    w.hub.publish(PositionsUpdated(tuple(held(t, 1) for t in range(30))))
    w.drain()
    assert w.orders_model.rowCount() == NEW_ROWS_PER_FRAME
    assert w.positions_model.rowCount() == 0
    w.drain()
    assert w.orders_model.rowCount() == 20
    assert w.positions_model.rowCount() == NEW_ROWS_PER_FRAME - 4
    while w.drain() or any(m.waiting() for m in (w.orders_model, w.positions_model)):
        pass
    assert w.positions_model.rowCount() == 30
    assert texts(w.orders_model, "Order no") == [f"B{i}" for i in range(20)]


def test_a_big_tick_is_spread_over_frames_and_nothing_is_lost(
    bare: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 positions ticking: a frame past its budget applies the floor and carries the rest;
    later frames finish it, and a newer quote for an instrument still waiting replaces it."""
    w = bare
    book = tuple(held(t, 1) for t in range(200))
    w.hub.publish(PositionsUpdated(book))
    w.drain()
    per_frame = NEW_ROWS_PER_FRAME
    assert w.positions_model.rowCount() == per_frame  # a big book goes in over a few frames
    assert "200 positions" in w.positions.total.text()  # counted whole from the first
    frames = 1
    while w.positions_model.waiting():
        w.drain()
        frames += 1
    assert frames == -(-200 // per_frame) and w.positions_model.rowCount() == 200
    backlog = w.quotes_due
    seconds = itertools.count()  # a second passes between two looks at the clock:
    monkeypatch.setattr(backlog, "clock", lambda: float(next(seconds)))  # every frame overruns
    tick = tuple(Quote("nse_cm", str(t), "", Decimal(50)) for t in range(200))
    w.hub.publish(QuotesUpdated(tick))
    assert w.drain() == 1 + backlog.FLOOR  # the event, then the floor of its quotes
    assert texts(w.positions_model, "LTP")[: backlog.FLOOR] == ["50.00"] * backlog.FLOOR
    assert texts(w.positions_model, "LTP")[backlog.FLOOR] == "0.00"  # not yet: no price known
    w.hub.publish(QuotesUpdated((Quote("nse_cm", "199", "", Decimal(60)),)))
    frames = 1
    while w.drain():
        frames += 1
    assert frames == 1 + -(-(200 - backlog.FLOOR) // backlog.FLOOR)
    assert texts(w.positions_model, "LTP") == ["50.00"] * 199 + ["60.00"]
