"""Straddle batches through the real client and the simulator: the seed's case, freeze slicing,
abort, crash-and-resume, faults; every leg accounted for."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gui_trader.broker.neo import NeoClient
from gui_trader.core.order import OrderRequest, OrderStatus, OrderType, Side
from gui_trader.engine import straddle as sd
from gui_trader.engine import straddle_plan as sp
from gui_trader.engine.events import EventHub, LegProgress, RunProgress
from gui_trader.engine.journal import IntentState, Journal
from gui_trader.engine.order_desk import OrderDesk
from gui_trader.market.instruments import InstrumentStore, load_instruments
from gui_trader.sim.server import SimServer
from tests.support.harness import in_process, in_process_client


@dataclass
class Rig:
    server: SimServer
    client: NeoClient
    journal: Journal
    desk: OrderDesk
    store: InstrumentStore
    expiry: date
    path: Path

    def book(self) -> list[dict[str, Any]]:
        return self.server.exchange.order_book("PAPER1")

    def leg_qty(self, symbol: str) -> int:
        return sum(
            int(r["qty"]) for r in self.book() if r["trdSym"] == symbol and r["ordSt"] != "rejected"
        )

    async def plan(self, **kw: Any) -> sp.StraddlePlan:
        spec = sp.StraddleSpec(
            **{
                "underlying": "NIFTY",
                "expiry": self.expiry,
                "lots": 167,
                "batch_lots": 20,
                "atm_steps": 0,
                "delay_s": 0.0,
                **kw,
            }
        )
        return await sp.prepare_plan(
            spec,
            self.client,
            self.store,
            today=self.server.exchange.today,
            market_open=True,
            orders_per_second=5000,
        )


def legs(plan: sp.StraddlePlan) -> tuple[str, str]:
    """The CALL's and the PUT's trading symbols."""
    return plan.instrument("CE").trading_symbol, plan.instrument("PE").trading_symbol


def refuse_first(rig: Rig, symbol: str) -> None:
    """The exchange refuses the first order for `symbol` outright (a definite rejection)."""
    from gui_trader.sim.exchange import SimError

    original = rig.server.exchange.place
    refused = False

    def place(ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        nonlocal refused
        if j["ts"] == symbol and not refused:
            refused = True
            raise SimError(1009, "please provide valid quantity")
        return original(ucc, j)

    rig.server.exchange.place = place  # type: ignore[method-assign, assignment]


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    server = in_process()
    server.faults.update({"latency_ms": 5})
    client = in_process_client(server)
    journal = await Journal(tmp_path / "journal.sqlite3").open()
    store = await load_instruments(client, tmp_path / "cache")
    expiry = store.expiries("NIFTY")[0]
    yield Rig(server, client, journal, OrderDesk(client, journal, "paper"), store, expiry, tmp_path)
    await client.close()
    await journal.close()


@pytest.mark.asyncio
async def test_the_seeds_case_nine_batches_one_login_legs_together(rig: Rig) -> None:
    plan = await rig.plan()
    assert plan.ok, plan.problems
    assert [b.lots for b in plan.batches] == [20] * 8 + [7]
    assert plan.lot_size == 75  # from the instrument file
    for b in plan.batches:
        assert [(o.leg, o.qty) for o in b.orders] == [("CE", b.lots * 75), ("PE", b.lots * 75)]
    summary = await sd.StraddleRun(plan, rig.desk).execute()
    d = summary.to_json()
    assert d["legs"]["CE"]["placed"] == d["legs"]["PE"]["placed"] == 9
    assert d["legs"]["CE"]["filled"] == d["legs"]["PE"]["filled"] == 9
    assert d["logins"] == 1 and rig.server.exchange.stats["logins"] == 1
    assert (
        rig.leg_qty(plan.instrument("CE").trading_symbol)
        == rig.leg_qty(plan.instrument("PE").trading_symbol)
        == 12525
    )
    # concurrent: in every batch both legs reached the exchange before either reply came back
    arrivals = {tag: t for t, tag in rig.server.arrivals}
    for n in range(1, 10):
        tags = [o["tag"] for o in d["orders"] if o["batch"] == n]
        gap_ms = abs(arrivals[tags[0]] - arrivals[tags[1]]) / 1e6
        assert gap_ms < 5, f"batch {n}: legs {gap_ms:.2f} ms apart (latency 5 ms)"
    assert d["combined_premium"] == d["legs"]["CE"]["avg_price"] + d["legs"]["PE"]["avg_price"]
    assert not d["imbalances"]


@pytest.mark.asyncio
async def test_a_batch_above_freeze_becomes_several_orders_per_leg(rig: Rig) -> None:
    plan = await rig.plan(lots=61, batch_lots=30)
    assert [b.lots for b in plan.batches] == [30, 30, 1]
    assert [(o.leg, o.slice, o.qty) for o in plan.batches[0].orders] == [
        ("CE", 1, 1800),
        ("CE", 2, 450),
        ("PE", 1, 1800),
        ("PE", 2, 450),
    ]
    summary = await sd.StraddleRun(plan, rig.desk).execute()
    assert summary.complete
    assert max(int(r["qty"]) for r in rig.book()) == 1800  # never above the freeze quantity
    assert rig.leg_qty(plan.instrument("CE").trading_symbol) == 61 * 75


@pytest.mark.asyncio
async def test_limit_legs_are_priced_on_the_tick(rig: Rig) -> None:
    plan = await rig.plan(lots=4, batch_lots=2, order_type=OrderType.LIMIT, buffer_pct=Decimal("2"))
    ce_ltp = plan.leg_ltp[plan.instrument("CE").key]
    price = plan.batches[0].orders[0].price
    assert price is not None and price <= ce_ltp * Decimal("0.98")
    assert price == plan.instrument("CE").round_price(price) and price > ce_ltp * Decimal("0.97")
    summary = await sd.StraddleRun(plan, rig.desk).execute()
    assert summary.to_json()["legs"]["CE"]["placed"] == 2


class WaitingHub(EventHub):
    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()

    def publish(self, event: Any) -> None:
        super().publish(event)
        if isinstance(event, RunProgress) and event.state == "waiting":
            self.waiting.set()


@pytest.mark.asyncio
async def test_abort_stops_what_is_not_yet_sent(rig: Rig) -> None:
    plan = await rig.plan(delay_s=30.0)
    hub = WaitingHub()
    run = sd.StraddleRun(plan, rig.desk, hub=hub)
    task = asyncio.create_task(run.execute())
    await asyncio.wait_for(hub.waiting.wait(), 10)  # batch 1 out, waiting for batch 2
    run.abort()
    summary = await asyncio.wait_for(task, 5)  # at once, not after the 30 s delay
    d = summary.to_json()
    assert d["aborted"] and d["batches_sent"] == 1
    assert len(rig.book()) == 2
    [record] = await rig.journal.runs("paper", "straddle", ("aborted",))
    assert record.id == run.run_id


@pytest.mark.asyncio
async def test_a_leg_is_reported_filled_when_it_fills_not_at_the_end_of_the_run(rig: Rig) -> None:
    plan = await rig.plan(lots=40, delay_s=30.0)  # two batches, a long wait between them
    hub = WaitingHub()
    events = hub.subscribe()
    run = sd.StraddleRun(plan, rig.desk, hub=hub)
    task = asyncio.create_task(run.execute())
    await asyncio.wait_for(hub.waiting.wait(), 10)  # batch 1 out, waiting for batch 2
    await rig.desk.book()  # any read of the book (the window's poll, the order feed)
    fills = [e for e in events if isinstance(e, LegProgress) and e.status is OrderStatus.COMPLETE]
    assert not task.done()
    assert sorted((e.batch, e.leg, e.filled) for e in fills) == [(1, "CE", 1500), (1, "PE", 1500)]
    assert all(e.avg_price is not None and e.avg_price > 0 for e in fills)
    run.abort()
    await asyncio.wait_for(task, 5)


class Crash(BaseException):
    """A kill: nothing after it runs in the process."""


@pytest.mark.asyncio
async def test_crash_mid_run_resumes_with_no_lot_twice_and_none_forgotten(rig: Rig) -> None:
    plan = await rig.plan()
    real_place = rig.client.place
    calls = 0

    async def dies_on_the_seventh(req: OrderRequest) -> str:
        nonlocal calls
        calls += 1
        mine = calls
        order_id = await real_place(req)
        if mine == 7:  # batch 4's first leg landed at the broker; the app never saw the reply
            raise Crash
        return order_id

    rig.client.place = dies_on_the_seventh  # type: ignore[method-assign, assignment]
    with pytest.raises(Crash):
        await sd.StraddleRun(plan, rig.desk).execute()
    rig.client.place = real_place  # type: ignore[method-assign, assignment]
    before = Counter(r["trdSym"] for r in rig.book())

    # restart: a new desk on the same journal finds the interrupted run
    desk = OrderDesk(rig.client, rig.journal, "paper")
    [run_record] = await sd.unfinished_runs(desk)
    run, intents = await sd.resume_run(run_record, desk, rig.store)
    assert {i.meta["batch"] for i in intents if i.meta} == {1, 2, 3, 4}
    summary = await run.execute(resume=intents)
    assert summary.complete, summary.to_json()
    symbols = Counter(r["trdSym"] for r in rig.book())
    assert (
        symbols[plan.instrument("CE").trading_symbol]
        == symbols[plan.instrument("PE").trading_symbol]
        == 9
    )
    assert sum(before.values()) in (7, 8)  # what landed before the crash was not resent
    assert (
        rig.leg_qty(plan.instrument("CE").trading_symbol)
        == rig.leg_qty(plan.instrument("PE").trading_symbol)
        == 12525
    )
    tags = Counter(r["GuiOrdId"] for r in rig.book())
    assert max(tags.values()) == 1
    assert await sd.unfinished_runs(desk) == []


@pytest.mark.asyncio
async def test_faults_mid_run_leave_no_duplicate_and_no_missing_leg(rig: Rig) -> None:
    plan = await rig.plan()
    rig.server.faults.update(
        {
            "queue": [
                "accept_drop",
                "error_5xx",
                "rate_limit",
                "revoke",
                "accept_5xx",
                "drop",
                "accept_drop",
                "rate_limit",
            ],
            "routes": ["place"],
            "retry_after_s": 0.01,
        }
    )
    summary = await sd.StraddleRun(plan, rig.desk).execute()
    d = summary.to_json()
    assert summary.complete, d
    assert (
        rig.leg_qty(plan.instrument("CE").trading_symbol)
        == rig.leg_qty(plan.instrument("PE").trading_symbol)
        == 12525
    )
    assert max(Counter(r["GuiOrdId"] for r in rig.book()).values()) == 1
    assert rig.server.faults.injected["revoke"] == 1
    assert rig.client.logins == 2  # exactly one re-login after the revoked session


@pytest.mark.asyncio
async def test_leg_imbalance_is_reported_and_can_be_retried(rig: Rig) -> None:
    plan = await rig.plan(lots=40)
    refuse_first(rig, plan.instrument("PE").trading_symbol)  # a definite rejection, never retried
    run = sd.StraddleRun(plan, rig.desk)
    summary = await run.execute()
    d = summary.to_json()
    assert d["legs"]["PE"]["failed"] == 1 and d["legs"]["CE"]["failed"] == 0
    assert d["imbalances"] == [{"batch": 1, "ce_filled": 1500, "pe_filled": 0}]
    assert not summary.complete
    await run.retry_missing(1)
    assert run_summary_imbalances(run) == []
    assert rig.leg_qty(plan.instrument("PE").trading_symbol) == 3000


def run_summary_imbalances(run: sd.StraddleRun) -> list[dict[str, int]]:
    return sd.Summary(run.run_id, run.plan, run.results, 0, {}, 0, False).imbalances()


@pytest.mark.asyncio
async def test_every_reason_to_refuse_is_given_before_anything_is_sent(rig: Rig) -> None:
    spec = sp.StraddleSpec(
        "NIFTY",
        rig.expiry - timedelta(days=7),
        lots=0,
        batch_lots=20,
        call_strike=Decimal("12345"),
        put_strike=Decimal("12345"),
    )
    plan = sp.plan_straddle(
        spec,
        rig.store,
        spot=None,
        ltps={},
        today=rig.server.exchange.today,
        market_open=False,
        orders_per_second=10,
    )
    text = " | ".join(plan.problems)
    assert "lots must be 1-10,000" in text and "market is closed" in text
    assert "has passed" in text
    big = await rig.plan(lots=10000, batch_lots=1000)
    assert any("not enough margin" in p for p in big.problems)
    assert rig.server.exchange.stats["placed"] == 0


@pytest.mark.asyncio
async def test_buying_back_uses_the_same_planner(rig: Rig) -> None:
    sell = await rig.plan(lots=40)
    await sd.StraddleRun(sell, rig.desk).execute()
    buy = await rig.plan(lots=40, side=Side.BUY)
    assert buy.call == sell.call and buy.margin_required == 0
    summary = await sd.StraddleRun(buy, rig.desk).execute()
    assert summary.complete
    positions = {
        p["trdSym"]: int(p["flBuyQty"]) - int(p["flSellQty"])
        for p in rig.server.exchange.positions("PAPER1")
    }
    call, put = sell.instrument("CE").trading_symbol, sell.instrument("PE").trading_symbol
    assert positions[call] == positions[put] == 0


def test_cli_prints_the_plan_and_sends_nothing_without_yes(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    from gui_trader.cli import main
    from gui_trader.core.clock import today_ist
    from gui_trader.sim.universe import weekly_expiries

    expiry = weekly_expiries(today_ist())[0].isoformat()
    code = main(["straddle", "--expiry", expiry, "--atm", "--lots", "167", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["sent"] is False and len(out["plan"]["batches"]) == 9
    code = main(
        ["straddle", "--expiry", expiry, "--atm", "--lots", "167", "--paced", "--yes", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["batches"] == 9 and out["logins"] == 1
    assert out["legs"]["CE"] | {} and out["legs"]["CE"]["planned"] == 9
    assert {"placed", "filled", "failed"} <= set(out["legs"]["PE"])
    assert isinstance(out["elapsed_s"], float) and len(out["skew_ms"]) == 9
    code = main(["straddle", "--expiry", "2020-01-07", "--atm", "--lots", "1"])
    assert code == 2 and "has passed" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_flatten_closes_the_leg_that_filled_alone(rig: Rig) -> None:
    plan = await rig.plan(lots=40)
    refuse_first(rig, plan.instrument("PE").trading_symbol)
    run = sd.StraddleRun(plan, rig.desk)
    await run.execute()
    outcomes = await run.flatten(1)
    assert [o.request.side for o in outcomes] == [Side.BUY] and outcomes[0].request.qty == 1500
    net = {
        p["trdSym"]: int(p["flBuyQty"]) - int(p["flSellQty"])
        for p in rig.server.exchange.positions("PAPER1")
    }
    assert (
        net[plan.instrument("CE").trading_symbol]
        == net[plan.instrument("PE").trading_symbol]
        == -1500
    )


@pytest.mark.asyncio
async def test_a_restored_journal_never_resends_what_it_forgot(rig: Rig) -> None:
    """A backup taken mid-run, restored after the run finished: the journal says "running"
    and knows only the first batches. Resuming would send the rest twice: it refuses."""
    plan = await rig.plan(lots=60)
    summary = await sd.StraddleRun(plan, rig.desk).execute()
    assert summary.complete
    placed = len(rig.book())
    db = rig.journal._db
    assert db is not None
    forget = "DELETE FROM intents WHERE json_extract(meta, '$.batch') > 1"
    await rig.journal._run(db.execute, forget)
    await rig.journal._run(db.execute, "UPDATE runs SET state='running'")
    [record] = await sd.unfinished_runs(rig.desk)
    with pytest.raises(sd.RunRefused, match="does not know"):
        await sd.resume_run(record, rig.desk, rig.store)
    assert len(rig.book()) == placed  # nothing sent
    # and the refusal let the run go: another attempt is refused the same way, not "busy"
    with pytest.raises(sd.RunRefused, match="does not know"):
        await sd.resume_run(record, rig.desk, rig.store)


@pytest.mark.asyncio
async def test_a_resume_waits_out_legs_that_were_on_the_wire(rig: Rig) -> None:
    """A leg journaled as sent whose request may still land is looked up only after the
    in-flight time has passed, and then found, not resent."""
    plan = await rig.plan(lots=20)
    [req] = await rig.desk.prepare(
        [plan.request(plan.orders[0])],
        feature="S",
        group="S-test",
        metas=[{"run": "S-test", "batch": 1, "leg": "CE", "slice": 1}],
    )
    await rig.journal.save_run("S-test", "paper", sd.KIND, plan.to_json(), "running")
    await rig.journal.mark([req.tag or ""], IntentState.SENT)
    # the request lands at the broker only now, after the process that sent it died
    await rig.client.place(req)
    [record] = await sd.unfinished_runs(rig.desk)
    run, intents = await sd.resume_run(record, rig.desk, rig.store)
    summary = await run.execute(resume=intents)
    assert summary.complete
    tags = Counter(r["GuiOrdId"] for r in rig.book())
    assert tags[req.tag] == 1 and len(rig.book()) == 2
