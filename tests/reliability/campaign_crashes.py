"""Crash campaign: kill -9 straddle runs and EMA9 monitors at random moments, finish them with
`--resume --yes` / a second monitor run, and judge the result by the server's own book.

    .venv/bin/python tests/reliability/campaign_crashes.py --kills 100

The trial functions here are what tests/reliability/test_crashes.py runs with smaller counts.
Every trial has a fresh simulator and a fresh data folder; kill moments come from a seeded
random generator (a sleep chooses the moment; nothing else waits on a sleep). Exit status 1
on any duplicate, missing or stray order, or any other broken promise.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gui_trader.sim.serve import ServerThread
from tests.reliability.rig import LiveRig, kill9, live_server

LATENCY_MS = 30.0  # each request travels this long: a kill often lands with legs on the wire
DEADLINE_S = 0.5
LANDING_S = 0.2
WORKING = ("open", "trigger pending", "partially filled", "open pending", "validation pending")
DEAD = ("rejected", "cancelled")
MAX_RESUMES = 8
SLOW_READ_RETRIES = 3  # a monitor run whose read timed out is run again, at most this often


# --------------------------------------------------------------------------------- helpers
_RIG_LOCK = threading.Lock()


def make_rig(root: Path, server: ServerThread, **kw: Any) -> LiveRig:
    """A LiveRig; building one swaps this process's keyring for a moment, so one at a time."""
    kw.setdefault("deadline_s", DEADLINE_S)
    kw.setdefault("landing_s", LANDING_S)
    with _RIG_LOCK:
        return LiveRig(root, server, **kw)


def expiry_of(server: ServerThread) -> str:
    """The nearest NIFTY weekly the simulator lists."""
    listings = server.app.exchange.universe.listings
    return min(str(x.expiry) for x in listings if x.instrument_type == "OPTIDX" and x.expiry)


def place_arrivals(server: ServerThread) -> int:
    """Place requests that reached the server so far (processed or still travelling)."""
    return len(server.app.arrivals)


def wait_until(
    cond: Callable[[], bool], timeout: float, proc: subprocess.Popen[str] | None = None
) -> bool:
    """Poll a condition (a kill moment, or the server catching up); False on timeout or when
    `proc` ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc is not None and proc.poll() is not None:
            return cond()
        time.sleep(0.002)
    return cond()


def kill_moment(seconds: float, proc: subprocess.Popen[str]) -> None:
    """The only sleep that is not a poll: a random while before a kill (cut short if the
    process ends first)."""
    wait_until(lambda: False, seconds, proc)


def settle_server(rig: LiveRig, timeout: float = 10.0) -> None:
    """Every place that reached the server has been processed (a dead client's late legs
    included): the book can no longer change by itself."""
    app = rig.server.app
    wait_until(lambda: len(rig.book()) >= len(app.arrivals) and not app.stalled, timeout)


def journal_runs(rig: LiveRig) -> list[dict[str, Any]]:
    """The straddle runs in the journal (none if the journal or its tables do not exist yet)."""
    if not (rig.home / "journal.sqlite3").exists():
        return []
    try:
        rows = rig.journal_rows("SELECT id, state, day, plan FROM runs WHERE kind='straddle'")
    except sqlite3.OperationalError:
        return []
    return [{"id": r[0], "state": r[1], "day": r[2], "plan": json.loads(r[3])} for r in rows]


def plan_legs(rig: LiveRig, plan: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """leg -> (trading symbol, planned quantity) from a journaled plan."""
    by_key = rig.server.app.exchange.universe.by_key
    qty: Counter[str] = Counter()
    for _n, _lots, orders in plan["batches"]:
        for leg, _slice, q, _price in orders:
            qty[leg] += int(q)
    return {
        "CE": (by_key[plan["call"]].trading_symbol, qty["CE"]),
        "PE": (by_key[plan["put"]].trading_symbol, qty["PE"]),
    }


def one_line(stderr: str) -> bool:
    return len([ln for ln in stderr.splitlines() if ln.strip()]) == 1


def parse_json(stdout: str) -> dict[str, Any]:
    try:
        out = json.loads(stdout)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


@dataclass
class Trial:
    """What one trial saw and what it found wrong."""

    kind: str
    seed: int
    kills: int = 0
    planned: Counter[str] = field(default_factory=Counter)  # leg/symbol -> qty planned
    placed: Counter[str] = field(default_factory=Counter)  # leg/symbol -> qty at the server
    duplicates: int = 0
    missing: int = 0  # qty planned but not at the server
    extra: int = 0  # qty at the server beyond the plan (or a second sell)
    strays: int = 0  # orders that belong to no plan (wrong symbol, tag or side)
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.kind} seed {self.seed}: {text}")


# --------------------------------------------------------------------------------- straddle
def straddle_args(expiry: str, lots: int, batch_lots: int, delay: float) -> list[str]:
    return [
        "straddle",
        "--expiry",
        expiry,
        "--atm",
        "--lots",
        str(lots),
        "--batch-lots",
        str(batch_lots),
        "--delay",
        f"{delay:g}",
        "--yes",
        "--json",
    ]


RESUME = ("straddle", "--resume", "--yes", "--json")


def server_orders(server: ServerThread) -> int:
    """Orders the exchange has processed (read from its thread: a count, nothing more)."""
    try:
        return sum(len(b.orders) for b in list(server.app.exchange.books.values()))
    except RuntimeError:  # the dict grew while we counted: ask again
        return server_orders(server)


def kill_at_random(
    rig: LiveRig,
    proc: subprocess.Popen[str],
    rng: random.Random,
    orders: int,
    run_s: float,
    t: Trial,
    modes: tuple[str, ...] = ("startup", "arrival", "arrival", "time"),
) -> bool:
    """Wait for a random moment of the run, then kill -9; True if the process was still alive.
    Moments: during start-up (before or while the run record is written), right after the
    n-th leg reached the server (legs on the wire), or anywhere in the sending phase."""
    mode = rng.choice(modes)
    if mode == "startup":
        kill_moment(rng.uniform(0.0, 1.2), proc)
    elif mode == "arrival":
        n = rng.randint(1, orders)
        wait_until(lambda: place_arrivals(rig.server) >= n, 15.0, proc)
        kill_moment(rng.uniform(0.0, 1.5 * LATENCY_MS / 1000), proc)
    else:
        wait_until(lambda: place_arrivals(rig.server) >= 1, 15.0, proc)
        kill_moment(rng.uniform(0.0, run_s), proc)
    alive = proc.poll() is None
    on_wire = place_arrivals(rig.server) - server_orders(rig.server)
    kill9(proc)
    if alive:
        t.statuses[f"kill:{mode}"] += 1
        if on_wire > 0:
            t.statuses["kill:legs on the wire"] += 1
    return alive


def straddle_trial(root: Path, seed: int) -> Trial:
    """Spawn a straddle, kill -9 it at a random moment, then resume (a resume killed too,
    sometimes) until no run is left; judge every leg by the server's book."""
    rng = random.Random(seed)
    t = Trial("straddle", seed)
    started = time.monotonic()
    with live_server(latency_ms=LATENCY_MS) as server:
        rig = make_rig(root, server)
        lots, batch, delay = rng.randint(6, 10), rng.randint(1, 2), rng.uniform(0.05, 0.25)
        batches = -(-lots // batch)
        proc = rig.spawn(*straddle_args(expiry_of(server), lots, batch, delay))
        run_s = batches * (delay + 2 * LATENCY_MS / 1000)
        if kill_at_random(rig, proc, rng, 2 * batches, run_s, t):
            t.kills += 1
            t.statuses["straddle:killed"] += 1
        else:
            t.statuses[f"straddle:{proc.returncode}"] += 1
            if proc.returncode != 0:
                t.problem(f"straddle (not killed) exited {proc.returncode}")
        for attempt in range(MAX_RESUMES):
            runs = journal_runs(rig)
            if not any(r["state"] == "running" for r in runs):
                break
            p = rig.spawn(*RESUME)
            if attempt < 2 and rng.random() < 0.35:
                kill_moment(rng.uniform(0.2, 2.2), p)
                if p.poll() is None:
                    kill9(p)
                    t.kills += 1
                    t.statuses["resume:killed"] += 1
                    continue
                t.statuses["resume:done before its kill"] += 1
            _, err = p.communicate(timeout=60)
            t.statuses[f"resume:{p.returncode}"] += 1
            if p.returncode != 0:
                t.problem(f"resume exited {p.returncode}: {err.strip()[-300:]}")
        settle_server(rig)
        judge_straddle(rig, t)
    t.elapsed_s = time.monotonic() - started
    return t


def judge_straddle(rig: LiveRig, t: Trial) -> None:
    runs = journal_runs(rig)
    book = rig.book()
    tags = Counter(o["tag"] for o in book)
    t.duplicates = sum(n - 1 for n in tags.values() if n > 1)
    if t.duplicates:
        t.problem(f"duplicate tags at the server: {[k for k, n in tags.items() if n > 1]}")
    if len(runs) > 1:
        t.problem(f"{len(runs)} runs in the journal, expected one")
    if not runs:
        # killed before the run reached the journal: nothing may have been sent
        t.statuses["run:never journaled"] += 1
        if book:
            t.strays += len(book)
            t.problem(f"no run in the journal, yet {len(book)} orders at the server")
        return
    run = runs[0]
    t.statuses[f"run:{run['state']}"] += 1
    if run["state"] != "done":
        t.problem(f"run {run['id']} ended {run['state']}, expected done")
    legs = plan_legs(rig, run["plan"])
    symbols = {sym: leg for leg, (sym, _) in legs.items()}
    for o in book:
        if o["ts"] not in symbols or not str(o["tag"] or "").startswith("S") or o["tt"] != "S":
            t.strays += 1
            t.problem(f"stray order {o}")
        elif o["status"] not in DEAD:
            t.placed[symbols[o["ts"]]] += int(o["qty"])
        else:
            t.problem(f"leg {o['tag']} {o['status']}")
    for leg, (_sym, qty) in legs.items():
        t.planned[leg] += qty
        diff = qty - t.placed[leg]
        if diff > 0:
            t.missing += diff
            t.problem(f"{leg}: {t.placed[leg]} at the server, planned {qty}")
        elif diff < 0:
            t.extra -= diff
            t.problem(f"{leg}: {t.placed[leg]} at the server, planned only {qty}")


# --------------------------------------------------------------------------------- monitor
MONITOR = ("monitor", "--skip-wait", "--run-once", "--yes", "--json")
MONITOR_LATENCY_MS = 60.0
POSITION_SYMBOL = "HDFCBANK"  # not a demo holding: the monitor finds it only as a position


def holdings_qty(server: ServerThread) -> dict[str, int]:
    from gui_trader.sim.universe import demo_holdings

    universe = server.app.exchange.universe
    return {f"{sym}-EQ": qty for sym, qty, _ in demo_holdings(universe)}


def monitor_trial(root: Path, seed: int, *, positions: bool = False, prior: bool = False) -> Trial:
    """Spawn one monitor cycle, kill -9 it at a random moment, run it again to completion:
    at most one working sell per symbol, never more sold than held.

    `positions`: an MIS position bought first, managed with --include-positions.
    `prior`: an earlier cycle today (--max-below-entry-pct 0) left state in the journal:
    the symbols it skipped get their sells in the killed cycle."""
    rng = random.Random(seed)
    t = Trial("monitor" + ("+positions" if positions else "") + ("+prior" if prior else ""), seed)
    started = time.monotonic()
    with live_server(latency_ms=MONITOR_LATENCY_MS) as server:
        rig = make_rig(root, server)
        held = holdings_qty(server)
        args: tuple[str, ...] = MONITOR
        if positions:
            p = rig.cli("buy", POSITION_SYMBOL, "--qty", "10", "--product", "MIS", "--json")
            if p.returncode != 0:
                t.problem(f"buy {POSITION_SYMBOL} MIS exited {p.returncode}: {p.stderr.strip()}")
            held[f"{POSITION_SYMBOL}-EQ"] = 10
            args = (*MONITOR, "--include-positions")
        if prior:
            p = rig.cli(*args, "--max-below-entry-pct", "0")
            t.statuses[f"prior:{p.returncode}"] += 1
            for row in parse_json(p.stdout).get("symbols", []):
                t.statuses[f"prior:{row.get('action')}"] += 1
        settle_server(rig)
        bought = place_arrivals(server)
        proc = rig.spawn(*args)
        mode = rng.choice(("time", "arrival", "arrival"))
        if mode == "time":
            kill_moment(rng.uniform(0.3, 2.0), proc)
        else:  # a random moment while the sells travel
            wait_until(lambda: place_arrivals(server) > bought, 15.0, proc)
            kill_moment(rng.uniform(0.0, 1.5 * MONITOR_LATENCY_MS / 1000), proc)
        alive = proc.poll() is None
        on_wire = place_arrivals(server) - server_orders(server)
        kill9(proc)
        if alive:
            t.kills += 1
            t.statuses["monitor:killed"] += 1
            t.statuses[f"kill:{mode}"] += 1
            if on_wire > 0:
                t.statuses["kill:sells on the wire"] += 1
        else:
            t.statuses[f"monitor:{proc.returncode}"] += 1
        again = rig.cli(*args)
        for _ in range(SLOW_READ_RETRIES):
            if again.returncode == 0 or "no complete reply" not in again.stderr:
                break
            # A read that ran out of its (short, 0.5 s) deadline on a loaded machine is not what
            # this campaign checks; the books below are. Run it again, as the trader would
            # (twice in a row was seen at a load of 5 on 2 cores).
            t.statuses["again:slow read, run again"] += 1
            again = rig.cli(*args)
        t.statuses[f"again:{again.returncode}"] += 1
        if again.returncode != 0:
            t.problem(f"second monitor exited {again.returncode}: {again.stderr.strip()[-300:]}")
        settle_server(rig)
        report = parse_json(again.stdout)
        for row in report.get("symbols", []):
            t.statuses[f"again:{row.get('action')}"] += 1
        judge_monitor(rig, t, held, report)
    t.elapsed_s = time.monotonic() - started
    return t


def judge_monitor(rig: LiveRig, t: Trial, held: dict[str, int], report: dict[str, Any]) -> None:
    book = [o for o in rig.book() if not (o["tt"] == "B" and o["ts"] == f"{POSITION_SYMBOL}-EQ")]
    tags = Counter(o["tag"] for o in book)
    t.duplicates = sum(n - 1 for n in tags.values() if n > 1)
    if t.duplicates:
        t.problem(f"duplicate tags at the server: {[k for k, n in tags.items() if n > 1]}")
    working: Counter[str] = Counter()
    sells: Counter[str] = Counter()
    for o in book:
        if not str(o["tag"] or "").startswith("M") or o["tt"] != "S" or o["ts"] not in held:
            t.strays += 1
            t.problem(f"stray order {o}")
            continue
        sells[o["ts"]] += 1
        if o["status"] in DEAD:
            t.problem(f"sell {o['tag']} {o['ts']} {o['status']}")  # a second sell, refused
            continue
        t.placed[o["ts"]] += int(o["qty"])
        working[o["ts"]] += o["status"] in WORKING
    for sym, qty in held.items():
        t.planned[sym] += qty
        if working[sym] > 1:
            t.problem(f"{sym}: {working[sym]} working sells")
        if sells[sym] > 1:
            t.extra += sells[sym] - 1
            t.problem(f"{sym}: {sells[sym]} sells")
        if t.placed[sym] > qty:
            t.problem(f"{sym}: {t.placed[sym]} sold or offered, only {qty} held")
    # what the second run reports as its order is the server's order for that symbol
    by_no = {o["no"]: o for o in book}
    for row in report.get("symbols", []):
        sym, no = row.get("symbol"), row.get("order_id")
        if no and (by_no.get(no) or {}).get("ts") != sym:
            t.problem(f"second monitor reports order {no} for {sym}; the server disagrees")
        # a symbol left without any sell must have a reason the report gives
        if sym in held and not sells[sym] and row.get("action") not in ("skipped",):
            t.missing += 1
            t.problem(f"{sym}: no sell at the server; report says {row}")


# --------------------------------------------------------------------------------- campaign
@dataclass
class Tally:
    trials: int = 0
    kills: int = 0
    planned: Counter[str] = field(default_factory=Counter)
    placed: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    missing: int = 0
    extra: int = 0
    strays: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def add(self, t: Trial) -> None:
        self.trials += 1
        self.statuses[f"trial:{t.kind}"] += 1
        self.kills += t.kills
        self.planned.update(t.planned)
        self.placed.update(t.placed)
        self.duplicates += t.duplicates
        self.missing += t.missing
        self.extra += t.extra
        self.strays += t.strays
        self.statuses.update(t.statuses)
        self.problems.extend(t.problems)

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.missing or self.extra or self.strays or self.problems)

    def text(self, name: str) -> str:
        lines = [
            f"{name}: {self.trials} trials, {self.kills} kills, {self.elapsed_s:.1f} s",
            "  placed/planned: "
            + ", ".join(f"{k} {self.placed[k]}/{self.planned[k]}" for k in sorted(self.planned)),
            f"  duplicates {self.duplicates}, missing {self.missing}, extra {self.extra},"
            f" strays {self.strays}",
            "  exit statuses: " + ", ".join(f"{k} x{n}" for k, n in sorted(self.statuses.items())),
        ]
        lines += [f"  PROBLEM {p}" for p in self.problems[:40]]
        if len(self.problems) > 40:
            lines.append(f"  ... and {len(self.problems) - 40} more problems")
        return "\n".join(lines)


def campaign(
    trial: Callable[[Path, int], Trial],
    *,
    kills: int,
    base: Path,
    seed: int,
    workers: int = 2,
    max_trials: int | None = None,
) -> Tally:
    """Run trials (`workers` at a time) until at least `kills` kills happened."""
    tally = Tally()
    started = time.monotonic()
    cap = max_trials if max_trials is not None else 3 * kills + 10
    n = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while tally.kills < kills and n < cap:
            wave = max(workers, min(cap - n, kills - tally.kills))
            futures = [pool.submit(trial, base / f"t{n + i}", seed + n + i) for i in range(wave)]
            n += wave
            for f in futures:
                tally.add(f.result())
    tally.elapsed_s = time.monotonic() - started
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=100, help="straddle kills (at least)")
    ap.add_argument(
        "--monitor-kills", type=int, default=None, help="monitor kills (default: --kills)"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--prior-every",
        type=int,
        default=4,
        help="every N-th monitor trial has an earlier cycle today in its journal (0: none)",
    )
    ap.add_argument("--seed", type=int, default=20261201)
    args = ap.parse_args(argv)
    monitor_kills = args.kills if args.monitor_kills is None else args.monitor_kills
    with tempfile.TemporaryDirectory(prefix="crash-campaign-") as tmp:
        base = Path(tmp)
        straddle = campaign(
            straddle_trial, kills=args.kills, base=base / "s", seed=args.seed, workers=args.workers
        )
        print(straddle.text("straddle kill -9 + resume"), flush=True)

        def monitor(root: Path, seed: int) -> Trial:
            n = seed - args.seed  # the trial's number: 9, 19, ... with MIS positions
            prior = args.prior_every > 0 and n % args.prior_every == args.prior_every - 1
            return monitor_trial(root, seed, positions=n % 10 == 9, prior=prior)

        mon = campaign(
            monitor, kills=monitor_kills, base=base / "m", seed=args.seed, workers=args.workers
        )
        print(mon.text("monitor kill -9 + run again"), flush=True)
    ok = (
        straddle.clean and mon.clean and straddle.kills >= args.kills and mon.kills >= monitor_kills
    )
    print("CLEAN" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
