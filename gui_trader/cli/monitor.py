"""`gui-trader monitor`: the EMA9 sell monitor, one cycle or until stopped."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gui_trader.cli.interrupt import on_interrupt
from gui_trader.cli.output import Result, table

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


async def cmd_monitor(engine: TradingEngine, args: argparse.Namespace) -> Result:
    store = await engine.store()
    symbols = None
    if args.symbols:
        symbols = frozenset(
            store.resolve(s).trading_symbol for s in args.symbols.split(",") if s.strip()
        )
    dry = bool(args.dry_run or not args.yes)
    monitor = await engine.monitor(
        interval_s=args.monitor_interval,
        max_below_entry_pct=args.max_below_entry_pct,
        dry_run=dry,
        symbols=symbols,
        include_positions=args.include_positions,
    )
    from gui_trader.cli.progress import MonitorProgress
    from gui_trader.cli.straddle import listening

    progress = MonitorProgress()
    with listening(engine, progress), progress.running(), on_interrupt(monitor.stop):
        report = await monitor.run(skip_wait=args.skip_wait, once=args.run_once)
    rows = [
        [
            r["symbol"],
            r["action"],
            r["qty"],
            r["entry"],
            r["ltp"] or "",
            f"{r['ema9']:.2f}" if r["ema9"] else "",
            f"{r['lowest_ema9']:.2f}" if r["lowest_ema9"] else "",
            r["order_price"] or "",
            r["pnl"] or "",
            r["reason"],
        ]
        for r in report
    ]
    text = table(
        ["SYMBOL", "ACTION", "QTY", "ENTRY", "LTP", "EMA9", "LOWEST", "ORDER", "P&L", "REASON"],
        rows,
    )
    if dry and not args.dry_run:
        text += "\ndry run: nothing sent (add --yes to place and lower orders)"
    payload = {
        "mode": engine.mode,
        "dry_run": dry,
        "symbols": report,
        "cycle_s": round(monitor.last_cycle_s, 3),
    }
    return monitor.failures == 0, payload, text
