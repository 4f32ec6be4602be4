"""Dialogs: confirm before anything sends or cancels orders; modify; accounts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from gui_trader.core.display import price as show_price
from gui_trader.core.display import rupees
from gui_trader.core.order import Order, OrderRequest, OrderType
from gui_trader.core.portfolio import MarginCheck
from gui_trader.gui import theme

if TYPE_CHECKING:  # the account code brings httpx: not on the window's start-up path
    from gui_trader.accounts import NewAccount


def _question(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    box = QMessageBox(
        QMessageBox.Icon.Question,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    box.setDefaultButton(QMessageBox.StandardButton.No)  # Enter never sends by accident
    return box


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    return _question(parent, title, text).exec() == QMessageBox.StandardButton.Yes


async def ask(parent: QWidget | None, title: str, text: str) -> bool:
    """`confirm` for code running in an asyncio task: a nested exec() inside a task would
    re-enter the loop and stall every other task; this opens the box and awaits its answer."""
    box = _question(parent, title, text)
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def done(result: int) -> None:
        if not answer.done():
            answer.set_result(result == QMessageBox.StandardButton.Yes)

    box.finished.connect(done)
    box.open()
    try:
        return await answer
    finally:
        box.deleteLater()


def order_question(
    req: OrderRequest, mode: str, ref: Decimal, margin: MarginCheck | str, guard: str = ""
) -> str:
    """What a Send confirmation says: the order by name, its value and the broker's margin."""
    inst = req.instrument
    lots = f" ({req.qty // inst.lot_size:,} lots)" if inst.lot_size > 1 else ""
    kind = f"limit {show_price(req.price)}" if req.price is not None else "market"
    lines = [
        f"{req.side.label} {req.qty:,}{lots} {inst.trading_symbol} at {kind}, "
        f"{req.product.value}, on {mode}"
    ]
    if ref > 0:
        basis = "" if req.price is not None else f" (last price {show_price(ref)})"
        lines.append(f"Value about {rupees(ref * req.qty)}{basis}")
    if isinstance(margin, MarginCheck):
        lines.append(
            f"Margin needed {rupees(margin.required)} · available {rupees(margin.available)}"
        )
        if not margin.ok:
            short = rupees(margin.shortfall)
            lines.append(f"SHORT of margin by {short}: the broker will reject it")
    else:
        lines.append(f"Margin not known: {margin}")
    if guard:
        lines.append(f"Then protect it: {guard}")
    return "\n".join([*lines, "", "Send it?"])


def parse_price(text: str) -> Decimal | None:
    """Empty means market; anything else must be a positive number."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"price {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"price {text!r} must be a positive number")
    return value


ModifyCheck = Callable[[OrderType, Decimal | None, int, Decimal | None], str | None]

TYPES = (
    ("Limit", OrderType.LIMIT),
    ("Market", OrderType.MARKET),
    ("Stop-loss limit (SL)", OrderType.STOP),
    ("Stop-loss market (SL-M)", OrderType.STOP_MARKET),
)


class ModifyDialog(QDialog):
    """Price, quantity, type and trigger of a working order, with its LTP and tick beside.

    A bad value is explained inside the dialog, which stays open with what was typed.
    """

    def __init__(
        self,
        order: Order,
        lot: int,
        parent: QWidget | None = None,
        *,
        ltp: Decimal | None = None,
        tick: Decimal = Decimal("0.05"),
        check: ModifyCheck | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Modify {order.side.label} {order.trading_symbol}")
        self.setMinimumWidth(420)
        self.check = check
        form = QFormLayout(self)
        about = QLabel(
            f"Order {order.order_id} · {order.side.label} {order.qty:,} "
            f"(filled {order.filled_qty:,}) · {order.product}<br>"
            f"Last price <b>{show_price(ltp) if ltp else '–'}</b> · tick {tick} · lot {lot:,}"
        )
        about.setWordWrap(True)
        form.addRow(about)
        self.kind = QComboBox()
        for text, kind in TYPES:
            self.kind.addItem(text, kind.value)
        current = order.order_type or OrderType.LIMIT.value
        self.kind.setCurrentIndex(max(self.kind.findData(current), 0))
        self.price = QLineEdit(f"{order.price:.2f}" if order.price else "")
        self.trigger = QLineEdit(f"{order.trigger_price:.2f}" if order.trigger_price else "")
        self.trigger.setPlaceholderText("the price that triggers the stop")
        self.qty = QSpinBox()
        self.qty.setRange(lot, 10_000_000)
        self.qty.setSingleStep(lot)
        self.qty.setValue(order.qty)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.hex_colour('loss')}")
        form.addRow("Type", self.kind)
        form.addRow("Price", self.price)
        form.addRow("Trigger", self.trigger)
        form.addRow("Quantity", self.qty)
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Modify")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.result_price: Decimal | None = None
        self.result_trigger: Decimal | None = None
        self.kind.currentIndexChanged.connect(self._fields)
        self._fields()

    def order_type(self) -> OrderType:
        return OrderType(self.kind.currentData())

    def _fields(self) -> None:
        kind = self.order_type()
        self.price.setEnabled(kind in (OrderType.LIMIT, OrderType.STOP))
        self.trigger.setEnabled(kind in (OrderType.STOP, OrderType.STOP_MARKET))

    def _accept(self) -> None:
        kind = self.order_type()
        try:
            price = parse_price(self.price.text()) if self.price.isEnabled() else None
            if self.price.isEnabled() and price is None:
                raise ValueError("a limit price is required for this type")
            trigger = parse_price(self.trigger.text()) if self.trigger.isEnabled() else None
            if self.trigger.isEnabled() and trigger is None:
                raise ValueError("a trigger price is required for a stop-loss order")
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        problem = self.check(kind, price, self.qty.value(), trigger) if self.check else None
        if problem:
            self.error.setText(problem)
            return
        self.result_price, self.result_trigger = price, trigger
        self.accept()


class AccountDialog(QDialog):
    """Add an account: secrets go straight to the keyring (never to config or logs).

    OK checks the fields first: a mistake is said inside the dialog, which stays open with
    everything typed. A failed login re-opens it the same way (``prefill`` and ``error``).
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        prefill: NewAccount | None = None,
        error: str = "",
    ) -> None:
        from gui_trader.accounts import DEFAULT_LOGIN_URL

        super().__init__(parent)
        self.setWindowTitle("Add a Kotak Neo account")
        self.setMinimumWidth(560)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        p = prefill
        self.name = QLineEdit(p.name if p else "main")
        self.mobile = QLineEdit(p.mobile if p else "")
        self.mobile.setPlaceholderText("+919876543210")
        self.ucc = QLineEdit(p.ucc if p else "")
        self.ucc.setPlaceholderText("your client code, e.g. AB123")
        self.login_url = QLineEdit(p.login_url if p else DEFAULT_LOGIN_URL)
        self.consumer_key = QLineEdit(p.consumer_key if p else "")
        self.mpin = QLineEdit(p.mpin if p else "")
        self.totp = QLineEdit(p.totp_secret if p else "")
        for secret in (self.consumer_key, self.mpin, self.totp):
            secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.consumer_key.setPlaceholderText("Neo app -> Trade API")
        self.mpin.setPlaceholderText("4-6 digits")
        self.totp.setPlaceholderText("the base32 secret shown when you set up TOTP")
        form.addRow("Name", self.name)
        form.addRow("Mobile", self.mobile)
        form.addRow("UCC", self.ucc)
        form.addRow("Login URL", self.login_url)
        form.addRow("Consumer key", self.consumer_key)
        form.addRow("MPIN", self.mpin)
        form.addRow("TOTP secret", self.totp)
        note = QLabel(
            "Secrets are kept in the OS keyring only. The app logs in once to check them."
        )
        note.setWordWrap(True)
        form.addRow(note)
        self.error = QLabel(error)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.hex_colour('loss')}")
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add and log in")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.account: NewAccount | None = None

    def typed(self) -> NewAccount:
        from gui_trader.accounts import NewAccount

        return NewAccount(
            self.name.text(),
            self.mobile.text(),
            self.ucc.text(),
            self.consumer_key.text(),
            self.mpin.text(),
            self.totp.text(),
            self.login_url.text(),
        )

    def _accept(self) -> None:
        from gui_trader.accounts import BadAccountInput

        try:
            self.account = self.typed().checked()
        except BadAccountInput as exc:
            self.error.setText(str(exc))  # the dialog stays open, nothing typed is lost
            return
        self.accept()
