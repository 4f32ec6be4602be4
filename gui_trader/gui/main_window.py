"""The trading window (first cut): mode banner, positions / orders / holdings, status bar.

Data comes from the same engine context as the CLI; refreshes are tasks on the qasync loop.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QColor, QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui_trader.app import Context, open_context, reconcile, setup_logging
from gui_trader.config import Paths
from gui_trader.engine.portfolio import portfolio

log = logging.getLogger(__name__)
GREEN, RED = QColor("#1b8a3a"), QColor("#c62828")
REFRESH_MS = 1000
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class Table(QTableWidget):
    def __init__(self, headers: list[str], numeric: set[int]) -> None:
        super().__init__(0, len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.numeric = numeric
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setDefaultSectionSize(110)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.mono = mono

    def fill(self, rows: list[list[Any]], colour_col: int | None = None) -> None:
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = self.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.setItem(r, c, item)
                text = f"{value:,.2f}" if isinstance(value, Decimal) else str(value)
                if item.text() != text:
                    item.setText(text)
                if c in self.numeric:
                    item.setTextAlignment(RIGHT)
                    item.setFont(self.mono)
                if c == colour_col and isinstance(value, Decimal):
                    item.setForeground(GREEN if value > 0 else RED if value < 0 else QColor())


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("gui_trader")
        self.resize(1200, 720)
        self.closed = asyncio.Event()
        self.ctx: Context | None = None
        self._busy = False
        self._refresh_task: asyncio.Future[None] | None = None

        central = QWidget()
        layout = QVBoxLayout(central)
        banner = QHBoxLayout()
        self.mode = QLabel("…")
        self.mode.setObjectName("mode")
        self.mode.setMinimumWidth(90)
        self.mode.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.account = QLabel("starting…")
        self.funds = QLabel("")
        banner.addWidget(self.mode)
        banner.addWidget(self.account)
        banner.addStretch(1)
        banner.addWidget(self.funds)
        layout.addLayout(banner)
        self.tabs = QTabWidget()
        self.positions = Table(["Symbol", "Product", "Net qty", "Avg", "LTP", "P&L"], {2, 3, 4, 5})
        self.orders = Table(
            [
                "Time",
                "Symbol",
                "Side",
                "Qty",
                "Filled",
                "Type",
                "Price",
                "Avg",
                "Status",
                "Tag",
                "Reason",
            ],
            {3, 4, 6, 7},
        )
        self.holdings = Table(["Symbol", "Qty", "Sellable", "Avg", "LTP", "P&L"], {1, 2, 3, 4, 5})
        self.tabs.addTab(self.positions, "Positions")
        self.tabs.addTab(self.orders, "Orders")
        self.tabs.addTab(self.holdings, "Holdings")
        layout.addWidget(self.tabs)
        self.setCentralWidget(central)
        self.status = QLabel("")
        self.statusBar().addPermanentWidget(self.status)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)

    async def start(self, *, account: str | None, paper: bool, login_url: str | None) -> None:
        paths = Paths.resolve().ensure()
        setup_logging(paths, stderr=True)
        try:
            self.ctx = await open_context(
                account=account, paper=paper, login_url=login_url, paths=paths
            )
        except Exception as exc:  # shown, not raised: the window stays usable
            self.account.setText(f"cannot start: {exc}")
            return
        live = self.ctx.paper is None
        self.mode.setText("LIVE" if live else "PAPER")
        self.mode.setStyleSheet(
            "QLabel#mode { font-weight: bold; font-size: 16px; padding: 4px 10px; color: white;"
            f" background: {'#c62828' if live else '#1565c0'}; border-radius: 4px; }}"
        )
        self.account.setText(
            f"  account {self.ctx.account}" if live else "  simulated exchange · no real money"
        )
        try:
            await reconcile(self.ctx)
        except Exception as exc:
            log.warning("reconcile failed: %s", exc)
        await self.refresh()
        if self.positions.rowCount() == 0 and self.holdings.rowCount():
            self.tabs.setCurrentWidget(self.holdings)  # a first start shows the demo portfolio
        self.timer.start()

    def _tick(self) -> None:
        if not self._busy:
            self._refresh_task = asyncio.ensure_future(self.refresh())

    async def refresh(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        self._busy = True
        try:
            view, orders, funds = await asyncio.gather(
                portfolio(ctx.broker), ctx.broker.orders(), ctx.broker.limits()
            )
        except Exception as exc:
            self.status.setText(f"refresh failed: {exc}")
            return
        finally:
            self._busy = False
        self.positions.fill(
            [[p.symbol, p.product, p.net_qty, p.avg_price, p.ltp, p.pnl] for p in view.positions],
            colour_col=5,
        )
        self.orders.fill(
            [
                [
                    o.time.strftime("%H:%M:%S") if o.time else "",
                    o.trading_symbol,
                    o.side.label,
                    o.qty,
                    o.filled_qty,
                    o.order_type,
                    o.price,
                    o.avg_price,
                    o.status.value,
                    o.tag,
                    o.reject_reason,
                ]
                for o in sorted(orders, key=lambda o: o.order_id, reverse=True)
            ]
        )
        self.holdings.fill(
            [[h.symbol, h.qty, h.sellable, h.avg_price, h.ltp, h.pnl] for h in view.holdings],
            colour_col=5,
        )
        self.funds.setText(
            f"available ₹{funds.available:,.2f}   margin used ₹{funds.margin_used:,.2f}"
        )
        b = ctx.broker
        self.status.setText(
            f"RTT {b.stats.last_rtt_ms:.0f} ms · logins {b.logins} · "
            f"{b.order_limiter.headroom():.0f}/{b.config.orders_per_second:.0f} "
            "orders/s free"
        )

    async def shutdown(self) -> None:
        self.timer.stop()
        if self.ctx is not None:
            await self.ctx.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closed.set()
        event.accept()
