"""`gui-trader positions` / `holdings` / `limits`: what the account holds and can spend."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from gui_trader.cli.output import Result, ok, table
from gui_trader.engine.portfolio import portfolio


async def cmd_positions(ctx: Any, args: argparse.Namespace) -> Result:
    view = await portfolio(ctx.broker, holdings=False)
    rows = [asdict(p) for p in view.positions]
    text = table(
        ["SYMBOL", "PRODUCT", "NET QTY", "AVG", "LTP", "P&L"],
        [[p.symbol, p.product, p.net_qty, p.avg_price, p.ltp, p.pnl] for p in view.positions],
    )
    if rows:
        text += f"\ntotal P&L {view.positions_pnl:.2f}"
    return ok({"mode": ctx.mode, "positions": rows, "total_pnl": view.positions_pnl}, text)


async def cmd_holdings(ctx: Any, args: argparse.Namespace) -> Result:
    view = await portfolio(ctx.broker, positions=False)
    text = table(
        ["SYMBOL", "QTY", "SELLABLE", "AVG", "LTP", "P&L"],
        [[h.symbol, h.qty, h.sellable, h.avg_price, h.ltp, h.pnl] for h in view.holdings],
    )
    payload = {
        "mode": ctx.mode,
        "holdings": [asdict(h) for h in view.holdings],
        "total_pnl": view.holdings_pnl,
    }
    return ok(payload, text)


async def cmd_limits(ctx: Any, args: argparse.Namespace) -> Result:
    f = await ctx.broker.limits()
    return ok(
        {"mode": ctx.mode, "available": f.available, "margin_used": f.margin_used},
        f"available {f.available:,.2f}   margin used {f.margin_used:,.2f}",
    )
