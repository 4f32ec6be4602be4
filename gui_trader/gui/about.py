"""Help -> About: which build the trader runs, for a bug report or a support call."""

from __future__ import annotations

import platform
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

from gui_trader.cli.version import app_version

__all__ = ["about_text", "show_about"]


def about_text(version: str | None = None) -> str:
    """Plain text with the app's version first, then what it runs on."""
    v = version or app_version()
    return (
        f"gui_trader {v}\n"
        "Desktop trading monitor for Kotak Neo; paper trading by default.\n\n"
        f"Python {platform.python_version()} on {sys.platform}\n"
        f"Qt {qVersion()}, PySide6 {pyside_version}"
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(parent, "About gui_trader", about_text())
