"""Straddle runs over loopback at 50 ms and 200 ms round trips. Prints one JSON document.

    .venv/bin/python tests/benchmarks/bench_straddle.py [--delay 1.0] [--runs 3]

For each RTT (the simulator in its own process, latency = RTT):
- the seed's case (167 lots, 20 per batch, a delay between batches): wall time from the first
  login request to the last batch's replies, against the ideal
  2 login RTT + batches x RTT + (batches - 1) x delay;
- CE/PE skew at the server (arrival times of the two legs of each batch), p50/p99;
- paced mode (no delay, 10 orders/s, the default account limit): wall time for 167 lots;
- the seed's own approach on the same simulator: a new login for every order, the CALL then
  the PUT one after the other, the same delay between batches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gui_trader.broker.neo import ClientLimits, NeoClient  # noqa: E402
from gui_trader.broker.session import MemorySessionStore  # noqa: E402
from gui_trader.core.order import OrderRequest, Product, Side  # noqa: E402
from gui_trader.engine import straddle as sd  # noqa: E402
from gui_trader.engine import straddle_plan as sp  # noqa: E402
from gui_trader.engine.events import EventHub, RunProgress  # noqa: E402
from gui_trader.engine.journal import Journal  # noqa: E402
from gui_trader.engine.order_desk import OrderDesk  # noqa: E402
from gui_trader.market.instruments import load_instruments  # noqa: E402
from tests.benchmarks.bench_orders import creds, server  # noqa: E402


def pct(data: list[float], q: float) -> float:
    data = sorted(data)
    return round(data[min(len(data) - 1, int(len(data) * q))], 3) if data else 0.0


class Clocked(EventHub):
    """Notes when the last batch's replies are in."""

    def __init__(self) -> None:
        super().__init__()
        self.last_batch_at = 0.0

    def publish(self, event: Any) -> None:
        if isinstance(event, RunProgress) and event.state in ("running",):
            self.last_batch_at = time.perf_counter()


async def our_run(url: str, delay: float | None, limits: ClientLimits) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp())
    client = NeoClient("b", creds(), MemorySessionStore(), login_url=url, limits=limits)
    journal = await Journal(tmp / "j.sqlite3").open()
    store = await load_instruments(client, tmp / "cache")
    expiry = store.expiries("NIFTY")[0]
    spec = sp.StraddleSpec("NIFTY", expiry, lots=167, batch_lots=20, atm_steps=0, delay_s=delay)
    plan = await sp.prepare_plan(
        spec,
        client,
        store,
        today=expiry,
        market_open=True,
        orders_per_second=limits.orders_per_second,
        check_margin=True,  # as Arm does: its two concurrent calls leave warm connections
    )
    hub = Clocked()
    run = sd.StraddleRun(plan, OrderDesk(client, journal, "b"), hub=hub)
    await client.logout()  # the run below includes its own login, as the ideal assumes
    t0 = time.perf_counter()
    await client.login()  # 2 round trips: TOTP login + MPIN validate (after the logout above)
    summary = await run.execute()
    d = summary.to_json()
    await client.close()
    await journal.close()
    return {
        "wall_s": hub.last_batch_at - t0,  # to the last batch's replies (delay mode)
        "summary": d,
        "tags": [o["tag"] for o in d["orders"]],
        "paced_total_s": summary.elapsed_s,
    }


async def seed_run(url: str, delay: float) -> float:
    """The earlier system: a login per order, CALL then PUT, delay between batches."""
    tmp = Path(tempfile.mkdtemp())
    probe = NeoClient(
        "p", creds(), MemorySessionStore(), login_url=url, transport=httpx.AsyncHTTPTransport()
    )
    store = await load_instruments(probe, tmp / "cache")
    expiry = store.expiries("NIFTY")[0]
    chain = store.chain("NIFTY", expiry)
    row = chain[len(chain) // 2]
    await probe.close()
    limits = ClientLimits(orders_per_second=1000, requests_per_second=1000)
    t0 = time.perf_counter()
    for n, lots in enumerate(sp.split_lots(167, 20)):
        if n:
            await asyncio.sleep(delay)
        for inst in (row.call, row.put):
            assert inst is not None
            c = NeoClient("s", creds(), MemorySessionStore(), login_url=url, limits=limits)
            await c.place(
                OrderRequest(
                    inst,
                    Side.SELL,
                    lots * 75,
                    product=Product.NRML,
                    tag=f"Z{n}{inst.option_type}{time.time_ns() % 10**6}",
                )
            )
            await c.close()
    return time.perf_counter() - t0


async def skews(url: str, tags: list[str]) -> list[float]:
    async with httpx.AsyncClient() as c:
        arrivals = {tag: t for t, tag in (await c.get(f"{url}/_sim/arrivals")).json()["arrivals"]}
    out = []
    for i in range(0, len(tags), 2):
        a, b = arrivals.get(tags[i]), arrivals.get(tags[i + 1])
        if a is not None and b is not None:
            out.append(abs(a - b) / 1e6)
    return out


async def main_async(rtt_ms: float, delay: float, runs: int) -> dict[str, Any]:
    rtt = rtt_ms / 1000
    ideal = 2 * rtt + 9 * rtt + 8 * delay
    fast = ClientLimits(orders_per_second=1000, requests_per_second=1000)
    walls, skew = [], []
    with server(rtt_ms) as url:
        for _ in range(runs):
            r = await our_run(url, delay, fast)
            walls.append(r["wall_s"])
            skew += await skews(url, r["tags"])
        paced = [await our_run(url, None, ClientLimits()) for _ in range(runs)]
        seed = await seed_run(url, delay)
    wall = statistics.median(walls)
    return {
        "rtt_ms": rtt_ms,
        "skew_ms_at_server_max": round(max(skew), 3) if skew else None,
        "delay_s": delay,
        "batches": 9,
        "runs": runs,
        "wall_s_p50": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "overhead_pct": round((wall - ideal) / ideal * 100, 2),
        "skew_ms_at_server_p50": pct(skew, 0.5),
        "skew_ms_at_server_p99": pct(skew, 0.99),
        "skew_samples": len(skew),
        "paced_10_orders_per_s_s_p50": round(
            statistics.median(p["paced_total_s"] for p in paced), 3
        ),
        "paced_logins": paced[0]["summary"]["logins"],
        "seed_approach_s": round(seed, 3),
        "seed_vs_ours": round(seed / wall, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--delay", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    results = [asyncio.run(main_async(rtt, a.delay, a.runs)) for rtt in (50.0, 200.0)]
    print(json.dumps({"results": results}, indent=1))


if __name__ == "__main__":
    main()
