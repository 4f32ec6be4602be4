"""The ticket symbol's 5-level book: bids left (green), asks right (red), best prices in the
middle, as a trader reads a depth ladder."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from gui_trader.core.market_data import DepthLevel, Quote
from gui_trader.gui.models import money

LEVELS = 5
BID, ASK = QColor("#2e7d32"), QColor("#c62828")


class DepthTable(QTableWidget):
    def __init__(self) -> None:
        super().__init__(LEVELS, 4)
        self.setHorizontalHeaderLabels(["Bid qty", "Bid", "Ask", "Ask qty"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        rows = self.verticalHeader().defaultSectionSize() * LEVELS
        self.setFixedHeight(rows + self.horizontalHeader().sizeHint().height() + 4)
        self.setToolTip("5-level market depth of the ticket's symbol")
        self.key: str | None = None
        self._cells = [[self._cell(c) for c in range(4)] for _ in range(LEVELS)]
        for r, row in enumerate(self._cells):
            for c, item in enumerate(row):
                self.setItem(r, c, item)

    @staticmethod
    def _cell(column: int) -> QTableWidgetItem:
        item = QTableWidgetItem("")
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if column in (1, 2):
            item.setForeground(BID if column == 1 else ASK)
        return item

    def show_quote(self, quote: Quote | None) -> None:
        bids: tuple[DepthLevel, ...] = ()
        asks: tuple[DepthLevel, ...] = ()
        if quote is not None:
            bids = quote.bids or ((DepthLevel(quote.bid, quote.bid_qty),) if quote.bid else ())
            asks = quote.asks or ((DepthLevel(quote.ask, quote.ask_qty),) if quote.ask else ())
        for r in range(LEVELS):
            b = bids[r] if r < len(bids) else None
            a = asks[r] if r < len(asks) else None
            texts = (
                f"{b.qty:,}" if b else "",
                money(b.price) if b else "",
                money(a.price) if a else "",
                f"{a.qty:,}" if a else "",
            )
            for c, text in enumerate(texts):
                cell = self._cells[r][c]
                if cell.text() != text:
                    cell.setText(text)
