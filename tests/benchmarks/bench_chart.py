"""The chart's live path: what one tick costs, painted. Prints JSON.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_chart.py [--ticks 400]

375 one-minute candles (a trading day) at 1100x480 as in STACK-NOTES, the pane shown offscreen.
Each tick is `update_live(ltp)` plus the paint it causes (processEvents), timed together: the
cost a live quote adds to the GUI thread (wall time, and this process's CPU time, which other
load on the machine disturbs less). Also a full `show_bars` (a new symbol), and, where
the pane has a crosshair, one crosshair move (what a rate-limited mouse move does) with its paint.
And the pane's build: in all, and its longest single step where it builds a step per event-loop
turn (as the window does at start; a pane built in one go is one step), which is what holds
the loop; then its first show, empty.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import statistics
import time
from datetime import datetime, timedelta
from typing import Any


def pct(data: list[float], q: float) -> float:
    data = sorted(data)
    return round(data[min(len(data) - 1, int(len(data) * q))], 2) if data else 0.0


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50": pct(ms, 0.5),
        "p90": pct(ms, 0.9),
        "p99": pct(ms, 0.99),
        "mean": round(statistics.fmean(ms), 2),
    }


def build_figures(app: Any, pane_class: Any, rounds: int = 5) -> dict[str, Any]:
    """The pane's build: all of it, its longest step, and its first show (empty, 1100x480)."""
    staged = "build" in inspect.signature(pane_class).parameters
    total: list[float] = []
    longest: list[float] = []
    shown: list[float] = []
    for _ in range(rounds):
        steps: list[float] = []
        t = time.perf_counter()
        pane = pane_class(build=False) if staged else pane_class()
        if staged:
            for _ in pane.build_steps():
                now = time.perf_counter()
                steps.append((now - t) * 1000)
                t = now
        steps.append((time.perf_counter() - t) * 1000)
        total.append(sum(steps))
        longest.append(max(steps))
        t = time.perf_counter()
        pane.resize(1100, 480)
        pane.show()
        app.processEvents()
        shown.append((time.perf_counter() - t) * 1000)
        pane.close()
        pane.deleteLater()
        app.processEvents()
    return {
        "build_ms": summary(total),
        "build_step_max_ms": summary(longest),
        "first_show_ms": summary(shown),
    }


def run(n_ticks: int = 400, n_bars: int = 375) -> dict[str, Any]:
    """The figures as a dict (run_all.py imports this)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from gui_trader.gui.chart import Bar, ChartPane

    app = QApplication.instance() or QApplication([])
    rng = random.Random(7)
    t0 = datetime(2025, 1, 6, 9, 15)
    bars: list[Any] = []
    price = 1000.0
    for i in range(n_bars):
        o = price
        c = max(1.0, o + rng.uniform(-3, 3))
        high, low = max(o, c) + rng.uniform(0, 2), min(o, c) - rng.uniform(0, 2)
        volume = rng.randint(1000, 90000)
        try:
            bars.append(Bar(t0 + timedelta(minutes=i), o, high, low, c, volume))
        except TypeError:  # a chart from before volume bars (to compare with)
            bars.append(Bar(t0 + timedelta(minutes=i), o, high, low, c))
        price = c
    built = build_figures(app, ChartPane)
    pane = ChartPane()
    pane.resize(1100, 480)
    pane.show()
    app.processEvents()

    full: list[float] = []
    for _ in range(10):
        t = time.perf_counter()
        pane.show_bars("BENCH-EQ", list(bars), "1min")
        app.processEvents()
        full.append((time.perf_counter() - t) * 1000)

    ticks: list[float] = []
    cpu: list[float] = []
    ltp = bars[-1].close
    for _ in range(n_ticks):
        ltp = max(1.0, ltp + rng.uniform(-1.5, 1.5))
        t, c = time.perf_counter(), time.process_time()
        pane.update_live(ltp)
        app.processEvents()
        ticks.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)

    vb = pane.plot.vb if hasattr(pane.plot, "vb") else pane.plot.getViewBox()
    pans: list[float] = []  # a pan: the view's range moves, every cached picture is redrawn
    for i in range(60):
        t = time.perf_counter()
        vb.setXRange(i % 30, n_bars - 30 + i % 30, padding=0)
        app.processEvents()
        pans.append((time.perf_counter() - t) * 1000)
    vb.enableAutoRange()
    app.processEvents()

    out: dict[str, Any] = {
        "bars": n_bars,
        "size": "1100x480",
        "show_bars_ms": summary(full),
        "live_tick_ms": summary(ticks),
        "live_tick_cpu_ms": summary(cpu),  # this process's CPU: steadier on a busy machine
        "pan_ms": summary(pans),
        **built,
    }
    if hasattr(pane, "crosshair_at"):  # what one (rate-limited) mouse move costs, painted
        moves: list[float] = []
        moves_cpu: list[float] = []
        for i in range(n_ticks):
            t, c = time.perf_counter(), time.process_time()
            pane.crosshair_at((i * 7) % n_bars, ltp + (i % 20) - 10)
            app.processEvents()
            moves.append((time.perf_counter() - t) * 1000)
            moves_cpu.append((time.process_time() - c) * 1000)
        out["crosshair_move_ms"] = summary(moves)
        out["crosshair_move_cpu_ms"] = summary(moves_cpu)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ticks", type=int, default=400)
    p.add_argument("--bars", type=int, default=375)
    a = p.parse_args()
    print(json.dumps(run(a.ticks, a.bars), indent=1))


if __name__ == "__main__":
    main()
