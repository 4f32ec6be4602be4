"""The simulator's live feeds (reference kotak-neo-feeds.md §1, §2, §4) through a plain
`websockets` client, over loopback: discovery, the SFeed market feed (auth, subscribe ack,
snapshot, updates, unsubscribe, an index by name, depth rows, market status) and the order feed
(handshake, heartbeat reply, every order state of the REST history, a position after a fill),
and a drop from the server's side.

Packets are decoded by a small decoder written here from the reference's tables, apart from the
simulator's encoder. Prices are pinned through /_sim/pin so each expected packet is known; waits
are on received messages, each with a bounded timeout.
"""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gui_trader.sim.auth import PAPER_USER as USER
from gui_trader.sim.serve import ServerThread, start

WAIT_S = 10.0
PLACE = "/quick/order/rule/ms/place"


# ------------------------------------------------------------------ an independent decoder
@dataclass
class Packet:
    code: int
    exchange: int
    level: int
    token: int
    ltp: float = 0.0
    close: float = 0.0
    name: str = ""
    buy: list[tuple[int, float, int]] = field(default_factory=list)
    sell: list[tuple[int, float, int]] = field(default_factory=list)
    status: int = 0
    size: int = 0


def decode(frame: bytes, divider: int = 100) -> list[Packet]:
    """Packets of one binary message, per the reference's tables (little-endian, packed)."""
    out: list[Packet] = []
    at = 0
    while at + 9 <= len(frame):
        (size,) = struct.unpack_from("<H", frame, at)
        if size < 9 or at + size > len(frame):
            break
        p = frame[at : at + size]
        code, exchange, level = struct.unpack_from("<HbB", p, 2)
        if code == 7207:
            token, close, value = (
                struct.unpack_from(f, p, o)[0] for f, o in (("<I", 9), ("<i", 17), ("<i", 29))
            )
            name = p[66:87].split(b"\0", 1)[0].decode()
            pk = Packet(code, exchange, level, token, value / divider, close / divider, name)
        elif code == 105:
            pk = Packet(code, exchange, level, 0, status=struct.unpack_from("<H", p, 9)[0])
        elif level == 1:
            token = struct.unpack_from("<I", p, 9)[0]
            ltp, close = struct.unpack_from("<I", p, 21)[0], struct.unpack_from("<I", p, 33)[0]
            pk = Packet(code, exchange, level, token, ltp / divider, close / divider)
        else:
            token = struct.unpack_from("<I", p, 9)[0]
            close, ltp = struct.unpack_from("<I", p, 57)[0], struct.unpack_from("<I", p, 69)[0]
            nbuy, nsell = struct.unpack_from("<II", p, 89)
            if level == 4:
                nbuy = nsell = 1
            rows = [struct.unpack_from("<qii", p, 144 + 16 * i) for i in range(nbuy + nsell)]
            pk = Packet(code, exchange, level, token, ltp / divider, close / divider)
            pk.buy = [(q, pr / divider, o) for q, pr, o in rows[:nbuy]]
            pk.sell = [(q, pr / divider, o) for q, pr, o in rows[nbuy:]]
        pk.size = size
        out.append(pk)
        at += size
    return out


# ------------------------------------------------------------------ the server and a session
@dataclass
class Session:
    url: str
    token: str
    sid: str
    feed_url: str
    rt_url: str
    http: httpx.Client

    def ws(self, url: str) -> str:
        return url.replace("http://", "ws://", 1)

    def pin(self, **prices: float | None) -> None:
        assert self.http.post("/_sim/pin", json=prices).status_code == 200

    def rest(self, method: str, path: str, **kw: Any) -> Any:
        h = {"Authorization": USER.consumer_key, "auth": self.token, "sid": self.sid}
        return self.http.request(method, path, headers=h, **kw).json()

    def place(self, **terms: str) -> str:
        j = {
            "am": "NO",
            "dq": "0",
            "es": "nse_cm",
            "mp": "0",
            "pc": "MIS",
            "pr": "0",
            "pt": "MKT",
            "qt": "1",
            "rt": "DAY",
            "tp": "0",
            "tt": "B",
        } | terms
        reply = self.rest("POST", PLACE, data={"jData": json.dumps(j)})
        assert reply["stat"] == "Ok", reply
        return str(reply["nOrdNo"])


def login(url: str, user: Any = USER) -> Session:
    http = httpx.Client(base_url=url, timeout=WAIT_S)
    view = http.post(
        "/login/1.0/tradeApiLogin",
        headers={"Authorization": user.consumer_key},
        json={
            "mobileNumber": user.mobile,
            "ucc": user.ucc,
            "totp": pyotp.TOTP(user.totp_secret).now(),
        },
    ).json()["data"]
    trade = http.post(
        "/login/1.0/tradeApiValidate",
        headers={"Authorization": user.consumer_key, "auth": view["token"], "sid": view["sid"]},
        json={"mpin": user.mpin},
    ).json()["data"]
    return Session(url, trade["token"], trade["sid"], trade["feedUrl"], trade["rtUrl"], http)


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with start(feed_interval_s=0.05) as st:
        yield st


@pytest.fixture
def session(server: ServerThread) -> Iterator[Session]:
    s = login(server.url)
    yield s
    s.http.close()


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), WAIT_S)


def binary(m: str | bytes) -> bytes:
    assert isinstance(m, bytes), f"expected packets, got {m!r}"
    return m


async def until(ws: ClientConnection, want: Callable[[str | bytes], bool]) -> list[str | bytes]:
    """Every message up to and including the first `want` accepts (bounded by WAIT_S each)."""
    seen: list[str | bytes] = []
    while True:
        m = await recv(ws)
        seen.append(m)
        if want(m):
            return seen


def packets(messages: list[str | bytes]) -> list[Packet]:
    return [p for m in messages if isinstance(m, bytes) for p in decode(m)]


def has_packet(token: int, ltp: float | None = None) -> Callable[[str | bytes], bool]:
    def check(m: str | bytes) -> bool:
        return isinstance(m, bytes) and any(
            p.token == token and (ltp is None or p.ltp == ltp) for p in decode(m)
        )

    return check


def is_ack(m: str | bytes) -> bool:
    return isinstance(m, str) and json.loads(m).get("message_code") == 1109


@asynccontextmanager
async def market_feed(s: Session) -> AsyncIterator[ClientConnection]:
    async with connect(s.ws(s.feed_url)) as ws:
        await ws.send(json.dumps({"user": USER.ucc, "auth": s.sid, "format": "native_batch"}))
        reply = json.loads(await recv(ws))
        assert reply["message_code"] == 1119
        assert reply["exchanges"]["nse_cm"] == {"value": 1, "divider": 100}
        yield ws


async def send(ws: ClientConnection, event: str, tokens: str = "") -> None:
    frame: dict[str, Any] = {"event": event}
    if tokens:
        frame |= {"inputtoken": tokens, "ack_symbol": True}
    await ws.send(json.dumps(frame))


# ------------------------------------------------------------------ discovery
def test_feeds_are_advertised_by_the_config_service_and_the_validate_reply(
    server: ServerThread, session: Session
) -> None:
    assert session.feed_url == f"{server.url}/apifeed"
    assert session.rt_url == f"{server.url}/realtime"
    configs = session.http.get(
        "/5config/config", params={"appVersion": "3.0.9", "platform": "api", "environment": "prod"}
    ).json()["data"]["configs"]
    assert configs["E21_broadcast_source"] == "sh"
    assert configs["E21_sh_broadcast_endpoint"] == f"{server.url}/apifeed"
    assert configs["E21_sh_interactive_endpoint"] == f"{server.url}/realtime"


# ------------------------------------------------------------------ the market feed
@pytest.mark.asyncio
async def test_a_bad_sid_is_refused_with_1118_and_close_1008(session: Session) -> None:
    async with connect(session.ws(session.feed_url)) as ws:
        await ws.send(json.dumps({"user": USER.ucc, "auth": "not-a-sid", "format": "native_batch"}))
        reply = json.loads(await recv(ws))
        assert reply["message_code"] == 1118
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.asyncio
async def test_subscribe_ack_snapshot_updates_and_unsubscribe(session: Session) -> None:
    session.pin(**{"RELIANCE-EQ": 1500.0, "TCS-EQ": 3100.0})
    async with market_feed(session) as ws:
        await send(ws, "subscribeScrips", "nse_cm|2885,nse_cm|11536,nse_cm|424242")
        ack = json.loads(await recv(ws))
        assert ack["message_code"] == 1109
        # unknown tokens are left out of the ack and get no packets
        assert ack["trading_symbols"] == {"nse_cm|2885": "RELIANCE-EQ", "nse_cm|11536": "TCS-EQ"}
        snapshot = decode(binary(await recv(ws)))  # one message, a packet per instrument
        assert [(p.token, p.level, p.size, p.ltp) for p in snapshot] == [
            (2885, 4, 176, 1500.0),
            (11536, 4, 176, 3100.0),
        ]
        quote = session.http.get(
            "/script-details/1.0/quotes/neosymbol/nse_cm|2885/all",
            headers={"Authorization": USER.consumer_key},
        ).json()[0]
        assert snapshot[0].ltp == float(quote["ltp"])
        assert snapshot[0].close == float(quote["ohlc"]["close"])
        assert snapshot[0].buy == [
            (
                int(quote["depth"]["buy"][0]["quantity"]),
                1500.0,
                int(quote["depth"]["buy"][0]["orders"]),
            )
        ]

        session.pin(**{"RELIANCE-EQ": 1510.5})  # the price moves: a full packet follows
        await until(ws, has_packet(2885, 1510.5))

        await send(ws, "unsubscribeScrips", "nse_cm|11536")
        await send(ws, "snapshotScrips", "nse_cm|2885")  # its ack marks the unsubscribe done
        await until(ws, is_ack)
        session.pin(**{"TCS-EQ": 3200.0})
        session.pin(**{"RELIANCE-EQ": 1520.0})
        after = await until(ws, has_packet(2885, 1520.0))
        assert not [p for p in packets(after) if p.token == 11536]


@pytest.mark.asyncio
async def test_an_index_by_name_depth_rows_mini_and_market_status(session: Session) -> None:
    session.pin(**{"NIFTY 50": 25000.0, "INFY-EQ": 1550.0})
    async with market_feed(session) as ws:
        await send(ws, "subscribeIndices", "nse_cm|Nifty 50")
        ack = json.loads(await recv(ws))
        assert ack["trading_symbols"] == {"nse_cm|Nifty 50": "NIFTY 50"}
        [index] = decode(binary(await recv(ws)))
        assert (index.code, index.token, index.name, index.ltp) == (
            7207,
            26000,
            "Nifty 50",
            25000.0,
        )

        await send(ws, "subscribeDepth", "nse_cm|1594")
        assert is_ack(await recv(ws))
        [depth] = decode(binary(await recv(ws)))
        quote = session.http.get(
            "/script-details/1.0/quotes/neosymbol/nse_cm|1594/market_depth",
            headers={"Authorization": USER.consumer_key},
        ).json()[0]["depth"]
        assert (depth.level, depth.size) == (8, 144 + 16 * 10)
        for rows, side in ((depth.buy, "buy"), (depth.sell, "sell")):
            assert rows == [
                (int(r["quantity"]), float(r["price"]), int(r["orders"])) for r in quote[side]
            ]

        await send(ws, "subscribeScripsLite", "nse_cm|1594")
        assert is_ack(await recv(ws))
        [mini] = decode(binary(await recv(ws)))
        assert (mini.level, mini.size, mini.token, mini.ltp) == (1, 54, 1594, 1550.0)

        await send(ws, "subscribeExchange")
        seen = await until(ws, lambda m: isinstance(m, bytes) and decode(m)[0].code == 105)
        status = decode(binary(seen[-1]))
        assert {(p.exchange, p.status) for p in status} == {(1, 1), (2, 1)}  # open


@pytest.mark.asyncio
async def test_a_server_drop_closes_the_feeds_and_forgets_subscriptions(session: Session) -> None:
    session.pin(**{"RELIANCE-EQ": 1500.0, "TCS-EQ": 3100.0})
    async with market_feed(session) as ws:
        await send(ws, "subscribeScrips", "nse_cm|2885")
        await until(ws, has_packet(2885))
        assert session.http.get("/_sim/stats").json()["feeds"] == 1
        assert session.http.post("/_sim/drop_feeds").json()["dropped"] == 1
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    async with market_feed(session) as ws:  # the client reconnects: nothing is remembered
        await send(ws, "subscribeScrips", "nse_cm|11536")
        session.pin(**{"RELIANCE-EQ": 1501.0})
        session.pin(**{"TCS-EQ": 3101.0})
        seen = await until(ws, has_packet(11536, 3101.0))
        assert not [p for p in packets(seen) if p.token == 2885]
        assert session.http.get("/_sim/stats").json()["feeds"] == 1  # the dropped one is gone


# ------------------------------------------------------------------ the order feed
@asynccontextmanager
async def order_feed(s: Session) -> AsyncIterator[ClientConnection]:
    async with connect(s.ws(s.rt_url)) as ws:
        await ws.send(f"{{type:cn,Authorization:{s.token},Sid:{s.sid},src:WEB}}")
        assert json.loads(await recv(ws)) == {
            "ak": "ok",
            "type": "cn",
            "task": "cn",
            "msg": "connected",
        }
        yield ws


def is_order(status: str) -> Callable[[str | bytes], bool]:
    def check(m: str | bytes) -> bool:
        d = json.loads(m)
        return bool(d.get("type") == "order" and d["data"]["ordSt"] == status)

    return check


@pytest.mark.asyncio
async def test_order_feed_handshake_refusal_and_heartbeat(session: Session) -> None:
    async with connect(session.ws(session.rt_url)) as ws:
        await ws.send(f"{{type:cn,Authorization:bad,Sid:{session.sid},src:WEB}}")
        assert json.loads(await recv(ws))["msg"] == "Authentication Failed"
        with pytest.raises(ConnectionClosed):
            await recv(ws)
    async with order_feed(session) as ws:
        await ws.send("{type:hb}")
        assert json.loads(await recv(ws)) == {
            "ak": "nk",
            "type": "failed to process request",
            "task": "nk",
            "msg": "invalid request format",
        }


@pytest.mark.asyncio
async def test_every_order_state_and_a_position_after_the_fill(session: Session) -> None:
    async with order_feed(session) as ws:
        no = session.place(ts="SBIN-EQ", ig="FEEDTAG1")
        messages = [json.loads(m) for m in await until(ws, is_order("complete"))]
        messages.append(json.loads(await recv(ws)))  # then the position
        orders = [m["data"] for m in messages if m["type"] == "order"]
        history = session.rest(
            "POST", "/quick/order/history", data={"jData": json.dumps({"nOrdNo": no})}
        )
        assert [o["ordSt"] for o in orders] == [r["ordSt"] for r in reversed(history["data"])]
        assert [o["ordSt"] for o in orders] == [
            "put order req received",
            "validation pending",
            "open pending",
            "open",
            "complete",
        ]
        for o in orders:
            assert o["nOrdNo"] == no and o["GuiOrdId"] == "FEEDTAG1"
            assert all(isinstance(o[k], int) for k in ("qty", "fldQty", "unFldSz", "dscQty"))
            assert all(isinstance(o[k], str) for k in ("avgPrc", "prc", "trgPrc", "tok"))
        assert (orders[3]["fldQty"], orders[3]["unFldSz"], orders[3]["avgPrc"]) == (0, 1, "0.00")
        assert (orders[-1]["fldQty"], orders[-1]["unFldSz"]) == (1, 0)
        assert orders[-1]["avgPrc"] != "0.00"
        position = messages[-1]
        assert position["type"] == "position"
        assert position["data"]["trdSym"] == "SBIN-EQ" and position["data"]["flBuyQty"] == "1"
        assert all(isinstance(v, str) for v in position["data"].values())


@pytest.mark.asyncio
async def test_a_resting_order_fills_when_the_market_reaches_it(session: Session) -> None:
    session.pin(**{"ITC-EQ": 410.0})
    async with order_feed(session) as ws:
        no = session.place(ts="ITC-EQ", pt="L", pr="400.00", ig="FEEDTAG2")
        await until(ws, is_order("open"))
        session.pin(**{"ITC-EQ": 399.0})  # no request touches the order: the ticker fills it
        [*_, done] = await until(ws, is_order("complete"))
        assert json.loads(done)["data"]["nOrdNo"] == no
        assert json.loads(done)["data"]["avgPrc"] == "400.00"


# ------------------------------------------------------------------ shutdown
def test_sigterm_closes_open_feeds_and_exits_0(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "sim", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        s = login(url)

        async def hold() -> int | None:
            async with market_feed(s) as ws, order_feed(s):
                await send(ws, "subscribeScrips", "nse_cm|2885")
                await until(ws, has_packet(2885))
                proc.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await recv(ws)
                return closed.value.rcvd.code if closed.value.rcvd else None

        started = time.monotonic()
        assert asyncio.run(hold()) in (1001, 1012)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 10
        s.http.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


# ------------------------------------------------------------------ the paper service
def test_an_open_feed_keeps_the_paper_service_from_idling_away(tmp_path: Path) -> None:
    from gui_trader.sim.feed_socket import FeedSocket
    from gui_trader.sim.service import PaperService

    async def nothing(*_: Any) -> Any:
        return None

    service = PaperService(tmp_path, idle_s=1.0)
    try:
        service._write_addr()
        service.last_request -= 10  # no request for longer than idle_s
        feed = FeedSocket({"type": "websocket", "path": "/apifeed"}, nothing, nothing)
        service.app.feeds.sockets.add(feed)
        assert service._why_leave() == ""  # a window with a feed open is not idle
        service.app.feeds.sockets.clear()
        assert service._why_leave() == ""  # idle counts from the feed's close
        service.last_request -= 10
        assert service._why_leave().startswith("idle")
    finally:  # the address names this process: the teardown would stop "the service" by it
        service._remove_addr()
        service.sock.close()
        service.store.close()
