"""The order ticket follows the order it sent: filled or rejected, the line says so and stays."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui_trader.gui.main_window import MainWindow


def test_the_ticket_says_filled_when_the_order_fills(window: MainWindow, qtbot: QtBot) -> None:
    window.ticket.symbol.setText("SBIN")
    window.ticket.qty.setValue(3)
    qtbot.mouseClick(window.ticket.buy, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "complete" in window.ticket.message.text(), timeout=10_000)
    text = window.ticket.message.text()
    assert text.startswith("BUY 3 SBIN-EQ: order ") and "(open)" not in text
    assert " at " in text  # the average fill price
    assert window.ticket.following is None  # a finished order is no longer followed


def test_a_rejection_keeps_its_reason(window: MainWindow, qtbot: QtBot) -> None:
    window.ticket.symbol.setText("HDFCBANK")  # not held: a CNC sell is refused by the RMS
    window.ticket.qty.setValue(5)
    qtbot.mouseClick(window.ticket.sell, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "rejected" in window.ticket.message.text(), timeout=10_000)
    text = window.ticket.message.text()
    assert text.startswith("SELL 5 HDFCBANK-EQ: order ") and "rejected: " in text
    reason = text.split("rejected: ", 1)[1]
    assert reason and reason != "no reason given by the broker"
    assert window.ticket._error
    # later events (a quote, the books re-read, a notice) leave the reason in place
    window.drain()
    window.spawn(window._refresh(), "refresh")
    qtbot.waitUntil(lambda: not window.tasks, timeout=10_000)
    window.drain()
    assert window.ticket.message.text() == text
