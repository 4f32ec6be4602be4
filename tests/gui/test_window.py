"""The window opens in paper mode on the qasync loop, shows the paper account, closes cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import qasync
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui_trader.gui.main_window import MainWindow


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """A qasync loop driven by Qt's own loop while qtbot waits (sync tests only: STACK-NOTES)."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    qapp.processEvents()
    loop.stop()
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)


def wait_for(qtbot: QtBot, loop: qasync.QEventLoop, coro: object) -> object:
    task = loop.create_task(coro)  # type: ignore[arg-type]
    qtbot.waitUntil(task.done, timeout=15_000)
    return task.result()


def test_window_opens_in_paper_mode_and_shows_the_account(
    qtbot: QtBot, qloop: qasync.QEventLoop
) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    wait_for(qtbot, qloop, window.start(account=None, paper=False, login_url=None))
    assert window.mode.text() == "PAPER"
    assert window.ctx is not None and window.ctx.paper is not None
    assert window.holdings.rowCount() == 6  # the demo portfolio
    symbols = {window.holdings.item(r, 0).text() for r in range(6)}
    assert {"RELIANCE", "INFY", "SBIN"} <= symbols
    assert "available" in window.funds.text()

    # an order placed through the engine shows up after the next refresh
    from gui_trader.core.order import OrderRequest, Side

    async def buy() -> None:
        assert window.ctx is not None
        store = await window.ctx.instruments()
        await window.ctx.desk.place(OrderRequest(store.resolve("SBIN"), Side.BUY, 4))
        await window.refresh()

    wait_for(qtbot, qloop, buy())
    assert window.positions.rowCount() == 1
    assert window.positions.item(0, 0).text() == "SBIN-EQ"
    assert window.orders.item(0, 8).text() == "complete"
    wait_for(qtbot, qloop, window.shutdown())
    window.close()
    assert window.closed.is_set()
