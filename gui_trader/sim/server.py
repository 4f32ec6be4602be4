"""The Neo wire protocol in front of the paper exchange (Starlette), with latency and faults.

One ASGI app serves the login host, the trading host, the config service and the CSV host; the
client only ever learns the latter three from the server's own replies, as it does live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gui_trader.sim.exchange import Exchange, SessionInvalid, SimError
from gui_trader.sim.faults import FaultPlan
from gui_trader.sim.feeds import DEFAULT_INTERVAL_S, ORDER_PATH, FeedHub
from gui_trader.sim.market_data import QUOTE_TYPES

MAX_QUOTES = 50
SCRIP_FILES = ("transformed/nse_fo.csv", "transformed/nse_com.csv", "transformed-v1/nse_cm-v1.csv")

ROUTES = {
    "/login/1.0/tradeApiLogin": "login",
    "/login/1.0/tradeApiValidate": "validate",
    "/quick/order/rule/ms/place": "place",
    "/quick/order/vr/modify": "modify",
    "/quick/order/cancel": "cancel",
    "/quick/user/orders": "orders",
    "/quick/order/history": "history",
    "/quick/user/trades": "trades",
    "/portfolio/v2/positions": "positions",
    "/portfolio/v1/holdings": "holdings",
    "/quick/user/limits": "limits",
    "/quick/user/check-margin": "margin",
    "/market-data/1.0/historical/details": "historical",
    "/market-data/1.0/watchlist/expiries": "expiries",
    "/market-data/1.0/watchlist/option-chain": "option_chain",
}
MUTATIONS = ("place", "modify", "cancel")
PLACE_TIMES_KEPT = 10_000
MARKET_FEED_PATH = "/apifeed"
# Where clients learn the feeds' URLs (reference kotak-neo-feeds.md §1): the config service
# (`<DC>_broadcast_source` and its endpoints), the validate reply (`feedUrl`, `rtUrl`), both, none.
FEED_DISCOVERY = ("both", "config", "validate", "none")
HTML_PAGE = "<html><body>Service temporarily unavailable</body></html>"
# Faults that process the request first and only then misbehave: the order may exist.
ACCEPTED = frozenset(
    ("accept_drop", "accept_5xx", "accept_hang", "accept_garbage", "accept_not_ok", "accept_400")
)


class ConnectionDropped(Exception):
    """Raised by the app after the response has started: the server hangs up mid-reply."""


def route_kind(path: str) -> str:
    if path.startswith("/script-details/1.0/quotes/"):
        return "quotes"
    if path.startswith("/wso2-scripmaster/"):
        return "csv"
    if path.startswith("/quick/user/orders/"):
        return "order"
    return ROUTES.get(path, "other")


def not_ok(code: int, message: str, stat: str = "Not_Ok", status: int = 200) -> JSONResponse:
    return JSONResponse({"stat": stat, "stCode": code, "errMsg": message}, status_code=status)


def gateway_fault(message: str, status: int = 400) -> JSONResponse:
    """The market-data API gateway's error envelope (§2.2)."""
    return JSONResponse(
        {"status": "ERROR", "fault": {"code": status, "message": message}}, status_code=status
    )


def stale_session(method: str) -> JSONResponse:
    """An unknown or expired session (§2.3, §3): stCode 100022 in the Not_Ok envelope; reads
    come with HTTP 403 ("invalid session, re-login"), trading POSTs with HTTP 200."""
    return not_ok(100022, "invalid session token", status=403 if method == "GET" else 200)


def too_many(retry_after: str) -> Response:
    resp = not_ok(429, "Too many requests", status=429)
    resp.headers["Retry-After"] = retry_after
    return resp


# Replies sent instead of the real one (after processing it, for the ACCEPTED faults).
CANNED: dict[str, Callable[[FaultPlan], Response]] = {
    "error_5xx": lambda _: not_ok(503, "Service Unavailable", status=503),
    "accept_5xx": lambda _: not_ok(504, "Gateway Timeout", status=504),
    "rate_limit": lambda plan: too_many(f"{plan.retry_after_s:g}"),
    "retry_after_long": lambda plan: too_many(plan.long_retry_after),
    "garbage": lambda _: HTMLResponse(HTML_PAGE),
    "html": lambda _: HTMLResponse(HTML_PAGE),
    "accept_garbage": lambda _: HTMLResponse(HTML_PAGE),
    "accept_not_ok": lambda _: not_ok(9999, "Something went wrong"),
    "accept_400": lambda _: JSONResponse({"message": "Bad Request"}, status_code=400),
}


@dataclass
class _Call:
    """One request with its body already read, so it can be processed apart from its connection."""

    scope: Scope
    kind: str
    body: bytes
    receive: Receive  # the client's side: after the body, only its disconnect can come
    reply: Send
    started: bool = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.reply(message)


@dataclass
class _Captured:
    """The app's reply held back, so a fault can deliver it late, slowly or altered."""

    start: Message = field(default_factory=dict)
    body: bytes = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        else:
            self.body += message.get("body", b"")

    async def deliver(self, send: Send) -> None:
        await send(self.start)
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """The request again, for the app: processing no longer depends on the client's connection."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _disconnect(receive: Receive) -> None:
    """Return once the client has gone (its body was read, so nothing else can arrive)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _jdata(request: Request) -> dict[str, Any]:
    form = parse_qs((await request.body()).decode())
    raw = form.get("jData", ["{}"])[0]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SimError(1007, "body invalid", "bad request") from exc
    if not isinstance(data, dict):
        raise SimError(1007, "body invalid", "bad request")
    return data


class SimServer:
    """ASGI app: faults and latency outside, the protocol inside."""

    def __init__(
        self,
        exchange: Exchange,
        faults: FaultPlan | None = None,
        on_mutation: Callable[[], None] | None = None,
        before_reply: Callable[[], None] | None = None,
        *,
        feed_interval_s: float = DEFAULT_INTERVAL_S,
        feed_discovery: str = "both",
    ) -> None:
        if feed_discovery not in FEED_DISCOVERY:
            raise ValueError(f"feed_discovery must be one of {', '.join(FEED_DISCOVERY)}")
        self.exchange = exchange
        self.feed_discovery = feed_discovery
        self.faults = faults or FaultPlan()
        self.on_mutation = on_mutation
        # The paper service commits here: nothing is reported that is not on disk.
        self.before_reply = before_reply
        # The live feeds (WebSockets on this same port); pushes are committed like replies.
        self.feeds = FeedHub(exchange, feed_interval_s, self._commit)
        self.requests: dict[str, int] = {}
        self.arrivals: list[tuple[int, str]] = []  # (perf_counter_ns, tag) of every place
        # Each place's time inside this server (arrival to reply start, ms) by tag, so a
        # benchmark can tell the client's own overhead from the server's; the latest ones only.
        self.place_ms: dict[str, float] = {}
        self.app = Starlette(routes=self._routes())
        self.closed = False
        self._stalls: set[asyncio.Future[None]] = set()  # resolved by close()
        self._detached: set[asyncio.Task[Any]] = set()  # held here, or they could be collected
        self._actions: dict[str, Callable[[_Call], Awaitable[None]]] = {
            "drop": self._drop,
            "accept_drop": self._drop,
            "hang": self._hang,
            "accept_hang": self._hang,
            "trickle": self._trickle,
            "slow": self._slow,
            "numeric_id": self._numeric_id,
        }

    def close(self) -> None:
        """Let go of hung, trickling and late requests (they end as hang-ups) before stopping.

        Call it on the server's own loop. Late processing that has not happened yet never will.
        """
        self.closed = True
        self.feeds.close()
        for stall in self._stalls:
            if not stall.done():
                stall.set_result(None)
        for task in self._detached:
            task.cancel()

    def _commit(self) -> None:
        if self.before_reply is not None:
            self.before_reply()

    def drop_feeds(self) -> int:
        """Close every feed connection from the server's side (call on the server's loop);
        clients reconnect and subscribe again. The number closed."""
        return self.feeds.drop()

    @property
    def open_feeds(self) -> int:
        """Feed connections open right now (the paper service does not idle away with one)."""
        return self.feeds.open_connections

    def feed_urls(self) -> tuple[str, str]:
        """The market feed's and the order feed's URL, on the exchange's base URL (http://,
        which clients turn into ws:// as they do the broker's https://)."""
        base = self.exchange.base_url.rstrip("/")
        return base + MARKET_FEED_PATH, base + ORDER_PATH

    @property
    def stalled(self) -> int:
        """Requests a fault holds open right now (hung, trickling or waiting on late work)."""
        return len(self._stalls)

    async def idle(self) -> None:
        """Wait until late ("slow") processing is done, so tests can check books without sleeps."""
        while self._detached:
            await asyncio.wait(set(self._detached))

    # ---------------------------------------------------------------- ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.feeds.serve(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = route_kind(scope["path"])
        arrived = time.perf_counter_ns()
        self.requests[kind] = self.requests.get(kind, 0) + 1
        fault = None if scope["path"].startswith("/_sim/") else self.faults.pick(kind)
        delay = self.faults.delay()
        # Read the body up front: a fault may process the request after the client has gone.
        call = _Call(scope, kind, await _read_body(receive), receive, send)
        if kind == "place":
            call.reply = self._timed(send, self._note_arrival(arrived, call.body), arrived)
        # The request travels: even with no latency, other requests sent in the same tick
        # arrive before this one is processed, as over a network.
        await asyncio.sleep(delay)
        if fault == "revoke":
            self.exchange.revoke()
        if fault in (None, "revoke") or (fault == "numeric_id" and kind != "place"):
            await self._process(call, call.send)
        else:
            await self._misbehave(fault, call)

    def _note_arrival(self, arrived: int, body: bytes) -> str:
        """Log the place's tag with its arrival time: tests check the order requests came in."""
        tag = ""
        with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            tag = str(json.loads(parse_qs(body.decode()).get("jData", ["{}"])[0]).get("ig") or "")
        self.arrivals.append((arrived, tag))
        return tag

    def _timed(self, send: Send, tag: str, arrived: int) -> Send:
        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start" and tag:
                if len(self.place_ms) >= PLACE_TIMES_KEPT:
                    del self.place_ms[next(iter(self.place_ms))]
                self.place_ms[tag] = (time.perf_counter_ns() - arrived) / 1e6
            await send(message)

        return send_timed

    # ---------------------------------------------------------------- faults
    async def _process(self, call: _Call, send: Send) -> None:
        if self.before_reply is not None:
            send = self._committing(send, self.before_reply)
        await self.app(call.scope, _replay(call.body), send)
        if call.kind in MUTATIONS and self.on_mutation:
            self.on_mutation()
        self.feeds.publish()  # the order feeds hear of what this request changed

    @staticmethod
    def _committing(send: Send, commit: Callable[[], None]) -> Send:
        async def send_after_commit(message: Message) -> None:
            if message["type"] == "http.response.start":
                commit()
            await send(message)

        return send_after_commit

    async def _processed(self, call: _Call) -> _Captured:
        reply = _Captured()
        await self._process(call, reply)
        return reply

    async def _misbehave(self, fault: str, call: _Call) -> None:
        if fault in ACCEPTED:
            await self._processed(call)  # the real reply is lost
        canned = CANNED.get(fault)
        if canned is not None:
            await canned(self.faults)(call.scope, _replay(b""), call.send)
            return
        action = self._actions.get(fault)
        if action is None:
            raise ValueError(f"unknown fault {fault!r}")
        await action(call)

    async def _drop(self, call: _Call) -> None:
        """Hang up after the reply began, so the client cannot take it for a clean refusal."""
        if not call.started:
            await call.send({"type": "http.response.start", "status": 200, "headers": []})
        raise ConnectionDropped(call.kind)

    async def _hang(self, call: _Call) -> None:
        """Say nothing; hang up once the client leaves, the server closes or hang_s passes."""
        await self._wait(call, self.faults.hang_s)
        await self._drop(call)

    async def _trickle(self, call: _Call) -> None:
        """The real reply, one byte every trickle_s: each read is quick, the whole never is."""
        reply = await self._processed(call)
        await call.send(reply.start)
        body = reply.body
        chunks = [body[i : i + 1] for i in range(len(body))] or [b""]
        for n, chunk in enumerate(chunks, 1):
            more = n < len(chunks)
            await call.send({"type": "http.response.body", "body": chunk, "more_body": more})
            if more and not await self._wait(call, self.faults.trickle_s):
                await self._drop(call)

    async def _slow(self, call: _Call) -> None:
        """Process slow_s late in a task of its own: the order lands even if the client gave up."""
        work = self._detach(self._late(call))
        if await self._wait(call, None, work) and not work.cancelled():
            await work.result().deliver(call.send)
        else:
            await self._drop(call)

    async def _late(self, call: _Call) -> _Captured:
        await asyncio.sleep(self.faults.slow_s)
        return await self._processed(call)

    async def _numeric_id(self, call: _Call) -> None:
        """The place reply with nOrdNo as a JSON float, as a sloppy gateway might re-encode it."""
        reply = await self._processed(call)
        try:
            data = json.loads(reply.body)
        except ValueError:
            data = None
        if not (isinstance(data, dict) and str(data.get("nOrdNo", "")).isdigit()):
            await reply.deliver(call.send)
            return
        data["nOrdNo"] = float(data["nOrdNo"])
        resp = JSONResponse(data, status_code=int(reply.start["status"]))
        await resp(call.scope, _replay(b""), call.send)

    def _detach(self, work: Coroutine[Any, Any, _Captured]) -> asyncio.Task[_Captured]:
        """Run apart from the request: its cancellation (a client timeout in process) or its
        client's disconnect must not stop the processing."""
        task = asyncio.create_task(work)
        self._detached.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._detached.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: nobody may be left to read it

    async def _wait(
        self, call: _Call, seconds: float | None, work: asyncio.Future[Any] | None = None
    ) -> bool:
        """Wait for `work` or `seconds`; False if cut short by the client leaving or by close().

        asyncio.wait never cancels what it waits on, and `work` runs in its own task, so it is
        shielded from this request being cancelled.
        """
        if self.closed:
            return False
        stall = asyncio.get_running_loop().create_future()
        self._stalls.add(stall)
        watchers: set[asyncio.Future[Any]] = {
            stall,
            asyncio.ensure_future(_disconnect(call.receive)),
        }
        waits = watchers | ({work} if work is not None else set())
        try:
            done, _ = await asyncio.wait(
                waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._stalls.discard(stall)
            for watcher in watchers:
                watcher.cancel()
        return not (done & watchers) and not (work is not None and work.cancelled())

    # ---------------------------------------------------------------- routes
    def _routes(self) -> list[Route]:
        x = self
        return [
            Route("/login/1.0/tradeApiLogin", x.login, methods=["POST"]),
            Route("/login/1.0/tradeApiValidate", x.validate, methods=["POST"]),
            Route("/login/1.0/get-client-ip", x.client_ip, methods=["GET"]),
            Route("/quick/order/rule/ms/place", x.session(x.place), methods=["POST"]),
            Route("/quick/order/vr/modify", x.session(x.modify), methods=["POST"]),
            Route("/quick/order/cancel", x.session(x.cancel), methods=["POST"]),
            Route("/quick/user/orders", x.session(x.orders), methods=["GET"]),
            Route("/quick/user/orders/{no}", x.session(x.order), methods=["GET"]),
            Route("/quick/order/history", x.session(x.history), methods=["POST"]),
            Route("/quick/user/trades", x.session(x.trades), methods=["GET"]),
            Route("/portfolio/v2/positions", x.session(x.positions), methods=["GET"]),
            Route("/portfolio/v1/holdings", x.session(x.holdings), methods=["GET"]),
            Route("/quick/user/limits", x.session(x.limits), methods=["POST"]),
            Route("/quick/user/check-margin", x.session(x.margin), methods=["POST"]),
            Route("/script-details/1.0/quotes/neosymbol/{rest:path}", x.quotes, methods=["GET"]),
            Route("/script-details/1.0/masterscrip/file-paths", x.file_paths, methods=["GET"]),
            Route("/wso2-scripmaster/v1/prod/{day}/{folder}/{name}.csv", x.csv, methods=["GET"]),
            Route("/market-data/1.0/historical/details", x.historical, methods=["GET"]),
            Route("/market-data/1.0/watchlist/expiries", x.expiries, methods=["GET"]),
            Route("/market-data/1.0/watchlist/option-chain", x.option_chain, methods=["GET"]),
            Route("/5config/config", x.config, methods=["GET"]),
            Route("/_sim/stats", x.admin_stats, methods=["GET"]),
            Route("/_sim/faults", x.admin_faults, methods=["POST"]),
            Route("/_sim/revoke", x.admin_revoke, methods=["POST"]),
            Route("/_sim/arrivals", x.admin_arrivals, methods=["GET"]),
            Route("/_sim/place_times", x.admin_place_times, methods=["GET"]),
            Route("/_sim/pin", x.admin_pin, methods=["POST"]),
            Route("/_sim/fill", x.admin_fill, methods=["POST"]),
            Route("/_sim/book", x.admin_book, methods=["GET"]),
            Route("/_sim/drop_feeds", x.admin_drop_feeds, methods=["POST"]),
        ]

    def session(
        self, handler: Callable[[Request, str], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                ucc = self.exchange.session_user(
                    request.headers.get("auth"), request.headers.get("sid")
                )
            except SessionInvalid:
                return stale_session(request.method)
            try:
                return await handler(request, ucc)
            except SimError as err:
                return not_ok(err.code, err.message, err.stat)

        return endpoint

    def _consumer_key_ok(self, request: Request) -> bool:
        key = request.headers.get("authorization", "")
        return any(u.consumer_key == key for u in self.exchange.users.values())

    async def login(self, request: Request) -> Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        for key in ("mobileNumber", "ucc", "totp"):
            if not body.get(key):
                return JSONResponse(
                    {"error": [{"code": "400", "message": f"Missing required field '{key}'"}]}
                )
        return JSONResponse(self.exchange.login(request.headers.get("authorization", ""), body))

    async def validate(self, request: Request) -> Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        if not body.get("mpin"):
            return JSONResponse(
                {"error": [{"code": "400", "message": "Missing required field 'Mpin'"}]}
            )
        reply = self.exchange.validate(
            request.headers.get("authorization", ""),
            request.headers.get("auth", ""),
            request.headers.get("sid", ""),
            body,
        )
        data = reply.get("data")
        if isinstance(data, dict):
            if self.feed_discovery in ("both", "validate"):
                data["feedUrl"], data["rtUrl"] = self.feed_urls()
            else:
                data.pop("feedUrl", None)
                data.pop("rtUrl", None)
        return JSONResponse(reply)

    async def client_ip(self, request: Request) -> Response:
        host = request.client.host if request.client else "127.0.0.1"
        return JSONResponse(
            {
                "data": [{"ip": host, "time": str(self.exchange.now())}],
                "stCode": 1000,
                "status": "success",
            }
        )

    async def place(self, request: Request, ucc: str) -> Response:
        return JSONResponse(self.exchange.place(ucc, await _jdata(request)))

    async def modify(self, request: Request, ucc: str) -> Response:
        return JSONResponse(self.exchange.modify(ucc, await _jdata(request)))

    async def cancel(self, request: Request, ucc: str) -> Response:
        return JSONResponse(self.exchange.cancel(ucc, await _jdata(request)))

    def _rows(self, rows: list[dict[str, Any]], stat: str = "Ok") -> Response:
        if not rows:
            return JSONResponse(
                {"stCode": 5203, "errMsg": "No Data", "desc": "data not found", "stat": "Not_Ok"}
            )
        return JSONResponse({"stat": stat, "stCode": 200, "data": rows})

    async def orders(self, request: Request, ucc: str) -> Response:
        return self._rows(self.exchange.order_book(ucc))

    async def order(self, request: Request, ucc: str) -> Response:
        """A single order (§4.4): the book's envelope with one row; unknown -> 5203 No Data."""
        return self._rows(self.exchange.order_report(ucc, request.path_params["no"]))

    async def history(self, request: Request, ucc: str) -> Response:
        j = await _jdata(request)
        return self._rows(self.exchange.order_history(ucc, str(j.get("nOrdNo", ""))))

    async def trades(self, request: Request, ucc: str) -> Response:
        return self._rows(self.exchange.trades(ucc), "ok")

    async def positions(self, request: Request, ucc: str) -> Response:
        return self._rows(self.exchange.positions(ucc), "ok")

    async def holdings(self, request: Request, ucc: str) -> Response:
        return JSONResponse({"data": self.exchange.holdings(ucc)})

    async def limits(self, request: Request, ucc: str) -> Response:
        await _jdata(request)
        return JSONResponse(self.exchange.limits(ucc))

    async def margin(self, request: Request, ucc: str) -> Response:
        return JSONResponse(self.exchange.check_margin(ucc, await _jdata(request)))

    async def quotes(self, request: Request) -> Response:
        if not self._consumer_key_ok(request):
            return JSONResponse({"message": "Invalid credentials"}, status_code=401)
        rest = request.path_params["rest"]
        listing, _, kind = rest.rpartition("/")
        if not listing:  # no type in the path: the SDK's default
            listing, kind = rest, "all"
        if kind not in QUOTE_TYPES:
            return gateway_fault(f"Invalid quote type {kind!r} (one of {', '.join(QUOTE_TYPES)})")
        keys = [k for k in listing.split(",") if k]
        if len(keys) > MAX_QUOTES:
            return gateway_fault(f"Maximum {MAX_QUOTES} instruments per request")
        return JSONResponse(self.exchange.quotes(keys, kind))

    def _base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def file_paths(self, request: Request) -> Response:
        if not self._consumer_key_ok(request):
            return JSONResponse({"message": "Invalid credentials"}, status_code=401)
        folder = f"{self._base(request)}/wso2-scripmaster/v1/prod"
        day = self.exchange.today.isoformat()
        return JSONResponse(
            {
                "data": {
                    "baseFolder": folder,
                    "filesPaths": [f"{folder}/{day}/{f}" for f in SCRIP_FILES],
                }
            }
        )

    async def csv(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == "nse_com":
            return PlainTextResponse(self.exchange.scrip_csv("nse_com"), media_type="text/csv")
        return PlainTextResponse(self.exchange.scrip_csv(name), media_type="text/csv")

    async def historical(self, request: Request) -> Response:
        q = request.query_params
        try:
            start = date.fromisoformat(q.get("fromdate", ""))
            end = date.fromisoformat(q.get("todate", ""))
            candles = self.exchange.historical(
                q.get("neosymbol", ""), q.get("interval", ""), start, end
            )
        except ValueError:
            return JSONResponse(
                {"status": "ERROR", "fault": {"code": 400, "message": "Invalid date"}}
            )
        except SimError as err:
            return JSONResponse({"status": "ERROR", "fault": {"code": 400, "message": err.message}})
        return JSONResponse(
            {"status": "success", "interval": q.get("interval"), "data": {"candles": candles}}
        )

    async def expiries(self, request: Request) -> Response:
        return self._market_data(request, self.exchange.expiries)

    async def option_chain(self, request: Request) -> Response:
        return self._market_data(request, self.exchange.option_chain)

    def _market_data(
        self, request: Request, answer: Callable[[Mapping[str, str]], dict[str, Any]]
    ) -> Response:
        """A market-data GET: the consumer key only; bad input in the gateway's envelope."""
        if not self._consumer_key_ok(request):
            return gateway_fault("Invalid credentials", 401)
        try:
            return JSONResponse(answer(request.query_params))
        except SimError as err:
            return gateway_fault(err.message)

    async def config(self, request: Request) -> Response:
        """The config service: the feeds' endpoints for data centre E21 (source `sh`), unless
        discovery is by the validate reply only (or off)."""
        configs: dict[str, str] = {"E21_feed_version": "2"}
        if self.feed_discovery in ("both", "config"):
            market, orders = self.feed_urls()
            configs |= {
                "E21_broadcast_source": "sh",
                "E21_sh_broadcast_endpoint": market,
                "E21_sh_interactive_endpoint": orders,
            }
        return JSONResponse({"data": {"configs": configs}})

    async def admin_stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                **self.exchange.stats,
                "requests": self.requests,
                "injected": self.faults.injected,
                "feeds": self.open_feeds,
            }
        )

    async def admin_faults(self, request: Request) -> Response:
        spec = await request.json()
        if "unique_tags" in spec:  # the exchange's rule, not a fault: it lives there
            self.exchange.unique_tags = bool(spec["unique_tags"])
        self.faults.update(spec)
        return JSONResponse({"ok": True})

    async def admin_book(self, request: Request) -> Response:
        """Every order the exchange really holds, to hold the client's reports against."""
        return JSONResponse({"orders": self.exchange.all_orders()})

    async def admin_drop_feeds(self, request: Request) -> Response:
        """Hang up every feed connection (clients reconnect and subscribe again)."""
        return JSONResponse({"dropped": self.drop_feeds(), "rounds": self.feeds.rounds})

    async def admin_revoke(self, request: Request) -> Response:
        return JSONResponse({"revoked": self.exchange.revoke()})

    async def admin_fill(self, request: Request) -> Response:
        """{no, qty}: fill part of a working order now (partial fills on demand, for tests)."""
        body = await request.json()
        try:
            done = self.exchange.fill_part(str(body["no"]), int(body["qty"]))
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        self.feeds.publish()
        return JSONResponse(done)

    async def admin_pin(self, request: Request) -> Response:
        """{symbol: price or null}: hold (or release) last prices for tests and benchmarks."""
        wanted = await request.json()
        unknown = [s for s in wanted if s not in self.exchange.universe.by_symbol]
        if unknown:  # a typo would pin nothing and leave a test wondering why
            return JSONResponse({"error": f"unknown trading symbol {unknown[0]!r}"}, 400)
        for symbol, price in wanted.items():
            self.exchange.pin(symbol, Decimal(str(price)) if price is not None else None)
        return JSONResponse({"pinned": len(self.exchange.pinned)})

    async def admin_arrivals(self, request: Request) -> Response:
        return JSONResponse({"arrivals": self.arrivals})

    async def admin_place_times(self, request: Request) -> Response:
        return JSONResponse({"place_ms": self.place_ms})
