"""The EMA9 monitor's table: one row per managed symbol, as the engine last published it.

Compact on purpose: at 1366x768 the bottom pane is about 800 px wide, and Action, P&L and
Reason are what the trader reads there. What is needed less often (entry, lowest EMA9, the
order's status and number) is in the tooltips of the cells it explains.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from PySide6.QtGui import QColor

from gui_trader.core import display
from gui_trader.engine.events import MonitorAction, MonitorRow
from gui_trader.gui import theme
from gui_trader.gui.models import Column, KeyedTableModel

REASON = 9  # the column that takes the spare width (elided, full text in its tooltip)
WARN_ACTIONS = (MonitorAction.SKIPPED, MonitorAction.WAITING)


def _to_fill(r: MonitorRow) -> Decimal | None:
    if r.order_price is None or not r.ltp:
        return None
    return ((r.order_price - r.ltp) * 100 / r.ltp).quantize(Decimal("0.01"))


def _ema(value: float | None) -> str:
    return "" if value is None else display.price(Decimal(repr(value)))


def _action_colour(r: MonitorRow) -> QColor | None:
    """In the theme in force; a theme switch recolours the cell (theme.follow)."""
    if r.action is MonitorAction.FILLED:
        return theme.shared_colour("profit")
    if r.action in WARN_ACTIONS:
        return theme.shared_colour("warn")
    return None


def _pnl_colour(r: MonitorRow) -> QColor | None:
    if not r.pnl:
        return None
    return theme.shared_colour("profit" if r.pnl > 0 else "loss")


def _to_fill_colour(r: MonitorRow) -> QColor | None:
    """A sell at or under the LTP is marketable: it fills at once, not at EMA9."""
    to_fill = _to_fill(r)
    marketable = to_fill is not None and to_fill <= 0 and not r.closed
    return theme.shared_colour("warn") if marketable else None


def _order_text(r: MonitorRow) -> str:
    if r.order_status is None:
        return "dry run: nothing sent" if r.dry_run else "no sell order"
    return f"sell order {r.order_id or ''} {r.order_status.value}".replace("  ", " ")


class MonitorModel(KeyedTableModel):
    columns = (
        Column("Symbol", lambda r: r.symbol, width=110),
        Column("Qty", lambda r: display.quantity(r.qty), lambda r: r.qty, True, width=44),
        Column("LTP", lambda r: display.price(r.ltp), lambda r: r.ltp or 0, True, width=74),
        Column(
            "EMA9",
            lambda r: _ema(r.ema9),
            lambda r: r.ema9 or 0,
            True,
            tip="today's EMA9 (from yesterday's and the live price); the tooltip has its lowest",
            width=74,
        ),
        Column(
            "Sell at",
            lambda r: display.price(r.order_price),
            lambda r: r.order_price or 0,
            True,
            tip="the limit sell: the lowest EMA9 rounded up to the tick",
            width=74,
        ),
        Column(
            "To fill",
            lambda r: display.percent(_to_fill(r)),
            lambda r: _to_fill(r) or 0,
            True,
            _to_fill_colour,
            tip="how far the market must rise to reach the sell price (at or under 0: the "
            "limit is marketable and fills at once)",
            width=62,
        ),
        Column(
            "Action",
            lambda r: r.action.value,
            colour=_action_colour,
            tip="what the monitor did in its last cycle (the tooltip has the order)",
            width=74,
        ),
        Column("When", lambda r: display.clock(r.at), width=64),
        Column(
            "P&L",
            lambda r: display.amount(r.pnl, sign=True),
            lambda r: r.pnl or 0,
            True,
            _pnl_colour,
            width=84,
        ),
        Column("Reason", lambda r: r.reason),
    )

    ROW_TIPS_EVERYWHERE = True  # what a compact cell leaves out, from the whole row

    def tooltip_of(self, row: Any, column: int, text: str) -> str | None:
        return self.tooltip(row, column) or None

    @staticmethod
    def tooltip(r: MonitorRow, column: int) -> str:
        """What a compact cell leaves out."""
        if column == 0:
            return f"{r.symbol}: {display.quantity(r.qty)} @ {display.price(r.entry)} (entry)"
        if column == 3:
            return f"EMA9 {_ema(r.ema9)} · lowest today {_ema(r.lowest_ema9)}"
        if column in (4, 6):
            moves = ", ".join(f"{display.price(Decimal(p))} at {t[11:19]}" for t, p in r.moves)
            return _order_text(r) + (f"\nmoves: {moves}" if moves else "")
        if column == 8:
            return f"entry {display.price(r.entry)} × {display.quantity(r.qty)}"
        if column == REASON:
            return r.reason
        return ""


__all__ = ["REASON", "MonitorModel"]
