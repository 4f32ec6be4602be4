"""The window uses the screen: it opens at the available size, the chart gets the width, the
ticket column what its form needs, and a long message never widens it past a laptop screen."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui_trader.gui.main_window import MainWindow


def test_the_first_window_takes_the_screen_and_the_ticket_column_less(
    window: MainWindow, qtbot: QtBot
) -> None:
    screen = QApplication.primaryScreen()
    assert screen is not None
    avail = screen.availableGeometry()
    assert not window.remembered  # a fresh data folder: nothing to restore
    assert window.width() >= min(avail.width(), 1366) - 2
    window.resize(1366, 768)
    window.default_sizes()
    QApplication.processEvents()
    ticket, chart = window.docks["ticket"].width(), window.docks["chart"].width()
    assert ticket <= 0.3 * 1366 and chart > ticket


def test_a_long_message_never_widens_the_window(window: MainWindow) -> None:
    window.status.notify("Rejected: " + "a very long broker reason " * 20)
    window.ticket.say("not placed: " + "a very long broker reason " * 20, error=True)
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= 1366
    assert window.status.notice.toolTip().startswith("Rejected: ")
