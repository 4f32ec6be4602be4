"""The window under load: start-up time, event-loop lag, per-frame cost, memory. Prints JSON.

    .venv/bin/python tests/benchmarks/bench_window.py [--runs 5]

1. Launch -> first frame: a fresh `gui-trader` process per run (GUI_TRADER_STARTUP_PROBE=exit);
   the parent times spawn to the "window shown" line.
2. In one process (offscreen, qasync as in the app): the paper engine running, an account of
   200 positions (the broker's positions reply carries them) read and published every second
   with their quotes, and a 100-order burst through the real order desk; event-loop lag sampled
   every 50 ms (overall, during the burst, and steady: from a second after the burst, the book
   ticking alone), each frame's drain, and the process's CPU while the burst ran.
3. Resident memory after all of that.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pct(data: list[float], q: float) -> float:
    data = sorted(data)
    return round(data[min(len(data) - 1, int(len(data) * q))], 2) if data else 0.0


def _launch(code: str, probe: str) -> dict[str, float]:
    """One fresh `gui-trader` process: seconds from spawn to each probe line it prints, and
    its CPU seconds. The window prints "window shown" when its first frame is processed,
    "window built" when every pane is in (the frame is shown first), and, unless
    the probe is "exit", "engine ready" once the paper engine has started."""
    argv = [sys.executable, "-c", "import sys; from gui_trader.cli import main; sys.exit(main())"]
    home = tempfile.mkdtemp()
    env = {
        **os.environ,
        "GUI_TRADER_STARTUP_PROBE": probe,
        "GUI_TRADER_HOME": home,  # a first start: no layout, no paper service
        "GUI_TRADER_PAPER_IDLE_S": "5",  # the paper service of a "quit" run leaves soon
        "PYTHONPATH": code,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
    }
    t0 = time.perf_counter()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, cwd=code)
    assert proc.stdout is not None
    seen: dict[str, float] = {}
    for line in proc.stdout:
        for what in ("window shown", "window built", "engine ready"):
            if line.startswith(what):
                seen[what] = time.perf_counter() - t0
                if "(CPU " in line:  # the process's own CPU seconds by then
                    seen[f"{what} cpu"] = float(line.split("(CPU ")[1].split()[0])
    proc.wait(60)
    if probe != "exit":  # its paper service would share the CPU with the next launches
        from gui_trader.sim.link import stop_service

        stop_service(Path(home) / "paper")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seen["cpu"] = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    seen.setdefault("window built", seen["window shown"])  # built before shown (older code)
    return seen


FLOOR = """
import time; t0 = time.perf_counter()
import asyncio, qasync
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
async def main():
    w = QMainWindow(); w.resize(1366, 738); w.show()
    for _ in range(2):
        e = asyncio.Event(); QTimer.singleShot(0, e.set); await e.wait()
    print(f"window shown after {time.perf_counter() - t0:.3f} s", flush=True)
with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as r:
    r.run(main())
"""


def floor(runs: int) -> float:
    """The stack's own floor: Python, PySide6 and qasync showing an empty QMainWindow after
    the same two loop turns, spawn to its line (p50 seconds)."""
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", FLOOR], env=env, capture_output=True, text=True, timeout=60
        ).stdout
        if out.startswith("window shown"):
            times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3) if times else float("nan")


def startup(runs: int) -> dict[str, object]:
    """Launch -> first frame (and -> every pane built) with GUI_TRADER_STARTUP_PROBE=exit;
    then launch -> engine ready (the window usable: panes built, paper engine started) with
    the "quit" probe, which quits through File -> Quit once ready."""
    # The console script's own import, on this checkout's code (PYTHONPATH), so run_all.py can
    # time another checkout with the same benchmark.
    code = os.environ.get("PYTHONPATH") or str(ROOT)
    # As installed: pip writes a wheel's bytecode at install time. A checkout run with
    # PYTHONDONTWRITEBYTECODE (set on this machine) would compile every module at every launch.
    compileall.compile_dir(str(Path(code) / "gui_trader"), quiet=1)
    exits = [_launch(code, "exit") for _ in range(runs)]
    readies = [_launch(code, "quit") for _ in range(max(1, runs // 2))]
    times = [r["window shown"] for r in exits]
    built = [r["window built"] for r in exits]
    ready = [r["engine ready"] for r in readies if "engine ready" in r]
    cpu = [r["cpu"] for r in exits]  # the child's own CPU seconds: steadier than wall time
    return {
        "runs": len(times),
        "launch_to_window_s_first": round(times[0], 3),  # the coldest of the runs
        "launch_to_window_s_p50": round(statistics.median(times), 3),
        "launch_to_window_s_max": round(max(times), 3),
        "launch_and_exit_cpu_s_p50": round(statistics.median(cpu), 3),
        "launch_to_window_built_s_p50": round(statistics.median(built), 3),
        "launch_to_engine_ready_s_p50": round(statistics.median(ready), 3) if ready else None,
        "floor_empty_window_s_p50": floor(runs),
    }


def load(seconds: float) -> dict[str, object]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["GUI_TRADER_HOME"] = tempfile.mkdtemp()
    import qasync
    from PySide6.QtWidgets import QApplication

    from gui_trader.broker.neo import NeoClient
    from gui_trader.broker.neo_rows import position_from_row
    from gui_trader.core.market_data import Quote
    from gui_trader.core.order import Side
    from gui_trader.core.portfolio import Position
    from gui_trader.engine.events import PositionsUpdated, QuotesUpdated
    from gui_trader.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    result: dict[str, object] = {}

    async def main() -> None:
        window = MainWindow()
        window.confirm = lambda t, x: True  # type: ignore[method-assign]
        window.show()
        assert await window.start(paper=True)
        engine = window.engine
        assert engine is not None
        b = engine.ctx.broker  # measure the app, not the account's configured pacing
        assert isinstance(b, NeoClient)
        for limiter in (b.order_limiter, b.request_limiter):
            limiter.rate = limiter.burst = 1000
        drain_ms: list[float] = []
        original = window.drain

        def timed_drain() -> int:
            t = time.perf_counter()
            n = original()
            if n:
                drain_ms.append((time.perf_counter() - t) * 1000)
            return n

        window.drain_timer.timeout.disconnect()
        window.drain_timer.timeout.connect(timed_drain)
        rng = random.Random(1)
        # The account holds the 200 positions: the broker's positions reply carries them as
        # wire rows, parsed on every read as a real reply is, so an engine refresh republishes
        # the same book (publishing a book of its own, the benchmark had every refresh swap
        # 199 rows out and back in, which no account does).
        wire = [
            {
                "trdSym": f"SYM{i:03d}-EQ",
                "exSeg": "nse_cm",
                "tok": str(90000 + i),
                "prod": "CNC",
                "flBuyQty": str(rng.randint(1, 500)),
                "buyAmt": str(1000 * (i + 1)),
                **dict.fromkeys(("cfBuyQty", "flSellQty", "cfSellQty", "ltp"), "0"),
                **dict.fromkeys(("cfBuyAmt", "sellAmt", "cfSellAmt"), "0"),
                **dict.fromkeys(("multiplier", "genNum", "genDen", "prcNum", "prcDen"), "1"),
            }
            for i in range(200)
        ]
        paper_positions = b.positions

        async def positions_reply() -> list[Position]:
            return [*await paper_positions(), *(position_from_row(r) for r in wire)]

        b.positions = positions_reply  # type: ignore[method-assign]
        positions = tuple(position_from_row(r) for r in wire)
        # Start-up (the engine opening, the chart built and its first bars, the first paint of
        # every pane with data) is reported on its own as start_settle_lag_ms_max, not as the
        # load's lag.
        deadline = time.perf_counter() + 20

        def charted() -> bool:  # the pane built and its first bars drawn (loaded after start)
            chart = window.charts.chart
            return chart is not None and bool(getattr(chart, "bars", None))

        while not charted() and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # a benchmark may poll; tests never do
        await asyncio.sleep(0.5)
        settle = list(engine.lag.samples)
        engine.lag.samples.clear()

        async def feed() -> None:
            tick = 0
            while True:
                tick += 1
                window.hub.publish(PositionsUpdated(tuple(await b.positions())))
                window.hub.publish(
                    QuotesUpdated(
                        tuple(
                            Quote(
                                "nse_cm",
                                p.token,
                                p.trading_symbol,
                                Decimal(1000 + rng.randint(-500, 500)) / 100 * (i + 1),
                                Decimal(10) * (i + 1),
                            )
                            for i, p in enumerate(positions)
                        )
                    )
                )
                await asyncio.sleep(1.0)

        async def burst() -> float:
            await asyncio.sleep(1.0)
            inst = engine.instrument("RELIANCE")
            from gui_trader.core.order import OrderRequest

            t, cpu = time.perf_counter(), time.process_time()
            outcomes = await asyncio.gather(
                *(engine.ctx.desk.place(OrderRequest(inst, Side.BUY, 1)) for _ in range(100))
            )
            assert all(o.ok for o in outcomes)
            await engine.refresh()
            # Every thread of this process (the loop, the journal's, Qt's): how busy the
            # burst kept the machine while the window went on painting.
            result["burst_process_cpu_ms"] = round((time.process_time() - cpu) * 1000, 1)
            return (time.perf_counter() - t) * 1000

        feeder = asyncio.create_task(feed())
        burst_ms = await burst()
        during = len(engine.lag.samples)  # the burst's second and the orders' round trips
        await asyncio.sleep(seconds)
        feeder.cancel()
        lag = list(engine.lag.samples)
        steady = lag[during + 20 :]  # a second after the burst: the book ticking alone
        result.update(
            {
                "positions": 200,
                "updates_per_second": 1,
                "burst_orders": 100,
                "burst_ms": round(burst_ms, 1),
                "loop_lag_ms_p50": pct(lag, 0.5),
                "loop_lag_ms_p99": pct(lag, 0.99),
                "loop_lag_ms_max": round(max(lag), 2),
                "loop_lag_burst_ms_p99": pct(lag[:during], 0.99),
                "loop_lag_burst_ms_max": round(max(lag[:during], default=0.0), 2),
                "loop_lag_steady_ms_p99": pct(steady, 0.99),
                "loop_lag_steady_ms_max": round(max(steady, default=0.0), 2),
                "lag_samples": len(lag),
                "start_settle_lag_ms_max": round(max(settle, default=0.0), 2),
                "frame_drain_ms_p50": pct(drain_ms, 0.5),
                "frame_drain_ms_p99": pct(drain_ms, 0.99),
                "frames_with_events": len(drain_ms),
                "orders_in_model": window.orders_model.rowCount(),
            }
        )
        await window.shutdown()
        window.close()
        from gui_trader.sim.link import stop_service

        # Not left idling for its 15 minutes: the next benchmark would share the CPU with it.
        stop_service(window.paths.paper)

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        runner.run(main())
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                result[f"{key.lower()}_mb"] = round(int(value.split()[0]) / 1024, 1)
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seconds", type=float, default=20.0)
    a = p.parse_args()
    out = {"startup": startup(a.runs), "load": load(a.seconds), "cpu_count": os.cpu_count()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
