"""Dialogs a trader answers: they name the order, show its value and margin, keep what was
typed when something is wrong and say why inside themselves."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtWidgets import QDialogButtonBox, QLabel
from pytestqt.qtbot import QtBot

from gui_trader.core.display import rupees
from gui_trader.core.money import round_to_tick
from gui_trader.core.order import OrderStatus, OrderType, Side
from gui_trader.core.portfolio import MarginCheck
from gui_trader.gui import dialogs
from gui_trader.gui.main_window import MainWindow
from tests.gui.conftest import Runner


def ok(dialog: dialogs.ModifyDialog) -> None:
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    box.button(QDialogButtonBox.StandardButton.Ok).click()


def test_the_send_question_names_the_order_its_value_and_margin(
    window: MainWindow, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None
    req = engine.request("SBIN", Side.BUY, 10, Decimal("900.00"))
    margin = run(engine.margin_for(req))
    text = dialogs.order_question(req, engine.mode, Decimal("900.00"), margin, "stop 880")
    assert text.startswith("BUY 10 SBIN-EQ at limit 900.00, CNC, on PAPER\n")
    assert "Value about ₹9,000.00\n" in text
    assert isinstance(margin, MarginCheck)
    assert f"Margin needed {rupees(margin.required)} · available " in text
    assert "Then protect it: stop 880" in text


def test_a_margin_the_broker_cannot_tell_is_said_not_invented(window: MainWindow) -> None:
    engine = window.engine
    assert engine is not None
    req = engine.request("SBIN", Side.SELL, 1)
    text = dialogs.order_question(req, "PAPER", Decimal("950"), "the broker did not answer")
    assert "Margin not known: the broker did not answer" in text
    assert "(last price 950.00)" in text


def test_modify_shows_ltp_and_tick_and_can_make_it_a_stop(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    engine = window.engine
    assert engine is not None
    run(engine.refresh())
    ltp = engine.quotes[engine.instrument("SBIN").key].ltp
    low = round_to_tick(ltp * Decimal("0.9"), Decimal("0.05"))
    outcome = run(engine.place(engine.request("SBIN", Side.BUY, 2, low)))  # rests below LTP
    assert outcome.ok
    run(engine.refresh(full=True))
    order = engine.orders[outcome.order_id]
    inst = engine.instrument("SBIN")
    checks: list[tuple[OrderType, Decimal | None, int, Decimal | None]] = []

    def check(kind: OrderType, p: Decimal | None, q: int, t: Decimal | None) -> str | None:
        checks.append((kind, p, q, t))
        return None

    d = dialogs.ModifyDialog(order, 1, window, ltp=ltp, tick=inst.tick_size, check=check)
    qtbot.addWidget(d)
    assert f"tick {inst.tick_size}" in d.findChildren(QLabel)[0].text()
    assert not d.trigger.isEnabled()
    d.kind.setCurrentIndex(d.kind.findData(OrderType.STOP.value))
    assert d.trigger.isEnabled() and d.price.isEnabled()
    d.price.setText(str(ltp + 5))
    d.trigger.setText("")
    ok(d)
    assert "trigger price is required" in d.error.text()
    assert d.result() == 0 and d.price.text() == str(ltp + 5)  # kept what was typed
    d.trigger.setText(str(ltp + 4))
    ok(d)
    assert checks == [(OrderType.STOP, ltp + 5, 2, ltp + 4)]
    # through the engine to the paper exchange: the order is now a stop-loss limit
    result = run(
        engine.modify(
            order.order_id,
            price=d.result_price,
            qty=2,
            trigger=d.result_trigger,
            order_type=d.order_type(),
        )
    )
    assert result.order_type == "SL" and result.trigger_price == ltp + 4
    assert result.status is not OrderStatus.REJECTED


def test_the_account_dialog_keeps_its_input_and_says_why_inside(qtbot: QtBot) -> None:
    d = dialogs.AccountDialog()
    qtbot.addWidget(d)
    assert d.minimumWidth() >= 520
    d.name.setText("main")
    d.mobile.setText("9876543210")  # no country code
    d.ucc.setText("AB123")
    d.consumer_key.setText("key")
    d.mpin.setText("1234")
    d.totp.setText("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    d.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert "country code" in d.error.text()
    assert d.result() == 0 and d.account is None
    assert (d.mobile.text(), d.ucc.text(), d.totp.text()) == (
        "9876543210",
        "AB123",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    )
    d.mobile.setText("+919876543210")
    d.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert d.error.text() == "" or d.account is not None, d.error.text()
    assert d.account is not None and d.account.mobile == "+919876543210"


def test_a_failed_login_reopens_the_dialog_with_the_reason() -> None:
    new = dialogs.AccountDialog().typed()
    again = dialogs.AccountDialog(prefill=new, error="login failed: wrong MPIN")
    assert again.error.text() == "login failed: wrong MPIN"
    assert again.name.text() == new.name and again.login_url.text() == new.login_url
