"""Drive the official SDK's live feeds (kotakneoapi 3.0.9: create_websocket, create_order_feed)
against `gui-trader sim`; one JSON line per step, as sdk_driver.py does for REST.

    python sdk_feed_driver.py SIM_URL ACCOUNT_JSON

Runs in the SDK's own virtualenv: only the standard library, httpx, pyotp, neo_api_client and
sdk_driver.py beside it (its transport that sends every request to the simulator). The SDK finds
the feeds' URLs itself (config service, then the validate reply). Prices are pinned through the
simulator's /_sim/pin so each expected message is known; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")
os.environ.setdefault("NEO_LOG_LEVEL", "NOLOG")

import httpx
import pyotp
from neo_api_client import NeoAPI
from neo_api_client.websocket.feed import WsToken
from sdk_driver import ToSim  # beside this file; it clears the proxy variables

WAIT_S = 15.0
RELIANCE, TCS, INFY = (
    WsToken("nse_cm", "2885"),
    WsToken("nse_cm", "11536"),
    WsToken("nse_cm", "1594"),
)
NIFTY = WsToken("nse_cm", "Nifty 50")


class Inbox:
    """Messages of one feed as on_message delivers them, with bounded waits on them."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.arrived = asyncio.Event()
        self.connects = 0
        self.disconnects = 0

    def on_message(self, message: Any) -> None:
        self.messages.append(message)
        self.arrived.set()

    def on_connect(self) -> None:
        self.connects += 1
        self.arrived.set()

    def on_disconnect(self) -> None:
        self.disconnects += 1
        self.arrived.set()

    def attach(self, feed: Any) -> None:
        feed.on_message, feed.on_connect = self.on_message, self.on_connect
        feed.on_disconnect = self.on_disconnect

    async def until(self, what: str, check: Callable[[], Any]) -> Any:
        """The first truthy check() as messages arrive, or TimeoutError after WAIT_S."""
        deadline = time.monotonic() + WAIT_S
        while True:
            found = check()
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                tail = [str(m)[:200] for m in self.messages[-4:]]
                raise TimeoutError(f"no {what} within {WAIT_S} s; last messages {tail}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)

    def find(self, since: int, pred: Callable[[Any], bool]) -> list[Any]:
        return [m for m in self.messages[since:] if pred(m)]


def tick_of(
    token: str, price: float | None = None, level: int | None = None
) -> Callable[[Any], bool]:
    def pred(m: Any) -> bool:
        return (
            getattr(m, "instrument_token", None) == token
            and (price is None or abs(m.last_traded_price - price) < 1e-9)
            and (level is None or getattr(m, "level", None) == level)
        )

    return pred


class FeedDriver:
    def __init__(self, url: str, account: dict[str, str]) -> None:
        self.url, self.account = url, account
        self.client = NeoAPI(
            consumer_key=account["consumer_key"], environment="prod", transport=ToSim(url)
        )
        self.http = httpx.Client(base_url=url, timeout=10)
        self.results: list[dict[str, Any]] = []

    def report(self, step: str, why: str = "", detail: Any = "") -> None:
        result = {"call": step, "ok": not why, "detail": why or str(detail)[:300]}
        if why:
            result["detail"] = why[:2000]
        self.results.append(result)
        print(json.dumps(result), flush=True)

    async def step(self, name: str, work: Callable[[], Any]) -> Any:
        try:
            out = await work()
        except Exception as exc:
            self.report(name, f"{type(exc).__name__}: {exc}")
            raise
        self.report(name, detail=out)
        return out

    def pin(self, prices: dict[str, float]) -> None:
        self.http.post("/_sim/pin", json=prices).raise_for_status()

    def rest_ltp(self, token: str) -> float:
        rows = self.client.quotes(
            instrument_tokens=[{"instrument_token": token, "exchange_segment": "nse_cm"}],
            quote_type="ltp",
        )
        return float(rows[0]["ltp"])

    async def run(self) -> None:
        c, a = self.client, self.account
        c.totp_login(
            mobile_number=a["mobile"], ucc=a["ucc"], totp=pyotp.TOTP(a["totp_secret"]).now()
        )
        c.totp_validate(mpin=a["mpin"])
        cfg = c.configuration
        want = (f"{self.url}/apifeed", f"{self.url}/realtime")
        found = (cfg.sfeed_websocket_url, cfg.order_feed_url)
        self.report("discovery", "" if found == want else f"config URLs {found}, not {want}", found)

        self.pin({"RELIANCE-EQ": 1500.0, "TCS-EQ": 3100.0, "INFY-EQ": 1550.0, "NIFTY 50": 25000.0})
        market, orders = Inbox(), Inbox()
        ws = c.create_websocket(reconnect_delay=1)
        feed = c.create_order_feed(reconnect_delay=1)
        market.attach(ws)
        orders.attach(feed)
        try:
            await self.market_feed(ws, market)
            await self.order_feed(feed, orders)
            await self.unsubscribe(ws, market)
            await self.drop(ws, market, feed, orders)
        finally:
            await self.step("close", lambda: self.close(ws, feed))

    async def market_feed(self, ws: Any, inbox: Inbox) -> None:
        async def connect() -> str:
            await ws.connect()
            if not ws.url.startswith("ws://") or not ws.url.endswith("/apifeed"):
                raise AssertionError(f"connected to {ws.url}")
            return f"{ws.url}, dividers {ws.dividers}"

        await self.step("sfeed_connect", connect)

        async def subscribe() -> str:
            await ws.subscribe_scrips([RELIANCE, TCS])
            await ws.subscribe_index([NIFTY])
            await ws.subscribe_depth([INFY])
            got: dict[str, Any] = {}
            wanted: tuple[tuple[str, Callable[[Any], bool]], ...] = (
                ("RELIANCE", tick_of("2885", 1500.0, 4)),
                ("TCS", tick_of("11536", 3100.0, 4)),
                ("INFY depth", tick_of("1594", 1550.0, 8)),
                ("Nifty 50", lambda m: getattr(m, "name", None) == "Nifty 50"),
            )
            for name, pred in wanted:

                def seen(pred: Callable[[Any], bool] = pred) -> list[Any]:
                    return inbox.find(0, pred)

                [m, *_] = await inbox.until(name, seen)
                got[name] = m
            checks = {
                "RELIANCE symbol": got["RELIANCE"].trading_symbol == "RELIANCE-EQ",
                "RELIANCE = REST": got["RELIANCE"].last_traded_price == self.rest_ltp("2885"),
                "TCS = REST": got["TCS"].last_traded_price == self.rest_ltp("11536"),
                "Nifty = REST": got["Nifty 50"].last_traded_price == self.rest_ltp("Nifty 50"),
                "Nifty token": got["Nifty 50"].instrument_token == "26000",
                "Nifty symbol": got["Nifty 50"].trading_symbol == "NIFTY 50",
                "depth rows": len(got["INFY depth"].buy) == 5 == len(got["INFY depth"].sell),
                "depth best bid": got["INFY depth"].buy[0].price == 1550.0,
            }
            bad = [k for k, ok in checks.items() if not ok]
            if bad:
                raise AssertionError(f"wrong: {bad}: {got}")
            return f"{len(inbox.messages)} messages, {sorted(checks)}"

        await self.step("sfeed_subscribe_snapshot", subscribe)

        async def update() -> str:
            since = len(inbox.messages)
            self.pin({"RELIANCE-EQ": 1512.35})
            [m, *_] = await inbox.until(
                "update", lambda: inbox.find(since, tick_of("2885", 1512.35))
            )
            return f"RELIANCE {m.last_traded_price}"

        await self.step("sfeed_update", update)

    async def order_feed(self, feed: Any, inbox: Inbox) -> None:
        async def connect() -> str:
            await feed.connect()
            if not feed.url.startswith("ws://") or not feed.url.endswith("/realtime"):
                raise AssertionError(f"connected to {feed.url}")
            return str(feed.url)

        await self.step("orderfeed_connect", connect)
        tag = f"SDKF{int(time.time() * 1000) % 10**9}"

        async def order() -> str:
            since = len(inbox.messages)
            reply = self.client.place_order(
                exchange_segment="nse_cm",
                product="MIS",
                price="0",
                order_type="MKT",
                quantity="1",
                validity="DAY",
                trading_symbol="SBIN-EQ",
                transaction_type="B",
                tag=tag,
            )
            no = str(reply["nOrdNo"])

            def updates() -> list[Any]:
                return [
                    m
                    for m in inbox.messages[since:]
                    if getattr(m, "type", "") == "order" and m.data.order_id == no
                ]

            await inbox.until(
                "complete", lambda: [m for m in updates() if m.data.order_status == "complete"]
            )
            states = [m.data.order_status for m in updates()]
            tags = {getattr(m.data, "GuiOrdId", None) for m in updates()}
            if states[0] != "put order req received" or states[-1] != "complete" or tags != {tag}:
                raise AssertionError(f"states {states}, tags {tags}")
            [pos, *_] = await inbox.until(
                "position",
                lambda: [m for m in inbox.messages[since:] if getattr(m, "type", "") == "position"],
            )
            if pos.data.filled_buy_quantity != "1":
                raise AssertionError(f"position {pos}")
            return f"{no}: {' -> '.join(states)}; position {pos.data.symbol}"

        await self.step("orderfeed_order_updates", order)

    async def unsubscribe(self, ws: Any, inbox: Inbox) -> None:
        async def work() -> str:
            await ws.unsubscribe_scrips([TCS])
            await ws.snapshot([RELIANCE])  # its ack comes after the unsubscribe was handled
            since = len(inbox.messages)
            self.pin({"TCS-EQ": 3150.0})
            self.pin({"RELIANCE-EQ": 1520.0})
            await inbox.until("RELIANCE tick", lambda: inbox.find(since, tick_of("2885", 1520.0)))
            late = inbox.find(since, tick_of("11536"))
            if late:
                raise AssertionError(f"TCS still streams: {late}")
            return "TCS silent after unsubscribe"

        await self.step("sfeed_unsubscribe", work)

    async def drop(self, ws: Any, market: Inbox, feed: Any, orders: Inbox) -> None:
        async def work() -> str:
            before = (market.connects, orders.connects)
            dropped = self.http.post("/_sim/drop_feeds").json()["dropped"]
            await market.until("market reconnect", lambda: market.connects > before[0])
            await orders.until("order reconnect", lambda: orders.connects > before[1])
            since = len(market.messages)
            self.pin({"RELIANCE-EQ": 1530.0})  # re-subscribed by the SDK: prices flow again
            await market.until(
                "tick after reconnect", lambda: market.find(since, tick_of("2885", 1530.0))
            )
            since = len(orders.messages)
            reply = self.client.place_order(
                exchange_segment="nse_cm",
                product="MIS",
                price="0",
                order_type="MKT",
                quantity="1",
                validity="DAY",
                trading_symbol="ITC-EQ",
                transaction_type="B",
                tag=f"SDKR{int(time.time() * 1000) % 10**9}",
            )
            no = str(reply["nOrdNo"])
            await orders.until(
                "order after reconnect",
                lambda: [
                    m
                    for m in orders.messages[since:]
                    if getattr(m, "type", "") == "order"
                    and m.data.order_id == no
                    and m.data.order_status == "complete"
                ],
            )
            return f"dropped {dropped}; both feeds reconnected and resumed"

        await self.step("server_drop_reconnect", work)

    async def close(self, ws: Any, feed: Any) -> str:
        await ws.close()
        await feed.close()
        return f"closed; server reports {self.http.get('/_sim/stats').json()['feeds']} open"


def main() -> int:
    url, account = sys.argv[1], json.loads(sys.argv[2])
    driver = FeedDriver(url, account)
    try:
        asyncio.run(driver.run())
    except Exception:
        return 1
    return 0 if all(r["ok"] for r in driver.results) else 1


if __name__ == "__main__":
    sys.exit(main())
