"""`gui-trader positions` / `holdings` / `limits` / `pnl`: what the account holds, can spend
and made today."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


HEADS = {"net_qty": "NET QTY", "avg_price": "AVG", "realized": "BOOKED", "open": "OPEN"}


async def cmd_pnl(engine: TradingEngine, args: argparse.Namespace) -> Result:
    """Booked and open P&L per position, by product and market; `--csv` writes the rows."""
    from gui_trader.engine.pnl_report import grand_total, pnl_frame, totals

    csv: Path | None = args.csv  # checked by the parser: a file in an existing folder
    frame = pnl_frame(await engine.read_portfolio(holdings=False))
    if csv is not None:
        await asyncio.to_thread(frame.to_csv, csv, index=False)
    by_product, by_market, total = (
        totals(frame, "product"),
        totals(frame, "market"),
        grand_total(frame),
    )

    def rows(df: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in df.to_dict(orient="records")]

    text = "\n\n".join(
        [
            table([HEADS.get(c, c.upper()) for c in frame.columns], frame.values.tolist()),
            table(
                [HEADS.get(c, c.upper()) for c in by_product.columns], by_product.values.tolist()
            ),
            f"booked {total['realized']:,.2f}   open {total['open']:,.2f}   "
            f"total {total['total']:,.2f}" + (f"\nwritten to {csv}" if csv else ""),
        ]
    )
    payload = {
        "mode": engine.mode,
        "positions": rows(frame),
        "by_product": rows(by_product),
        "by_market": rows(by_market),
        "total": total,
        "csv": str(csv) if csv else None,
    }
    return ok(payload, text)
