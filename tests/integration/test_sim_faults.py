"""The simulator as a hostile broker: every fault does what it says, in process and over loopback.

Reliability tests lean on these faults to prove the client never places twice, never reports a
missing order as placed and never reports a possibly existing one as failed; so the faults
themselves must be exact: processed or not, answered or not, and how.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from gui_trader.broker.session import SessionToken
from gui_trader.sim.faults import FAULTS, FaultPlan
from gui_trader.sim.serve import ServerThread, start
from gui_trader.sim.server import HTML_PAGE, SimServer
from gui_trader.sim.transport import SimTransport
from tests.support.harness import IN_PROCESS_URL, client, in_process, in_process_client

PLACE = "quick/order/rule/ms/place"
CSV = "wso2-scripmaster/v1/prod/2026-01-01/transformed/nse_fo.csv"
NEW_FAULTS = (
    "trickle",
    "slow",
    "hang",
    "accept_hang",
    "garbage",
    "accept_garbage",
    "accept_not_ok",
    "accept_400",
    "numeric_id",
    "retry_after_long",
    "html",
)


def place_form(tag: str) -> str:
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
        "ig": tag,
        "os": "NEOTRADEAPI",
    }
    return urlencode({"jData": json.dumps(j)})


@dataclass
class Broker:
    """Raw HTTP to one simulator with a logged-in session: no client logic in between."""

    http: httpx.AsyncClient
    session: SessionToken
    admin: str  # where /_sim/ lives

    async def place(self, tag: str, read_s: float = 5.0) -> httpx.Response:
        """POST a place; `read_s` is httpx's timeout (per read, not for the whole reply)."""
        return await self.http.post(
            f"{self.session.base_url}/{PLACE}",
            content=place_form(tag),
            headers={
                "Sid": self.session.sid,
                "Auth": self.session.token,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            timeout=read_s,
        )

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(
            f"{self.session.base_url}/{path}",
            headers={"Sid": self.session.sid, "Auth": self.session.token},
        )

    async def book(self) -> list[dict[str, Any]]:
        resp = await self.http.get(f"{self.admin}/_sim/book")
        orders: list[dict[str, Any]] = resp.json()["orders"]
        return orders

    async def tagged(self, tag: str) -> list[dict[str, Any]]:
        return [o for o in await self.book() if o["tag"] == tag]

    async def faults(self, spec: dict[str, Any]) -> None:
        (await self.http.post(f"{self.admin}/_sim/faults", json=spec)).raise_for_status()


@asynccontextmanager
async def in_process_broker(plan: FaultPlan) -> AsyncIterator[tuple[Broker, SimServer]]:
    server = in_process(faults=plan)
    c = in_process_client(server)
    session = await c.session.get()
    await c.close()
    async with httpx.AsyncClient(transport=SimTransport(server)) as http:
        try:
            yield Broker(http, session, IN_PROCESS_URL), server
        finally:
            server.close()


@asynccontextmanager
async def loopback_broker(srv: ServerThread, plan: dict[str, Any]) -> AsyncIterator[Broker]:
    c = client(srv.url)
    session = await c.session.get()
    await c.close()
    async with httpx.AsyncClient() as http:
        broker = Broker(http, session, srv.url)
        await broker.faults(plan)
        yield broker


async def idle(srv: ServerThread) -> None:
    """Wait for the server's late (slow) processing, on the server's own loop."""
    assert srv.loop is not None
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(srv.app.idle(), srv.loop))


async def eventually(cond: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll a condition (another thread's state) with a deadline."""
    deadline = time.monotonic() + within_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


@contextmanager
def uvicorn_errors() -> Iterator[list[logging.LogRecord]]:
    """Records that pass the uvicorn error logger's filters (the ones that would be printed)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.ERROR)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


# ---------------------------------------------------------------- the plan


def test_new_faults_are_known_and_updatable() -> None:
    assert set(NEW_FAULTS) <= set(FAULTS)
    plan = FaultPlan()
    assert (plan.trickle_s, plan.slow_s, plan.hang_s, plan.long_retry_after) == (
        2.0,
        45.0,
        600.0,
        "600",
    )
    plan.update(
        {
            "queue": [*NEW_FAULTS, "no_such_fault"],
            "rates": {"slow": 0.5, "bogus": 1},
            "trickle_s": "0.1",
            "slow_s": 3,
            "hang_s": 4,
            "long_retry_after": "inf",
        }
    )
    assert list(plan.queue) == list(NEW_FAULTS)
    assert plan.rates == {"slow": 0.5}
    assert (plan.trickle_s, plan.slow_s, plan.hang_s, plan.long_retry_after) == (
        0.1,
        3.0,
        4.0,
        "inf",
    )


# ---------------------------------------------------------------- trickle


@pytest.mark.asyncio
async def test_trickle_in_process_delivers_the_real_reply_slowly() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["trickle"]), trickle_s=0.01)) as (b, _):
        t0 = time.monotonic()
        resp = await b.place("T1")
        elapsed = time.monotonic() - t0
        body = resp.json()
        assert body["stat"] == "Ok"
        assert elapsed >= (len(resp.content) - 1) * 0.01
        assert [o["no"] for o in await b.tagged("T1")] == [body["nOrdNo"]]


@pytest.mark.asyncio
async def test_trickle_over_loopback_sends_byte_by_byte(loopback: ServerThread) -> None:
    async with loopback_broker(loopback, {"queue": ["trickle"], "trickle_s": 0.01}) as b:
        url = f"{b.session.base_url}/{PLACE}"
        headers = {
            "Sid": b.session.sid,
            "Auth": b.session.token,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with b.http.stream("POST", url, content=place_form("T2"), headers=headers) as r:
            chunks = [chunk async for chunk in r.aiter_raw()]
        body = b"".join(chunks)
        assert json.loads(body)["stat"] == "Ok"
        assert len(chunks) > len(body) // 4  # arrived in many pieces, not one


@pytest.mark.asyncio
async def test_trickle_beats_read_timeouts_not_deadlines(loopback: ServerThread) -> None:
    """Every read is quick, so only an overall deadline stops it; the order exists anyway."""
    async with loopback_broker(loopback, {"queue": ["trickle"], "trickle_s": 0.1}) as b:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.place("T3", read_s=1.0), 0.5)
        assert len(await b.tagged("T3")) == 1


# ---------------------------------------------------------------- slow


@pytest.mark.asyncio
async def test_slow_in_process_lands_after_the_client_gave_up() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["slow"]), slow_s=0.3)) as (b, server):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.place("S1"), 0.05)
        assert await b.tagged("S1") == []  # not yet
        await server.idle()
        assert len(await b.tagged("S1")) == 1


@pytest.mark.asyncio
async def test_slow_reply_is_the_normal_one_when_awaited() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["slow"]), slow_s=0.1)) as (b, _):
        t0 = time.monotonic()
        resp = await b.place("S2")
        assert time.monotonic() - t0 >= 0.1
        assert resp.status_code == 200
        assert [o["no"] for o in await b.tagged("S2")] == [resp.json()["nOrdNo"]]


@pytest.mark.asyncio
async def test_slow_over_loopback_lands_after_a_read_timeout(loopback: ServerThread) -> None:
    async with loopback_broker(loopback, {"queue": ["slow"], "slow_s": 0.3}) as b:
        with pytest.raises(httpx.ReadTimeout):
            await b.place("S3", read_s=0.05)
        assert await b.tagged("S3") == []
        await idle(loopback)
        assert len(await b.tagged("S3")) == 1


# ---------------------------------------------------------------- hang, accept_hang


@pytest.mark.asyncio
async def test_hang_in_process_neither_processes_nor_replies() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["hang"]), hang_s=30)) as (b, server):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.place("H1"), 0.1)
        assert server.requests["place"] == 1
        assert await b.tagged("H1") == []


@pytest.mark.asyncio
async def test_hang_ends_as_a_hang_up_after_hang_s() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["hang"]), hang_s=0.05)) as (b, _):
        with pytest.raises(httpx.RemoteProtocolError):
            await b.place("H2")
        assert await b.tagged("H2") == []


@pytest.mark.asyncio
async def test_hang_over_loopback(loopback: ServerThread) -> None:
    async with loopback_broker(loopback, {"queue": ["hang"], "hang_s": 30}) as b:
        with uvicorn_errors() as errors:
            with pytest.raises(httpx.ReadTimeout):
                await b.place("H3", read_s=0.1)
            assert await b.tagged("H3") == []
            # the client left: the hung handler notices and ends without a traceback
            await eventually(lambda: loopback.app.stalled == 0)
        assert [r.getMessage() for r in errors] == []


@pytest.mark.asyncio
async def test_accept_hang_processes_then_never_replies() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["accept_hang"]), hang_s=30)) as (b, _):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.place("AH1"), 0.1)
        assert len(await b.tagged("AH1")) == 1


@pytest.mark.asyncio
async def test_accept_hang_over_loopback(loopback: ServerThread) -> None:
    async with loopback_broker(loopback, {"queue": ["accept_hang"], "hang_s": 30}) as b:
        with pytest.raises(httpx.ReadTimeout):
            await b.place("AH2", read_s=0.1)
        assert len(await b.tagged("AH2")) == 1


# ---------------------------------------------------------------- wrong replies


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "lands"), [("garbage", False), ("accept_garbage", True)])
async def test_html_instead_of_json(fault: str, lands: bool) -> None:
    async with in_process_broker(FaultPlan(queue=deque([fault]))) as (b, _):
        resp = await b.place("G1")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/html")
        assert resp.text == HTML_PAGE
        assert len(await b.tagged("G1")) == int(lands)


@pytest.mark.asyncio
async def test_accept_not_ok_lands_but_says_not_ok() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["accept_not_ok"]))) as (b, _):
        resp = await b.place("N1")
        assert resp.status_code == 200
        assert resp.json() == {"stat": "Not_Ok", "stCode": 9999, "errMsg": "Something went wrong"}
        assert len(await b.tagged("N1")) == 1


@pytest.mark.asyncio
async def test_accept_400_lands_but_says_bad_request() -> None:
    async with in_process_broker(FaultPlan(queue=deque(["accept_400"]))) as (b, _):
        resp = await b.place("B1")
        assert resp.status_code == 400
        assert resp.json() == {"message": "Bad Request"}
        assert len(await b.tagged("B1")) == 1


@pytest.mark.asyncio
async def test_numeric_id_sends_the_order_number_as_a_float() -> None:
    plan = FaultPlan(queue=deque(["numeric_id", "numeric_id"]), routes={"place", "orders"})
    async with in_process_broker(plan) as (b, _):
        resp = await b.place("I1")
        no = resp.json()["nOrdNo"]
        assert isinstance(no, float)
        [order] = await b.tagged("I1")
        assert no == float(order["no"])
        # other routes pass through untouched
        rows = (await b.get("quick/user/orders")).json()["data"]
        assert [r["nOrdNo"] for r in rows] == [order["no"]]


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["600", "inf", "nan"])
async def test_retry_after_long(value: str) -> None:
    plan = FaultPlan(queue=deque(["retry_after_long"]), long_retry_after=value)
    async with in_process_broker(plan) as (b, _):
        resp = await b.place("R1")
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == value
        assert await b.tagged("R1") == []


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["html", "garbage"])
async def test_scrip_master_csv_replaced_by_html(fault: str) -> None:
    async with in_process_broker(FaultPlan(queue=deque([fault]), routes={"csv"})) as (b, server):
        bad = await b.get(CSV)
        assert bad.status_code == 200
        assert bad.headers["content-type"].startswith("text/html")
        assert bad.text == HTML_PAGE
        good = await b.get(CSV)
        assert good.headers["content-type"].startswith("text/csv")
        assert server.requests["csv"] == 2


# ---------------------------------------------------------------- the exchange's own rules


@pytest.mark.asyncio
async def test_duplicate_tags_refused_unless_the_broker_stops_checking() -> None:
    async with in_process_broker(FaultPlan()) as (b, server):
        assert (await b.place("D1")).json()["stat"] == "Ok"
        assert (await b.place("D1")).json()["stCode"] == 5204
        await b.faults({"unique_tags": False})
        assert server.exchange.unique_tags is False
        assert (await b.place("D1")).json()["stat"] == "Ok"
        assert len(await b.tagged("D1")) == 2


def test_unique_tags_through_start() -> None:
    with start(unique_tags=False) as srv:
        assert srv.app.exchange.unique_tags is False


@pytest.mark.asyncio
async def test_book_lists_every_order_as_held() -> None:
    async with in_process_broker(FaultPlan()) as (b, _):
        no = (await b.place("K1")).json()["nOrdNo"]
        [row] = await b.book()
        assert set(row) == {
            *("no", "tag", "ts", "tt", "qty", "status", "pt", "price", "trigger", "prod", "ucc")
        }
        assert (row["no"], row["tag"], row["ts"], row["tt"], row["qty"]) == (
            no,
            "K1",
            "RELIANCE-EQ",
            "B",
            1,
        )
        assert (row["pt"], row["prod"], row["ucc"]) == ("MKT", "CNC", "PAPER1")


# ---------------------------------------------------------------- shutdown


@pytest.mark.asyncio
async def test_server_thread_stops_quickly_with_requests_hung_open() -> None:
    plan = {"queue": ["hang", "slow", "trickle"], "hang_s": 600, "slow_s": 600, "trickle_s": 600}
    with uvicorn_errors() as errors, start() as srv:
        injected = srv.app.faults.injected
        async with loopback_broker(srv, plan) as b:
            hung = asyncio.create_task(b.place("X1", read_s=30))
            await eventually(lambda: injected.get("hang") == 1)
            late = asyncio.create_task(b.place("X2", read_s=30))
            await eventually(lambda: injected.get("slow") == 1)
            trickling = asyncio.create_task(b.place("X3", read_s=30))
            await eventually(lambda: srv.app.stalled == 3)
            t0 = time.monotonic()
            await asyncio.to_thread(srv.__exit__, None, None, None)
            assert time.monotonic() - t0 < 5
            assert not srv.thread.is_alive()
            for task in (hung, late, trickling):
                with pytest.raises(httpx.TransportError):
                    await task
    assert [r.getMessage() for r in errors] == []
