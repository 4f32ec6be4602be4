"""Bugs the fault campaign and a hostile broker found, one test each, through the real CLI.

Each was reproduced on an older version of the app; every test is judged by the simulator's own
book (DESIGN.md invariants 2, 8 and 9). Subprocesses are used where a hang matters: their timeout
is the bound, nothing asserts on elapsed time.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gui_trader.sim.serve import ServerThread
from tests.reliability.rig import LiveRig, settle, sim_stats

BOUND_S = 30.0  # a subprocess that has not ended by then is hanging: the test fails


class NotJson(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise NotJson(f"non-standard JSON constant {name}")


def strict_json(text: str) -> dict[str, Any]:
    return dict(json.loads(text, parse_constant=_no_constants))


def run(rig: LiveRig, *argv: str) -> tuple[int, str, str]:
    """The CLI in process, its stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = rig.main(*argv)
    return code, out.getvalue(), err.getvalue()


def sub(rig: LiveRig, *argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a trader runs it; a hang fails the test at BOUND_S (TimeoutExpired)."""
    return rig.cli(*argv, timeout=BOUND_S)


def message_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gui-trader:")]


def places(rig: LiveRig) -> int:
    return int(sim_stats(rig)["requests"].get("place", 0))


def tagged(rig: LiveRig, tag: str) -> list[dict[str, Any]]:
    return [o for o in rig.book() if o["tag"] == tag]


def assert_placed_once(rig: LiveRig, doc: dict[str, Any], symbol: str, side: str, qty: int) -> None:
    """The JSON says placed, and the book agrees: one order, the request, the same number."""
    assert doc["outcome"] == "placed", doc
    orders = tagged(rig, doc["tag"])
    assert len(orders) == 1, orders
    o = orders[0]
    assert (o["ts"], o["tt"], o["qty"]) == (symbol, side, qty), o
    assert doc["order_id"] == o["no"], (doc["order_id"], o["no"])
    assert not rig.duplicate_tags()


def option_symbol(rig: LiveRig) -> tuple[str, date]:
    """A NIFTY option the simulator lists, and its expiry (the nearest weekly)."""
    listings = [
        x for x in rig.server.app.exchange.universe.listings if x.instrument_type == "OPTIDX"
    ]
    expiry = min(x.expiry for x in listings if x.expiry is not None)
    return next(x.trading_symbol for x in listings if x.expiry == expiry), expiry


def fast_rig(tmp_path: Path, sim: ServerThread, **kw: float) -> LiveRig:
    kw.setdefault("deadline_s", 0.5)
    kw.setdefault("landing_s", 0.3)
    return LiveRig(tmp_path, sim, **kw)


# ------------------------------------------------------------------ placed, then a read fails
def test_placed_then_the_status_read_fails_is_still_placed(
    tmp_path: Path, sim: ServerThread
) -> None:
    """The place succeeded; the status read after it got 5xx every time. The order exists, so
    the answer is exit 0 with its id (it used to be exit 1 "orders: HTTP 502")."""
    rig = fast_rig(tmp_path, sim)
    assert run(rig, "orders")[0] == 0  # log in and cache the scrip master first
    rig.faults(routes=["orders"], queue=["error_5xx"] * 8)
    code, out, err = run(rig, "buy", "RELIANCE", "--qty", "2", "--json")
    assert code == 0, err
    assert_placed_once(rig, strict_json(out), "RELIANCE-EQ", "B", 2)


# ------------------------------------------------------------------ a slow broker
@pytest.mark.parametrize("slow_s", [0.7, 1.8])
def test_slow_broker_order_is_found_not_called_rejected(
    tmp_path: Path, sim: ServerThread, slow_s: float
) -> None:
    """The broker processes the place slow_s late, after the client's deadline ran out but
    before deadline + landing: the order exists, so it is placed, with the right id, once."""
    rig = fast_rig(tmp_path, sim, deadline_s=1.0, landing_s=1.5)
    assert run(rig, "orders")[0] == 0
    rig.faults(routes=["place"], queue=["slow"], slow_s=slow_s)
    code, out, err = run(rig, "sell", "INFY", "--qty", "3", "--product", "MIS", "--json")
    assert settle(sim)
    doc = strict_json(out)
    assert code == 0, (doc, err)
    assert "not placed" not in err and doc["outcome"] != "rejected"
    assert_placed_once(rig, doc, "INFY-EQ", "S", 3)
    assert len(rig.book()) == 1


# ------------------------------------------------------------ replies the reference does not define
@pytest.mark.parametrize("fault", ["accept_not_ok", "accept_400"])
def test_undefined_refusal_of_a_processed_place_is_found_by_tag(
    tmp_path: Path, sim: ServerThread, fault: str
) -> None:
    """An error shape the reference does not define is ambiguous, never "rejected": the order
    the broker did place is found by tag and reported as placed."""
    rig = fast_rig(tmp_path, sim)
    rig.faults(routes=["place"], queue=[fault])
    code, out, err = run(rig, "buy", "SBIN", "--qty", "4", "--json")
    doc = strict_json(out)
    assert code == 0, (doc, err)
    assert_placed_once(rig, doc, "SBIN-EQ", "B", 4)


def test_numeric_order_number_reports_the_brokers_number(tmp_path: Path, sim: ServerThread) -> None:
    """nOrdNo as a JSON float (2.61201000000001e+14) must not become the reported order id."""
    rig = fast_rig(tmp_path, sim)
    rig.faults(routes=["place"], queue=["numeric_id"])
    code, out, err = run(rig, "buy", "ITC", "--qty", "1", "--price", "400", "--json")
    doc = strict_json(out)
    assert code == 0, (doc, err)
    assert_placed_once(rig, doc, "ITC-EQ", "B", 1)
    assert doc["order_id"] == rig.book()[0]["no"]


# ------------------------------------------------------------------ Retry-After
@pytest.mark.parametrize("retry_after", ["600", "inf"])
def test_long_retry_after_on_orders_is_reported_not_waited(
    tmp_path: Path, sim: ServerThread, retry_after: str
) -> None:
    rig = fast_rig(tmp_path, sim)
    assert run(rig, "orders")[0] == 0
    rig.faults(routes=["orders"], queue=["retry_after_long"] * 8, long_retry_after=retry_after)
    p = sub(rig, "orders")
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = message_lines(p.stderr)
    assert len(lines) == 1, p.stderr
    assert retry_after in lines[0] and "wait" in lines[0], lines


@pytest.mark.parametrize("retry_after", ["600", "inf"])
def test_long_retry_after_on_buy_is_reported_and_nothing_is_placed(
    tmp_path: Path, sim: ServerThread, retry_after: str
) -> None:
    rig = fast_rig(tmp_path, sim)
    assert run(rig, "orders")[0] == 0
    rig.faults(routes=["place"], queue=["retry_after_long"] * 8, long_retry_after=retry_after)
    p = sub(rig, "buy", "RELIANCE", "--qty", "1", "--json")
    assert p.returncode == 1, (p.stdout, p.stderr)
    doc = strict_json(p.stdout)
    assert doc["outcome"] == "rejected", doc
    lines = message_lines(p.stderr)
    assert len(lines) == 1, p.stderr
    assert retry_after in lines[0] and "wait" in lines[0], lines
    assert rig.book() == []


@pytest.mark.parametrize("retry_after", ["nan", "-5", "soon"])
def test_unreadable_retry_after_is_a_short_wait_then_a_retry(
    tmp_path: Path, sim: ServerThread, retry_after: str
) -> None:
    """A Retry-After that is not a usable number is read as a short wait, never as "wait
    forever" or a crash; the retried place goes through, once."""
    rig = fast_rig(tmp_path, sim)
    rig.faults(routes=["place"], queue=["retry_after_long"], long_retry_after=retry_after)
    p = sub(rig, "buy", "RELIANCE", "--qty", "1", "--json")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert_placed_once(rig, strict_json(p.stdout), "RELIANCE-EQ", "B", 1)


# ------------------------------------------------------------------ a trickling reply
def test_trickling_orders_reply_ends_within_the_deadline(tmp_path: Path, sim: ServerThread) -> None:
    """One byte every 2 s: every read is quick, the whole reply never is. The total deadline
    ends it with a clear line (exit 1), instead of a read timeout that never fires."""
    rig = fast_rig(tmp_path, sim, deadline_s=3.0, landing_s=1.0)
    assert run(rig, "orders")[0] == 0
    rig.faults(routes=["orders"], queue=["trickle"] * 4, trickle_s=2.0)
    p = sub(rig, "orders")
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = message_lines(p.stderr)
    assert len(lines) == 1, p.stderr
    assert "orders" in lines[0] and "3 s" in lines[0], lines


def test_trickling_place_reply_is_settled_by_tag(tmp_path: Path, sim: ServerThread) -> None:
    """The place was processed; its reply trickles. After the deadline the order is looked up
    by tag: found, so exit 0 with the book's number (or 3 / 1, if the book says so)."""
    rig = fast_rig(tmp_path, sim, deadline_s=3.0, landing_s=1.0)
    assert run(rig, "orders")[0] == 0
    rig.faults(routes=["place"], queue=["trickle"], trickle_s=2.0)
    p = sub(rig, "buy", "TATASTEEL", "--qty", "5", "--json")
    doc = strict_json(p.stdout)
    orders = tagged(rig, doc["tag"])
    assert len(orders) == 1, orders  # the trickling place was processed: the book holds it
    assert p.returncode == 0, (doc, p.stderr)  # so it is found by tag: neither 1 nor 3
    assert_placed_once(rig, doc, "TATASTEEL-EQ", "B", 5)


# ------------------------------------------------------------------ bad input sends nothing
def _straddle(expiry: date, *extra: str) -> list[str]:
    return ["straddle", "--expiry", expiry.isoformat(), "--atm", "--lots", "1", *extra]


@pytest.mark.parametrize(
    "extra",
    [
        ["--delay", "inf"],
        ["--delay", "1e9", "--yes"],
        ["--delay", "nan"],
        ["--buffer-pct", "150", "--order-type", "LIMIT"],
        ["--buffer-pct", "-5", "--order-type", "LIMIT"],
        ["--batch-lots", "1e3"],
    ],
    ids=lambda e: " ".join(e),
)
def test_straddle_bad_numbers_are_refused_before_the_wire(
    tmp_path: Path, sim: ServerThread, extra: list[str]
) -> None:
    rig = fast_rig(tmp_path, sim)
    _, expiry = option_symbol(rig)
    code, out, err = run(rig, *_straddle(expiry, *extra), "--json")
    assert code == 2, (out, err)
    assert len(message_lines(err)) == 1, err
    assert places(rig) == 0 and rig.book() == []


@pytest.mark.parametrize(
    "lots",
    [["--lots", "10000000", "--batch-lots", "1"], ["--lots", "10000", "--batch-lots", "1"]],
    ids=["10M lots", "10000 batches"],
)
def test_straddle_huge_plans_are_refused_promptly(
    tmp_path: Path, sim: ServerThread, lots: list[str]
) -> None:
    """A plan is bounded before it is built: a huge one is exit 2 at once, not minutes of
    planning (the subprocess timeout is the bound)."""
    rig = fast_rig(tmp_path, sim)
    _, expiry = option_symbol(rig)
    argv = ["straddle", "--expiry", expiry.isoformat(), "--atm", *lots, "--delay", "0", "--yes"]
    p = sub(rig, *argv)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert len(message_lines(p.stderr)) == 1, p.stderr
    assert rig.book() == []


@pytest.mark.parametrize("qty", ["1_0", "9" * 30, "1e3", "+5", "٣", "0", "-1"], ids=repr)
def test_order_qty_must_be_plain_digits_in_range(
    tmp_path: Path, sim: ServerThread, qty: str
) -> None:
    rig = fast_rig(tmp_path, sim)
    code, out, err = run(rig, "buy", "RELIANCE", "--qty", qty, "--json")
    assert code == 2, (out, err)
    assert len(message_lines(err)) == 1 and len(err.splitlines()) == 1, err
    assert len(message_lines(err)[0]) < 200, err
    assert places(rig) == 0 and rig.book() == []


@pytest.mark.parametrize(
    "extra",
    [
        ["--monitor-interval", "nan"],
        ["--monitor-interval", "inf"],
        ["--monitor-interval", "0"],
        ["--max-below-entry-pct", "1e309"],
        ["--max-below-entry-pct", "nan"],
    ],
    ids=lambda e: " ".join(e),
)
def test_monitor_bad_numbers_are_refused(
    tmp_path: Path, sim: ServerThread, extra: list[str]
) -> None:
    rig = fast_rig(tmp_path, sim)
    code, out, err = run(rig, "monitor", "--skip-wait", "--run-once", "--yes", *extra, "--json")
    assert code == 2, (out, err)
    assert len(message_lines(err)) == 1, err
    assert places(rig) == 0 and rig.book() == []


def test_product_the_segment_does_not_have_is_refused(tmp_path: Path, sim: ServerThread) -> None:
    rig = fast_rig(tmp_path, sim)
    option, _ = option_symbol(rig)
    for argv in (
        ["buy", "RELIANCE", "--qty", "1", "--product", "NRML"],
        ["sell", option, "--qty", "75", "--product", "CNC"],
        ["buy", option, "--qty", "75", "--product", "MTF"],
    ):
        code, out, err = run(rig, *argv, "--json")
        assert code == 2, (argv, out, err)
        assert len(message_lines(err)) == 1, err
        assert "error" in strict_json(out)
    assert places(rig) == 0 and rig.book() == []


# ------------------------------------------------------------------ resume with nothing to resume
@pytest.mark.parametrize("yes", [False, True])
def test_resume_with_no_interrupted_run(tmp_path: Path, sim: ServerThread, yes: bool) -> None:
    """The README's `gui-trader straddle --resume [--yes]` with nothing interrupted: exit 0."""
    rig = fast_rig(tmp_path, sim)
    argv = ["straddle", "--resume", *(["--yes"] if yes else [])]
    code, out, err = run(rig, *argv)
    assert code == 0, (out, err)
    assert "no interrupted straddle run" in out
    code, out, err = run(rig, *argv, "--json")
    assert code == 0, (out, err)
    assert strict_json(out)["resumed"] is None
    assert places(rig) == 0


# ------------------------------------------------------------------ JSON is JSON
def test_json_output_never_holds_nan_or_infinity(tmp_path: Path, sim: ServerThread) -> None:
    """Every --json document parses strictly, on success, on refusal and under faults."""
    rig = fast_rig(tmp_path, sim)
    _, expiry = option_symbol(rig)
    commands: list[tuple[list[str], dict[str, Any] | None]] = [
        (["quote", "RELIANCE", "NIFTY", "TATASTEEL"], None),
        (["buy", "RELIANCE", "--qty", "1"], None),
        (["sell", "INFY", "--qty", "2", "--price", "1700"], None),
        (["orders"], None),
        (["positions"], None),
        (["holdings"], None),
        (["limits"], None),
        (_straddle(expiry), None),
        (_straddle(expiry, "--order-type", "LIMIT", "--buffer-pct", "20"), None),
        (["straddle", "--resume"], None),
        (["monitor", "--skip-wait", "--run-once"], None),
        (["buy", "RELIANCE", "--qty", "nan"], None),
        (["buy", "RELIANCE", "--qty", "1", "--price", "inf"], None),
        (["cancel", "12345"], None),
        (
            ["buy", "SBIN", "--qty", "1"],
            {"routes": ["place"], "queue": ["retry_after_long"], "long_retry_after": "inf"},
        ),
        (
            ["orders"],
            {"routes": ["orders"], "queue": ["retry_after_long"] * 8, "long_retry_after": "inf"},
        ),
        (["buy", "SBIN", "--qty", "1"], {"routes": ["place"], "queue": ["numeric_id"]}),
        (["buy", "SBIN", "--qty", "1"], {"routes": ["place"], "queue": ["accept_garbage"]}),
    ]
    for argv, faults in commands:
        if faults is not None:
            rig.faults(**faults)
        code, out, err = run(rig, *argv, "--json")
        rig.faults(queue=[])
        assert out.strip(), (argv, code, err)
        try:
            strict_json(out)
        except ValueError as exc:
            pytest.fail(f"{argv}: exit {code}: not strict JSON ({exc}): {out[:500]}")
        assert code in (0, 1, 2, 3), (argv, code, err)


# ------------------------------------------------------------------ a poisoned scrip master
@pytest.mark.parametrize("pages", [1, 2, 6], ids=lambda n: f"{n} html")
def test_html_scrip_master_is_never_cached(tmp_path: Path, sim: ServerThread, pages: int) -> None:
    """An HTML page served instead of the instrument file: the command either retries and
    succeeds or fails in one clear line; either way a later command resolves symbols."""
    rig = fast_rig(tmp_path, sim)
    rig.faults(routes=["csv"], queue=["html"] * pages)
    code, out, err = run(rig, "quote", "RELIANCE", "--json")
    if code != 0:
        assert code == 1, (out, err)
        lines = message_lines(err)
        assert len(lines) == 1, err
        assert "unknown symbol" not in lines[0], lines  # a poisoned file reads like this
    rig.faults(queue=[])
    code, out, err = run(rig, "buy", "RELIANCE", "--qty", "1", "--json")
    assert code == 0, (out, err)
    assert_placed_once(rig, strict_json(out), "RELIANCE-EQ", "B", 1)
    code, out, err = run(rig, "quote", "TATASTEEL", "NIFTY", "--json")
    assert code == 0, (out, err)


def test_price_value_sanity(tmp_path: Path, sim: ServerThread) -> None:
    """Prices: off the tick, zero, exponent and non-finite are refused before the wire."""
    rig = fast_rig(tmp_path, sim)
    for price in ("1452.33", "0", "1e3", "inf", "nan", "-10", "1" * 30):
        code, out, err = run(rig, "buy", "RELIANCE", "--qty", "1", "--price", price, "--json")
        assert code == 2, (price, out, err)
    assert places(rig) == 0 and rig.book() == []


def test_decimal_prices_compare_exactly(tmp_path: Path, sim: ServerThread) -> None:
    """A limit price with trailing zeros is the same price (the tag look-up must match it)."""
    rig = fast_rig(tmp_path, sim)
    rig.faults(routes=["place"], queue=["accept_drop"])
    code, out, err = run(rig, "buy", "RELIANCE", "--qty", "1", "--price", "1400.50", "--json")
    doc = strict_json(out)
    assert code == 0, (doc, err)
    assert_placed_once(rig, doc, "RELIANCE-EQ", "B", 1)
    assert Decimal(tagged(rig, doc["tag"])[0]["price"]) == Decimal("1400.5")


# ------------------------------------------------------------------ unknown is not failure
def test_unreadable_book_after_an_ambiguous_place_is_unknown_with_the_tag(
    tmp_path: Path, sim: ServerThread
) -> None:
    """The place was processed but its reply lost, and the book stays unreadable: the order
    may exist (it does), so the answer is exit 3 with the tag, never exit 1."""
    rig = fast_rig(tmp_path, sim)
    assert run(rig, "orders")[0] == 0
    rig.faults(routes=["place", "orders"], queue=["accept_5xx"] + ["error_5xx"] * 40)
    code, out, err = run(rig, "buy", "RELIANCE", "--qty", "1", "--json")
    rig.faults(queue=[])
    doc = strict_json(out)
    assert code == 3, (doc, err)
    assert doc["outcome"] == "unknown" and doc["tag"] in err, (doc, err)
    assert len(tagged(rig, doc["tag"])) == 1


# ------------------------------------------------------------------ the loopback simulator itself
def test_loopback_simulator_sets_tcp_nodelay_on_its_connections(sim: ServerThread) -> None:
    """PRODUCT BUG (gui_trader/sim/serve.py, listen()): the listening socket is made with
    `socket.socket()`, so its proto is 0 and asyncio's `_set_nodelay` (which requires
    proto == IPPROTO_TCP) leaves Nagle on for every accepted connection. uvicorn writes a
    response's head and body separately, so on a kept-alive connection every reply after the
    first waits for the client's delayed ACK: ~40 ms per request on loopback (measured 44 ms
    per /_sim/book, place or orders call), which inflates RTTs, benchmarks and every test
    that uses `start()` (`gui-trader sim` binds through uvicorn itself and is not affected)."""
    with httpx.Client(base_url=sim.url, trust_env=False) as client:
        client.get("/_sim/stats")
        sockets = [
            p.transport.get_extra_info("socket") for p in sim.server.server_state.connections
        ]
        assert sockets
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets), [
            str(s) for s in sockets
        ]
