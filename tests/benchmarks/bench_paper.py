"""The paper book under load: a 100-order burst from one process, and orders per second that one
data folder's paper book sustains from 1, 2 and 5 processes at once.

Each order goes through the whole client (engine -> exactly-once desk -> journal -> wire client)
to the paper exchange; the account's order pacing is lifted so the figure is the app's, not the
10/s the broker allows. Prints one JSON document.

    python tests/benchmarks/bench_paper.py [--burst 100] [--orders 40] [--processes 1,2,5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


async def _engine() -> Any:
    from gui_trader.app import open_context
    from gui_trader.broker.neo import NeoClient
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.trading import TradingEngine

    engine = TradingEngine(await open_context(paper=True), EventHub())
    b = engine.ctx.broker
    assert isinstance(b, NeoClient)
    for limiter in (b.order_limiter, b.request_limiter):
        limiter.rate = limiter.burst = 100_000
    await engine.store()
    return engine


async def burst(n: int, rounds: int) -> dict[str, float]:
    from gui_trader.core.order import Side

    engine = await _engine()
    walls: list[float] = []
    try:
        await engine.place(engine.request("SBIN", Side.BUY, 1))  # warm: login, connections
        for _ in range(rounds):
            reqs = [engine.request("SBIN", Side.BUY, 1) for _ in range(n)]
            t = time.perf_counter()
            outcomes = await asyncio.gather(*(engine.ctx.desk.place(r) for r in reqs))
            walls.append((time.perf_counter() - t) * 1000)
            assert all(o.ok for o in outcomes)
    finally:
        await engine.ctx.close()
    return {
        "burst_ms_p50": round(statistics.median(walls), 1),
        "burst_ms_min": round(min(walls), 1),
    }


async def stream(count: int, concurrency: int) -> None:
    """One process of the multi-process run: `count` orders, `concurrency` in flight; prints
    its first-send and last-reply times."""
    from gui_trader.core.order import Side

    engine = await _engine()
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            outcome = await engine.ctx.desk.place(engine.request("ITC", Side.BUY, 1))
            assert outcome.ok, outcome.error

    try:
        await engine.place(engine.request("ITC", Side.BUY, 1))  # warm
        print("ready", flush=True)
        sys.stdin.readline()  # everyone starts together
        t0 = time.time()
        await asyncio.gather(*(one() for _ in range(count)))
        print(json.dumps({"start": t0, "end": time.time(), "orders": count}), flush=True)
    finally:
        await engine.ctx.close()


def processes(n: int, count: int, concurrency: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--stream", str(count), str(concurrency)]
    procs = [
        subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    done = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    wall = max(d["end"] for d in done) - min(d["start"] for d in done)
    total = sum(d["orders"] for d in done)
    return {
        "processes": n,
        "orders": total,
        "wall_s": round(wall, 3),
        "orders_per_s": round(total / wall, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--burst", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--orders", type=int, default=60, help="orders per process")
    p.add_argument("--concurrency", type=int, default=10, help="in flight per process")
    p.add_argument("--processes", default="1,2,5")
    p.add_argument("--stream", nargs=2, type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.stream:
        asyncio.run(stream(*a.stream))
        return
    os.environ["GUI_TRADER_HOME"] = tempfile.mkdtemp(prefix="bench-paper-")
    out: dict[str, Any] = {"cpu_count": os.cpu_count()}
    out["burst"] = asyncio.run(burst(a.burst, a.rounds))
    out["shared_book"] = []
    for n in (int(x) for x in a.processes.split(",") if x):
        os.environ["GUI_TRADER_HOME"] = tempfile.mkdtemp(prefix=f"bench-paper-{n}-")
        out["shared_book"].append(processes(n, a.orders, a.concurrency))
    print(json.dumps(out, indent=1))
    _stop_services()


def _stop_services() -> None:
    try:
        from gui_trader.sim.link import stop_service
    except ImportError:  # before the paper service existed
        return
    for home in Path(tempfile.gettempdir()).glob("bench-paper-*"):
        stop_service(home / "paper")


if __name__ == "__main__":
    main()
