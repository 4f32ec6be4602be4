"""The day's P&L as a table a trader (or a spreadsheet) reads: per position what was booked
and what is still open, and totals by product and by market (pandas; amounts stay Decimal)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from gui_trader.engine.portfolio import PortfolioView

COLUMNS = [
    "symbol",
    "market",
    "product",
    "net_qty",
    "avg_price",
    "ltp",
    "realized",
    "open",
    "total",
]
MARKETS = {"nse_cm": "cash", "bse_cm": "cash", "nse_fo": "F&O", "bse_fo": "F&O"}


def pnl_frame(view: PortfolioView) -> pd.DataFrame:
    """One row per position, Decimal amounts (object columns: sums stay exact)."""
    rows = [
        {
            "symbol": p.symbol,
            "market": MARKETS.get(p.segment, p.segment or "?"),
            "product": p.product,
            "net_qty": p.net_qty,
            "avg_price": p.avg_price,
            "ltp": p.ltp,
            "realized": p.realized,
            "open": p.pnl - p.realized,
            "total": p.pnl,
        }
        for p in view.positions
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def totals(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Booked, open and total P&L summed per `by` (product or market), largest loss first."""
    amounts = ["realized", "open", "total"]
    if frame.empty:
        return pd.DataFrame(columns=[by, *amounts])
    out = frame.groupby(by, sort=False)[amounts].agg(lambda s: sum(s, Decimal(0)))
    return out.reset_index().sort_values("total", key=lambda s: s.map(float))


def grand_total(frame: pd.DataFrame) -> dict[str, Decimal]:
    return {c: sum(frame[c], Decimal(0)) for c in ("realized", "open", "total")}
