"""Dialogs: confirm before anything sends or cancels orders; modify; accounts."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from gui_trader.core.order import Order


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


class ModifyDialog(QDialog):
    def __init__(self, order: Order, lot: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Modify {order.side.label} {order.trading_symbol}")
        form = QFormLayout(self)
        self.price = QLineEdit(f"{order.price:.2f}")
        self.qty = QSpinBox()
        self.qty.setRange(lot, 10_000_000)
        self.qty.setSingleStep(lot)
        self.qty.setValue(order.qty)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #d83b3b")
        form.addRow("Price", self.price)
        form.addRow("Quantity", self.qty)
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.result_price: Decimal | None = None

    def _accept(self) -> None:
        try:
            self.result_price = parse_price(self.price.text())
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class AccountDialog(QDialog):
    """Add an account: secrets go straight to the keyring (never to config or logs)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a Kotak Neo account")
        form = QFormLayout(self)
        self.name = QLineEdit("main")
        self.mobile = QLineEdit()
        self.mobile.setPlaceholderText("+919876543210")
        self.ucc = QLineEdit()
        self.login_url = QLineEdit("https://mis.kotaksecurities.com")
        self.consumer_key = QLineEdit()
        self.mpin = QLineEdit()
        self.totp = QLineEdit()
        for secret in (self.consumer_key, self.mpin, self.totp):
            secret.setEchoMode(QLineEdit.EchoMode.Password)
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
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d83b3b")
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add and log in")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
