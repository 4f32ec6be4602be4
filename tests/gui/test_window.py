"""The window a trader opens: paper by default, live books, orders from the GUI, clean close."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from gui_trader.broker.neo import NeoClient
from gui_trader.core.market_data import Quote
from gui_trader.core.order import OrderStatus, Side
from gui_trader.engine.events import FeedState, QuotesUpdated
from gui_trader.gui.main_window import MainWindow
from gui_trader.gui.models import LogFilter, OrdersFilter
from tests.gui.conftest import Runner


def cell(model: object, row: int, col: int) -> str:
    return str(model.index(row, col).data())  # type: ignore[attr-defined]


def col(model: object, title: str) -> int:
    """A column by its title: tests do not depend on where a column sits."""
    return [c.title for c in model.columns].index(title)  # type: ignore[attr-defined]


def find_row(model: object, col: int, text: str) -> int:
    for r in range(model.rowCount()):  # type: ignore[attr-defined]
        if cell(model, r, col) == text:
            return r
    raise AssertionError(f"{text} not in column {col}")


def shown(
    window: MainWindow, qtbot: QtBot, condition: Callable[[], bool], timeout: int = 5_000
) -> None:
    """Wait until the window's own drain timer (one per frame) has put on screen what
    `condition` reads; then apply what arrived since its last frame, so the asserts that
    follow see everything. `condition` only reads: it must not drain or change anything."""
    assert window.drain_timer.isActive()
    qtbot.waitUntil(condition, timeout=timeout)
    window.drain()


def under_test(model: QAbstractItemModel) -> None:
    """QAbstractItemModelTester on a model for the rest of the test, parented to it (Qt
    destroys both together). It reports as Qt warnings; `no_model_failures` turns them into an
    assertion (and qt_log_level_fail = WARNING would fail the test anyway), rather than
    aborting the whole run as the Fatal mode does."""
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning, model)


def no_model_failures(qtlog: Any) -> None:
    complaints = [r.message for r in qtlog.records if r.message.startswith("FAIL!")]
    assert complaints == []


def test_opens_in_paper_mode_with_the_demo_portfolio(window: MainWindow, qtbot: QtBot) -> None:
    shown(window, qtbot, lambda: not window.queue and window.holdings_model.rowCount() == 6)
    assert window.status.mode.text() == "PAPER"
    assert "PAPER" in window.windowTitle()
    assert window.ticket.buy.isEnabled()
    assert window.watch_model.rowCount() == 5
    assert "unrealised P&L" in window.holdings.total.text()


def test_buy_from_the_ticket_fills_and_shows_the_right_pnl(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    window.ticket.symbol.setText("SBIN")
    window.ticket.qty.setValue(7)
    qtbot.mouseClick(window.ticket.buy, Qt.MouseButton.LeftButton)
    shown(window, qtbot, lambda: window.positions_model.rowCount() == 1)
    orders = window.orders_model
    assert orders.rowCount() == 1
    assert cell(orders, 0, 1) == "SBIN-EQ" and cell(orders, 0, col(orders, "Status")) == "complete"
    assert cell(orders, 0, col(orders, "Source")) == "gui_trader"
    row = window.positions_model.rows()[0]
    assert row.position.net_qty == 7
    fill = orders.rows()[0].order.avg_price
    assert row.position.avg_price == fill
    # P&L is exact: (LTP - fill) x qty, as the broker's formula gives for a fresh position
    assert row.pnl == ((row.ltp - fill) * 7).quantize(Decimal("0.01"))
    assert "1 position" in window.positions.total.text()


def test_bad_ticket_input_sends_nothing(window: MainWindow, qtbot: QtBot) -> None:
    window.ticket.symbol.setText("RELIANCE")
    window.ticket.price.setText("1456.03")
    qtbot.mouseClick(window.ticket.buy, Qt.MouseButton.LeftButton)
    assert "not on RELIANCE-EQ's tick" in window.ticket.message.text()
    window.ticket.price.setText("abc")
    qtbot.mouseClick(window.ticket.sell, Qt.MouseButton.LeftButton)
    assert "not a number" in window.ticket.message.text()
    window.ticket.symbol.setText("NOSUCH")
    window.ticket.price.setText("")
    qtbot.mouseClick(window.ticket.buy, Qt.MouseButton.LeftButton)
    assert "unknown symbol" in window.ticket.message.text()
    assert window.engine is not None and window.engine.orders == {}


def test_limit_order_modify_then_cancel(window: MainWindow, qtbot: QtBot, run: Runner) -> None:
    engine = window.engine
    assert engine is not None
    outcome = run(engine.place(engine.request("INFY", Side.BUY, 3, Decimal("1400.00"))))
    shown(window, qtbot, lambda: window.orders_model.rowCount() == 1)
    status, price = col(window.orders_model, "Status"), col(window.orders_model, "Price")
    assert cell(window.orders_model, 0, status) == "open"
    assert cell(window.orders_model, 0, price) == "1,400.00"
    run(engine.modify(outcome.order_id, price=Decimal("1399.50")))
    shown(window, qtbot, lambda: cell(window.orders_model, 0, price) == "1,399.50")
    orders_filter = window.orders.proxy
    assert isinstance(orders_filter, OrdersFilter)
    orders_filter.set_open_only(True)
    assert window.orders.proxy.rowCount() == 1
    window.orders.table.selectRow(0)
    window.orders.cancel_selected()
    shown(window, qtbot, lambda: cell(window.orders_model, 0, status) == "cancelled")
    assert window.orders.proxy.rowCount() == 0  # the open filter hides it now
    assert engine.orders[outcome.order_id].status is OrderStatus.CANCELLED


def test_cancel_all_open_and_exit_position(window: MainWindow, qtbot: QtBot, run: Runner) -> None:
    engine = window.engine
    assert engine is not None
    for price in ("1300.00", "1310.00"):
        run(engine.place(engine.request("RELIANCE", Side.BUY, 1, Decimal(price))))
    run(engine.place(engine.request("ITC", Side.BUY, 10)))
    window.cancel_all_open()
    shown(window, qtbot, lambda: not engine.open_orders() and len(engine.orders) == 3)
    statuses = sorted(r.order.status.value for r in window.orders_model.rows())
    assert statuses == ["cancelled", "cancelled", "complete"]
    [itc] = [r.position for r in window.positions_model.rows()]
    window.exit_position(itc)
    shown(window, qtbot, lambda: window.positions_model.rows()[0].position.net_qty == 0)
    exit_tags = [r.order.tag for r in window.orders_model.rows() if r.order.tag.startswith("X")]
    assert len(exit_tags) == 1


def test_exit_is_sliced_at_the_freeze_quantity(window: MainWindow) -> None:
    from gui_trader.core.portfolio import Position

    engine = window.engine
    assert engine is not None and engine.instruments is not None
    ce = next(i for i in engine.instruments.all if i.option_type == "CE")
    short = Position(
        ce.trading_symbol, ce.segment, ce.token, "NRML", 0, 167 * 75, Decimal(0), Decimal(1_000_000)
    )
    plan = engine.exit_plan(short)
    assert [r.qty for r in plan] == [1800] * 6 + [1725]
    assert all(r.side.value == "B" and r.qty % 75 == 0 for r in plan)


def test_external_orders_are_marked(window: MainWindow, qtbot: QtBot, run: Runner) -> None:
    from gui_trader.core.order import OrderRequest

    engine = window.engine
    assert engine is not None
    inst = engine.instrument("TITAN")
    run(engine.ctx.broker.place(OrderRequest(inst, Side.BUY, 1, tag="WEB123")))  # not journaled
    run(engine.refresh())
    window.drain()
    assert window.orders_model.rowCount() == 1
    assert cell(window.orders_model, 0, col(window.orders_model, "Tag")) == "WEB123"
    assert cell(window.orders_model, 0, col(window.orders_model, "Source")) == "external"


def test_every_model_passes_the_model_tester(
    window: MainWindow, qtbot: QtBot, run: Runner, qtlog: Any
) -> None:
    for m in (
        window.orders_model,
        window.positions_model,
        window.holdings_model,
        window.watch_model,
        window.log_model,
        window.orders.proxy,
        window.log_pane.proxy,
        window.positions.proxy,
    ):
        under_test(m)
    engine = window.engine
    assert engine is not None
    run(engine.place(engine.request("SBIN", Side.BUY, 2)))
    run(engine.place(engine.request("INFY", Side.BUY, 1, Decimal("1400.00"))))
    window.add_watch("TATASTEEL")
    shown(window, qtbot, lambda: window.watch_model.rowCount() == 6)
    first = window.watch_model.keys()[0]
    window.remove_watch(first)
    assert window.watch_model.rowCount() == 5 and first not in set(window.watch_model.keys())
    window.log_model.cap = 10
    for i in range(30):
        logging.getLogger("gui_trader.test").warning("line %d", i)
    window.drain()
    assert 10 <= window.log_model.rowCount() <= 11  # trimmed to the cap, in chunks of 10 %
    assert cell(window.log_model, window.log_model.rowCount() - 1, 3) == "line 29"
    log_filter = window.log_pane.proxy
    assert isinstance(log_filter, LogFilter)
    log_filter.set_search("line 2")
    matches = [cell(log_filter, r, 3) for r in range(log_filter.rowCount())]
    assert matches and all("line 2" in m for m in matches)
    log_filter.set_level("ERROR")
    assert log_filter.rowCount() == 0  # they are warnings
    run(engine.cancel_all_open())
    window.drain()
    no_model_failures(qtlog)


def test_a_burst_costs_one_change_signal_per_row_run(window: MainWindow) -> None:
    """500 quote updates in one frame: cells change, one dataChanged per run of rows."""
    model = window.watch_model
    window.drain()
    signals: list[object] = []
    model.dataChanged.connect(lambda a, b: signals.append((a.row(), b.row())))
    keys = model.keys()
    assert len(keys) == 5
    for i in range(100):
        for k in keys:
            seg, tok = k.split("|")
            window.hub.publish(QuotesUpdated((Quote(seg, tok, k, Decimal(100 + i)),)))
    window.drain()  # one frame
    assert signals == [(0, len(keys) - 1)]
    assert [cell(model, r, 1) for r in range(len(keys))] == ["199.00"] * len(keys)


def test_layout_columns_and_sort_are_remembered(
    window: MainWindow, qtbot: QtBot, run: Runner, home: Path
) -> None:
    window.orders.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
    number = col(window.orders_model, "Order no")  # not the one that stretches
    window.orders.table.setColumnWidth(number, 211)
    window.docks["log"].raise_()
    window.docks["watchlist"].hide()
    window.close()
    assert (home / "window.ini").exists()
    again = MainWindow()
    qtbot.addWidget(again)
    header = again.orders.table.horizontalHeader()
    assert header.sortIndicatorSection() == 3
    assert again.orders.table.columnWidth(number) == 211
    assert not again.docks["watchlist"].isVisibleTo(again)
    again.reset_layout()
    assert again.docks["watchlist"].isVisibleTo(again)
    run(again.shutdown())


def test_csv_export_and_clean_close(
    window: MainWindow, qtbot: QtBot, run: Runner, tmp_path: Path
) -> None:
    engine = window.engine
    assert engine is not None
    run(engine.place(engine.request("SBIN", Side.BUY, 2)))
    window.drain()
    n = run(window.export_csv("orders", tmp_path / "orders.csv"))
    text = (tmp_path / "orders.csv").read_text()
    assert n == 1 and text.startswith("Time,Symbol,Side") and "SBIN-EQ" in text
    run(window.export_csv("positions", tmp_path / "positions.csv"))
    assert "SBIN-EQ" in (tmp_path / "positions.csv").read_text()
    broker = engine.ctx.broker
    assert isinstance(broker, NeoClient)  # paper mode is the real client (on the simulator)
    assert not broker.http.is_closed
    window.close()
    assert window.closed.is_set()
    run(window.shutdown())
    assert window.engine is None
    assert broker.http.is_closed


def test_switching_accounts_and_a_live_start_error_in_trader_words(
    window: MainWindow, qtbot: QtBot, run: Runner, home: Path
) -> None:
    from gui_trader.config import AccountConfig, Config

    config = Config.load(home / "config.toml")
    config.accounts["main"] = AccountConfig("main", "+919999999999", "AB1", "http://127.0.0.1:9")
    config.save()
    window._fill_account_menu()
    run(window.switch("main", paper=False))  # no secrets in the keyring for it
    window.drain()
    assert window.engine is None
    assert "has no consumer_key" in window.status.session.text()
    assert not window.ticket.buy.isEnabled()
    run(window.switch(None, paper=True))
    shown(window, qtbot, lambda: window.holdings_model.rowCount() == 6)
    assert window.status.mode.text() == "PAPER" and window.ticket.buy.isEnabled()


def test_broker_errors_are_explained() -> None:
    from gui_trader.broker.base import LoginFailed, Rejected, Unreachable
    from gui_trader.engine.trading import explain

    assert explain(LoginFailed("login refused: Invalid TOTP")).startswith("Wrong TOTP code")
    assert explain(LoginFailed("login refused: Invalid MPIN")) == "Wrong MPIN."
    assert "another IP" in explain(Rejected("session ip mismatch (1037)", 1037))
    assert "cannot be reached" in explain(Unreachable("orders: ConnectError"))


def test_straddle_panel_arm_fire_and_every_leg_reported(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    panel = window.straddle
    assert panel.underlying.currentText() == "NIFTY" and panel.expiry.count() == 2
    assert panel.chain.rowCount() == 51
    panel.lots.setValue(167)
    panel.batch.setValue(20)
    panel.delay.setValue(0)
    assert not panel.fire.isEnabled()  # nothing can fire before it is armed
    qtbot.mouseClick(panel.arm, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.fire.isEnabled(), timeout=10_000)
    assert panel.batches.rowCount() == 9 and "12,525 per leg" in panel.plan_text.text()
    assert panel.fire.text() == "FIRE 9 batches"
    qtbot.mouseClick(panel.fire, Qt.MouseButton.LeftButton)
    shown(window, qtbot, lambda: "Call 9/9" in panel.result.text(), timeout=15_000)
    assert "Put 9/9" in panel.result.text() and "IMBALANCE" not in panel.result.text()
    cells = [panel.batches.item(r, c) for r in range(9) for c in (2, 3)]
    assert all(c is not None and "filled @" in c.text() for c in cells)
    assert panel.progress.value() == 9
    assert panel.chart is not None
    assert not panel.abort.isEnabled() and panel.arm.isEnabled()


def test_monitor_pane_and_chart(window: MainWindow, qtbot: QtBot, run: Runner, qtlog: Any) -> None:
    under_test(window.monitor_model)
    window.monitor_pane.interval.setValue(3600)
    qtbot.mouseClick(window.monitor_pane.start, Qt.MouseButton.LeftButton)
    shown(window, qtbot, lambda: window.monitor_model.rowCount() == 6, timeout=15_000)
    actions = {r.symbol: r.action for r in window.monitor_model.rows()}
    # A sell whose EMA9 the paper price is already above fills at once: "filled" is a
    # placed order too (the paper market's prices move with the time of day).
    assert set(actions.values()) <= {"placed", "skipped", "filled"}
    assert {"placed", "filled"} & set(actions.values())
    assert window.monitor_pane.stop.isEnabled()
    qtbot.waitUntil(lambda: window.charts.chart is not None, timeout=15_000)
    window.charts.show_symbol("RELIANCE-EQ")
    qtbot.waitUntil(
        lambda: window.charts.chart.symbol == "RELIANCE-EQ" and len(window.charts.chart.bars) > 60,
        timeout=15_000,
    )
    assert len(window.charts.chart.emas) == len(window.charts.chart.bars)
    assert window.charts.chart.order_line.isVisible() == (actions["RELIANCE-EQ"] == "placed")
    window.charts.chart.update_live(window.charts.chart.bars[-1].close + 1)
    window.monitor_pane.stop.click()
    shown(window, qtbot, lambda: window.monitors.monitor is None, timeout=10_000)
    assert window.monitor_pane.start.isEnabled()
    assert not window.monitor_pane.stop.isEnabled()
    no_model_failures(qtlog)


def test_the_ticket_symbol_shows_its_book_and_the_feed_state_is_in_view(
    window: MainWindow, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None
    assert window.ticket.book.isHidden()  # no symbol yet
    window.pick_symbol("SBIN")
    assert engine.depth_key == engine.instrument("SBIN").key
    run(engine.refresh())  # the REST quote carries the 5-level book while the feed is down
    window.drain()
    book = window.ticket.book
    assert not book.isHidden()

    def price(r: int, c: int) -> Decimal:
        item = book.item(r, c)
        assert item is not None
        return Decimal(item.text().replace(",", ""))

    bids = [price(r, 1) for r in range(5)]
    asks = [price(r, 2) for r in range(5)]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    quote = engine.quotes[engine.depth_key]
    assert (quote.bid, quote.ask) == (bids[0], asks[0])
    window.hub.publish(FeedState("live", "live"))
    window.drain()
    assert window.status.feed.text() == "feed live"
    window.hub.publish(FeedState("reconnecting", "live", 2))
    window.drain()
    assert window.status.feed.text() == "reconnecting (2)"
    window.hub.publish(FeedState("reconnecting", "reconnecting", 7))
    window.drain()
    assert window.status.feed.text() == "polling"


def test_feed_ticks_reach_the_watchlist_and_the_status_bar(
    window: MainWindow, qtbot: QtBot
) -> None:
    """The paper service serves the broker's feeds: the window's rows move on ticks."""
    engine = window.engine
    assert engine is not None and engine.feed is not None
    feed = engine.feed
    shown(window, qtbot, lambda: feed.market_live and feed.orders_live, timeout=15_000)
    assert window.status.feed.text() == "feed live"
    sbin = engine.instrument("SBIN").key
    row = window.watch_model.row(sbin)
    assert row is not None

    def fed() -> bool:
        current = window.watch_model.row(sbin)
        return current is not None and current.quote is not None and current.quote.source == "feed"

    shown(window, qtbot, fed, timeout=15_000)
    quote = window.watch_model.row(sbin).quote  # type: ignore[union-attr]
    assert quote is not None and quote.bid > 0 and quote.ask >= quote.bid


def test_signals_panel_plans_then_fires_to_every_account_of_a_group(
    window: MainWindow, qtbot: QtBot, run: Runner, home: Path
) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "GUI_TRADER_HOME": str(home)}
    for name, amount in (("a1", "50000"), ("a2", "20000")):
        for args in (
            ["account", "add", name, "--paper"],
            ["account", "set", name, "--group", "g", "--amount", amount],
        ):
            subprocess.run(
                [sys.executable, "-m", "gui_trader", *args], env=env, check=True, timeout=120
            )
    panel = window.signals
    panel.refresh_groups()
    panel.group.setCurrentIndex(panel.group.findData("g"))
    panel.symbol.setText("HDFCBANK")
    assert not panel.fire_button.isEnabled()  # nothing to fire before a plan
    panel.plan()
    qtbot.waitUntil(lambda: panel.fire_button.isEnabled(), timeout=30_000)
    planned = {cell(panel.grid.model(), r, 0): cell(panel.grid.model(), r, 1) for r in range(2)}
    assert planned == {"a1": "planned", "a2": "planned"}
    panel.symbol.setText("HDFCBANK ")  # any change after the plan: plan again first
    assert not panel.fire_button.isEnabled()
    panel.symbol.setText("HDFCBANK")
    panel.plan()
    qtbot.waitUntil(lambda: panel.fire_button.isEnabled(), timeout=30_000)
    panel.fire()
    qtbot.waitUntil(lambda: panel.summary.text().startswith("Placed"), timeout=30_000)
    rows = {
        cell(panel.grid.model(), r, 0): (
            cell(panel.grid.model(), r, 1),
            cell(panel.grid.model(), r, 3),
        )
        for r in range(2)
    }
    assert {k: v[0] for k, v in rows.items()} == {"a1": "placed", "a2": "placed"}
    assert all(v[1] for v in rows.values())  # order numbers shown
    assert panel.summary.text().startswith("Placed 2, skipped 0, failed 0")
    window.drain()  # each account's run message on the desktop: the status bar (and tray)
    assert "a2: 1 placed, 0 skipped, 0 failed" in window.status.notice.text()
