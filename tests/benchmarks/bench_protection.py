"""Protective exits: trigger-to-wire on feed ticks and on the polling fallback, and many
positions stopping out at once against the account's order-rate bound.

Prints one JSON document. Not a test: figures depend on the machine. Usage:
    PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_protection.py [--positions 50]
        [--singles 20] [--latency-ms 20] [--feed-interval-ms 20] [--orders-per-second 10]

The simulator runs in its own process (`gui-trader sim`). Positions are one lot of NIFTY
options bought at a pinned price, each protected by an engine-watched stop; the price is then
pinned through the stop. Figures, per mode (feed: the market-data websocket; poll: feeds off,
the engine's 1 s poll):
- trigger_to_wire_ms: from the tick (or poll) that crossed the stop to the exit's request
  leaving (the target-less path: a new MARKET order through the exactly-once desk), measured
  one stop at a time (`--singles`), so no rate limit queues it;
- price_to_trigger_ms: from the moment the price moved (the pin) to the stop firing;
- burst: `--positions` stops crossed at once, wall from the pin to every exit done, against
  the bound the account's order rate sets (positions / orders per second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import keyring

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.bench_fanout import Ticker, configure, start_sim  # noqa: E402


def pct(data: list[float], q: float) -> float:
    s = sorted(data)
    return round(s[min(len(s) - 1, int(len(s) * q))], 2) if s else 0.0


async def run_mode(
    args: argparse.Namespace, banner: dict[str, Any], home: Path, feeds: bool
) -> dict[str, Any]:
    from gui_trader.app import open_context
    from gui_trader.config import Config, Paths
    from gui_trader.core.order import OrderRequest, OrderType, Product, Side
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.protection_rules import PState
    from gui_trader.engine.trading import TradingEngine

    config = Config.load(Paths(home).config)
    config.extra["feeds"] = {"enabled": feeds}
    config.save()
    ctx = await open_context(account="acct001", paths=Paths(home))
    engine = TradingEngine(ctx, EventHub(), poll_s=1.0)
    assert await engine.start()
    http = httpx.AsyncClient(base_url=banner["url"], timeout=30)
    try:
        store = engine.instruments
        assert store is not None
        expiry = store.expiries("NIFTY")[0]
        chain = list(reversed(store.chain("NIFTY", expiry)))
        opts = [o for row in chain for o in (row.call, row.put) if o is not None]
        wanted = args.singles + args.positions
        opts = opts[:wanted]
        if len(opts) < wanted:
            raise SystemExit(f"only {len(opts)} option contracts in the chain")

        async def pin(prices: dict[str, str]) -> None:
            (await http.post("/_sim/pin", json=prices)).raise_for_status()

        await pin({o.trading_symbol: "100" for o in opts})
        buys = [
            OrderRequest(o, Side.BUY, o.lot_size, OrderType.MARKET, None, Product.NRML)
            for o in opts
        ]
        outs = await asyncio.gather(*(engine.place(r) for r in buys))
        assert all(o.ok for o in outs), [o.error for o in outs if not o.ok][:3]
        await engine.refresh(full=True)
        prots = {}
        for o in opts:
            prots[o.trading_symbol] = await engine.protect(o.trading_symbol, sl=Decimal("90"))
        protector = engine.protector

        # One stop at a time: trigger-to-wire with nothing queued.
        price_to_trigger: list[float] = []
        with Ticker() as ticker:
            for o in opts[: args.singles]:
                p = prots[o.trading_symbol]
                t0 = time.perf_counter()
                await pin({o.trading_symbol: "85"})
                await asyncio.wait_for(protector.wait_all_done([p.id]), 30)
                if p.triggered_at is not None:
                    price_to_trigger.append((p.triggered_at - t0) * 1000)
            single_lag = ticker.p99()
        singles = list(protector.trigger_to_wire_ms)

        # Every other stop at once.
        burst = [prots[o.trading_symbol] for o in opts[args.singles :]]
        with Ticker() as ticker:
            t0 = time.perf_counter()
            await pin({o.trading_symbol: "85" for o in opts[args.singles :]})
            await asyncio.wait_for(protector.wait_all_done([p.id for p in burst]), 120)
            wall = time.perf_counter() - t0
            burst_lag = ticker.p99()
        exited = sum(p.state is PState.DONE and "exited" in p.reason for p in burst)
        bound = len(burst) / config.orders_per_second
        return {
            "mode": "feed" if feeds else "poll (1 s)",
            "trigger_to_wire_ms": {
                "p50": pct(singles, 0.5),
                "p99": pct(singles, 0.99),
                "n": len(singles),
            },
            "price_to_trigger_ms": {
                "p50": pct(price_to_trigger, 0.5),
                "p99": pct(price_to_trigger, 0.99),
            },
            "loop_lag_p99_ms_singles": single_lag,
            "burst": {
                "positions": len(burst),
                "exited": exited,
                "wall_s": round(wall, 3),
                "bound_s": round(bound, 3),
                "wall_over_bound": round(wall / bound, 3) if bound else None,
                "loop_lag_p99_ms": burst_lag,
            },
        }
    finally:
        await http.aclose()
        await engine.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--positions", type=int, default=50)
    p.add_argument("--singles", type=int, default=20)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--feed-interval-ms", type=float, default=20.0)
    p.add_argument("--orders-per-second", type=float, default=10.0)
    args = p.parse_args()
    from tests.support.keyrings import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    results = []
    for feeds in (True, False):
        proc, banner = start_sim(
            1, args.latency_ms, ["--feed-interval-ms", str(args.feed_interval_ms)]
        )
        try:
            with tempfile.TemporaryDirectory() as tmp:
                os.environ["GUI_TRADER_HOME"] = tmp
                configure(Path(tmp), banner, args.orders_per_second)
                results.append(asyncio.run(run_mode(args, banner, Path(tmp), feeds)))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    doc = {
        "latency_ms": args.latency_ms,
        "feed_interval_ms": args.feed_interval_ms,
        "orders_per_second": args.orders_per_second,
        "modes": results,
        "median_singles": statistics.median(r["trigger_to_wire_ms"]["p50"] for r in results),
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
