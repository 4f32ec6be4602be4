"""Signal fan-out: 10 signals x 50 live accounts at 200 ms RTT over loopback, the seed's way
(account after account, order after order) and ours (signal after signal, accounts at once).

Prints one JSON document. Not a test: figures depend on the machine. Usage:
    .venv/bin/python tests/benchmarks/bench_fanout.py [--accounts 50] [--signals 10]
        [--latency-ms 200] [--seed-accounts 5] [--concurrency 64]

The simulator runs in its own process (`gui-trader sim --accounts N --latency-ms L --json`), so
the client's event loop is measured alone. Figures:
- wall_s: the fire phase (sessions already open, books read inside it);
- bound_s: what the account's rate limit and the round trip allow: signals go one after another
  and each needs at least one round trip, and no account may exceed its order rate, so
  max(signals x RTT, signals / orders_per_second);
- spread_ms per signal: first to last of its place requests arriving at the server (/_sim/arrivals);
- loop lag p99: a 5 ms ticker's lateness during the fire phase.
The seed's way is measured on --seed-accounts accounts (sequential: its time is linear in the
accounts) and extrapolated to all of them.
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

import httpx
import keyring

ROOT = Path(__file__).resolve().parents[2]
# Every simulated account holds the other listed stocks already (a signal on one is skipped),
# so signals beyond these go to NIFTY options of the nearest expiry (one lot each).
STOCKS = ["HDFCBANK", "TCS", "ICICIBANK", "AXISBANK", "LT", "KOTAKBANK", "BHARTIARTL"]
STOCKS += ["HINDUNILVR"]


def start_sim(
    accounts: int, latency_ms: float, extra: list[str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "gui_trader", "sim", "--port", "0", "--json"),
            *("--accounts", str(accounts), "--latency-ms", str(latency_ms)),
            *(extra or []),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def configure(home: Path, banner: dict[str, Any], ops: float) -> list[str]:
    from gui_trader.broker.vault import VaultKey, store_secrets
    from gui_trader.config import AccountConfig, Config, Paths

    paths = Paths(home).ensure()
    config = Config.load(paths.config)
    names = []
    for n, a in enumerate(banner["accounts"], start=1):
        name = f"acct{n:03d}"
        names.append(name)
        config.accounts[name] = AccountConfig(name, a["mobile"], a["ucc"], banner["url"])
        store_secrets(
            VaultKey(paths.keyring_scope, name, a["ucc"]),
            consumer_key=a["consumer_key"],
            mpin=a["mpin"],
            totp_secret=a["totp_secret"],
        )
    config.orders_per_second = ops
    config.extra["market"] = {"always_open": True}
    config.save()
    return names


def distinct_signals(fleet: Any, n: int) -> list[Any]:
    """n buy signals on symbols no simulated account holds: the stocks, then NIFTY options."""
    from gui_trader.core.order import Side
    from gui_trader.engine.fanout import Signal

    store = next(iter(fleet)).instruments
    signals = [Signal(s, Side.BUY, qty=1) for s in STOCKS[:n]]
    expiry = store.expiries("NIFTY")[0]
    for row in reversed(store.chain("NIFTY", expiry)):  # far OTM calls: cheap, always funded
        for opt in (row.call, row.put):
            if opt is not None and len(signals) < n:
                signals.append(Signal(opt.trading_symbol, Side.BUY, qty=opt.lot_size))
    return signals


class Ticker:
    def __init__(self, period_s: float = 0.005) -> None:
        self.period = period_s
        self.lags: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.period)
            self.lags.append(max(0.0, time.perf_counter() - t - self.period) * 1000)

    def __enter__(self) -> Ticker:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()

    def p99(self) -> float:
        data = sorted(self.lags)
        return round(data[min(len(data) - 1, int(len(data) * 0.99))], 2) if data else 0.0


def arrivals(url: str) -> dict[str, int]:
    with httpx.Client(base_url=url, timeout=30) as c:
        return {g: int(t) for t, g in c.get("/_sim/arrivals").json()["arrivals"]}


async def run(args: argparse.Namespace, banner: dict[str, Any], names: list[str]) -> dict[str, Any]:
    from gui_trader.app import open_fleet
    from gui_trader.config import Config, Paths
    from gui_trader.core.order import Side
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.fanout import Fanout, Member

    config = Config.load(Paths.resolve().config)
    rtt = args.latency_ms / 1000
    ops = config.orders_per_second
    fleet = await open_fleet(EventHub(), names)
    t = time.perf_counter()
    await fleet.login()
    login_s = time.perf_counter() - t
    try:
        # Ours. Every signal is on a symbol no account holds (a held one would be skipped).
        signals = distinct_signals(fleet, args.signals)
        syms = [s.symbol for s in signals]
        members = [Member(e, config.accounts[e.account].fanout) for e in fleet]
        fan = Fanout(members, concurrency=args.concurrency)
        with Ticker() as ticker:
            t = time.perf_counter()
            report = await fan.fire(signals)
            wall = time.perf_counter() - t
        seen = arrivals(banner["url"])
        spreads = []
        for sig in report.signals:
            times = [seen[a.tag] for a in sig.accounts if a.tag in seen]
            spreads.append(round((max(times) - min(times)) / 1e6, 2) if times else None)
        placed = sum(a.status == "placed" for s in report.signals for a in s.accounts)
        sent = sum(1 for s in report.signals if s.sent)
        bound = max(sent * rtt, sent / ops)
        ours = {
            "wall_s": round(wall, 3),
            "bound_s": round(bound, 3),
            "wall_over_bound": round(wall / bound, 3),
            "placed": placed,
            "orders": args.signals * len(names),
            "signals_sent": sent,
            "spread_ms_at_server": spreads,
            "spread_ms_max": max(s for s in spreads if s is not None),
            "spread_ms_client": [round(s.spread_ms, 2) for s in report.signals],
            "elapsed_s_per_signal": [round(s.elapsed_s, 3) for s in report.signals],
            "loop_lag_p99_ms": ticker.p99(),
            "concurrency_cap": args.concurrency,
            "breaker": report.breaker.to_json(),
        }
        # The seed's way: account after account, each signal after the other.
        engines = list(fleet)[: args.seed_accounts]
        with Ticker() as ticker:
            t = time.perf_counter()
            ok = 0
            for e in engines:
                for s in syms:
                    sig = next(x for x in signals if x.symbol == s)
                    # Sells (the accounts now hold these): the same orders, one after another.
                    # The order path alone (the desk), as the seed's system sent them.
                    out = await e.ctx.desk.place(e.request(s, Side.SELL, sig.qty or 1))
                    ok += out.ok
            seq = time.perf_counter() - t
        seed = {
            "accounts_measured": len(engines),
            "wall_s_measured": round(seq, 3),
            "wall_s_extrapolated": round(seq * len(names) / max(1, len(engines)), 2),
            "placed": ok,
            "loop_lag_p99_ms": ticker.p99(),
        }
    finally:
        await fleet.close()
    return {
        "accounts": len(names),
        "signals": args.signals,
        "latency_ms": args.latency_ms,
        "orders_per_second_per_account": ops,
        "login_all_s": round(login_s, 3),
        "ours": ours,
        "seed_way": seed,
        "speedup": round(seed["wall_s_extrapolated"] / ours["wall_s"], 1),
        "median_signal_s": round(statistics.median(ours["elapsed_s_per_signal"]), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=50)
    p.add_argument("--signals", type=int, default=10)
    p.add_argument("--latency-ms", type=float, default=200.0)
    p.add_argument("--seed-accounts", type=int, default=5)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--orders-per-second", type=float, default=10.0)
    args = p.parse_args()
    from tests.support.keyrings import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    proc, banner = start_sim(args.accounts, args.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["GUI_TRADER_HOME"] = tmp
            names = configure(Path(tmp), banner, args.orders_per_second)
            print(json.dumps(asyncio.run(run(args, banner, names)), indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
