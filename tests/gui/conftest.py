from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui_trader.gui.main_window import MainWindow

_LOOP: qasync.QEventLoop | None = None


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """One qasync loop for every GUI test, driven by Qt's loop while qtbot waits.

    A fresh `QEventLoop(already_running=True)` per test stops stepping tasks from the second
    test on (seen here), so the loop lives for the session, as it does in the app; each test
    cancels what it left behind. Sync tests only: qtbot waits inside async tests hang
    (STACK-NOTES).
    """
    global _LOOP
    if _LOOP is None:
        _LOOP = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(_LOOP)
    asyncio.events._set_running_loop(_LOOP)
    yield _LOOP
    for task in asyncio.all_tasks(_LOOP):
        task.cancel()
    qapp.processEvents()
    # other tests use asyncio.run: the Qt loop must not look like it is still running
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture(scope="session", autouse=True)
def _close_session_loop() -> Iterator[None]:
    yield
    if _LOOP is not None:
        _LOOP.stop()
        _LOOP.close()  # also joins the loop's executor threads


class Runner:
    def __init__(self, qtbot: QtBot, loop: qasync.QEventLoop) -> None:
        self.qtbot, self.loop = qtbot, loop

    def __call__(self, coro: Any, timeout: int = 15_000) -> Any:
        task = self.loop.create_task(coro)
        try:
            self.qtbot.waitUntil(task.done, timeout=timeout)
        except Exception:
            for t in asyncio.all_tasks(self.loop):
                t.print_stack(limit=8)
            raise
        return task.result()


@pytest.fixture
def run(qtbot: QtBot, qloop: qasync.QEventLoop) -> Runner:
    return Runner(qtbot, qloop)


async def yes(title: str, text: str) -> bool:
    return True


def why_not_started(home: Path) -> str:
    """The app's and the paper service's last log lines: a failed start says why in the report."""
    lines: list[str] = []
    for log in [*sorted((home / "logs").glob("*.log")), home / "paper" / "exchange.log"]:
        if log.exists():
            lines += [f"{log.name}: {line}" for line in log.read_text().splitlines()[-15:]]
    return "\n".join(lines) or "no logs"


@pytest.fixture
def window(qtbot: QtBot, run: Runner, home: Path) -> Iterator[MainWindow]:
    """The real window in paper mode, confirmations answered yes."""
    w = MainWindow()
    w.confirm = lambda title, text: True  # type: ignore[method-assign]
    w.ask = yes  # type: ignore[method-assign]
    w.show()
    assert run(w.start(paper=True)), (
        f"{w.ticket.message.text()} (data folder {w.paths.root})\n{why_not_started(home)}"
    )
    yield w
    run(w.shutdown())
    w.close()
    w.deleteLater()
