"""The window's fat-finger guards: the ticket and the straddle panel refuse hard limits in one
line without asking, and above a soft threshold ask with a dialog naming the order and its
value; what was refused or declined never reaches the paper exchange's book."""

from __future__ import annotations

import math
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from gui_trader.core.limits import MAX_BUFFER_PCT, MAX_LOTS
from gui_trader.core.order import Order
from gui_trader.engine.straddle_plan import spec_problems
from gui_trader.gui import dialogs
from gui_trader.gui.main_window import MainWindow
from tests.gui.conftest import Runner


class Answers:
    """The window's confirm: records every question and gives one answer."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str]] = []

    def __call__(self, title: str, text: str) -> bool:
        self.asked.append((title, text))
        return self.answer


def book(window: MainWindow, run: Runner) -> list[Order]:
    """The paper exchange's order book, read over the wire."""
    engine = window.engine
    assert engine is not None
    return list(run(engine.read_orders()))


def ticket_for(window: MainWindow, run: Runner, symbol: str) -> Decimal:
    """Type the symbol as a trader does; its last price arrives; return it."""
    engine = window.engine
    assert engine is not None
    window.pick_symbol(symbol)
    run(engine.refresh())
    return engine.quotes[engine.instrument(symbol).key].ltp


def test_the_ticket_refuses_a_hard_limit_in_one_line_without_asking(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    answers = Answers(True)
    window.confirm = answers  # type: ignore[method-assign]
    ticket_for(window, run, "RELIANCE")
    window.ticket.qty.setValue(5_000_000)
    qtbot.mouseClick(window.ticket.sell, Qt.MouseButton.LeftButton)
    text = window.ticket.message.text()
    assert text.startswith("SELL 5,000,000 RELIANCE-EQ at market: ") and "\n" not in text
    assert "[guards] max_order_qty" in text and text.endswith("nothing sent")
    assert answers.asked == []
    assert book(window, run) == []


def test_above_a_soft_threshold_the_ticket_asks_naming_the_order_and_its_value(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    ltp = ticket_for(window, run, "RELIANCE")
    qty = math.ceil(Decimal(1_200_000) / ltp)  # about 12 lakh: above the 10 lakh threshold
    window.ticket.qty.setValue(qty)
    declined = Answers(False)
    window.confirm = declined  # type: ignore[method-assign]
    qtbot.mouseClick(window.ticket.buy, Qt.MouseButton.LeftButton)
    [(title, text)] = declined.asked
    assert title == "Confirm large order"
    assert text.startswith(f"BUY {qty:,} RELIANCE-EQ at market, value about Rs ")
    assert "[guards] confirm_order_value" in text
    assert window.ticket.message.text().startswith("not sent")
    assert book(window, run) == []

    accepted = Answers(True)
    window.confirm = accepted  # type: ignore[method-assign]
    sent = Answers(True)

    async def send(title: str, text: str) -> bool:
        return sent(title, text)

    window.ask = send  # type: ignore[method-assign]
    qtbot.mouseClick(window.ticket.buy, Qt.MouseButton.LeftButton)
    assert [t for t, _ in accepted.asked] == ["Confirm large order"]
    qtbot.waitUntil(lambda: bool(sent.asked), timeout=10_000)  # after the margin is read
    [(title, text)] = sent.asked
    assert title == "Send order" and text.startswith(f"BUY {qty:,} RELIANCE-EQ at market, ")
    assert "Value about ₹" in text and "Margin needed ₹" in text
    engine = window.engine
    assert engine is not None
    qtbot.waitUntil(lambda: bool(engine.orders), timeout=10_000)  # placed, then read back
    [order] = book(window, run)
    assert order.qty == qty and order.trading_symbol == "RELIANCE-EQ"


def test_the_question_is_a_real_message_box(window: MainWindow, qtbot: QtBot, run: Runner) -> None:
    """Unpatched: a QMessageBox opens, names the order and its value, and No sends nothing."""
    window.confirm = lambda t, x: dialogs.confirm(window, t, x)  # type: ignore[method-assign]
    ltp = ticket_for(window, run, "SBIN")
    qty = math.ceil(Decimal(1_500_000) / ltp)
    window.ticket.qty.setValue(qty)
    seen: list[str] = []

    def answer_no() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, answer_no)  # not open yet
            return
        seen.append(box.text())
        box.button(QMessageBox.StandardButton.No).click()

    QTimer.singleShot(0, answer_no)
    qtbot.mouseClick(window.ticket.buy, Qt.MouseButton.LeftButton)
    [text] = seen
    assert f"BUY {qty:,} SBIN-EQ at market, value about Rs " in text
    assert book(window, run) == []


def test_the_straddle_panel_refuses_lots_above_the_limit_before_arming(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    answers = Answers(True)
    window.confirm = answers  # type: ignore[method-assign]
    panel = window.straddle
    panel.lots.setValue(500)
    qtbot.mouseClick(panel.arm, Qt.MouseButton.LeftButton)
    assert "500 lots is above your limit of 200" in panel.plan_text.text()
    assert "[guards] max_straddle_lots" in panel.plan_text.text()
    assert panel.plan is None and not panel.fire.isEnabled()
    assert answers.asked == [] and book(window, run) == []


def test_a_large_straddle_names_its_premium_and_why_before_it_fires(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    panel = window.straddle
    panel.lots.setValue(60)
    panel.delay.setValue(0)
    qtbot.mouseClick(panel.arm, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(panel.fire.isEnabled, timeout=10_000)
    declined = Answers(False)
    window.confirm = declined  # type: ignore[method-assign]
    qtbot.mouseClick(panel.fire, Qt.MouseButton.LeftButton)
    [(title, text)] = declined.asked
    assert title == "Fire LARGE straddle"
    assert "premium about Rs " in text and "60 lots is above 50" in text
    assert panel.run is None and book(window, run) == []


def test_the_panels_numbers_have_the_engines_bounds(window: MainWindow) -> None:
    """The spin boxes stop where `--lots` and `--buffer-pct` stop; the plan agrees."""
    panel = window.straddle
    assert panel.lots.maximum() == MAX_LOTS and panel.batch.maximum() == MAX_LOTS
    assert panel.buffer.maximum() == float(MAX_BUFFER_PCT)
    panel.buffer.setValue(25.0)
    spec = panel.spec()
    assert spec.buffer_pct == MAX_BUFFER_PCT and spec_problems(spec) == []
