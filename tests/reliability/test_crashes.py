"""Crashes, restarts and second processes, judged by the server's own book.

kill -9 of straddle runs and EMA9 monitors at random (seeded) moments, resumes that race the run
or each other, a run from an earlier day, and journals restored from a backup or copied to a
second data folder. The simulator does not refuse a reused tag (unique_tags=False), so any
double send shows up as a second order. tests/reliability/campaign_crashes.py runs the same
trials at larger counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import shutil
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gui_trader.core.clock import today_ist
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, Side
from gui_trader.engine.journal import Journal
from gui_trader.engine.order_desk import OrderDesk
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.faults import FaultPlan
from gui_trader.sim.server import SimServer
from tests.reliability.campaign_crashes import (
    LATENCY_MS,
    MONITOR_LATENCY_MS,
    RESUME,
    Trial,
    campaign,
    expiry_of,
    holdings_qty,
    journal_runs,
    judge_monitor,
    judge_straddle,
    kill_at_random,
    make_rig,
    monitor_trial,
    one_line,
    parse_json,
    place_arrivals,
    plan_legs,
    server_orders,
    settle_server,
    straddle_args,
    straddle_trial,
    wait_until,
)
from tests.reliability.rig import LiveRig, kill9, live_server
from tests.support.harness import IN_PROCESS_URL, in_process_client

T = TypeVar("T")
SEED = 20261201


def in_parallel(
    fn: Callable[[Path, int], T], base: Path, seeds: list[int], workers: int
) -> list[T]:
    """Independent trials (own simulator, own data folder) side by side; an assertion in any of
    them fails the test."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, base / f"t{s}", s) for s in seeds]
        return [f.result() for f in futures]


def running_run(rig: LiveRig) -> bool:
    return any(r["state"] == "running" for r in journal_runs(rig))


def only_run(rig: LiveRig) -> dict[str, Any]:
    runs = journal_runs(rig)
    assert len(runs) == 1, runs
    return runs[0]


def assert_exact(rig: LiveRig, t: Trial) -> None:
    """Every leg at the server exactly as planned; no duplicate, stray or missing order."""
    settle_server(rig)
    judge_straddle(rig, t)
    assert not t.problems, "\n".join(t.problems)
    assert t.placed == t.planned and sum(t.planned.values()) > 0, (t.placed, t.planned)


def journal_exec(rig: LiveRig, sql: str, *args: Any) -> int:
    db = sqlite3.connect(rig.home / "journal.sqlite3")
    try:
        with db:
            return db.execute(sql, args).rowcount
    finally:
        db.close()


# ------------------------------------------------------------------------ 1. straddle kill -9
def test_straddle_kill9_at_random_moments_then_resume(tmp_path: Path) -> None:
    tally = campaign(straddle_trial, kills=20, base=tmp_path, seed=SEED, workers=2)
    print("\n" + tally.text("straddle kill -9 + resume"))
    assert tally.kills >= 20
    assert tally.clean, tally.text("straddle")
    assert tally.placed == tally.planned
    # the kills really hit the interesting moments
    assert tally.statuses["kill:legs on the wire"] >= 1, tally.statuses
    assert tally.statuses["resume:killed"] >= 1, tally.statuses


# ------------------------------------------------------------------------ 2. monitor kill -9
def test_monitor_kill9_mid_cycle_then_run_again(tmp_path: Path) -> None:
    def trial(root: Path, seed: int) -> Trial:
        return monitor_trial(root, seed, positions=seed == SEED)  # MIS positions once

    tally = campaign(trial, kills=20, base=tmp_path, seed=SEED, workers=2)
    print("\n" + tally.text("monitor kill -9 + run again"))
    assert tally.kills >= 20
    assert tally.clean, tally.text("monitor")
    assert tally.planned["HDFCBANK-EQ"] == 10 and tally.placed["HDFCBANK-EQ"] <= 10
    assert tally.statuses["kill:sells on the wire"] >= 1, tally.statuses


# ------------------------------------------------------------------------ 3. resume beside the run
def test_resume_while_the_run_is_alive_refuses_and_sends_nothing(tmp_path: Path) -> None:
    with live_server(latency_ms=LATENCY_MS) as server:
        rig = make_rig(tmp_path, server)
        proc = rig.spawn(*straddle_args(expiry_of(server), 4, 1, 1.0))  # ~3 s of delays
        try:
            assert wait_until(lambda: running_run(rig) and place_arrivals(server) >= 2, 30, proc)
            p = rig.cli(*RESUME, timeout=30)
            assert proc.poll() is None, "the run ended before the resume asked"
        finally:
            _, err = proc.communicate(timeout=60)
        assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)
        assert one_line(p.stderr) and "nothing sent" in p.stderr, p.stderr
        assert parse_json(p.stdout).get("ok") is False
        assert proc.returncode == 0, err
        assert_exact(rig, Trial("resume-beside", 0))
        # each leg went out once, all from the original
        arrived = [tag for _, tag in server.app.arrivals]
        run = only_run(rig)
        planned_orders = sum(len(orders) for _, _, orders in run["plan"]["batches"])
        assert len(arrived) == len(set(arrived)) == planned_orders
        assert run["state"] == "done"


def _resume_mid_batch(root: Path, seed: int) -> int:
    """The resume's lock check happens while the original's batch is on the wire: the server
    holds batch 2 for `hold_ms` (latency raised just for it), far longer than a CLI start."""
    hold_ms = 8000.0
    with live_server(latency_ms=LATENCY_MS) as server:
        rig = make_rig(root, server, deadline_s=hold_ms / 1000 + 3, landing_s=0.3)
        lots = 3 + seed % 2
        proc = rig.spawn(*straddle_args(expiry_of(server), lots, 1, 0.05))
        try:
            assert wait_until(lambda: place_arrivals(server) >= 2, 30, proc)
            server.app.faults.latency_ms = hold_ms  # in process: the admin route would wait too
            assert wait_until(lambda: place_arrivals(server) >= 4, 30, proc)  # batch 2 travels
            p = rig.cli(*RESUME, timeout=30)
            mid_batch = place_arrivals(server) > server_orders(server)
            server.app.faults.latency_ms = LATENCY_MS
        finally:
            _, err = proc.communicate(timeout=60)
        assert mid_batch, "batch 2 had landed before the resume was refused"
        assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)
        assert one_line(p.stderr) and "nothing sent" in p.stderr, p.stderr
        assert proc.returncode == 0, err
        assert_exact(rig, Trial("resume-mid-batch", seed))
        arrived = [tag for _, tag in server.app.arrivals]
        assert len(arrived) == len(set(arrived)) == 2 * lots
        return p.returncode


def test_resume_from_a_second_process_mid_batch_refuses(tmp_path: Path) -> None:
    codes = in_parallel(_resume_mid_batch, tmp_path, [SEED + i for i in range(5)], workers=5)
    assert codes == [4] * 5


# ------------------------------------------------------------------------ 4. two resumes at once
def _two_resumes(root: Path, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    t = Trial("two-resumes", seed)
    with live_server(latency_ms=LATENCY_MS) as server:
        rig = make_rig(root, server)
        lots, batch = rng.randint(6, 8), rng.randint(1, 2)
        batches = -(-lots // batch)
        proc = rig.spawn(*straddle_args(expiry_of(server), lots, batch, 0.15))
        assert kill_at_random(rig, proc, rng, 2 * batches - 2, 1.0, t, modes=("arrival",))
        assert running_run(rig)
        a, b = rig.spawn(*RESUME), rig.spawn(*RESUME)
        (out_a, err_a), (out_b, err_b) = a.communicate(timeout=60), b.communicate(timeout=60)
        results = sorted(
            [(a.returncode, out_a, err_a), (b.returncode, out_b, err_b)],
            key=lambda r: parse_json(r[1]).get("run_id") is None,
        )
        (code_1, out_1, err_1), (code_2, out_2, err_2) = results
        finished = parse_json(out_1)
        assert code_1 == 0 and finished.get("run_id") and finished.get("sent"), (out_1, err_1)
        other = parse_json(out_2)
        if code_2 == 4:  # the owner was busy: refused in one line
            assert one_line(err_2) and "nothing sent" in err_2, err_2
        elif code_2 == 0:  # it looked after the first had finished
            assert other.get("resumed") is None, out_2
        else:  # it took the lock after the first finished, and found the run done
            assert code_2 == 1 and "nothing to resume" in err_2 and one_line(err_2), err_2
        assert_exact(rig, t)
        assert only_run(rig)["state"] == "done"
        return code_1, code_2


def test_two_resumes_at_once_after_a_kill(tmp_path: Path) -> None:
    outcomes = in_parallel(_two_resumes, tmp_path, [SEED + i for i in range(6)], workers=3)
    print("\ntwo resumes at once (exit statuses):", Counter(outcomes))
    assert all(first == 0 for first, _ in outcomes)


# ------------------------------------------------------------------------ 5. two monitors at once
def test_second_monitor_refuses_while_the_first_runs(tmp_path: Path) -> None:
    with live_server(latency_ms=MONITOR_LATENCY_MS) as server:
        rig = make_rig(tmp_path, server)
        owner = rig.home / "locks" / "monitor-main.owner"
        args = ("monitor", "--skip-wait", "--yes", "--monitor-interval", "1", "--json")
        first = rig.spawn(*args)
        try:

            def cycled() -> bool:
                return owner.exists() and bool(
                    journal_rows_safe(rig, "SELECT count(*) FROM monitor")[0][0]
                )

            assert wait_until(cycled, 30, first), "the first monitor never finished a cycle"
            assert json.loads(owner.read_text())["pid"] == first.pid
            before = place_arrivals(server)
            second = rig.cli(*args, timeout=30)
            sent_meanwhile = place_arrivals(server) - before
        finally:
            first.send_signal(signal.SIGINT)
            out, err = first.communicate(timeout=30)
        assert second.returncode == 4, (second.returncode, second.stdout, second.stderr)
        assert one_line(second.stderr) and "nothing sent" in second.stderr, second.stderr
        assert sent_meanwhile == 0
        assert first.returncode == 0, err
        assert "Traceback" not in err
        report = parse_json(out)
        assert report.get("dry_run") is False and report.get("symbols"), out
        t = Trial("two-monitors", 0)
        settle_server(rig)
        judge_monitor(rig, t, holdings_qty(server), report)
        assert not t.problems, "\n".join(t.problems)


def journal_rows_safe(rig: LiveRig, sql: str) -> list[tuple[Any, ...]]:
    try:
        return rig.journal_rows(sql) if (rig.home / "journal.sqlite3").exists() else [(0,)]
    except sqlite3.OperationalError:  # not created yet
        return [(0,)]


# ------------------------------------------------------------------------ 6. next-day resume
def test_run_from_an_earlier_day_is_never_resent(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    t = Trial("next-day", SEED)
    with live_server(latency_ms=LATENCY_MS) as server:
        rig = make_rig(tmp_path, server)
        proc = rig.spawn(*straddle_args(expiry_of(server), 6, 1, 0.2))
        assert kill_at_random(rig, proc, rng, 8, 1.0, t, modes=("arrival",))
        settle_server(rig)  # whatever the dead run had on the wire has landed
        run = only_run(rig)
        assert run["state"] == "running"
        yesterday = (today_ist() - timedelta(days=1)).isoformat()
        assert journal_exec(rig, "UPDATE runs SET day=? WHERE id=?", yesterday, run["id"]) == 1
        journal_exec(rig, "UPDATE intents SET day=? WHERE group_id=?", yesterday, run["id"])
        book = rig.book()
        arrivals = place_arrivals(server)
        legs = plan_legs(rig, run["plan"])
        at_server = rig.qty_by_symbol()
        placed_then = Counter[str]()
        for state, meta, request in rig.journal_rows(
            "SELECT state, meta, request FROM intents WHERE group_id=?", run["id"]
        ):
            if state == "placed":
                placed_then[json.loads(meta)["leg"]] += json.loads(request)["qty"]

        shown = rig.cli("straddle", "--resume")  # without --yes: shows, keeps the run
        assert shown.returncode == 1, shown.stderr
        for leg, (symbol, qty) in legs.items():
            line = next(ln for ln in shown.stdout.splitlines() if ln.strip().startswith(leg))
            assert symbol in line and f"planned {qty}" in line, shown.stdout
            assert f"placed then {placed_then[leg]}" in line, shown.stdout
            assert f"net position today {-at_server[symbol]}" in line, shown.stdout
        assert "--yes" in shown.stdout
        assert only_run(rig)["state"] == "running"

        retired = rig.cli(*RESUME)
        assert retired.returncode == 1, retired.stderr
        report = parse_json(retired.stdout)
        assert report["sent"] is False
        earlier = report["earlier_day"]
        assert earlier["day"] == yesterday and earlier["expired"] is True
        assert earlier["planned_qty"] == {leg: qty for leg, (_, qty) in legs.items()}
        assert earlier["placed_qty_then"] == {k: v for k, v in placed_then.items() if v}
        assert earlier["net_qty_today"] == {
            leg: -at_server[symbol] for leg, (symbol, _) in legs.items()
        }
        assert only_run(rig)["state"] == "expired"

        again = rig.cli(*RESUME)
        assert again.returncode == 0 and parse_json(again.stdout)["resumed"] is None, again
        # nothing was sent by any of it
        assert place_arrivals(server) == arrivals
        assert rig.book() == book


# ---------------------------------------------------------------- 7. restored or copied journal
def backup_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite file (its WAL included) through the backup API."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def buy(rig: LiveRig, symbol: str) -> dict[str, Any]:
    p = rig.cli("buy", symbol, "--qty", "1", "--json")
    assert p.returncode == 0, (p.stdout, p.stderr)
    out = parse_json(p.stdout)
    assert out["outcome"] == "placed" and out["tag"] and out["order_id"], out
    return out


def server_order(rig: LiveRig, order_id: str) -> dict[str, Any]:
    [order] = [o for o in rig.book() if o["no"] == order_id]
    return order


def test_restored_journal_never_reuses_a_tag(tmp_path: Path) -> None:
    with live_server() as server:
        rig = make_rig(tmp_path, server)
        journal = rig.home / "journal.sqlite3"
        first = buy(rig, "INFY")
        backup_db(journal, tmp_path / "backup.sqlite3")
        second = buy(rig, "SBIN")
        for suffix in ("-wal", "-shm"):
            Path(f"{journal}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(tmp_path / "backup.sqlite3", journal)
        third = buy(rig, "ITC")
        assert third["tag"] not in (first["tag"], second["tag"])
        order = server_order(rig, third["order_id"])
        assert (order["ts"], order["tag"]) == ("ITC-EQ", third["tag"])
        book = rig.book()
        assert len(book) == 3 and len({o["tag"] for o in book}) == 3
        assert {o["ts"] for o in book} == {"INFY-EQ", "SBIN-EQ", "ITC-EQ"}


def test_copied_data_folder_never_reuses_a_tag(tmp_path: Path) -> None:
    with live_server() as server:
        rig = make_rig(tmp_path / "one", server)
        buy(rig, "INFY")
        shutil.copytree(rig.home, tmp_path / "two" / "home")  # the same journal, twice
        twin = make_rig(tmp_path / "two", server)
        procs = [
            (rig, "RELIANCE", rig.spawn("buy", "RELIANCE", "--qty", "1", "--json")),
            (twin, "TCS", twin.spawn("buy", "TCS", "--qty", "1", "--json")),
        ]
        tags = []
        for _, symbol, p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, (out, err)
            placed = parse_json(out)
            order = server_order(rig, placed["order_id"])
            assert (order["ts"], order["tag"]) == (f"{symbol}-EQ", placed["tag"])
            tags.append(placed["tag"])
        book = rig.book()
        assert len(book) == 3 and len({o["tag"] for o in book}) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("unique_tags", [True, False], ids=["refuses-reuse", "allows-reuse"])
async def test_forced_tag_collision_is_never_believed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, unique_tags: bool
) -> None:
    server = SimServer(
        Exchange(seed=7, base_url=IN_PROCESS_URL, unique_tags=unique_tags), FaultPlan()
    )
    broker = in_process_client(server)
    infy = Instrument("nse_cm", "1594", "INFY-EQ", "INFY", tick_size=Decimal("0.05"))
    sbin = Instrument("nse_cm", "3045", "SBIN-EQ", "SBIN", tick_size=Decimal("0.05"))
    a = await Journal(tmp_path / "a.sqlite3").open()
    await asyncio.to_thread(backup_db, a.path, tmp_path / "b.sqlite3")  # before A's place
    b = await Journal(tmp_path / "b.sqlite3").open()
    b.epoch = a.epoch  # B's next tag is exactly A's
    try:
        placed_a = await OrderDesk(broker, a, "paper").place(OrderRequest(infy, Side.BUY, 1))
        assert placed_a.order_id
        with caplog.at_level(logging.INFO):
            placed_b = await OrderDesk(broker, b, "paper").place(OrderRequest(sbin, Side.BUY, 1))
        book = {o["no"]: o for o in server.exchange.all_orders()}
        assert placed_b.order_id is not None and placed_b.order_id != placed_a.order_id
        assert book[placed_b.order_id]["ts"] == "SBIN-EQ"
        assert book[placed_a.order_id]["ts"] == "INFY-EQ"
        if unique_tags:
            assert placed_b.tag != placed_a.tag
            assert "TAG COLLISION" in caplog.text
            intent = await b.by_tag(placed_b.tag)
            assert intent is not None and intent.order_id == placed_b.order_id
            assert await b.by_tag(placed_a.tag) is None
            assert book[placed_b.order_id]["tag"] == placed_b.tag
            assert len(book) == 2
        else:  # the server took SBIN under the reused tag: its own reply names SBIN's order
            assert book[placed_b.order_id]["tag"] == placed_a.tag == placed_b.tag
    finally:
        await broker.close()
        await a.close()
        await b.close()


# ------------------------------------------------------------------------ product bugs found
def test_resume_leaves_rejected_legs_alone(tmp_path: Path) -> None:
    """README: a resume "sends only the legs proven absent; placed, rejected and aborted legs
    stay as they were". Batch 2 is rejected by the broker's RMS (no margin), the run is killed
    in its delay, margin comes back, and the resume must not send batch 2 again."""
    with live_server(latency_ms=LATENCY_MS) as server:
        rig = make_rig(tmp_path, server)
        proc = rig.spawn(*straddle_args(expiry_of(server), 4, 1, 1.0))
        assert wait_until(lambda: server_orders(server) >= 2, 30, proc)  # batch 1 placed
        account = server.app.exchange.books["PAPER1"]
        cash, account.cash = account.cash, Decimal(0)  # batch 2: "RMS:Margin Exceeds"
        assert wait_until(lambda: server_orders(server) >= 4, 30, proc)
        assert proc.poll() is None
        kill9(proc)  # during the 1 s delay before batch 3
        settle_server(rig)
        rejected = {o["tag"] for o in rig.book() if o["status"] == "rejected"}
        assert len(rejected) == 2
        account.cash = cash
        rig.cli(*RESUME)
        settle_server(rig)
        book = rig.book()
        batch_2 = [
            tag
            for tag, meta in rig.journal_rows("SELECT tag, meta FROM intents")
            if json.loads(meta)["batch"] == 2
        ]
        assert sorted(batch_2) == sorted(rejected), "the resume sent batch 2 again"
        assert len(book) == 8, [(o["tag"], o["ts"], o["status"]) for o in book]


def test_monitor_rerun_after_kill_never_sells_a_filled_symbol_twice(tmp_path: Path) -> None:
    """README: a restarted monitor looks up by tag any sell a killed monitor had on the wire,
    "so a symbol never gets a second sell". An earlier cycle today left HDFCBANK (an MIS
    position) and TITAN (a holding) without a sell (skipped: EMA9 below entry); a later run
    with a wider limit places both, the sells fill, and the process is killed before it saves
    its state. The next run finds both sells by tag, yet sells both again: HDFCBANK goes
    short 10 (MIS), TITAN gets a second sell that the broker rejects."""
    with live_server(latency_ms=LATENCY_MS) as server:
        rig = make_rig(tmp_path, server)
        hdfc = server.app.exchange.universe.by_symbol["HDFCBANK-EQ"]
        high = (hdfc.base_price * Decimal("1.2")).quantize(Decimal("0.05"))
        rig.admin("POST", "/_sim/pin", {"HDFCBANK-EQ": str(high)})  # bought well above EMA9
        assert rig.cli("buy", "HDFCBANK", "--qty", "10", "--product", "MIS").returncode == 0
        monitor = (
            *("monitor", "--skip-wait", "--run-once", "--yes", "--json"),
            *("--include-positions", "--symbols", "HDFCBANK,TITAN"),
        )
        first = rig.cli(*monitor, "--max-below-entry-pct", "0")
        assert [r["action"] for r in parse_json(first.stdout)["symbols"]] == ["skipped"] * 2
        server.app.faults.latency_ms = 300.0
        before = place_arrivals(server)
        proc = rig.spawn(*monitor, "--max-below-entry-pct", "50")
        assert wait_until(lambda: place_arrivals(server) >= before + 2, 30, proc)
        assert proc.poll() is None
        kill9(proc)  # both sells on the wire; they land and fill
        server.app.faults.latency_ms = LATENCY_MS
        settle_server(rig)
        again = rig.cli(*monitor, "--max-below-entry-pct", "50")
        assert again.returncode == 0, again.stderr
        settle_server(rig)
        sells = Counter(o["ts"] for o in rig.book() if o["tt"] == "S")
        assert sells == {"HDFCBANK-EQ": 1, "TITAN-EQ": 1}, rig.book()
