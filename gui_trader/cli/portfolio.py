"""`gui-trader positions` / `holdings` / `limits`: what the account holds and can spend."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING

from gui_trader.cli.output import Result, ok, table

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


async def cmd_positions(engine: TradingEngine, args: argparse.Namespace) -> Result:
    view = await engine.read_portfolio(holdings=False)
    rows = [asdict(p) for p in view.positions]
    text = table(
        ["SYMBOL", "PRODUCT", "NET QTY", "AVG", "LTP", "P&L"],
        [[p.symbol, p.product, p.net_qty, p.avg_price, p.ltp, p.pnl] for p in view.positions],
    )
    if rows:
        text += f"\ntotal P&L {view.positions_pnl:.2f}"
    return ok({"mode": engine.mode, "positions": rows, "total_pnl": view.positions_pnl}, text)


async def cmd_holdings(engine: TradingEngine, args: argparse.Namespace) -> Result:
    view = await engine.read_portfolio(positions=False)
    text = table(
        ["SYMBOL", "QTY", "SELLABLE", "AVG", "LTP", "P&L"],
        [[h.symbol, h.qty, h.sellable, h.avg_price, h.ltp, h.pnl] for h in view.holdings],
    )
    payload = {
        "mode": engine.mode,
        "holdings": [asdict(h) for h in view.holdings],
        "total_pnl": view.holdings_pnl,
    }
    return ok(payload, text)


async def cmd_limits(engine: TradingEngine, args: argparse.Namespace) -> Result:
    f = await engine.read_funds()
    return ok(
        {"mode": engine.mode, "available": f.available, "margin_used": f.margin_used},
        f"available {f.available:,.2f}   margin used {f.margin_used:,.2f}",
    )
