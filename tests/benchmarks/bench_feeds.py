"""The live feeds under load: 200 instruments subscribed, the simulator pushing every 200 ms.

The window (offscreen) trades a live account on an in-process simulator over loopback, so the
moment the server hands a frame to its socket and the moment the client's model and screen have
it are read on one clock. Two phases of equal length: polling only (`[feeds] enabled = false`),
then the feeds. Prints one JSON document:

- tick -> model: server send -> the engine's quotes updated (p50/p99 ms)
- tick -> screen: server send -> the window's next drain done (models emitted; p50/p99 ms)
- loop lag p99 while ticking, client CPU per 1,000 ticks (the GUI thread's own CPU time)
- REST requests per minute in each phase

    python tests/benchmarks/bench_feeds.py [--seconds 20] [--instruments 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def pct(data: list[float], q: float) -> float:
    if not data:
        return float("nan")
    data = sorted(data)
    return round(data[min(len(data) - 1, int(q * len(data)))], 2)


def run(seconds: float, instruments: int) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    from gui_trader.config import Config, Paths
    from gui_trader.gui.main_window import MainWindow
    from gui_trader.sim import feed_socket
    from gui_trader.sim.serve import start
    from tests.reliability.rig import ACCOUNT, LiveRig

    app = QApplication.instance() or QApplication([])
    sent: list[float] = []
    original_put = feed_socket.FeedSocket.put

    def timed_put(self: feed_socket.FeedSocket, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            sent.append(time.perf_counter())
        original_put(self, frame)

    feed_socket.FeedSocket.put = timed_put  # type: ignore[method-assign,assignment]
    out: dict[str, Any] = {"instruments": instruments, "seconds_per_phase": seconds}

    with start() as server:
        rig = LiveRig(Path(tempfile.mkdtemp()), server)
        os.environ["GUI_TRADER_HOME"] = str(rig.home)

        async def phase(feeds: bool) -> dict[str, Any]:
            config = Config.load(Paths(rig.home).config)
            config.extra["feeds"] = {"enabled": feeds}
            config.save()
            window = MainWindow()
            window.confirm = lambda t, x: True  # type: ignore[method-assign]
            window.show()
            with rig.keyring():
                assert await window.start(account=ACCOUNT)
            engine = window.engine
            assert engine is not None
            store = engine.instruments
            assert store is not None
            engine.extra_keys = {i.key for i in store.all[:instruments]}
            applied: list[float] = []
            screen: list[float] = []
            pending: list[int] = []
            parse_cpu: list[float] = []
            if feeds:
                feed = engine.feed
                assert feed is not None
                feed.sync()
                market = feed.feeds.market  # type: ignore[attr-defined]
                inner = market._on_quotes

                def on_quotes(quotes: list[Any]) -> None:
                    inner(quotes)
                    applied.append(time.perf_counter())
                    pending.append(len(applied) - 1)

                market._on_quotes = on_quotes
                reader = market.reader
                read = reader.read

                def timed_read(frame: bytes) -> list[Any]:
                    t = time.thread_time()
                    quotes: list[Any] = read(frame)
                    parse_cpu.append(time.thread_time() - t)
                    return quotes

                reader.read = timed_read
                drain = window.drain

                def timed_drain() -> int:
                    n = drain()
                    if pending:
                        t = time.perf_counter()
                        screen.extend(t for _ in pending)
                        pending.clear()
                    return n

                window.drain_timer.timeout.disconnect()
                window.drain_timer.timeout.connect(timed_drain)
                deadline = time.monotonic() + 30
                while not (feed.market_live and len(applied) > 5):
                    assert time.monotonic() < deadline, "the market feed never came up"
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # the subscription's snapshot is not steady state
            s0, a0 = len(sent), len(applied)
            r0 = sum(server.app.requests.values())
            engine.lag.samples.clear()
            ticks0 = engine.feed.ticks if engine.feed else 0
            parse_cpu.clear()
            cpu0 = time.thread_time()
            await asyncio.sleep(seconds)
            cpu = time.thread_time() - cpu0
            requests = sum(server.app.requests.values()) - r0
            ticks = (engine.feed.ticks if engine.feed else 0) - ticks0
            lag = list(engine.lag.samples)
            result: dict[str, Any] = {
                "rest_requests_per_min": round(requests * 60 / seconds, 1),
                "loop_lag_ms_p99": pct(lag, 0.99),
                "loop_lag_ms_max": round(max(lag), 2) if lag else None,
                "gui_thread_cpu_pct": round(cpu / seconds * 100, 1),
            }
            if feeds:
                n = min(len(sent), len(applied)) - s0
                model = [(applied[a0 + i] - sent[s0 + i]) * 1000 for i in range(n)]
                shown = [
                    (screen[a0 + i] - sent[s0 + i]) * 1000 for i in range(min(n, len(screen) - a0))
                ]
                result |= {
                    "ticks": ticks,
                    "ticks_per_s": round(ticks / seconds, 1),
                    "frames": n,
                    "tick_to_model_ms_p50": pct(model, 0.5),
                    "tick_to_model_ms_p99": pct(model, 0.99),
                    "tick_to_screen_ms_p50": pct(shown, 0.5),
                    "tick_to_screen_ms_p99": pct(shown, 0.99),
                    "cpu_ms_per_1000_ticks": round(cpu * 1000 / ticks * 1000, 1) if ticks else None,
                    "parse_cpu_ms_per_1000_ticks": round(sum(parse_cpu) * 1e6 / ticks, 1)
                    if ticks
                    else None,
                    "mean_frame_interval_ms": round(
                        statistics.mean(b - a for a, b in itertools.pairwise(sent)) * 1000,
                        1,
                    )
                    if len(sent) > 1
                    else None,
                }
            await window.shutdown()
            window.close()
            return result

        async def both() -> None:
            out["polling"] = await phase(False)
            out["feeds"] = await phase(True)

        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            runner.run(both())
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--instruments", type=int, default=200)
    a = p.parse_args()
    print(json.dumps(run(a.seconds, a.instruments), indent=2))


if __name__ == "__main__":
    main()
