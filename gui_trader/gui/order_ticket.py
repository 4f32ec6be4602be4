"""The order ticket: symbol, quantity, price (empty = market), product; Buy or Sell.

Before an order leaves the ticket, the trader's fat-finger guards (engine/order_guards.py) judge
it on the engine's last price: above a hard limit it is refused in one line, above a soft one a
dialog names the order and its value and asks. The engine refuses the hard limits again on a
fresh price when it places the order."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt
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

from gui_trader.core.display import price as show_price
from gui_trader.core.display import quantity
from gui_trader.core.limits import MAX_QTY
from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order, OrderStatus, Product, Side
from gui_trader.engine.order_checks import InvalidOrder, check_order
from gui_trader.engine.order_guards import Verdict
from gui_trader.engine.protection_rules import Trail, parse_level
from gui_trader.gui import dialogs, theme
from gui_trader.gui.depth_table import DepthTable
from gui_trader.gui.dialogs import parse_price

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine

Submit = Callable[[str, Side, int, Decimal | None, Product | None], None]
Confirm = Callable[[str, str], bool]


class OrderTicket(QWidget):
    def __init__(
        self,
        submit: Submit,
        parent: QWidget | None = None,
        *,
        engine: Callable[[], TradingEngine | None] | None = None,
        confirm: Confirm | None = None,
    ) -> None:
        """`engine` and `confirm`: what the guards judge by and ask with; by default those of
        the window this ticket sits in (its `engine` and `confirm`)."""
        super().__init__(parent)
        self.submit = submit
        self._engine = engine
        self._confirm = confirm
        outer = QVBoxLayout(self)
        form = QFormLayout()
        outer.addLayout(form)
        self.symbol = QLineEdit()
        self.symbol.setPlaceholderText("RELIANCE, NIFTY25NOV25900CE …")
        self.qty = QSpinBox()
        self.qty.setRange(1, MAX_QTY)
        self.qty.setValue(1)
        self.qty.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.price = QLineEdit()
        self.price.setPlaceholderText("market")
        self.price.setAlignment(Qt.AlignmentFlag.AlignRight)
        # Optional protection of what the order fills (see engine/protection.py).
        self.sl = QLineEdit()
        self.sl.setPlaceholderText("optional")
        self.target = QLineEdit()
        self.target.setPlaceholderText("optional: a LIMIT resting at the broker")
        self.trail = QLineEdit()
        self.trail.setPlaceholderText("optional: points (20) or percent (1.5%)")
        for field in (self.sl, self.target, self.trail):
            field.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.product = QComboBox()
        self.product.addItem("auto (CNC / NRML)", None)
        for p in Product:
            self.product.addItem(p.value, p)
        self.buy = QPushButton("Buy  (F1)")
        self.sell = QPushButton("Sell  (F2)")
        self.following: str | None = None  # the order id the message follows
        self._what = ""  # how the message names it ("BUY 3 SBIN-EQ")
        self._error = False
        self.buy.clicked.connect(lambda: self._send(Side.BUY))
        self.sell.clicked.connect(lambda: self._send(Side.SELL))
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.book = DepthTable()
        self.book.hide()  # until the ticket has a symbol with a quote
        form.addRow("Symbol", self.symbol)
        form.addRow("Quantity", self.qty)
        form.addRow("Limit price", self.price)
        form.addRow("Product", self.product)
        form.addRow("Stop-loss", self.sl)
        form.addRow("Target", self.target)
        form.addRow("Trailing stop", self.trail)
        row = QHBoxLayout()
        row.addWidget(self.buy)
        row.addWidget(self.sell)
        form.addRow(row)
        outer.addWidget(self.message)
        outer.addWidget(self.book)
        outer.addStretch(1)
        self.set_enabled(False, "waiting for the broker…")
        self._restyle()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()

    def _restyle(self) -> None:
        """Buttons and messages in this theme's colours (a theme switch re-runs it)."""
        self.buy.setStyleSheet(theme.button_style("buy"))
        self.sell.setStyleSheet(theme.button_style("sell"))
        self.say(self.message.text(), self._error)

    def follow(self, order_id: str, what: str) -> None:
        """The message now tracks this order until it ends (filled, rejected, cancelled)."""
        self.following = order_id
        self._what = what

    def on_order(self, order: Order) -> None:
        """The followed order changed: say its state; a rejection's reason stays put."""
        if order.order_id != self.following:
            return
        text = f"{self._what}: order {order.order_id} {order.status.value}"
        if order.filled_qty and order.status is not OrderStatus.COMPLETE:
            text += f", filled {quantity(order.filled_qty)} of {quantity(order.qty)}"
        if order.filled_qty and order.avg_price:
            text += f" at {show_price(order.avg_price)}"
        rejected = order.status is OrderStatus.REJECTED
        if rejected:
            text += f": {order.reject_reason or 'no reason given by the broker'}"
        self.say(text, error=rejected)
        if order.status.terminal:
            self.following = None

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
        """The ticket's one message line; it stays until the next thing to say."""
        self._error = error
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {theme.hex_colour('loss')}" if error else "")

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
        try:
            self.levels()
        except ValueError as exc:  # a bad stop / target / trail: nothing is sent
            self.say(str(exc), error=True)
            return
        qty, chosen = self.qty.value(), self.product.currentData()
        # Qt hands the enum back as its plain string: made a Product again here.
        product = Product(chosen) if chosen else None
        verdict = self._guard(symbol, side, qty, price, product)
        if verdict is not None:
            if verdict.refusal is not None:
                self.say(verdict.refusal, error=True)
                return
            if verdict.warnings and not self.ask("Confirm large order", verdict.question()):
                self.say(f"not sent: {verdict.what}")
                return
        self.submit(symbol, side, qty, price, product)

    def levels(self) -> tuple[Decimal | None, Decimal | None, Trail | None]:
        """The stop, target and trail typed for this order (BadProtection, a ValueError, says
        what is wrong)."""
        sl = parse_level(self.sl.text(), "stop-loss")
        target = parse_level(self.target.text(), "target")
        trail = Trail.parse(self.trail.text()) if self.trail.text().strip() else None
        return sl, target, trail

    def _guard(
        self, symbol: str, side: Side, qty: int, price: Decimal | None, product: Product | None
    ) -> Verdict | None:
        """The [guards] on the engine's last price; None when there is nothing to judge by
        (no engine yet, or a bad order the window's own checks explain)."""
        engine = self.engine()
        if engine is None:
            return None
        try:
            req = engine.request(symbol, side, qty, price, product)
            check_order(req)
        except (InvalidOrder, LookupError):
            return None
        return engine.guard_verdict(req)

    def engine(self) -> TradingEngine | None:
        if self._engine is not None:
            return self._engine()
        engine: TradingEngine | None = getattr(self._host(), "engine", None)
        return engine

    def ask(self, title: str, text: str) -> bool:
        """Yes or No from the trader (the window's confirm, else a plain dialog)."""
        host_confirm = getattr(self._host(), "confirm", None)
        confirm = self._confirm or host_confirm
        if callable(confirm):
            return bool(confirm(title, text))
        return dialogs.confirm(self, title, text)

    def _host(self) -> QWidget | None:
        """The window this ticket trades for: the first ancestor with an engine. Walked by
        parent rather than window(): a floating dock is a window of its own."""
        w = self.parentWidget()
        while w is not None and not hasattr(w, "engine"):
            w = w.parentWidget()
        return w
