"""Help -> About names the version the trader runs."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from gui_trader.cli.version import app_version
from gui_trader.gui.about import about_text
from gui_trader.gui.main_window import MainWindow


def test_about_text_starts_with_the_version() -> None:
    assert about_text().splitlines()[0] == f"gui_trader {app_version()}"


def test_help_about_shows_the_version(window: MainWindow) -> None:
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    assert "&Help" in menus
    help_menu = menus["&Help"]
    assert isinstance(help_menu, QMenu) and window.about_action in help_menu.actions()
    seen: list[str] = []

    def read_and_close() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(box.text())
        box.accept()

    QTimer.singleShot(0, read_and_close)
    window.about_action.trigger()  # modal: returns once the box is closed
    assert seen and f"gui_trader {app_version()}" in seen[0]
