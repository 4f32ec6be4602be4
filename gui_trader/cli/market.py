"""`gui-trader quote SYMBOL...`: last price and change."""

from __future__ import annotations

import argparse
from typing import Any

from gui_trader.cli.output import Result, table


async def cmd_quote(ctx: Any, args: argparse.Namespace) -> Result:
    store = await ctx.instruments()
    instruments = [store.resolve(s) for s in args.symbols]
    quotes = {q.key: q for q in await ctx.broker.quotes([i.key for i in instruments])}
    rows, missing = [], []
    for i in instruments:
        q = quotes.get(i.key)
        if q is None:
            missing.append(i.trading_symbol)
            continue
        rows.append(
            {
                "symbol": i.trading_symbol,
                "ltp": q.ltp,
                "change": q.change,
                "change_pct": q.change_pct,
                "prev_close": q.prev_close,
            }
        )
    text = table(
        ["SYMBOL", "LTP", "CHANGE", "%"],
        [[r["symbol"], r["ltp"], r["change"], r["change_pct"]] for r in rows],
    )
    if missing:
        text += f"\nno quote for {', '.join(missing)}"
    return not missing, {"mode": ctx.mode, "quotes": rows, "missing": missing}, text
