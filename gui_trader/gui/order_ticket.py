"""The order ticket: symbol, quantity, price (empty = market), product; Buy or Sell."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gui_trader.core.order import Product, Side
from gui_trader.gui.dialogs import parse_price

Submit = Callable[[str, Side, int, Decimal | None, Product | None], None]


class OrderTicket(QWidget):
    def __init__(self, submit: Submit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.submit = submit
        form = QFormLayout(self)
        self.symbol = QLineEdit()
        self.symbol.setPlaceholderText("RELIANCE, NIFTY25NOV25900CE …")
        self.qty = QSpinBox()
        self.qty.setRange(1, 10_000_000)
        self.qty.setValue(1)
        self.qty.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.price = QLineEdit()
        self.price.setPlaceholderText("market")
        self.price.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.product = QComboBox()
        self.product.addItem("auto (CNC / NRML)", None)
        for p in Product:
            self.product.addItem(p.value, p)
        self.buy = QPushButton("Buy  (F1)")
        self.sell = QPushButton("Sell  (F2)")
        self.buy.setStyleSheet(
            "QPushButton { background: #2e7d32; color: white; padding: 6px; "
            "font-weight: bold } QPushButton:disabled { background: #7a8a7b }"
        )
        self.sell.setStyleSheet(
            "QPushButton { background: #c62828; color: white; padding: 6px; "
            "font-weight: bold } QPushButton:disabled { background: #8a7a7a }"
        )
        self.buy.clicked.connect(lambda: self._send(Side.BUY))
        self.sell.clicked.connect(lambda: self._send(Side.SELL))
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.funds = QLabel("")
        self.funds.setStyleSheet("color: palette(placeholder-text)")
        form.addRow("Symbol", self.symbol)
        form.addRow("Quantity", self.qty)
        form.addRow("Limit price", self.price)
        form.addRow("Product", self.product)
        row = QHBoxLayout()
        row.addWidget(self.buy)
        row.addWidget(self.sell)
        form.addRow(row)
        form.addRow(self.message)
        form.addRow(self.funds)
        self.set_enabled(False, "waiting for the broker…")

    def set_symbols(self, symbols: list[str]) -> None:
        completer = QCompleter(symbols, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.symbol.setCompleter(completer)

    def set_enabled(self, enabled: bool, why: str = "") -> None:
        self.buy.setEnabled(enabled)
        self.sell.setEnabled(enabled)
        if why:
            self.say(why)

    def say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #d83b3b" if error else "")

    def _send(self, side: Side) -> None:
        symbol = self.symbol.text().strip()
        if not symbol:
            self.say("type a symbol first", error=True)
            return
        try:
            price = parse_price(self.price.text())
        except ValueError as exc:
            self.say(str(exc), error=True)
            return
        self.submit(symbol, side, self.qty.value(), price, self.product.currentData())
