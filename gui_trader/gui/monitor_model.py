"""The EMA9 monitor's table: one row per managed symbol, as the engine last published it."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtGui import QColor

from gui_trader.engine.events import MonitorAction, MonitorRow
from gui_trader.gui.models import PROFIT, Column, KeyedTableModel, money, sign_colour, signed


def _to_fill(r: MonitorRow) -> Decimal | None:
    if r.order_price is None or not r.ltp:
        return None
    return ((r.order_price - r.ltp) * 100 / r.ltp).quantize(Decimal("0.01"))


class MonitorModel(KeyedTableModel):
    columns = (
        Column("Symbol", lambda r: r.symbol),
        Column("Qty", lambda r: f"{r.qty:,}", lambda r: r.qty, True),
        Column("Entry", lambda r: money(r.entry), lambda r: r.entry, True),
        Column("LTP", lambda r: money(r.ltp), lambda r: r.ltp or 0, True),
        Column(
            "EMA9",
            lambda r: "" if r.ema9 is None else f"{r.ema9:,.2f}",
            lambda r: r.ema9 or 0,
            True,
        ),
        Column(
            "Lowest EMA9",
            lambda r: "" if r.lowest_ema9 is None else f"{r.lowest_ema9:,.2f}",
            lambda r: r.lowest_ema9 or 0,
            True,
        ),
        Column("Sell at", lambda r: money(r.order_price), lambda r: r.order_price or 0, True),
        Column(
            "Order",
            lambda r: r.order_status.value if r.order_status else ("dry run" if r.dry_run else ""),
            tip="the sell order's status at the broker",
        ),
        Column(
            "To fill",
            lambda r: "" if _to_fill(r) is None else f"{_to_fill(r):+.2f}%",
            lambda r: _to_fill(r) or 0,
            True,
            tip="how far the market must rise to reach the sell price",
        ),
        Column(
            "Action",
            lambda r: r.action.value,
            colour=lambda r: (
                PROFIT
                if r.action is MonitorAction.FILLED
                else QColor("#d98b00")
                if r.action is MonitorAction.SKIPPED
                else None
            ),
        ),
        Column("When", lambda r: r.at.strftime("%H:%M:%S") if r.at else ""),
        Column(
            "P&L", lambda r: signed(r.pnl), lambda r: r.pnl or 0, True, lambda r: sign_colour(r.pnl)
        ),
        Column("Reason", lambda r: r.reason, width=320),
    )


__all__ = ["MonitorModel"]
