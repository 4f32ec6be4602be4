"""`gui-trader kill`: every open order cancelled and every position flattened, on one account or
on every configured account, then new orders blocked until `risk reset`; a second kill (or a
kill after a crash mid-kill) never exits twice. Judged by the simulator's own book."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gui_trader.cli import main
from gui_trader.config import AccountConfig, Config, Paths
from gui_trader.core.clock import today_ist
from gui_trader.core.order import Side
from gui_trader.sim.paper_accounts import numbered_users
from gui_trader.sim.serve import ServerThread, start
from gui_trader.sim.universe import Universe

ACCOUNTS = ("a1", "a2", "a3")
UCC = {f"a{n}": u.ucc for n, u in enumerate(numbered_users(len(ACCOUNTS)), start=1)}
BLOCKED = (
    "trading blocked for today on {a}: kill switch (cli) at {t} IST; "
    "`gui-trader risk reset --account {a}` to allow orders again"
)


class Sim:
    """Live accounts a1..a3 on one loopback simulator; the server's book is the truth."""

    def __init__(self, server: ServerThread, home: Path) -> None:
        self.server = server
        self.home = home

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        url = self.server.url + path
        return httpx.request(method, url, json=body, timeout=10.0).raise_for_status().json()

    def book(self, account: str | None = None) -> list[dict[str, Any]]:
        rows = list(self.admin("GET", "/_sim/book")["orders"])
        return [o for o in rows if account is None or o["ucc"] == UCC[account]]

    def pin(self, **prices: str) -> None:
        self.admin("POST", "/_sim/pin", {f"{s}-EQ": p for s, p in prices.items()})

    def net(self, account: str) -> dict[tuple[str, str], int]:
        """Net filled quantity per (symbol, product) at the server (market orders fill whole)."""
        out: Counter[tuple[str, str]] = Counter()
        for o in self.book(account):
            if o["status"] == "complete":
                out[(o["ts"], o["prod"])] += o["qty"] if o["tt"] == "B" else -o["qty"]
        return {k: v for k, v in out.items() if v}

    def working(self, account: str) -> list[dict[str, Any]]:
        return [o for o in self.book(account) if o["status"] in ("open", "partially filled")]


@pytest.fixture
def sim(home: Path) -> Iterator[Sim]:
    from gui_trader.broker.vault import VaultKey, store_secrets

    users = numbered_users(len(ACCOUNTS))
    with start(users=users, unique_tags=True) as server:
        paths = Paths(home).ensure()
        config = Config.load(paths.config)
        for name, u in zip(ACCOUNTS, users, strict=True):
            config.accounts[name] = AccountConfig(name, u.mobile, u.ucc, server.url)
            store_secrets(
                VaultKey(paths.keyring_scope, name, u.ucc),
                consumer_key=u.consumer_key,
                mpin=u.mpin,
                totp_secret=u.totp_secret,
            )
        config.orders_per_second = config.requests_per_second = 1000.0
        config.deadline_s, config.landing_s = 2.0, 0.2
        config.extra["market"] = {"always_open": True}
        config.extra["feeds"] = {"enabled": False}  # the engine polls: deterministic tests
        config.save()
        yield Sim(server, home)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the CLI with --json: (exit status, the one JSON document, stderr)."""
    capsys.readouterr()
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def trade(capsys: pytest.CaptureFixture[str], account: str, *order: str) -> None:
    code, doc, err = cli(capsys, *order, "--account", account)
    assert code == 0, (doc, err)


def open_books(sim: Sim, capsys: pytest.CaptureFixture[str]) -> None:
    """Every account: an MIS long, a CNC long, an MIS short and a resting limit order."""
    sim.pin(INFY="1500")
    for a in ACCOUNTS:
        trade(capsys, a, "buy", "RELIANCE", "--qty", "10", "--product", "MIS")
        trade(capsys, a, "buy", "TCS", "--qty", "3", "--product", "CNC")
        trade(capsys, a, "sell", "SBIN", "--qty", "5", "--product", "MIS")
        trade(capsys, a, "buy", "INFY", "--qty", "2", "--price", "1450", "--product", "MIS")
    for a in ACCOUNTS:
        assert len(sim.net(a)) == 3 and len(sim.working(a)) == 1


def test_kill_without_yes_shows_the_plan_and_sends_nothing(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    open_books(sim, capsys)
    before = sim.book()
    code, doc, _ = cli(capsys, "kill", "--account", "a1")
    assert code == 0 and doc["sent"] is False
    a1 = doc["accounts"]["a1"]
    assert [(c["symbol"], c["status"]) for c in a1["cancelled"]] == [("INFY-EQ", "would cancel")]
    assert sorted((p["symbol"], p["side"], p["qty"]) for p in a1["placed"]) == [
        ("RELIANCE-EQ", "SELL", 10),
        ("SBIN-EQ", "BUY", 5),
        ("TCS-EQ", "SELL", 3),
    ]
    assert a1["blocked"] is None
    assert sim.book() == before  # nothing sent
    trade(capsys, "a1", "buy", "LT", "--qty", "1")  # and nothing blocked


def test_kill_all_accounts_empties_every_book_then_blocks_until_reset(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    open_books(sim, capsys)
    code, doc, err = cli(capsys, "kill", "--all-accounts", "--yes")
    assert code == 0, (doc, err)
    assert doc["sent"] is True and doc["ok"] is True and set(doc["accounts"]) == set(ACCOUNTS)
    for a in ACCOUNTS:
        rep = doc["accounts"][a]
        assert rep["positions_left"] == [] and rep["blocked"].startswith("kill switch (cli)")
        assert [(c["symbol"], c["status"]) for c in rep["cancelled"]] == [("INFY-EQ", "cancelled")]
        placed = {p["tag"]: p for p in rep["placed"]}
        assert {p["status"] for p in placed.values()} == {"complete"}
        assert all(t.startswith("K") and p["order_id"] for t, p in placed.items())
        # at the server: flat, nothing working, and every exit is the one the report lists
        assert sim.net(a) == {} and sim.working(a) == []
        exits = {o["tag"]: o for o in sim.book(a) if o["tag"].startswith("K")}
        assert set(exits) == set(placed)
        assert {(o["ts"], o["tt"], o["qty"], o["prod"]) for o in exits.values()} == {
            ("RELIANCE-EQ", "S", 10, "MIS"),
            ("TCS-EQ", "S", 3, "CNC"),
            ("SBIN-EQ", "B", 5, "MIS"),
        }
    # blocked: a new buy is refused in one line and nothing reaches the server
    before = len(sim.book())
    capsys.readouterr()
    assert main(["buy", "LT", "--qty", "1", "--account", "a2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    when = doc["accounts"]["a2"]["blocked"].removeprefix("kill switch (cli) at ").split()[0]
    assert err == "gui-trader: " + BLOCKED.format(a="a2", t=when)
    assert len(sim.book()) == before
    # a signal fanned out to every account is refused at each, nothing sent
    code, fan, _ = cli(capsys, "signal", "LT", "--side", "buy", "--qty", "1", "--yes")
    assert {r["status"] for r in fan["signals"][0]["accounts"]} == {"failed"}
    assert all("trading blocked" in r["reason"] for r in fan["signals"][0]["accounts"])
    assert len(sim.book()) == before
    # risk show says so; reset on one account lets it trade again, the others stay blocked
    code, shown, _ = cli(capsys, "risk", "show", "--all-accounts")
    assert code == 0 and all(shown["accounts"][a]["blocked"] for a in ACCOUNTS)
    counts = {a: len(sim.book(a)) for a in ACCOUNTS}
    code, reset, _ = cli(capsys, "risk", "reset", "--account", "a2")
    assert code == 0 and reset["accounts"]["a2"]["was_blocked"] is True
    trade(capsys, "a2", "buy", "LT", "--qty", "1")
    assert main(["buy", "LT", "--qty", "1", "--account", "a3"]) == 2
    assert {a: len(sim.book(a)) for a in ACCOUNTS} == counts | {"a2": counts["a2"] + 1}


def test_kill_twice_exits_once(sim: Sim, capsys: pytest.CaptureFixture[str]) -> None:
    open_books(sim, capsys)
    code, first, _ = cli(capsys, "kill", "--account", "a1", "--yes")
    assert code == 0 and len(first["accounts"]["a1"]["placed"]) == 3
    count = len(sim.book("a1"))
    code, second, _ = cli(capsys, "kill", "--account", "a1", "--yes")
    assert code == 0, second
    assert second["accounts"]["a1"]["placed"] == second["accounts"]["a1"]["cancelled"] == []
    assert len(sim.book("a1")) == count and sim.net("a1") == {}
    # the other accounts were not touched
    assert len(sim.net("a2")) == 3 and len(sim.working("a2")) == 1


def _journal(sim: Sim) -> sqlite3.Connection:
    return sqlite3.connect(Paths(sim.home).journal, isolation_level=None)


@pytest.mark.parametrize("ghost_age_s", [3600.0, 0.0])
def test_a_kill_after_a_crash_mid_kill_does_not_exit_twice(
    sim: Sim, capsys: pytest.CaptureFixture[str], ghost_age_s: float
) -> None:
    """A first kill died after its exits reached the broker, before it wrote their outcome
    (the journal still says "sent", as a kill -9 leaves it): the second kill finds them by
    tag and sends nothing for what they closed. An exit the dead run had on the wire but the
    broker never got is proven absent (at once if it was sent long ago; a moment ago, only
    once it can no longer land: meanwhile what it would close is not closed twice), and
    then that position is closed."""
    open_books(sim, capsys)
    code, first, _ = cli(capsys, "kill", "--account", "a1", "--yes")
    assert code == 0
    tags = [p["tag"] for p in first["accounts"]["a1"]["placed"]]
    db = _journal(sim)
    marks = ",".join("?" * len(tags))
    db.execute(  # back to what the dead process left
        f"UPDATE intents SET state='sent', order_id=NULL WHERE tag IN ({marks})", tags
    )
    # ...and one more exit it journaled for a position that is still open, never sent
    trade(capsys, "a1", "risk", "reset")
    trade(capsys, "a1", "buy", "HDFCBANK", "--qty", "4", "--product", "MIS")
    ghost = {
        "symbol": "HDFCBANK-EQ",
        "segment": "nse_cm",
        "token": _token("HDFCBANK"),
        "side": "S",
        "qty": 4,
        "type": "MKT",
        "price": None,
        "product": "MIS",
        "validity": "DAY",
    }
    long_ago = time.time() - ghost_age_s
    db.execute(
        "INSERT INTO intents (tag, account, day, kind, feature, request, state, created, updated)"
        " VALUES ('KGHOST000000000001', 'a1', ?, 'place', 'K', ?, 'sent', ?, ?)",
        (today_ist().isoformat(), json.dumps(ghost), long_ago, long_ago),
    )
    count = len(sim.book("a1"))
    code, second, err = cli(capsys, "kill", "--account", "a1", "--yes")
    assert code == 0, (second, err)
    placed = second["accounts"]["a1"]["placed"]
    assert [(p["symbol"], p["side"], p["qty"]) for p in placed] == [("HDFCBANK-EQ", "SELL", 4)]
    assert second["accounts"]["a1"]["in_flight"] == []
    assert len(sim.book("a1")) == count + 1 and sim.net("a1") == {}
    states = dict(db.execute("SELECT tag, state FROM intents WHERE feature='K'").fetchall())
    assert {states[t] for t in tags} == {"placed"}
    assert states["KGHOST000000000001"] == "absent"
    db.close()


def _token(name: str) -> str:
    return str(Universe.build(today_ist()).by_symbol[f"{name}-EQ"].token)


def test_another_process_squaring_off_the_account_makes_kill_refuse_not_double(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    from gui_trader.engine.ownership import RunOwner

    open_books(sim, capsys)
    before = sim.book()
    other = RunOwner(sim.home / "locks", "risk-a1", "the square-off of a1")
    other.acquire()
    try:
        code, doc, _ = cli(capsys, "kill", "--account", "a1", "--yes")
    finally:
        other.release()
    assert code == 4  # busy: another process drives it
    rep = doc["accounts"]["a1"]
    assert "being driven by another process" in rep["error"] and rep["placed"] == []
    assert rep["blocked"] is not None  # the block holds at once: nothing new gets in
    assert sim.book() == before


@pytest.mark.asyncio
async def test_the_window_engine_sees_a_kill_from_another_process(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine behind a window shows BLOCKED within its refresh, and its own orders are
    refused from then on (the block lives in the journal, not in a process)."""
    from gui_trader.app import open_context
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.order_desk import TradingBlocked
    from gui_trader.engine.trading import TradingEngine

    ctx = await open_context(account="a1", paths=Paths(sim.home))
    engine = TradingEngine(ctx, EventHub(), poll_s=0.2)
    try:
        assert await engine.start()
        assert not engine.risk.snapshot().blocked
        code = await asyncio.to_thread(main, ["kill", "--account", "a1", "--yes"])
        assert code == 0
        await engine.risk.refresh()  # what the engine's watch does every second
        snap = engine.risk.snapshot()
        assert snap.blocked and snap.reason.startswith("kill switch (cli)")
        before = len(sim.book())
        with pytest.raises(TradingBlocked):
            await engine.place(engine.request("LT", Side.BUY, 1))
        assert len(sim.book()) == before
    finally:
        await engine.stop()


def test_an_account_that_cannot_be_opened_is_still_blocked(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its secrets are gone: nothing can be closed there, the others are killed, and the
    journal blocks it so no process on this folder sends it a new order (exit 1)."""
    config = Config.load(Paths(sim.home).config)
    config.accounts["a9"] = AccountConfig("a9", "+919999999999", "NOSUCH", sim.server.url)
    config.save()
    open_books(sim, capsys)
    code, doc, _ = cli(capsys, "kill", "--all-accounts", "--yes")
    assert code == 1 and doc["ok"] is False
    assert all(doc["accounts"][a]["ok"] for a in ACCOUNTS)
    assert "blocked for today, nothing closed" in doc["accounts"]["a9"]["error"]
    code, reset, _ = cli(capsys, "risk", "reset", "--account", "a9")
    assert reset["accounts"]["a9"]["was_blocked"] is True
