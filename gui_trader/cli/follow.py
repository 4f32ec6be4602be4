"""`quote --follow` and `orders --follow`: one line per tick or order update, from the live
feeds (REST every second while the market feed is down, marked `source: poll`), until Ctrl-C,
SIGTERM or `--duration`; exit 0 when the stream ended as asked."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from gui_trader.cli.interrupt import on_interrupt
from gui_trader.cli.output import Result, Streamed
from gui_trader.core.instrument import Instrument
from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


def quote_line(q: Quote) -> dict[str, Any]:
    return {
        "symbol": q.symbol,
        "ltp": str(q.ltp),
        "bid": str(q.bid),
        "ask": str(q.ask),
        "ts": q.time.isoformat() if q.time else None,
        "source": q.source,
    }


def order_line(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "tag": o.tag,
        "status": o.status.value,
        "filled_qty": o.filled_qty,
        "avg_price": str(o.avg_price),
        "symbol": o.trading_symbol,
    }


def _text(item: dict[str, Any]) -> str:
    if "ltp" in item:
        ts = (item["ts"] or "")[11:19]
        return (
            f"{ts:8}  {item['symbol']:<20} {item['ltp']:>10}  "
            f"bid {item['bid']:>10}  ask {item['ask']:>10}  {item['source']}"
        )
    return (
        f"{item['order_id']}  {item['symbol']:<20} {item['status']:<16} "
        f"filled {item['filled_qty']} @ {item['avg_price']}  {item['tag']}"
    )


async def follow(
    engine: TradingEngine,
    args: argparse.Namespace,
    instruments: list[Instrument],
    *,
    quotes: bool,
) -> Result:
    as_json = bool(getattr(args, "json", False))
    stop = asyncio.Event()
    deadline = None if args.duration is None else time.monotonic() + args.duration
    lines = 0

    def said(name: str, state: str, failures: int) -> None:
        wanted = "market" if quotes else "orders"
        if name == wanted:
            more = f" ({failures})" if failures else ""
            print(f"gui-trader: {name} feed {state}{more}", file=sys.stderr, flush=True)

    async with engine.follow(instruments, said) as stream:
        with on_interrupt(stop.set):
            while not stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                getter = asyncio.ensure_future(stream.queue.get())
                stopper = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait(
                    {getter, stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                stopper.cancel()
                if getter not in done:
                    getter.cancel()
                    continue
                item = getter.result()
                if isinstance(item, Quote) != quotes:
                    continue  # quote --follow shows ticks; orders --follow shows orders
                row = quote_line(item) if isinstance(item, Quote) else order_line(item)
                print(json.dumps(row) if as_json else _text(row), flush=True)
                lines += 1
    print(f"gui-trader: {lines} updates", file=sys.stderr)
    return 0, Streamed(), ""
