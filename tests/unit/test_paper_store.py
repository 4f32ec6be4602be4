"""The paper store: what was acknowledged comes back after a restart, a new day settles
yesterday's buys into holdings, and the old per-process JSON file is taken over once."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from gui_trader.core.clock import today_ist
from gui_trader.sim.auth import PAPER_USER
from gui_trader.sim.exchange import Exchange, SessionInvalid
from gui_trader.sim.service import build_exchange
from gui_trader.sim.store import PaperStore

DAY = date(2026, 12, 1)
U = PAPER_USER.ucc


def place(ex: Exchange, symbol: str, side: str, qty: int, tag: str, price: str = "0") -> str:
    x = ex.universe.by_symbol[symbol]
    body = {
        "es": x.segment, "ts": symbol, "tt": side, "qt": str(qty), "pr": price, "tp": "0",
        "pt": "L" if price != "0" else "MKT", "pc": "CNC", "rt": "DAY", "am": "NO", "dq": "0",
        "mp": "0", "pf": "N", "ig": tag,
    }  # fmt: skip
    return str(ex.place(U, body)["nOrdNo"])


def restarted(path: Path, today: date = DAY) -> Exchange:
    ex = Exchange(today=today, users=[PAPER_USER])
    PaperStore(path).load(ex)
    return ex


def test_a_restart_continues_the_day_with_every_order_fill_and_number(tmp_path: Path) -> None:
    path = tmp_path / "exchange.sqlite3"
    ex, store = Exchange(today=DAY, users=[PAPER_USER]), PaperStore(path)
    filled = place(ex, "SBIN-EQ", "B", 10, "A1")
    resting = place(ex, "ITC-EQ", "B", 5, "A2", price="1.00")  # far below: stays open
    store.flush(ex)
    ex.cancel(U, {"on": resting})
    store.flush(ex)
    store.close()

    again = restarted(path)
    book, before = again.book(U), ex.book(U)
    assert {o.no: o.status for o in book.orders.values()} == {
        filled: "complete",
        resting: "cancelled",
    }
    assert book.cash == before.cash and book.tags == {"A1", "A2"}
    assert [f.fill_id for f in book.fills] == [f.fill_id for f in before.fills]
    assert book.position("SBIN-EQ", "CNC") == 10
    assert place(again, "SBIN-EQ", "B", 1, "A3") > resting  # numbering continues


def test_a_new_day_settles_yesterdays_buys_into_holdings(tmp_path: Path) -> None:
    path = tmp_path / "exchange.sqlite3"
    ex, store = Exchange(today=DAY, users=[PAPER_USER]), PaperStore(path)
    held = ex.book(U).holdings.get("SBIN-EQ")
    place(ex, "SBIN-EQ", "B", 10, "A1")
    store.flush(ex)
    store.close()
    tomorrow = restarted(path, DAY + timedelta(days=1))
    book = tomorrow.book(U)
    assert book.orders == {} and book.fills == []
    assert book.holdings["SBIN-EQ"].qty == (held.qty if held else 0) + 10
    # and the settled day is what the file holds now
    assert restarted(path, DAY + timedelta(days=1)).book(U).holdings["SBIN-EQ"].qty == (
        book.holdings["SBIN-EQ"].qty
    )


def test_the_old_json_state_is_taken_over_once(tmp_path: Path) -> None:
    old = Exchange(today=today_ist(), users=[PAPER_USER])  # the service runs on today
    order = place(old, "SBIN-EQ", "B", 3, "J1")
    legacy = tmp_path / "exchange.json"
    legacy.write_text(json.dumps(old.snapshot()), encoding="utf-8")
    store = PaperStore(tmp_path / "exchange.sqlite3")
    ex = build_exchange(store, tmp_path)
    assert ex.book(U).orders[order].status == "complete"
    assert ex.book(U).cash == old.book(U).cash
    assert not legacy.exists() and (tmp_path / "exchange.json.migrated").exists()
    store.close()
    again = Exchange(today=today_ist(), users=[PAPER_USER])
    PaperStore(tmp_path / "exchange.sqlite3").load(again)
    assert order in again.book(U).orders  # written to the store, not only read


def test_sessions_keep_their_expiry_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "exchange.sqlite3"
    clock = [1_800_000_000.0]
    ex = Exchange(today=DAY, users=[PAPER_USER], wall=lambda: clock[0], session_ttl_s=90)
    store = PaperStore(path)
    ex.sessions.trade["tok"] = ("PAPER1", "sid", clock[0] + 90)
    store.flush(ex)
    # a row written before sessions kept their expiry: [ucc, sid]
    store.db.execute(
        "INSERT INTO sessions (token, kind, body) VALUES ('old', 'trade', ?)",
        (json.dumps(["PAPER1", "sid2"]),),
    )
    store.close()
    again = Exchange(today=DAY, users=[PAPER_USER], wall=lambda: clock[0], session_ttl_s=90)
    PaperStore(path).load(again)
    assert again.sessions.trade["tok"] == ("PAPER1", "sid", clock[0] + 90)
    assert again.sessions.trade["old"] == ("PAPER1", "sid2", clock[0] + 90)
    assert again.session_user("tok", "sid") == "PAPER1"
    clock[0] += 90
    assert again.sessions.trade["old"][2] == clock[0]
    with pytest.raises(SessionInvalid):
        again.session_user("tok", "sid")
