"""The Neo wire protocol in front of the paper exchange (Starlette), with latency and faults.

One ASGI app serves the login host, the trading host, the config service and the CSV host; the
client only ever learns the latter three from the server's own replies, as it does live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gui_trader.sim.exchange import Exchange, SessionInvalid, SimError
from gui_trader.sim.faults import FaultPlan

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
}
MUTATIONS = ("place", "modify", "cancel")


class ConnectionDropped(Exception):
    """Raised by the app after the response has started: the server hangs up mid-reply."""


def route_kind(path: str) -> str:
    if path.startswith("/script-details/1.0/quotes/"):
        return "quotes"
    return ROUTES.get(path, "other")


def not_ok(code: int, message: str, stat: str = "Not_Ok", status: int = 200) -> JSONResponse:
    return JSONResponse({"stat": stat, "stCode": code, "errMsg": message}, status_code=status)


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
    ) -> None:
        self.exchange = exchange
        self.faults = faults or FaultPlan()
        self.on_mutation = on_mutation
        self.requests: dict[str, int] = {}
        self.arrivals: list[tuple[int, str]] = []  # (perf_counter_ns, tag) of every place
        self.app = Starlette(routes=self._routes())

    # ---------------------------------------------------------------- ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = route_kind(scope["path"])
        arrived = time.perf_counter_ns()
        self.requests[kind] = self.requests.get(kind, 0) + 1
        fault = None if scope["path"].startswith("/_sim/") else self.faults.pick(kind)
        delay = self.faults.delay()
        if kind == "place":
            receive = await self._note_arrival(arrived, receive)
        # The request travels: even with no latency, other requests sent in the same tick
        # arrive before this one is processed, as over a network.
        await asyncio.sleep(delay)
        if fault == "drop":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionDropped(kind)
        if fault == "error_5xx":
            await not_ok(503, "Service Unavailable", status=503)(scope, receive, send)
            return
        if fault == "rate_limit":
            resp = not_ok(429, "Too many requests", status=429)
            resp.headers["Retry-After"] = f"{self.faults.retry_after_s:g}"
            await resp(scope, receive, send)
            return
        if fault == "revoke":
            self.exchange.revoke()
        if fault in ("accept_drop", "accept_5xx"):
            await self.app(scope, receive, _swallow)
            if kind in MUTATIONS and self.on_mutation:
                self.on_mutation()
            if fault == "accept_5xx":
                await not_ok(504, "Gateway Timeout", status=504)(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionDropped(kind)
        await self.app(scope, receive, send)
        if kind in MUTATIONS and self.on_mutation:
            self.on_mutation()

    async def _note_arrival(self, arrived: int, receive: Receive) -> Receive:
        """Read the body now to log the tag with its arrival time; replay it to the app."""
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        tag = ""
        with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            tag = str(json.loads(parse_qs(body.decode()).get("jData", ["{}"])[0]).get("ig") or "")
        self.arrivals.append((arrived, tag))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

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
            Route("/5config/config", x.config, methods=["GET"]),
            Route("/_sim/stats", x.admin_stats, methods=["GET"]),
            Route("/_sim/faults", x.admin_faults, methods=["POST"]),
            Route("/_sim/revoke", x.admin_revoke, methods=["POST"]),
            Route("/_sim/arrivals", x.admin_arrivals, methods=["GET"]),
            Route("/_sim/pin", x.admin_pin, methods=["POST"]),
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
                if request.method == "POST":
                    return not_ok(100022, "invalid session token")
                return JSONResponse({"message": "invalid session, re-login"}, status_code=403)
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
        for field in ("mobileNumber", "ucc", "totp"):
            if not body.get(field):
                return JSONResponse(
                    {"error": [{"code": "400", "message": f"Missing required field '{field}'"}]}
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
        return JSONResponse(
            self.exchange.validate(
                request.headers.get("authorization", ""),
                request.headers.get("auth", ""),
                request.headers.get("sid", ""),
                body,
            )
        )

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
        listing, _, _quote_type = rest.rpartition("/")
        keys = [k for k in listing.split(",") if k]
        if len(keys) > MAX_QUOTES:
            return JSONResponse(
                {
                    "status": "ERROR",
                    "fault": {
                        "code": 400,
                        "message": f"Maximum {MAX_QUOTES} instruments per request",
                    },
                },
                status_code=400,
            )
        return JSONResponse(self.exchange.quotes(keys))

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

    async def config(self, request: Request) -> Response:
        # No `<DC>_broadcast_source`: clients must fall back to the validate reply's URLs.
        return JSONResponse({"data": {"configs": {"E21_feed_version": "2"}}})

    async def admin_stats(self, request: Request) -> Response:
        return JSONResponse(
            {**self.exchange.stats, "requests": self.requests, "injected": self.faults.injected}
        )

    async def admin_faults(self, request: Request) -> Response:
        self.faults.update(await request.json())
        return JSONResponse({"ok": True})

    async def admin_revoke(self, request: Request) -> Response:
        return JSONResponse({"revoked": self.exchange.revoke()})

    async def admin_pin(self, request: Request) -> Response:
        """{symbol: price or null}: hold (or release) last prices for tests and benchmarks."""
        for symbol, price in (await request.json()).items():
            self.exchange.pin(symbol, Decimal(str(price)) if price is not None else None)
        return JSONResponse({"pinned": len(self.exchange.pinned)})

    async def admin_arrivals(self, request: Request) -> Response:
        return JSONResponse({"arrivals": self.arrivals})


async def _swallow(message: Message) -> None:
    """The reply that never reaches the client."""
