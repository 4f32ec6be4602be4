"""Quit, SIGTERM and Ctrl-C all end the window through the same orderly shutdown: exit 0,
the layout saved, and quitting while something runs asks first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings, Qt
from pytestqt.qtbot import QtBot

from gui_trader.gui.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]


def _launch(home: Path, probe: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "GUI_TRADER_HOME": str(home),
        "GUI_TRADER_STARTUP_PROBE": probe,  # prints when the window is shown and the engine ready
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "--paper"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _saved_layout(home: Path) -> bool:
    settings = QSettings(str(home / "window.ini"), QSettings.Format.IniFormat)
    return isinstance(settings.value("state"), QByteArray)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_window_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _launch(tmp_path / "home", "1")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("engine ready"):
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert _saved_layout(tmp_path / "home")


def test_file_quit_exits_zero_and_saves_the_layout(tmp_path: Path) -> None:
    proc = _launch(tmp_path / "home", "quit")  # triggers File -> Quit once the engine is ready
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "RuntimeError" not in err
    assert _saved_layout(tmp_path / "home")


def test_a_signal_during_start_up_still_exits_zero(tmp_path: Path) -> None:
    proc = _launch(tmp_path / "home", "1")
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "window shown": the engine is still starting
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "KeyboardInterrupt" not in err


def test_quitting_while_the_monitor_runs_asks_and_says_what_stays(
    window: MainWindow, qtbot: QtBot
) -> None:
    asked: list[str] = []

    def no(title: str, text: str) -> bool:
        asked.append(text)
        return False

    window.confirm = no  # type: ignore[method-assign]
    window.monitors.running = lambda: True  # type: ignore[method-assign]
    window.close()
    assert not window.closed.is_set()  # "no" keeps the window open
    assert len(asked) == 1 and "limit sells stay at the broker" in asked[0]
    window.quit_now()  # a signal does not ask
    assert window.closed.is_set() and len(asked) == 1


def test_quit_shortcut_works_from_any_dock(window: MainWindow) -> None:
    assert window.quit_action.shortcutContext() == Qt.ShortcutContext.ApplicationShortcut
    assert not window.quit_action.shortcut().isEmpty()
