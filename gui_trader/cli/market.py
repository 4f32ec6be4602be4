"""`gui-trader quote SYMBOL...`: last price and change."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gui_trader.cli.output import Result, table, tell

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


async def cmd_quote(engine: TradingEngine, args: argparse.Namespace) -> Result:
    store = await engine.store()
    instruments = [store.resolve(s) for s in args.symbols]
    if getattr(args, "follow", False):
        from gui_trader.cli.follow import follow

        return await follow(engine, args, instruments, quotes=True)
    quotes = await engine.read_quotes(instruments)
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
    if missing:  # the failure on stderr; stdout keeps the quotes that came (or nothing)
        tell(f"no quote for {', '.join(missing)}")
        text = text if rows else ""
    return not missing, {"mode": engine.mode, "quotes": rows, "missing": missing}, text
