"""The paper exchange keeps the broker's rules (reference/kotak-neo-api.md), through raw HTTP:
products per segment, validation codes, stale sessions, single-order reports, quotes by type,
market hours with after-market orders, session expiry, expiries and the option chain."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time as _time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pyotp
import pytest

from gui_trader.core.clock import IST, now_ist
from gui_trader.sim.auth import PAPER_USER, SimUser
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.faults import FaultPlan
from gui_trader.sim.serve import start
from gui_trader.sim.server import SimServer
from gui_trader.sim.transport import SimTransport
from tests.support.harness import IN_PROCESS_URL, in_process, in_process_client

PLACE = "quick/order/rule/ms/place"
MODIFY = "quick/order/vr/modify"
CANCEL = "quick/order/cancel"
ORDERS = "quick/user/orders"


class Wire:
    """Raw HTTP to one simulator: the broker's own requests, no client logic in between."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.token = self.sid = ""

    async def login(self, user: SimUser = PAPER_USER) -> None:
        keys = {"Authorization": user.consumer_key, "neo-fin-key": "neotradeapi"}
        body = {
            "mobileNumber": user.mobile,
            "ucc": user.ucc,
            "totp": pyotp.TOTP(user.totp_secret).now(),
        }
        view = (await self.http.post("/login/1.0/tradeApiLogin", json=body, headers=keys)).json()
        data = view["data"]
        headers = {**keys, "sid": data["sid"], "Auth": data["token"]}
        reply = await self.http.post(
            "/login/1.0/tradeApiValidate", json={"mpin": user.mpin}, headers=headers
        )
        trade = reply.json()["data"]
        self.token, self.sid = trade["token"], trade["sid"]

    @property
    def session(self) -> dict[str, str]:
        return {"Sid": self.sid, "Auth": self.token}

    async def post(self, path: str, j: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            f"/{path}",
            content=urlencode({"jData": json.dumps(j)}),
            headers={**self.session, "Content-Type": "application/x-www-form-urlencoded"},
        )

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(f"/{path}", headers=self.session, params=params or None)

    async def market(self, path: str, **params: str) -> httpx.Response:
        """A market-data GET: the consumer key only."""
        headers = {"Authorization": PAPER_USER.consumer_key}
        return await self.http.get(f"/{path}", headers=headers, params=params or None)

    async def place(self, **over: str) -> dict[str, Any]:
        j = {
            "am": "NO",
            "dq": "0",
            "es": "nse_cm",
            "mp": "0",
            "pc": "CNC",
            "pr": "0",
            "pt": "MKT",
            "qt": "1",
            "rt": "DAY",
            "tp": "0",
            "ts": "RELIANCE-EQ",
            "tt": "B",
            "ig": None,
            "os": "NEOTRADEAPI",
        }
        j.update(over)
        resp = await self.post(PLACE, j)
        assert resp.status_code == 200
        body: dict[str, Any] = resp.json()
        return body


@asynccontextmanager
async def wire(server: SimServer | None = None, login: bool = True) -> AsyncIterator[Wire]:
    server = server or in_process()
    transport = SimTransport(server)
    async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_URL) as http:
        w = Wire(http)
        if login:
            await w.login()
        yield w
    server.close()


def not_ok(body: dict[str, Any], code: int, stat: str = "Not_Ok") -> str:
    """The reference's refusal envelope with this code; returns errMsg."""
    assert body["stat"] == stat and body["stCode"] == code, body
    assert isinstance(body["errMsg"], str) and body["errMsg"]
    return str(body["errMsg"])


def option_symbol(server: SimServer) -> str:
    listing = server.exchange.universe.by_key["nse_fo|40051"]
    assert listing.instrument_type == "OPTIDX"
    return listing.trading_symbol


# ---------------------------------------------------------------- 1. products per segment


@pytest.mark.asyncio
async def test_products_follow_the_segment() -> None:
    server = in_process()
    option = option_symbol(server)
    async with wire(server) as w:
        # CNC on F&O is refused, a CNC option sale too; nothing reaches the book
        for side in ("B", "S"):
            reply = await w.place(es="nse_fo", ts=option, pc="CNC", qt="75", tt=side)
            assert "CNC" in not_ok(reply, 5202)
        # NRML and MTF are not cash products... NRML is refused on cash
        assert "NRML" in not_ok(await w.place(pc="NRML"), 5202)
        assert server.exchange.stats["placed"] == 0
        # what the segment allows is accepted
        for prod in ("CNC", "MIS", "MTF"):
            assert (await w.place(pc=prod))["stat"] == "Ok"
        for prod in ("NRML", "MIS"):
            reply = await w.place(es="nse_fo", ts=option, pc=prod, qt="75", tt="S")
            assert reply["stat"] == "Ok"
        # the margin check knows the same rule
        margin = {"exSeg": "nse_fo", "tok": "40051", "prod": "CNC", "qty": "75", "trnsTp": "S"}
        not_ok((await w.post("quick/user/check-margin", margin)).json(), 5202)


@pytest.mark.asyncio
async def test_the_client_offers_what_the_simulator_accepts() -> None:
    from gui_trader.core.limits import PRODUCTS_BY_SEGMENT

    server = in_process()
    option = option_symbol(server)
    listings = {"nse_cm": ("RELIANCE-EQ", "1"), "nse_fo": (option, "75")}
    async with wire(server) as w:
        for seg, (symbol, qty) in listings.items():
            for prod in ("CNC", "NRML", "MIS", "MTF"):
                reply = await w.place(
                    es=seg, ts=symbol, pc=prod, qt=qty, tt="S" if "fo" in seg else "B"
                )
                offered = prod in PRODUCTS_BY_SEGMENT[seg]
                assert (reply["stat"] == "Ok") is offered, (seg, prod, reply)


# ---------------------------------------------------------------- 6. validation codes


@pytest.mark.asyncio
async def test_validation_failures_carry_the_reference_codes() -> None:
    async with wire() as w:
        assert "valid quantity" in not_ok(await w.place(qt="0"), 1009)
        not_ok(await w.place(dq=""), 5202)  # "" instead of "0" (§2.3)
        not_ok(await w.place(pt="LIMIT"), 5202)
        not_ok(await w.place(rt="GTC"), 5202)
        not_ok(await w.place(tt="Buy"), 5202)
        not_ok(await w.place(ts="NOSUCH-EQ"), 5202)
        assert "price" in not_ok(await w.place(pt="L", pr="1000.03"), 5202)  # off tick
        assert "trigger" in not_ok(await w.place(pt="SL-M", tp="0"), 5202)
        body = (await w.post(PLACE, {"ts": "RELIANCE-EQ"})).json()
        assert "body invalid" in not_ok(body, 1007, "bad request")  # keys missing (§2.3)
        # unknown orders on modify and cancel: a validation failure, nothing changes
        no_such = {"no": "999", "pr": "0", "pt": "MKT", "qt": "1", "vd": "DAY", "tp": "0"}
        assert "order number" in not_ok((await w.post(MODIFY, no_such)).json(), 5202)
        assert "order number" in not_ok((await w.post(CANCEL, {"on": "999"})).json(), 5202)
        # a finished order: 1021 with the reference's stat
        done = (await w.place())["nOrdNo"]
        body = (await w.post(CANCEL, {"on": done, "am": "NO"})).json()
        assert body["stCode"] == 1021 and body["stat"] == "please provide valid order number"


@pytest.mark.asyncio
async def test_the_client_takes_the_codes_as_definite_refusals() -> None:
    from gui_trader.broker.base import Rejected
    from gui_trader.core.instrument import Instrument
    from gui_trader.core.order import OrderRequest, Product, Side

    server = in_process()
    c = in_process_client(server)
    try:
        listing = server.exchange.universe.by_key["nse_fo|40051"]
        option = Instrument("nse_fo", listing.token, listing.trading_symbol, "NIFTY")
        with pytest.raises(Rejected, match="CNC") as err:  # pre-wire checks bypassed: wire
            await c.place(OrderRequest(option, Side.SELL, 75, product=Product.CNC))
        assert err.value.code == 5202
        with pytest.raises(Rejected, match="order number"):
            await c.cancel("999")
    finally:
        await c.close()


# ---------------------------------------------------------------- stale sessions


@pytest.mark.asyncio
async def test_a_stale_session_gets_the_reference_envelope_on_every_route() -> None:
    server = in_process()
    async with wire(server) as w:
        server.exchange.revoke()
        for path in (
            ORDERS,
            "quick/user/trades",
            "portfolio/v2/positions",
            "portfolio/v1/holdings",
        ):
            resp = await w.get(path)
            assert resp.status_code == 403
            not_ok(resp.json(), 100022)
        for path in (PLACE, "quick/order/history", "quick/user/limits"):
            resp = await w.post(path, {"nOrdNo": "1"})
            assert resp.status_code == 200
            not_ok(resp.json(), 100022)


# ---------------------------------------------------------------- 5. a single order


@pytest.mark.asyncio
async def test_a_single_order_is_reported_like_a_book_row() -> None:
    async with wire() as w:
        resting = (await w.place(pt="L", pr="1000.00"))["nOrdNo"]  # far below: stays open
        filled = (await w.place())["nOrdNo"]
        book = {row["nOrdNo"]: row for row in (await w.get(ORDERS)).json()["data"]}
        for no in (resting, filled):
            body = (await w.get(f"{ORDERS}/{no}")).json()
            assert body["stat"] == "Ok" and body["stCode"] == 200
            [row] = body["data"]
            assert row == book[no]
        assert book[resting]["ordSt"] == "open" and book[filled]["ordSt"] == "complete"
        unknown = (await w.get(f"{ORDERS}/261207999999999")).json()
        assert unknown == {
            "stCode": 5203,
            "errMsg": "No Data",
            "desc": "data not found",
            "stat": "Not_Ok",
        }


# ---------------------------------------------------------------- 4. quotes by type

QUOTE_FIELDS = {
    "ltp": {"ltp", "last_traded_quantity", "lstup_time"},
    "ohlc": {"ohlc", "change", "per_change"},
    "market_depth": {"depth", "total_buy", "total_sell"},
    "oi": {"open_int"},
    "52w": {"year_high", "year_low"},
    "circuit_limits": {"low_price_range", "high_price_range"},
    "scrip_details": set(),
}
IDENTITY = {"exchange_token", "exchange", "display_symbol"}


def quotes_path(keys: list[str], kind: str) -> str:
    return f"script-details/1.0/quotes/neosymbol/{','.join(keys)}/{kind}"


@pytest.mark.asyncio
async def test_quotes_return_the_fields_of_the_requested_type() -> None:
    keys = ["nse_cm|2885", "nse_fo|40051"]
    async with wire(login=False) as w:
        [cash, option] = (await w.market(quotes_path(keys, "all"))).json()
        for row in (cash, option):
            assert set().union(*QUOTE_FIELDS.values(), IDENTITY) <= set(row)
            for side in ("buy", "sell"):
                levels = row["depth"][side]
                assert len(levels) == 5 and all(
                    set(lv) == {"price", "quantity", "orders"} for lv in levels
                )
            bids = [float(lv["price"]) for lv in row["depth"]["buy"]]
            asks = [float(lv["price"]) for lv in row["depth"]["sell"]]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
            assert bids[0] <= float(row["ltp"]) < asks[0]
            assert int(row["total_buy"]) > 0 and int(row["total_sell"]) > 0
            assert float(row["year_low"]) <= float(row["ohlc"]["low"])
            assert float(row["year_high"]) >= float(row["ohlc"]["high"])
        assert cash["open_int"] == "0" and int(option["open_int"]) > 0
        for kind, fields in QUOTE_FIELDS.items():
            rows = (await w.market(quotes_path(keys, kind))).json()
            assert [set(r) for r in rows] == [IDENTITY | fields] * 2, kind
            assert [r["exchange_token"] for r in rows] == ["2885", "40051"]


@pytest.mark.asyncio
async def test_an_unknown_quote_type_is_refused_by_the_gateway() -> None:
    async with wire(login=False) as w:
        for kind in ("depth", "LTP", "full"):
            resp = await w.market(quotes_path(["nse_cm|2885"], kind))
            assert resp.status_code == 400
            body = resp.json()
            assert body["status"] == "ERROR" and body["fault"]["code"] == 400
            assert "quote type" in body["fault"]["message"]


@pytest.mark.asyncio
async def test_the_client_still_reads_its_quotes() -> None:
    server = in_process()
    c = in_process_client(server)
    try:
        [q] = await c.quotes(["nse_cm|2885"])
        assert q.symbol == "RELIANCE-EQ" and q.ltp > 0 and q.low <= q.ltp <= q.high
    finally:
        await c.close()


# ---------------------------------------------------------------- 3. session expiry


class Clock:
    """The exchange's wall clock, moved by the test (epoch seconds)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def ist(day: date, hh: int, mm: int) -> float:
    return datetime.combine(day, time(hh, mm), IST).timestamp()


@pytest.mark.asyncio
async def test_a_session_expires_on_the_exchange_clock() -> None:
    clock = Clock(_time.time())
    server = SimServer(
        Exchange(base_url=IN_PROCESS_URL, wall=clock, session_ttl_s=600), FaultPlan()
    )
    async with wire(server) as w:
        payload = json.loads(base64.urlsafe_b64decode(w.token.split(".")[1] + "=="))
        assert payload["exp"] == int(clock.at + 600)
        assert (await w.get(ORDERS)).json()["stCode"] in (200, 5203)
        clock.at += 599
        assert (await w.place())["stat"] == "Ok"
        clock.at += 1
        resp = await w.get(ORDERS)
        assert resp.status_code == 403
        not_ok(resp.json(), 100022)
        not_ok(await w.place(), 100022)
        await w.login()  # a new login is a new session, with its own ten minutes
        assert (await w.get(ORDERS)).json()["stat"] == "Ok"


@pytest.mark.asyncio
async def test_by_default_a_session_lasts_until_ist_midnight() -> None:
    day = date(2026, 12, 1)
    clock = Clock(ist(day, 23, 58))
    server = SimServer(Exchange(base_url=IN_PROCESS_URL, wall=clock, today=day), FaultPlan())
    async with wire(server) as w:
        clock.at = ist(day, 23, 59) + 59
        assert (await w.get(ORDERS)).status_code == 200
        clock.at = ist(day + timedelta(days=1), 0, 0)
        not_ok((await w.get(ORDERS)).json(), 100022)


@pytest.mark.asyncio
async def test_the_client_logs_in_again_once_its_session_expired() -> None:
    clock = Clock(_time.time())
    server = SimServer(
        Exchange(base_url=IN_PROCESS_URL, wall=clock, session_ttl_s=3600), FaultPlan()
    )
    c = in_process_client(server)
    try:
        assert await c.orders() == []
        clock.at += 3600
        assert await c.orders() == []
        assert server.exchange.stats["validates"] == 2  # exactly one re-login
    finally:
        await c.close()


# ---------------------------------------------------------------- 2. market hours and AMO

TUESDAY = date(2026, 12, 1)
HOLIDAY = date(2026, 12, 2)


def hours_exchange(clock: Clock, **kw: Any) -> Exchange:
    return Exchange(
        base_url=IN_PROCESS_URL,
        wall=clock,
        today=TUESDAY,
        real_time=True,
        session_hours=True,
        holidays=[HOLIDAY],
        **kw,
    )


def test_market_open_follows_nse_hours_weekdays_and_holidays() -> None:
    ex = hours_exchange(Clock(ist(TUESDAY, 12, 0)))
    assert ex.market_open()
    at = datetime.fromtimestamp
    for when, expected in (
        (ist(TUESDAY, 9, 14), False),
        (ist(TUESDAY, 9, 15), True),
        (ist(TUESDAY, 15, 29), True),
        (ist(TUESDAY, 15, 30), False),
        (ist(HOLIDAY, 11, 0), False),
        (ist(date(2026, 12, 5), 11, 0), False),  # a Saturday
    ):
        assert ex.market_open(at(when, IST)) is expected, at(when, IST)
    assert not hours_exchange(Clock(ist(TUESDAY, 8, 0))).market_open()  # its own clock
    always = Exchange(wall=Clock(ist(date(2026, 12, 6), 3, 0)), real_time=True)
    assert always.market_open()  # by default the market is open whenever the app runs


@pytest.mark.asyncio
async def test_outside_hours_only_after_market_orders_are_taken_and_they_wait_for_the_open() -> (
    None
):
    clock = Clock(ist(TUESDAY, 8, 0))
    server = SimServer(hours_exchange(clock), FaultPlan())
    async with wire(server) as w:
        assert "market is closed" in not_ok(await w.place(), 5202)
        not_ok(await w.place(am="MAYBE"), 5202)
        no = (await w.place(am="YES"))["nOrdNo"]
        limit = (await w.place(am="YES", pt="L", pr="1000.00"))["nOrdNo"]  # far below
        [row] = (await w.get(f"{ORDERS}/{no}")).json()["data"]
        assert row["ordSt"] == "after market order req received" and row["fldQty"] == 0
        assert (await w.get("quick/user/trades")).json()["stCode"] == 5203  # nothing filled
        change = {"no": no, "pr": "0", "pt": "MKT", "qt": "2", "vd": "DAY", "tp": "0", "am": "YES"}
        assert (await w.post(MODIFY, change)).json()["stat"] == "Ok"
        [row] = (await w.get(f"{ORDERS}/{no}")).json()["data"]
        assert (row["ordSt"], row["qty"]) == ("after market order req received", 2)
        clock.at = ist(TUESDAY, 9, 15)  # the open
        book = {r["nOrdNo"]: r for r in (await w.get(ORDERS)).json()["data"]}
        assert (book[no]["ordSt"], book[no]["fldQty"]) == ("complete", 2)
        assert book[limit]["ordSt"] == "open"
        history = (await w.post("quick/order/history", {"nOrdNo": no})).json()["data"]
        assert [h["ordSt"] for h in history][:3] == [
            "complete",
            "open",
            "after market order req received",
        ]
        # in the session an ordinary order trades; after the close it is refused again
        assert (await w.place())["stat"] == "Ok"
        clock.at = ist(TUESDAY, 15, 30)
        not_ok(await w.place(), 5202)
        change = {"no": limit, "pr": "1001.00", "pt": "L", "qt": "1", "vd": "DAY", "tp": "0"}
        assert "market is closed" in not_ok((await w.post(MODIFY, change)).json(), 5202)


@pytest.mark.asyncio
async def test_a_holiday_is_closed_all_day() -> None:
    clock = Clock(ist(HOLIDAY, 11, 0))
    server = SimServer(hours_exchange(clock), FaultPlan())
    async with wire(server) as w:
        not_ok(await w.place(), 5202)
        assert (await w.place(am="YES"))["stat"] == "Ok"


@pytest.mark.asyncio
async def test_session_hours_over_loopback() -> None:
    clock = Clock(ist(TUESDAY, 20, 0))
    with start(wall=clock, today=TUESDAY, real_time=True, session_hours=True) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            w = Wire(http)
            await w.login()
            assert "market is closed" in not_ok(await w.place(), 5202)
            assert (await w.place(am="YES"))["stat"] == "Ok"


# ---------------------------------------------------------------- 7. expiries and option chain

WATCHLIST = "market-data/1.0/watchlist"


@pytest.mark.asyncio
async def test_expiries_and_the_option_chain() -> None:
    server = in_process()
    universe = server.exchange.universe
    weeklies = sorted(
        {x.expiry for x in universe.listings if x.instrument_type == "OPTIDX" and x.expiry}
    )
    async with wire(server, login=False) as w:
        body = (
            await w.market(f"{WATCHLIST}/expiries", exchange="nse_fo", underlying="NIFTY")
        ).json()
        assert body["exchange"] == "nse_fo" and body["underlying"] == "NIFTY"
        assert body["expiries"] == sorted(body["expiries"])
        assert {d.isoformat() for d in weeklies} <= set(body["expiries"])
        options = await w.market(
            f"{WATCHLIST}/expiries", exchange="nse_fo", underlying="NIFTY", instrument_type="option"
        )
        assert options.json()["expiries"] == [d.isoformat() for d in weeklies]

        chain = (
            await w.market(
                f"{WATCHLIST}/option-chain", exchange="nse_fo", underlying="NIFTY", count="10"
            )
        ).json()["data"]
        assert chain["common_data"]["expiryDt"] == weeklies[0].isoformat()  # nearest by default
        assert chain["common_data"]["mktLot"] == 75 and chain["common_data"]["exSeg"] == "nse_fo"
        calls, puts = chain["call"], chain["put"]
        assert len(calls) == len(puts) == 10
        strikes = [c["instrument"]["strikePrice"] for c in calls]
        assert strikes == sorted(strikes) and strikes == [
            p["instrument"]["strikePrice"] for p in puts
        ]
        assert sum(c["instrument"]["moneyness"] == "ATM" for c in calls) == 1
        row = calls[0]
        key = row["instrument"]["neoSymbol"]
        [quote] = (await w.market(quotes_path([key], "all"))).json()
        assert row["quote"]["ltp"] == float(quote["ltp"])
        assert row["openInterest"]["current"] == float(quote["open_int"])
        assert set(row["quote"]) == {"ltp", "open", "high", "low", "prevClose", "close", "volume"}

        later = weeklies[1].isoformat()
        chain = (
            await w.market(
                f"{WATCHLIST}/option-chain", exchange="nse_fo", underlying="NIFTY", expiry=later
            )
        ).json()["data"]
        assert chain["common_data"]["expiryDt"] == later and len(chain["call"]) == 40
        fut = (
            await w.market(
                f"{WATCHLIST}/option-chain",
                exchange="nse_fo",
                underlying="NIFTY",
                instrument_type="fut",
            )
        ).json()["data"]["fut"]
        assert [f["inst"]["symbol"] for f in fut] == [
            x.trading_symbol for x in universe.listings if x.instrument_type == "FUTIDX"
        ]
        for bad in ({"count": "15"}, {"expiry": "2001-01-01"}, {"exchange": "nse_cm"}):
            q = {"exchange": "nse_fo", "underlying": "NIFTY", **bad}
            resp = await w.market(f"{WATCHLIST}/option-chain", **q)
            assert resp.status_code == 400 and resp.json()["status"] == "ERROR", bad


@pytest.fixture
def sim_on_a_holiday(home: Path) -> Iterator[dict[str, Any]]:
    """`gui-trader sim --session` whose config.toml makes today a holiday."""
    today = now_ist().date()
    home.mkdir(parents=True, exist_ok=True)
    days = ", ".join(f'"{d}"' for d in (today, today + timedelta(days=1)))  # midnight-proof
    (home / "config.toml").write_text(f"[market]\nholidays = [{days}]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "GUI_TRADER_PAPER_CLOCK"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "sim", "--port", "0", "--json", "--session"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.asyncio
async def test_gui_trader_sim_session_keeps_the_configured_holidays(
    sim_on_a_holiday: dict[str, Any],
) -> None:
    doc = sim_on_a_holiday
    async with httpx.AsyncClient(base_url=doc["url"]) as http:
        w = Wire(http)
        await w.login(SimUser(**doc["accounts"][0]))
        assert "market is closed" in not_ok(await w.place(), 5202)
        assert (await w.place(am="YES"))["stat"] == "Ok"


@pytest.mark.asyncio
async def test_a_fill_names_its_order_type() -> None:
    async with wire() as w:
        no = (await w.place(pt="MKT"))["nOrdNo"]
        [fill] = (await w.get("quick/user/trades")).json()["data"]
        assert (fill["nOrdNo"], fill["prcTp"]) == (no, "MKT")
