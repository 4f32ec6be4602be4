"""Drive Kotak's official SDK (kotakneoapi 3.0.9) against a paper exchange; one JSON line per call.

Runs in the SDK's own virtualenv (tests/integration/test_official_sdk.py builds it), so it imports
nothing from gui_trader: only the standard library, httpx, pyotp and neo_api_client.

    python sdk_driver.py SIM_URL ACCOUNT_JSON

ACCOUNT_JSON is one account of `gui-trader sim --json`: ucc, mobile, consumer_key, mpin,
totp_secret.

The SDK's hosts are constants (mis./lapi.kotaksecurities.com); the transport it accepts rewrites
every request to the simulator, path and query kept. After login it uses the validate reply's
baseUrl (the simulator's own URL); its scrip-master CSV download is a module-level httpx.get of a
URL the simulator hands out, so that one reaches the simulator directly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
os.environ.setdefault("NEO_LOG_FILE_ENABLED", "false")
os.environ.setdefault("NEO_LOG_LEVEL", "NOLOG")

import httpx  # noqa: E402
import pyotp  # noqa: E402
from neo_api_client import NeoAPI  # noqa: E402

QUOTE_TYPES = (
    "all",
    "ltp",
    "ohlc",
    "market_depth",
    "oi",
    "52w",
    "circuit_limits",
    "scrip_details",
)


class ToSim(httpx.BaseTransport):
    """Every request, whatever host the SDK meant, goes to the simulator."""

    def __init__(self, url: str) -> None:
        self.target = httpx.URL(url)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self.target.scheme, host=self.target.host, port=self.target.port
        )
        request.headers["Host"] = f"{self.target.host}:{self.target.port}"
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def failed(reply: Any) -> str:
    """Why a reply is a failure, or "" for success."""
    if reply is None:
        return "no reply"
    if isinstance(reply, dict):
        for key in ("Error", "error", "Error Message", "fault"):
            if key in reply:
                return f"{key}: {reply[key]}"
        stat = reply.get("stat")
        if stat is not None and str(stat).lower() != "ok":
            return f"stat {stat} stCode {reply.get('stCode')}: {reply.get('errMsg')}"
        status = reply.get("status")
        if isinstance(status, str) and status.upper() == "ERROR":
            return f"status ERROR: {reply}"
    return ""


class Driver:
    def __init__(self, url: str, account: dict[str, str]) -> None:
        self.url, self.account = url, account
        self.client = NeoAPI(
            consumer_key=account["consumer_key"], environment="prod", transport=ToSim(url)
        )
        self.results: list[dict[str, Any]] = []

    def call(
        self, name: str, fn: Callable[[], Any], check: Callable[[Any], str] | None = None
    ) -> Any:
        try:
            reply = fn()
        except Exception as exc:  # the SDK should never raise: that is a failure too
            reply, why = None, f"raised {type(exc).__name__}: {exc}"
        else:
            why = failed(reply) or (check(reply) if check else "")
        result = {"call": name, "ok": not why, "detail": why or _short(reply)}
        self.results.append(result)
        print(json.dumps(result), flush=True)
        return reply

    # ------------------------------------------------------------------ the session
    def run(self) -> None:
        c, a = self.client, self.account
        totp = pyotp.TOTP(a["totp_secret"]).now()
        self.call(
            "totp_login",
            lambda: c.totp_login(mobile_number=a["mobile"], ucc=a["ucc"], totp=totp),
            lambda r: "" if r.get("data", {}).get("kType") == "View" else "no view token",
        )
        self.call(
            "totp_validate",
            lambda: c.totp_validate(mpin=a["mpin"]),
            lambda r: "" if r.get("data", {}).get("kType") == "Trade" else "no trade token",
        )
        self.call(
            "scrip_master",
            c.scrip_master,
            lambda r: "" if r.get("filesPaths") else "no file paths",
        )
        self.call(
            "scrip_master_nse_cm",
            lambda: c.scrip_master(exchange_segment="nse_cm"),
            lambda r: "" if isinstance(r, str) and r.endswith(".csv") else f"not a CSV URL: {r}",
        )
        found = self.call(
            "search_scrip",
            lambda: c.search_scrip(exchange_segment="nse_fo", symbol="NIFTY", option_type="CE"),
            lambda r: "" if isinstance(r, list) and r else "no NIFTY calls found",
        )
        option = found[len(found) // 2] if isinstance(found, list) and found else None
        self.quotes(option)
        self.orders(option)
        self.reports()
        self.market_data()
        self.call("whatsmyip", c.whatsmyip)
        self.call("logout", c.logout, lambda r: "" if r.get("State") == "OK" else "not logged out")

    def quotes(self, option: dict[str, Any] | None) -> None:
        tokens = [{"instrument_token": "2885", "exchange_segment": "nse_cm"}]
        if option:
            tokens.append(
                {"instrument_token": str(option["pSymbol"]), "exchange_segment": "nse_fo"}
            )
        for kind in QUOTE_TYPES:

            def check(r: Any, kind: str = kind) -> str:
                if not isinstance(r, list) or len(r) != len(tokens):
                    return f"{kind}: expected {len(tokens)} rows, got {_short(r)}"
                return ""

            def fetch(kind: str = kind) -> Any:
                return self.client.quotes(instrument_tokens=tokens, quote_type=kind)

            self.call(f"quotes_{kind}", fetch, check)

    def place(self, name: str, **order: str) -> str:
        """Place one order through the SDK; its nOrdNo, or "" if it failed."""
        terms = {"price": "0", "order_type": "MKT", "quantity": "1", "validity": "DAY"}
        terms.update(order)
        reply = self.call(
            name,
            lambda: self.client.place_order(**terms),
            lambda r: "" if str(r.get("nOrdNo", "")).isdigit() else "no nOrdNo",
        )
        return str(reply.get("nOrdNo", "")) if isinstance(reply, dict) else ""

    def orders(self, option: dict[str, Any] | None) -> None:
        c = self.client
        tag = f"SDK{int(time.time() * 1000) % 10**10}"
        no = self.place(
            "place_order",
            exchange_segment="nse_cm",
            product="CNC",
            price="1000",  # far below RELIANCE: stays open
            order_type="L",
            trading_symbol="RELIANCE-EQ",
            transaction_type="B",
            tag=tag,
        )
        self.call("order_report", c.order_report, _rows)
        self.call(
            "order_report_by_id",
            lambda: c.order_report(order_id=no),
            lambda r: _rows(r) or ("" if r["data"][0].get("nOrdNo") == no else "wrong order"),
        )
        self.call("order_history", lambda: c.order_history(order_id=no), _history_rows)

        def acked(r: Any) -> str:
            return "" if str(r.get("nOrdNo", "")) == no else "no nOrdNo"

        self.call(
            "modify_order",
            lambda: c.modify_order(
                order_id=no, price="1001", order_type="L", quantity="2", validity="DAY"
            ),
            acked,
        )
        self.call("cancel_order", lambda: c.cancel_order(order_id=no), acked)
        self.place(
            "place_market_order",
            exchange_segment="nse_cm",
            product="MIS",
            trading_symbol="SBIN-EQ",
            transaction_type="B",
            tag=tag + "M",
        )
        if option:  # an option sale: NRML, one lot
            self.place(
                "place_option_sale",
                exchange_segment="nse_fo",
                product="NRML",
                quantity=str(int(option["lLotSize"])),
                trading_symbol=str(option["pTrdSymbol"]),
                transaction_type="S",
                tag=tag + "O",
            )

    def reports(self) -> None:
        c = self.client
        self.call("trade_report", c.trade_report, _rows)
        self.call("positions", c.positions, _rows)
        self.call(
            "holdings",
            c.holdings,
            lambda r: "" if isinstance(r.get("data"), list) and r["data"] else "no holdings",
        )
        self.call("limits", c.limits, lambda r: "" if "Net" in r else "no Net")
        self.call(
            "margin_required",
            lambda: c.margin_required(
                exchange_segment="nse_cm",
                price="1400",
                order_type="L",
                product="CNC",
                quantity="1",
                instrument_token="2885",
                transaction_type="B",
            ),
            lambda r: "" if "data" in r and "avlCash" in r["data"] else "no avlCash",
        )

    def market_data(self) -> None:
        c = self.client
        expiries = self.call(
            "expiries",
            lambda: c.expiries(exchange="nse_fo", underlying="NIFTY", instrument_type="option"),
            lambda r: "" if r.get("expiries") else "no expiries",
        )
        first = (expiries or {}).get("expiries", [None])[0] if isinstance(expiries, dict) else None
        self.call(
            "option_chain",
            lambda: c.option_chain(exchange="nse_fo", underlying="NIFTY", expiry=first, count=10),
            lambda r: "" if r.get("data", {}).get("call") else "no calls",
        )
        today = time.strftime("%Y-%m-%d")
        self.call(
            "historical_data",
            lambda: c.historical_data(
                neosymbol="nse_cm|2885", interval="D", from_date="2020-01-01", to_date=today
            ),
            lambda r: "" if r.get("data", {}).get("candles") else "no candles",
        )


def _rows(r: Any) -> str:
    if not isinstance(r, dict) or not isinstance(r.get("data"), list) or not r["data"]:
        return f"no rows: {_short(r)}"
    return ""


def _history_rows(r: Any) -> str:
    data = r.get("data") if isinstance(r, dict) else None
    if isinstance(data, dict):  # the SDK wraps the raw reply as {"data": raw}
        data = data.get("data")
    return "" if isinstance(data, list) and data else f"no history: {_short(r)}"


def _short(reply: Any) -> str:
    text = json.dumps(reply, default=str)
    return text if len(text) <= 300 else text[:300] + "..."


def main() -> int:
    url, account = sys.argv[1], json.loads(sys.argv[2])
    driver = Driver(url, account)
    driver.run()
    return 0 if all(r["ok"] for r in driver.results) else 1


if __name__ == "__main__":
    sys.exit(main())
