"""Every benchmark behind issue 16's table, one table of today's figures beside the targets.

    .venv/bin/python tests/benchmarks/run_all.py [--json] [--markdown] [--quick]

Imports the benchmarks' own functions (each file still runs alone and prints its full JSON);
this only collects the rows. Bounded: about a minute (--quick: fewer repetitions). Figures
depend on the machine and its load; compare two checkouts in one run by alternating them:
    PYTHONPATH=/path/to/other/checkout .venv/bin/python tests/benchmarks/run_all.py --json
(run from outside either checkout so the PYTHONPATH code is the one imported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_chart  # noqa: E402
import bench_orders  # noqa: E402
import bench_window  # noqa: E402


@dataclass(frozen=True)
class Row:
    what: str
    figure: str
    target: str
    met: bool | None
    value: float


def orders(rounds: int) -> dict[str, Any]:
    """Raw aiohttp and the app's default client (32 in flight) against the same
    out-of-process simulator (20 ms)."""
    out: dict[str, Any] = {}
    for name in ("raw_aiohttp", "gui_trader_client_c32"):
        got = asyncio.run(bench_orders.main_async(20.0, rounds, name))
        out[name] = got[name]
    return out


def rows(o: dict[str, Any], w: dict[str, Any], c: dict[str, Any]) -> list[Row]:
    raw, app = o["raw_aiohttp"], o["gui_trader_client_c32"]
    one = app["1"]
    # Round trip less the simulator's own time for that order (older runs: less the
    # configured latency, which also counts the simulator's work).
    one50 = one.get("client_overhead_ms_p50", one["overhead_ms_p50"])
    one99 = one.get("client_overhead_ms_p99", one["overhead_ms_p99"])
    raw50 = raw["1"].get("client_overhead_ms_p50", raw["1"]["overhead_ms_p50"])
    cpu = app.get("client_cpu_ms_per_order", float("nan"))
    raw_cpu = raw.get("client_cpu_ms_per_order", float("nan"))
    b100 = app["100"]["burst_wall_ms_p50"] / raw["100"]["burst_wall_ms_p50"]
    b500 = app["500"]["burst_wall_ms_p50"] / raw["500"]["burst_wall_ms_p50"]
    load, start = w["load"], w["startup"]
    p99, mx = load["loop_lag_ms_p99"], load["loop_lag_ms_max"]
    tick = c["live_tick_ms"]["p50"]
    nan = float("nan")

    def lag(name: str) -> str:
        return f"{load.get('loop_lag_' + name, nan):.1f}"

    s50, cold = start["launch_to_window_s_p50"], start["launch_to_window_s_first"]
    return [
        Row(
            "One order, client overhead over the server's own time (p50 / p99)",
            f"{one50:.2f} / {one99:.2f} ms (raw aiohttp {raw50:.2f} ms p50);"
            f" client CPU {cpu:.2f} ms an order (raw aiohttp {raw_cpu:.2f})",
            "<= 1 ms p50, <= 3 ms p99",
            one50 <= 1 and one99 <= 3,
            one50,
        ),
        Row(
            "100-order burst, server at 20 ms",
            f"{app['100']['burst_wall_ms_p50']:.1f} ms = {b100:.2f} x raw aiohttp"
            f" ({raw['100']['burst_wall_ms_p50']:.1f} ms)",
            "<= 1.5 x raw aiohttp",
            b100 <= 1.5,
            b100,
        ),
        Row(
            "500-order burst, server at 20 ms",
            f"{app['500']['burst_wall_ms_p50']:.1f} ms = {b500:.2f} x raw aiohttp"
            f" ({raw['500']['burst_wall_ms_p50']:.1f} ms)",
            "<= 2 x raw aiohttp",
            b500 <= 2,
            b500,
        ),
        Row(
            "Event-loop lag, 200 positions updating + 100-order burst (p99 / max)",
            f"{p99:.1f} / {mx:.1f} ms; during the burst's second"
            f" {lag('burst_ms_p99')} / {lag('burst_ms_max')} (the burst: {load['burst_ms']:.0f}"
            f" ms, {load.get('burst_process_cpu_ms', nan):.0f} ms of CPU), the book ticking alone"
            f" {lag('steady_ms_p99')} / {lag('steady_ms_max')} (the largest stall while"
            f" starting, apart: {load.get('start_settle_lag_ms_max', nan):.0f} ms)",
            "p99 <= 8 ms, max <= 33 ms",
            p99 <= 8 and mx <= 33,
            mx,
        ),
        Row(
            "Chart live update, 375 one-minute bars + EMA9 (p50)",
            f"{tick:.2f} ms (CPU {c['live_tick_cpu_ms']['p50']:.2f} ms)",
            "<= 2 ms p50",
            tick <= 2,
            tick,
        ),
        Row(
            "Launch to window shown (p50 / first run)",
            f"{s50:.2f} / {cold:.2f} s (CPU {start['launch_and_exit_cpu_s_p50']:.2f} s);"
            f" every pane in {start.get('launch_to_window_built_s_p50', s50):.2f} s;"
            f" floor, an empty qasync window: {start.get('floor_empty_window_s_p50', nan):.2f} s",
            "<= 0.3 s p50, <= 0.5 s cold",
            s50 <= 0.3 and cold <= 0.5,
            s50,
        ),
    ]


def markdown(table: list[Row]) -> str:
    lines = ["| What | Measured | Target | Met |", "|---|---|---|---|"]
    lines += [f"| {r.what} | {r.figure} | {r.target} | {'yes' if r.met else 'no'} |" for r in table]
    return "\n".join(lines)


def plain(table: list[Row]) -> str:
    w1, w2 = max(len(r.what) for r in table), max(len(r.figure) for r in table)
    return "\n".join(
        f"{r.what:<{w1}}  {r.figure:<{w2}}  {r.target}  {'MET' if r.met else 'not met'}"
        for r in table
    )


def step(s: str) -> None:
    print(f"run_all: {s}", file=sys.stderr, flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--json", action="store_true", help="one JSON document: rows and raw figures")
    p.add_argument("--markdown", action="store_true", help="the table for README's Performance")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    p.add_argument("--from-json", type=Path, help="print a saved --json run's table again")
    a = p.parse_args()
    if a.from_json:
        saved = json.loads(a.from_json.read_text())
        table = rows(saved["orders"], saved["window"], saved["chart"])
        print(markdown(table) if a.markdown else plain(table))
        return
    step("orders")
    o = orders(2 if a.quick else 5)
    step("window start-up")
    start = bench_window.startup(3 if a.quick else 7)
    step("window load")
    load = bench_window.load(3.0 if a.quick else 6.0)
    step("chart")
    c = bench_chart.run(150 if a.quick else 400)
    w = {"startup": start, "load": load}
    table = rows(o, w, c)
    if a.json:
        doc = {
            "cpu_count": os.cpu_count(),
            "code": os.environ.get("PYTHONPATH") or str(HERE.parents[1]),
            "rows": [r.__dict__ for r in table],
            "orders": o,
            "window": w,
            "chart": c,
        }
        print(json.dumps(doc, indent=1))
    elif a.markdown:
        print(markdown(table))
    else:
        print(plain(table))


if __name__ == "__main__":
    main()
