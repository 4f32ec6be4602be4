"""A theme switch repaints every widget at once, both ways, the chart included: colours are
sampled from the window as drawn, not read back from settings."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from gui_trader.gui.main_window import MainWindow


def pixel(image: QImage, window: MainWindow, widget: QWidget, x: float, y: float) -> QColor:
    """The colour drawn at (x, y) as fractions of the widget's size, in the window's grab."""
    at = widget.mapTo(window, QPoint(int(widget.width() * x), int(widget.height() * y)))
    ratio = image.devicePixelRatio()
    return image.pixelColor(int(at.x() * ratio), int(at.y() * ratio))


def backgrounds(window: MainWindow) -> dict[str, QColor]:
    """Empty background of each pane as painted now."""
    window.docks["holdings"].raise_()
    QApplication.processEvents()
    image = window.grab().toImage()
    chart = window.charts.chart
    assert chart is not None
    return {
        "chart": pixel(image, window, chart.graphics.viewport(), 0.02, 0.05),
        "ticket": pixel(image, window, window.ticket, 0.5, 0.97),
        "holdings table": pixel(image, window, window.holdings.table.viewport(), 0.98, 0.97),
        "watchlist table": pixel(image, window, window.watchlist.table.viewport(), 0.5, 0.97),
        "status bar": pixel(image, window, window.status, 0.45, 0.1),
        "menu bar": pixel(image, window, window.menuBar(), 0.9, 0.5),
    }


def test_the_theme_switch_repaints_every_widget_both_ways(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: window.charts.chart is not None, timeout=10_000)
    window.set_dark(False)
    light = backgrounds(window)
    assert {k: c.lightness() > 180 for k, c in light.items()} == dict.fromkeys(light, True)

    window.set_dark(True)
    dark = backgrounds(window)
    assert {k: c.lightness() < 80 for k, c in dark.items()} == dict.fromkeys(dark, True)

    window.set_dark(False)  # and back: nothing keeps a dark colour
    again = backgrounds(window)
    assert {k: c.lightness() > 180 for k, c in again.items()} == dict.fromkeys(again, True)


def test_disabled_controls_look_disabled_in_the_dark_theme(window: MainWindow) -> None:
    window.set_dark(True)
    palette = QApplication.palette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for r in (role.ButtonText, role.Text, role.WindowText):
        enabled, disabled = palette.color(group.Active, r), palette.color(group.Disabled, r)
        assert abs(enabled.lightness() - disabled.lightness()) > 60, r
    window.set_dark(False)


def test_coloured_text_follows_the_theme(window: MainWindow) -> None:
    """The ticket's error line is readable on either background."""
    window.ticket.say("not placed: test", error=True)
    for dark in (True, False):
        window.set_dark(dark)
        QApplication.processEvents()
        background = QApplication.palette().color(QPalette.ColorRole.Window)
        style = window.ticket.message.styleSheet()
        assert "color: #" in style
        colour = QColor(style.split("color: ")[1][:7])
        assert abs(colour.lightness() - background.lightness()) > 70, (dark, style)
    window.set_dark(False)
