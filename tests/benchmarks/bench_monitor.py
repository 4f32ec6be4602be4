"""EMA9 monitor cycles and chart updates. Prints one JSON document.

    .venv/bin/python tests/benchmarks/bench_monitor.py [--rtt-ms 500]

Monitor: the simulator in its own process with 200 extra held stocks and every request taking
the RTT. For 5, 50 and 200 managed symbols: our first cycle (history fetched once a day, orders
placed), a steady cycle (no new low: nothing to send), and a cycle where every symbol makes a new
low (one modify each, paced by the account's 10 orders/s); against the seed's approach on the
same simulator: one quote call per symbol, 10 at a time (its 10 worker threads).

Chart: offscreen, 375 one-minute bars + EMA9; ms per live update (last bar + last EMA point,
repainted), against a full redraw, and with antialiasing / the grid switched on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gui_trader.broker.neo import ClientLimits, NeoClient  # noqa: E402
from gui_trader.broker.session import MemorySessionStore  # noqa: E402
from gui_trader.engine.journal import Journal  # noqa: E402
from gui_trader.engine.monitor import Monitor, MonitorSettings  # noqa: E402
from gui_trader.engine.order_desk import OrderDesk  # noqa: E402
from gui_trader.market.ema import ema_today  # noqa: E402
from gui_trader.market.instruments import load_instruments  # noqa: E402
from tests.benchmarks.bench_orders import creds  # noqa: E402

SERVER = """
import sys
from gui_trader.sim.serve import build, serve_forever
port, latency = int(sys.argv[1]), float(sys.argv[2])
serve_forever(build(port, latency_ms=latency, extra_equities=200), port)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, rtt_ms: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.port), str(rtt_ms)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 30
        while True:  # a benchmark may poll for its server; tests never do
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def pin_all(url: str, symbols: list[str], factor: float, base: dict[str, float]) -> None:
    """Hold prices so a cycle sees no new low (factor 1.0) or a new low everywhere (< 1)."""
    async with httpx.AsyncClient() as c:
        await c.post(f"{url}/_sim/faults", json={"latency_ms": 0})
        # the simulator's admin API pins through a tiny endpoint below
        await c.post(f"{url}/_sim/pin", json={s: round(base[s] * factor, 2) for s in symbols})


async def our_cycles(url: str, n: int, rtt_ms: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    limits = ClientLimits(orders_per_second=10, requests_per_second=1000, concurrency=32)
    client = NeoClient("b", creds(), MemorySessionStore(), login_url=url, limits=limits)
    journal = await Journal(tmp / "j.sqlite3").open()
    store = await load_instruments(client, tmp / "cache")
    names = [f"SYN{i:03d}-EQ" for i in range(n)]
    mon = Monitor(
        client,
        OrderDesk(client, journal, "b"),
        journal,
        store,
        "b",
        MonitorSettings(symbols=frozenset(names), max_below_entry_pct=Decimal(100)),
        paper=True,
    )
    await client.login()
    # prices held just below EMA9 so every sell rests (nothing fills during the benchmark)
    quotes = {
        q.symbol: float(q.ltp) for q in await client.quotes([store.resolve(s).key for s in names])
    }
    await pin_all(url, names, 0.97, quotes)
    await set_latency(url, rtt_ms)
    t = time.perf_counter()
    await mon.cycle()
    first = time.perf_counter() - t
    t = time.perf_counter()
    await mon.cycle()  # same prices: no new low, nothing to send
    steady = time.perf_counter() - t
    await pin_all(url, names, 0.94, quotes)
    await set_latency(url, rtt_ms)
    t = time.perf_counter()
    report = await mon.cycle()
    lows = time.perf_counter() - t
    modified = sum(r["action"] == "modified" for r in report)
    await client.close()
    await journal.close()
    return {
        "first_cycle_s": round(first, 3),
        "steady_cycle_s": round(steady, 3),
        "new_low_cycle_s": round(lows, 3),
        "modifies": modified,
    }


async def set_latency(url: str, rtt_ms: float) -> None:
    async with httpx.AsyncClient() as c:
        await c.post(f"{url}/_sim/faults", json={"latency_ms": rtt_ms})


async def seed_cycle(url: str, n: int) -> float:
    """One quote call per symbol, 10 at a time, EMA9 per symbol: the earlier system's cycle."""
    tmp = Path(tempfile.mkdtemp())
    limits = ClientLimits(orders_per_second=1000, requests_per_second=1000, concurrency=32)
    client = NeoClient("s", creds(), MemorySessionStore(), login_url=url, limits=limits)
    store = await load_instruments(client, tmp / "cache")
    keys = [store.resolve(f"SYN{i:03d}-EQ").key for i in range(n)]
    await client.login()
    workers = asyncio.Semaphore(10)

    async def one(key: str) -> float:
        async with workers:
            [q] = await client.quotes([key])
            return ema_today(100.0, float(q.ltp))

    t = time.perf_counter()
    await asyncio.gather(*(one(k) for k in keys))
    elapsed = time.perf_counter() - t
    await client.close()
    return round(elapsed, 3)


def chart_bench(updates: int = 200) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from gui_trader.gui.chart import Bar, ChartPane

    app = QApplication.instance() or QApplication([])
    start = datetime(2026, 11, 20, 9, 15)
    bars, price = [], 1450.0
    for i in range(375):
        o = price
        price += ((i * 7919) % 13 - 6) * 0.35
        bars.append(
            Bar(start + timedelta(minutes=i), o, max(o, price) + 0.4, min(o, price) - 0.4, price)
        )

    def run(setup: Any, full: bool) -> list[float]:
        pane = ChartPane()
        pane.resize(1100, 480)
        setup(pane)
        pane.show()
        pane.show_bars("X", list(bars), "1min")
        pane.show_order(1460.0)
        app.processEvents()
        times = []
        for k in range(updates):
            t = time.perf_counter()
            if full:
                pane.show_bars("X", list(bars), "1min")
            else:
                pane.update_live(price + (k % 9 - 4) * 0.05)
            pane.graphics.viewport().repaint()
            app.processEvents()
            times.append((time.perf_counter() - t) * 1000)
        pane.close()
        return times

    def summary(times: list[float]) -> dict[str, float]:
        times = sorted(times)
        return {
            "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        }

    out = {
        "bars": 375,
        "live_update": summary(run(lambda p: None, False)),
        "full_redraw": summary(run(lambda p: None, True)),
    }
    pg.setConfigOptions(antialias=True)
    out["live_update_antialias"] = summary(
        run(lambda p: pg.setConfigOptions(antialias=True), False)
    )
    pg.setConfigOptions(antialias=False)
    out["live_update_showGrid"] = summary(run(lambda p: p.plot.showGrid(x=True, y=True), False))
    return out


async def main_async(rtt_ms: float) -> dict[str, Any]:
    results = []
    server = Server(0)
    try:
        for n in (5, 50, 200):
            ours = await our_cycles(server.url, n, rtt_ms)
            await set_latency(server.url, rtt_ms)
            seed = await seed_cycle(server.url, n)
            await set_latency(server.url, 0)
            results.append(
                {
                    "symbols": n,
                    **ours,
                    "seed_cycle_s": seed,
                    "seed_vs_steady": round(seed / ours["steady_cycle_s"], 1),
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr)
    finally:
        server.close()
    return {"rtt_ms": rtt_ms, "monitor": results}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rtt-ms", type=float, default=500.0)
    p.add_argument("--skip-chart", action="store_true")
    a = p.parse_args()
    out = asyncio.run(main_async(a.rtt_ms))
    if not a.skip_chart:
        out["chart"] = chart_bench()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
