"""A process trading the data folder's paper book: `python -m tests.support.paper_trader N SYMBOL`.

Places N one-share market buys through the engine (the window's code path) and prints one JSON
line per order as soon as it is placed, so a test can kill it between two orders or during one.
"""

from __future__ import annotations

import asyncio
import json
import sys

from gui_trader.app import open_context
from gui_trader.core.order import Side
from gui_trader.engine.events import EventHub
from gui_trader.engine.trading import TradingEngine


async def trade(count: int, symbol: str) -> None:
    ctx = await open_context(paper=True)
    engine = TradingEngine(ctx, EventHub())
    try:
        await engine.store()
        for _ in range(count):
            outcome = await engine.place(engine.request(symbol, Side.BUY, 1))
            line = {"tag": outcome.tag, "order_id": outcome.order_id, "ok": outcome.ok}
            print(json.dumps(line), flush=True)
    finally:
        await ctx.close()


if __name__ == "__main__":
    asyncio.run(trade(int(sys.argv[1]), sys.argv[2]))
