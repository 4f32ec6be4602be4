"""Launch shows the window's frame before the panes' modules are imported, then builds them:
the frame must already be the final layout, and the built window the same as one built at once
(issue 16: launch to window shown)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QScrollArea, QWidget
from pytestqt.qtbot import QtBot

from gui_trader.cli import window_only
from gui_trader.gui.main_window import MainWindow
from tests.gui.conftest import Runner, why_not_started, yes

ROOT = Path(__file__).resolve().parents[2]
# What the window's first frame must not wait for: the engine, the grammar of the commands,
# the panes (and through them pandas, pyqtgraph, httpx), and what reading config.toml used to
# pull in (the order model through the guards, the risk limits, the TOML writer).
HEAVY = (
    "gui_trader.cli.args",
    "gui_trader.core.order",
    "gui_trader.core.risk_limits",
    "gui_trader.engine.order_guards",
    "gui_trader.engine.events",
    "gui_trader.engine.journal",
    "gui_trader.engine.straddle",
    "gui_trader.gui.models",
    "gui_trader.gui.panes",
    "gui_trader.gui.straddle_panel",
    "gui_trader.gui.order_ticket",
    "gui_trader.gui.status_bar",
    "httpx",
    "pandas",
    "pyqtgraph",
    "tomli_w",
)


def test_the_frame_imports_nothing_heavy(tmp_path: Path) -> None:
    """The modules loaded by the time the window is shown (same imports as launch, fresh
    interpreter): a new top-level import of a pane or the engine shows up here."""
    code = (
        "import json, sys\n"
        "from gui_trader.cli import main\n"
        "from gui_trader.gui import launch\n"
        "from gui_trader.gui.main_window import MainWindow\n"
        "from gui_trader.gui.single_instance import SingleInstance\n"
        "from gui_trader.config import Paths\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "assert SingleInstance(Paths.resolve().root).claim()\n"
        "w = MainWindow(staged=True)\n"
        "w.show()\n"
        "app.processEvents()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "GUI_TRADER_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert sorted(loaded & set(HEAVY)) == []


def test_launch_shows_the_frame_then_builds_then_starts(tmp_path: Path) -> None:
    """The real start-up, in order: shown, built, engine ready, then File -> Quit: exit 0."""
    env = {
        **os.environ,
        "GUI_TRADER_HOME": str(tmp_path),
        "GUI_TRADER_STARTUP_PROBE": "quit",
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-m", "gui_trader", "--paper"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    lines = [line.split(" after ")[0] for line in out.stdout.splitlines() if " after " in line]
    assert lines == ["window shown", "window built", "engine ready"], out.stdout
    assert "(CPU " in out.stdout


def test_the_frame_has_the_layout_and_build_puts_every_pane_in(
    qtbot: QtBot, run: Runner, home: Path
) -> None:
    w = MainWindow(staged=True)
    qtbot.addWidget(w)
    w.show()
    docks = ["watchlist", "chart", "ticket", "straddle", "signals"]
    docks += ["positions", "holdings", "orders", "monitor", "log"]
    assert list(w.docks) == docks
    assert all(d.isVisibleTo(w) for d in w.docks.values())
    assert not hasattr(w, "ticket")  # only the frame so far
    assert w.menuBar().actions()[0].text() == "&File"
    assert w.quit_action.shortcut().toString() == "Ctrl+Q"
    frame = {n: d.geometry() for n, d in w.docks.items()}

    w.build()
    w.build()  # twice: nothing built again
    assert w.docks["ticket"].widget() is w.ticket
    assert w.docks["positions"].widget() is w.positions
    assert w.docks["log"].widget() is w.log_pane
    assert w.docks["chart"].widget() is w.charts.box
    scroller = w.docks["straddle"].widget()
    assert isinstance(scroller, QScrollArea) and scroller.widget() is w.straddle
    assert w.statusBar() is w.status
    assert w.summary.parent() is not None and w.drain_timer.isActive()
    # the docks kept their places (tabs and splits), not moved by the panes going in
    assert w.tabifiedDockWidgets(w.docks["positions"]) == [
        w.docks[n] for n in ("holdings", "orders", "monitor", "log")
    ]
    assert frame.keys() == w.docks.keys()
    w.confirm = lambda title, text: True  # type: ignore[method-assign]
    w.ask = yes  # type: ignore[method-assign]
    assert run(w.start(paper=True)), why_not_started(home)
    assert w.watch_model.rowCount() > 0
    run(w.shutdown())
    w.close()


def test_a_staged_window_comes_back_as_it_was_left(qtbot: QtBot, run: Runner, home: Path) -> None:
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.orders.table.setColumnWidth(2, 213)
    first.docks["watchlist"].hide()
    first.docks["log"].raise_()
    first.close()  # saves the layout
    run(first.shutdown())

    again = MainWindow(staged=True)
    qtbot.addWidget(again)
    again.show()
    assert not again.docks["watchlist"].isVisibleTo(again)  # the frame has the saved layout
    again.build()
    assert again.orders.table.columnWidth(2) == 213  # and the built panes their columns
    assert not again.docks["watchlist"].isVisibleTo(again)
    assert isinstance(again.docks["log"].widget(), QWidget)
    run(again.shutdown())


def test_closed_before_its_panes_go_in_it_closes_in_order(qtbot: QtBot, run: Runner) -> None:
    """Closing the frame before build() (a fast click on X) saves the layout and ends the
    launch; nothing asks about a straddle or monitor that cannot exist yet."""
    w = MainWindow(staged=True)
    qtbot.addWidget(w)
    w.show()
    w.docks["watchlist"].hide()
    w.close()
    assert w.closed.is_set() and not w.isVisible()
    w.build()  # launch still builds, then shuts down
    run(w.shutdown())
    again = MainWindow(staged=True)
    qtbot.addWidget(again)
    assert not again.docks["watchlist"].isVisibleTo(again)  # the layout was saved
    again.build()
    run(again.shutdown())


def test_built_in_stages_it_is_laid_out_as_one_built_at_once(qtbot: QtBot, run: Runner) -> None:
    windows = [MainWindow(), MainWindow(staged=True)]
    for w in windows:
        qtbot.addWidget(w)
        w.resize(1366, 738)
        w.show()
        qtbot.waitExposed(w)
    windows[1].build()
    for w in windows:
        w.default_sizes()  # what the first show of a window with no saved layout does
    qtbot.wait(1)  # one pass of the event loop: both lay out
    once, staged = ({n: d.geometry() for n, d in w.docks.items()} for w in windows)
    for name, rect in once.items():  # the same places, to a pixel or two of rounding
        got = staged[name]
        assert abs(got.x() - rect.x()) <= 2 and abs(got.y() - rect.y()) <= 2, name
        assert abs(got.width() - rect.width()) <= 2, name
        assert abs(got.height() - rect.height()) <= 2, name
    for w in windows:
        run(w.shutdown())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {}),
        (["gui"], {}),
        (["--paper"], {"paper": True}),
        (["--account", "kotak1", "-v"], {"account": "kotak1", "verbose": True}),
        (
            ["gui", "--account=kotak1", "--login-url", "http://x"],
            {"account": "kotak1", "login_url": "http://x"},
        ),
    ],
)
def test_the_window_s_options_are_read_without_the_grammar(
    argv: list[str], expected: dict[str, object]
) -> None:
    args = window_only(argv)
    assert args is not None
    assert {k: v for k, v in vars(args).items() if k != "command"} == expected
    assert args.command == "gui"


@pytest.mark.parametrize(
    "argv",
    [
        ["quote", "SBIN"],  # a command
        ["--help"],
        ["--version"],
        ["--pap"],  # an abbreviation: argparse's to read
        ["--account"],  # a missing value: argparse says so
        ["--account", "--paper"],
        ["gui", "gui"],
    ],
)
def test_anything_else_goes_to_the_full_parser(argv: list[str]) -> None:
    assert window_only(argv) is None
