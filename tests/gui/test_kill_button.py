"""The window's kill switch: the red KILL button (and Ctrl+Shift+K) asks once, cancels and
closes everything through the engine, and the risk strip says BLOCKED until orders are
allowed again."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from gui_trader.config import Config
from gui_trader.core.order import OrderStatus, Product, Side
from gui_trader.core.risk_limits import RiskLimits
from gui_trader.engine.order_desk import TradingBlocked
from gui_trader.gui.main_window import MainWindow
from tests.gui.conftest import Runner


def test_kill_button_asks_once_flattens_and_shows_blocked_until_reset(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None
    run(engine.place(engine.request("ITC", Side.BUY, 10, product=Product.MIS)))
    run(engine.place(engine.request("RELIANCE", Side.BUY, 1, Decimal("1300.00"))))
    run(engine.refresh())
    assert any(p.net_qty for p in engine.positions) and engine.open_orders()
    asked: list[str] = []

    def confirm(title: str, text: str) -> bool:
        asked.append(title)
        return len(asked) > 1  # the first press is declined: nothing happens

    window.confirm = confirm  # type: ignore[method-assign]
    kill = window.status.kill
    assert kill.isEnabled() and kill.text() == "KILL"
    qtbot.mouseClick(kill, Qt.MouseButton.LeftButton)
    assert asked == ["KILL SWITCH"] and not engine.risk.running and not engine.risk.blocked
    assert window.kill_action.shortcut() == QKeySequence("Ctrl+Shift+K")
    window.kill_action.trigger()  # what the shortcut does
    assert asked == ["KILL SWITCH", "KILL SWITCH"]  # asked once per press
    qtbot.waitUntil(lambda: engine.risk.blocked and not engine.risk.running, timeout=15_000)
    qtbot.waitUntil(lambda: "BLOCKED" in window.status.risk.text(), timeout=5_000)
    run(engine.refresh())
    assert not any(p.net_qty for p in engine.positions)
    assert not engine.open_orders()
    kills = [o for o in engine.orders.values() if o.tag.startswith("K")]
    assert [(o.trading_symbol, o.side, o.status) for o in kills] == [
        ("ITC-EQ", Side.SELL, OrderStatus.COMPLETE)
    ]
    assert "kill switch (window)" in window.status.risk.toolTip()
    # blocked: the ticket's buy is refused, nothing sent
    count = len(engine.orders)
    try:
        run(engine.place(engine.request("ITC", Side.BUY, 1)))
        raise AssertionError("a blocked account placed an order")
    except TradingBlocked as exc:
        assert "trading blocked for today on paper" in str(exc)
    assert len(run(engine.read_orders())) == count
    # allowed again from the Trade menu
    window.reset_risk()
    qtbot.waitUntil(lambda: "BLOCKED" not in window.status.risk.text(), timeout=5_000)
    assert run(engine.place(engine.request("ITC", Side.BUY, 1))).ok


def test_the_risk_strip_shows_mtm_against_the_limits(window: MainWindow, run: Runner) -> None:
    engine = window.engine
    assert engine is not None
    config = Config.load(window.paths.config)  # as `gui-trader risk set` leaves it
    config.set_risk("paper", RiskLimits(Decimal(25000), Decimal(50000), time(15, 15)))
    config.save()
    run(engine.risk.refresh())  # what the engine's watch does every second
    window.show_risk()
    text = window.status.risk.text()
    assert text.startswith("MTM ") and text.endswith(
        " / -₹25,000.00 / +₹50,000.00 · square-off 15:15"
    )
