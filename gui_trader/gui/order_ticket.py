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
    QVBoxLayout,
    QWidget,
)

from gui_trader.core.market_data import Quote
from gui_trader.core.order import Product, Side
from gui_trader.gui.depth_table import DepthTable
from gui_trader.gui.dialogs import parse_price

Submit = Callable[[str, Side, int, Decimal | None, Product | None], None]


class OrderTicket(QWidget):
    def __init__(self, submit: Submit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.submit = submit
        outer = QVBoxLayout(self)
        form = QFormLayout()
        outer.addLayout(form)
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
        self.book = DepthTable()
        self.book.hide()  # until the ticket has a symbol with a quote
        form.addRow("Symbol", self.symbol)
        form.addRow("Quantity", self.qty)
        form.addRow("Limit price", self.price)
        form.addRow("Product", self.product)
        row = QHBoxLayout()
        row.addWidget(self.buy)
        row.addWidget(self.sell)
        form.addRow(row)
        outer.addWidget(self.message)
        outer.addWidget(self.funds)
        outer.addWidget(self.book)
        outer.addStretch(1)
        self.set_enabled(False, "waiting for the broker…")

    def show_quote(self, quote: Quote | None) -> None:
        """Best bid/ask and the 5-level book of the symbol being typed."""
        self.book.show_quote(quote)
        self.book.setVisible(quote is not None)

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
