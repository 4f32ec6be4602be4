"""0 duplicate and 0 lost orders under accepted-then-dropped, dropped and 5xx faults."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderOutcome, OrderRequest, OrderStatus, Side
from gui_trader.engine.journal import IntentState, Journal
from gui_trader.engine.order_desk import OrderDesk, request_record
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.serve import start
from gui_trader.sim.server import SimServer
from tests.support.harness import client, in_process, in_process_client

SYMBOLS = [("2885", "RELIANCE-EQ"), ("1594", "INFY-EQ"), ("3045", "SBIN-EQ")]


def fault_spec(rng: random.Random) -> dict[str, object]:
    return {
        "rates": {
            "accept_drop": rng.uniform(0, 0.3),
            "drop": rng.uniform(0, 0.2),
            "error_5xx": rng.uniform(0, 0.2),
            "accept_5xx": rng.uniform(0, 0.2),
        },
        "routes": ["place", "orders"],
        "seed": rng.randrange(1 << 30),
    }


async def one_run(desk: OrderDesk, rng: random.Random) -> list[OrderOutcome]:
    reqs = []
    for token, sym in rng.sample(SYMBOLS, k=rng.randint(1, 3)):
        inst = Instrument("nse_cm", token, sym, sym[:-3], tick_size=Decimal("0.05"))
        reqs.append(OrderRequest(inst, Side.BUY, rng.randint(1, 5)))
    return list(await asyncio.gather(*(desk.place(r) for r in reqs)))


def check(exchange: Exchange, outcomes: list[OrderOutcome]) -> tuple[int, int]:
    """(duplicates, lost): a tag twice in the book; an outcome that disagrees with the book."""
    book = exchange.order_book("PAPER1")
    tags = Counter(row["GuiOrdId"] for row in book)
    duplicates = sum(n - 1 for n in tags.values() if n > 1)
    by_tag = {row["GuiOrdId"]: row for row in book}
    lost = 0
    for out in outcomes:
        row = by_tag.get(out.tag)
        if out.order_id is not None:
            lost += row is None or row["nOrdNo"] != out.order_id
        else:
            # not placed: the broker must not have it (unknown would need a human; count it)
            lost += row is not None or out.status is OrderStatus.UNKNOWN
    return duplicates, lost


@pytest.mark.asyncio
async def test_200_randomized_runs_in_process(tmp_path: Path) -> None:
    rng = random.Random(20261121)
    journal = await Journal(tmp_path / "j.sqlite3").open()
    totals = Counter[str]()
    outcomes_all: list[OrderOutcome] = []
    try:
        for _ in range(200):
            server: SimServer = in_process()
            server.faults.update(fault_spec(rng))
            c = in_process_client(server)
            desk = OrderDesk(c, journal, "paper")
            outcomes = await one_run(desk, rng)
            await c.close()
            server.faults.update({"rates": {}})
            dup, lost = check(server.exchange, outcomes)
            totals["duplicates"] += dup
            totals["lost"] += lost
            totals.update(server.faults.injected)
            outcomes_all.extend(outcomes)
    finally:
        await journal.close()
    assert totals["duplicates"] == 0
    assert totals["lost"] == 0
    # the faults really happened, and the desk had to resolve by tag
    for fault in ("accept_drop", "drop", "error_5xx", "accept_5xx"):
        assert totals[fault] > 10, totals
    assert any("found by tag" in " ".join(o.notes) for o in outcomes_all)
    assert sum(o.ok for o in outcomes_all) >= 0.95 * len(outcomes_all)


@pytest.mark.asyncio
async def test_randomized_runs_over_loopback(tmp_path: Path) -> None:
    rng = random.Random(7)
    journal = await Journal(tmp_path / "j.sqlite3").open()
    totals = Counter[str]()
    outcomes_all: list[OrderOutcome] = []
    with start() as st:
        c = client(st.url)
        desk = OrderDesk(c, journal, "main")
        try:
            for _ in range(40):
                st.app.faults.update(fault_spec(rng))
                outcomes_all.extend(await one_run(desk, rng))
            st.app.faults.update({"rates": {}})
            dup, lost = check(st.app.exchange, outcomes_all)
            totals.update(st.app.faults.injected)
        finally:
            await c.close()
            await journal.close()
    assert (dup, lost) == (0, 0)
    assert totals["accept_drop"] > 0 and totals["drop"] > 0
    journal_states = Counter[str]()
    j = await Journal(tmp_path / "j.sqlite3").open()
    for intent in await j.all():
        journal_states[intent.state] += 1
        assert len(intent.tag) <= 20
    await j.close()
    assert set(journal_states) <= {"placed", "failed"}


@pytest.mark.asyncio
async def test_ambiguous_place_is_looked_up_not_resent(tmp_path: Path) -> None:
    server = in_process()
    server.faults.update({"queue": ["accept_drop"]})
    c = in_process_client(server)
    journal = await Journal(tmp_path / "j.sqlite3").open()
    try:
        desk = OrderDesk(c, journal, "paper")
        inst = Instrument("nse_cm", "2885", "RELIANCE-EQ", "RELIANCE", tick_size=Decimal("0.05"))
        out = await desk.place(OrderRequest(inst, Side.BUY, 1))
    finally:
        await c.close()
        await journal.close()
    assert out.ok and out.attempts == 1
    assert server.requests["place"] == 1  # one send: the look-up found it
    assert server.exchange.stats["placed"] == 1


@pytest.mark.asyncio
async def test_duplicate_tag_without_a_book_entry_stays_unknown(tmp_path: Path) -> None:
    """The broker says the tag exists; the book does not show it: never resend, never guess."""
    server = in_process()
    c = in_process_client(server)
    journal = await Journal(tmp_path / "j.sqlite3").open()
    inst = Instrument("nse_cm", "2885", "RELIANCE-EQ", "RELIANCE", tick_size=Decimal("0.05"))
    try:
        desk = OrderDesk(c, journal, "paper")
        tag = await journal.new_intent("paper", "place", "O", {})
        server.exchange.book("PAPER1").tags.add(tag)  # e.g. the tag was renamed after a modify
        out = await desk.send(OrderRequest(inst, Side.BUY, 1, tag=tag))
        [intent] = await journal.all()
    finally:
        await c.close()
        await journal.close()
    assert out.status is OrderStatus.UNKNOWN and out.order_id is None
    assert server.requests["place"] == 1
    assert intent.state == "unknown"


@pytest.mark.asyncio
async def test_reconcile_settles_a_crashed_intent_but_not_a_fresh_one(
    tmp_path: Path, home: Path
) -> None:
    from gui_trader.app import open_context, reconcile

    ctx = await open_context(paper=True)
    try:
        store = await ctx.instruments()
        inst = store.resolve("SBIN")
        # a crash after the send: the order is at the broker, the journal still says "sent"
        req = OrderRequest(inst, Side.BUY, 1)
        tag = await ctx.journal.new_intent("paper", "place", "O", request_record(req))
        await ctx.journal.update(tag, IntentState.SENT)
        order_id = await ctx.broker.place(replace(req, tag=tag))
        fresh = await ctx.journal.new_intent("paper", "place", "O", request_record(req))
        assert await reconcile(ctx) == []  # both were touched just now: another process's?
        db = ctx.journal._db
        assert db is not None
        await ctx.journal._run(db.execute, "UPDATE intents SET updated = updated - 600")
        settled = await reconcile(ctx)
        states = {i.tag: (i.state, i.order_id) for i in await ctx.journal.all()}
    finally:
        await ctx.close()
    assert {s["tag"] for s in settled} == {tag, fresh}
    assert states[tag] == ("placed", order_id)
    assert states[fresh] == ("absent", None)
