"""One signal, every account: `gui-trader signal` on paper accounts of the paper service and on
live accounts trading a loopback simulator, judged by the server's own book."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gui_trader.cli import main
from gui_trader.config import AccountConfig, Config, Paths
from gui_trader.sim.paper_accounts import numbered_users
from gui_trader.sim.serve import ServerThread, start

SYMBOLS = ("HDFCBANK", "TCS", "ICICIBANK", "AXISBANK", "LT")  # held by no simulated account


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_account(doc: dict[str, Any], signal: int = 0) -> dict[str, dict[str, Any]]:
    return {a["account"]: a for a in doc["signals"][signal]["accounts"]}


# ---------------------------------------------------------------- live accounts on a simulator
class Sim:
    def __init__(self, server: ServerThread, home: Path) -> None:
        self.server = server
        self.home = home

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        url = self.server.url + path
        return httpx.request(method, url, json=body, timeout=10.0).raise_for_status().json()

    def book(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "/_sim/book")["orders"])

    def arrivals(self) -> list[tuple[int, str]]:
        return [(int(t), str(g)) for t, g in self.admin("GET", "/_sim/arrivals")["arrivals"]]

    def faults(self, **spec: Any) -> None:
        self.admin("POST", "/_sim/faults", spec)


@pytest.fixture
def sim(home: Path) -> Iterator[Sim]:
    """Four live accounts a1..a4 (each its own login in the keyring) on one simulator."""
    from gui_trader.broker.vault import VaultKey, store_secrets

    users = numbered_users(4)
    with start(users=users, unique_tags=True) as server:
        paths = Paths(home).ensure()
        config = Config.load(paths.config)
        for n, u in enumerate(users, start=1):
            name = f"a{n}"
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
        config.save()
        yield Sim(server, home)


def test_plan_without_yes_sends_nothing_and_sizes_to_the_amount(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["account", "set", "a1", "--amount", "10000", "--leverage", "2.5"]) == 0
    assert main(["account", "set", "a2", "--amount", "999"]) == 0
    code, doc = run_json(capsys, "signal", "TCS", "--side", "buy", "--price", "3000")
    assert code == 0
    rows = by_account(doc)
    assert rows["a1"] == rows["a1"] | {"status": "planned", "qty": 8}  # 25000 / 3000
    assert rows["a2"]["status"] == "skipped"
    assert "less than one lot" in rows["a2"]["reason"]
    assert rows["a3"]["qty"] == 3  # the default 10000 x 1
    assert sim.arrivals() == [] and sim.book() == []


def test_every_account_gets_its_order_once_and_a_held_symbol_is_skipped(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = run_json(capsys, "signal", "HDFCBANK", "--side", "buy", "--qty", "7", "--yes")
    assert code == 0, doc
    rows = by_account(doc)
    assert {r["status"] for r in rows.values()} == {"placed"}
    book = sim.book()
    assert Counter(o["ucc"] for o in book) == Counter(u.ucc for u in numbered_users(4))
    assert {o["tag"] for o in book} == {r["tag"] for r in rows.values()}
    assert all(o["qty"] == 7 and o["ts"] == "HDFCBANK-EQ" for o in book)
    assert doc["accounts"]["a1"] == {"placed": 1, "skipped": 0, "failed": 0, "notified": False}
    # Again: every account now holds it (duplicate prevention), nothing new at the server.
    code, doc = run_json(capsys, "signal", "HDFCBANK", "--side", "buy", "--qty", "7", "--yes")
    assert code == 0
    assert {r["status"] for r in by_account(doc).values()} == {"skipped"}
    assert len(sim.book()) == 4


def test_a_signal_against_what_an_account_holds_exits_it(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every simulated account holds 40 RELIANCE (CNC): a sell signal sells those 40 (an exit,
    not a duplicate); a sell of a stock it does not hold is no CNC short; with MIS it is a short
    entry, and the buy signal after it covers exactly the short."""
    code, doc = run_json(capsys, "signal", "RELIANCE", "--side", "sell", "--yes")
    assert code == 0, doc
    rows = by_account(doc)
    assert {(r["status"], r["qty"], r["exit"]) for r in rows.values()} == {("placed", 40, True)}
    assert {(o["tt"], o["qty"], o["prod"]) for o in sim.book()} == {("S", 40, "CNC")}
    code, doc = run_json(capsys, "signal", "TCS", "--side", "sell", "--qty", "5", "--yes")
    assert code == 0
    assert {r["reason"] for r in by_account(doc).values()} == {
        "holds no TCS-EQ to sell (a short entry needs --product MIS or NRML)"
    }
    args = ("--qty", "5", "--product", "MIS", "--yes")
    code, doc = run_json(capsys, "signal", "TCS", "--side", "sell", *args)
    assert code == 0, doc
    assert {(r["status"], r["exit"]) for r in by_account(doc).values()} == {("placed", False)}
    code, doc = run_json(capsys, "signal", "TCS", "--side", "buy", "--qty", "9", "--yes")
    assert code == 0, doc
    assert {(r["qty"], r["exit"]) for r in by_account(doc).values()} == {(5, True)}
    covers = [o for o in sim.book() if o["ts"] == "TCS-EQ" and o["tt"] == "B"]
    assert len(covers) == 4 and {(o["qty"], o["prod"]) for o in covers} == {(5, "MIS")}


def test_an_account_another_signal_run_drives_is_skipped_not_doubled(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs at once would both read a book without the symbol and both buy: the second
    finds the account's signal lock taken (here by this test, as another process would) and
    skips it, saying so; the others go ahead."""
    from gui_trader.engine.ownership import RunOwner

    other = RunOwner(sim.home / "locks", "signal-a2", "account a2")
    other.acquire()
    try:
        code, doc = run_json(capsys, "signal", "TCS", "--side", "buy", "--qty", "1", "--yes")
    finally:
        other.release()
    rows = by_account(doc)
    assert rows["a2"]["status"] == "skipped" and "another signal run" in rows["a2"]["reason"]
    assert {rows[a]["status"] for a in ("a1", "a3", "a4")} == {"placed"}
    assert code == 0  # a skip is not a failure
    assert sorted(o["ucc"] for o in sim.book()) == sorted(
        u.ucc for i, u in enumerate(numbered_users(4)) if i != 1
    )


def test_eligibility_disabled_and_max_positions(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["account", "set", "a2", "--enabled", "no"]) == 0
    assert main(["account", "set", "a3", "--max-positions", "1"]) == 0
    assert main(["account", "set", "a1", "--group", "swing"]) == 0
    assert main(["account", "set", "a3", "--group", "swing"]) == 0
    signals = sim.home / "signals.csv"
    signals.write_text("symbol,side,price,product,qty\nTCS,buy,,,2\nLT,buy,,CNC,2\n")
    code, doc = run_json(capsys, "signal", "--file", str(signals), "--yes")
    assert code == 0, doc
    assert set(by_account(doc)) == {"a1", "a3", "a4"}  # `all` is every enabled account
    second = by_account(doc, 1)
    assert second["a1"]["status"] == "placed"
    assert second["a3"]["status"] == "skipped"
    assert "max open positions" in second["a3"]["reason"]
    code, doc = run_json(capsys, "signal", "AXISBANK", "--side", "buy", "--qty", "1")
    code, doc = run_json(
        capsys, "signal", "AXISBANK", "--side", "buy", "--qty", "1", "--group", "swing"
    )
    assert set(by_account(doc)) == {"a1", "a3"}
    code, doc = run_json(
        capsys, "signal", "AXISBANK", "--side", "buy", "--qty", "1", "--accounts", "a2"
    )
    assert by_account(doc)["a2"] == by_account(doc)["a2"] | {
        "status": "skipped",
        "reason": "disabled",
    }


@pytest.mark.parametrize(
    ("fault", "sends"),
    [
        ("error_5xx", 2),  # 5xx before the order existed: proven absent by tag, sent once more
        ("accept_5xx", 1),  # 5xx after the order existed: found by its tag, never resent
        ("retry_after_long", 2),  # 429 the client will not wait out: the same tag once more
    ],
)
def test_retry_once_is_exactly_once_at_the_server(
    sim: Sim, capsys: pytest.CaptureFixture[str], fault: str, sends: int
) -> None:
    sim.faults(queue=[fault], routes=["place"])
    code, doc = run_json(capsys, "signal", "ICICIBANK", "--side", "buy", "--qty", "3", "--yes")
    assert code == 0, doc
    rows = by_account(doc)
    assert {r["status"] for r in rows.values()} == {"placed"}
    assert sorted(r["attempts"] for r in rows.values()) == [1, 1, 1, sends]
    book = sim.book()
    assert Counter(o["ucc"] for o in book) == Counter(u.ucc for u in numbered_users(4))
    tags = [t for _, t in sim.arrivals()]
    assert len(tags) == 3 + sends  # the retry carried the same tag
    assert set(tags) == {r["tag"] for r in rows.values()}


def test_the_breaker_stops_the_remaining_signals(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults(rates={"error_5xx": 1.0}, routes=["place"])
    signals = sim.home / "signals.csv"
    signals.write_text("TCS,buy,,,1\nLT,buy,,,1\n")
    code, doc = run_json(capsys, "signal", "--file", str(signals), "--yes")
    assert code == 1
    assert doc["circuit_breaker"] == doc["circuit_breaker"] | {
        "tripped": True,
        "signal": "TCS",
        "failed": 4,
        "attempted": 4,
        "not_sent": ["LT"],
    }
    assert len(doc["signals"]) == 1
    assert {r["attempts"] for r in by_account(doc).values()} == {2}  # retried once, no more
    assert len(sim.arrivals()) == 8 and sim.book() == []


def test_bad_input_is_refused_before_anything_is_sent(
    sim: Sim, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = sim.home / "bad.csv"
    bad.write_text("TCS,buy\nLT,hold\n")
    assert main(["signal", "--file", str(bad), "--yes"]) == 2
    assert "bad.csv line 2: side must be buy or sell" in capsys.readouterr().err
    assert main(["signal", "NOSUCH", "--side", "buy", "--qty", "1", "--yes"]) == 2
    assert main(["signal", "TCS", "--side", "buy", "--qty", "1", "--amount", "5", "--yes"]) == 2
    assert main(["signal", "TCS", "--side", "buy", "--accounts", "zz", "--yes"]) == 2
    assert main(["signal", "TCS", "--side", "buy", "--price", "nan", "--yes"]) == 2
    assert main(["account", "set", "a1", "--leverage", "0"]) == 2
    assert main(["account", "set", "a1", "--max-positions", "-1"]) == 2
    assert Config.load(Paths.resolve().config).accounts["a1"].fanout.leverage == 1
    assert sim.arrivals() == []


def test_priority_tiers_leave_first(sim: Sim) -> None:
    from gui_trader.app import open_fleet
    from gui_trader.core.order import Side
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.fanout import Fanout, Member, Signal

    assert main(["account", "set", "a3", "--priority", "9"]) == 0
    assert main(["account", "set", "a1", "--priority", "-1"]) == 0
    assert main(["account", "set", "a4", "--priority", "5"]) == 0

    async def fire() -> list[str]:
        config = Config.load(Paths.resolve().config)
        fleet = await open_fleet(EventHub(), ["a1", "a2", "a3", "a4"])
        try:
            await fleet.login()
            members = [Member(e, config.accounts[e.account].fanout) for e in fleet]
            report = await Fanout(members).fire([Signal("KOTAKBANK", Side.BUY, qty=1)])
        finally:
            await fleet.close()
        rows = report.signals[0].accounts
        assert {r.status for r in rows} == {"placed"}
        return [r.account for r in sorted(rows, key=lambda r: r.sent_ns or 0)]

    assert asyncio.run(fire()) == ["a3", "a4", "a2", "a1"]


# ---------------------------------------------------------------- paper accounts
def test_paper_accounts_fan_out_on_the_paper_service(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("p1", "p2"):
        assert main(["account", "add", name, "--paper"]) == 0
    assert main(["account", "set", "p1", "--amount", "20000", "--leverage", "2"]) == 0
    code, doc = run_json(capsys, "signal", "BHARTIARTL", "--side", "buy", "--yes")
    assert code == 0, doc
    rows = by_account(doc)
    assert rows["p1"]["status"] == rows["p2"]["status"] == "placed"
    assert rows["p1"]["qty"] > rows["p2"]["qty"] > 0  # 40000 vs 10000 rupees at one price
    assert Decimal(rows["p1"]["qty"]) // Decimal(rows["p2"]["qty"]) in (Decimal(3), Decimal(4))
    capsys.readouterr()
    assert main(["orders", "--account", "p1", "--json"]) == 0
    orders = json.loads(capsys.readouterr().out)
    assert rows["p1"]["order_id"] in json.dumps(orders)
