"""Paper logins: the users, the two-step view/trade sessions and their JWT-shaped tokens.

Mirrors the broker's TOTP login then MPIN validate, with its error codes, so the client's session
handling is exercised on paper as it is live.
"""

from __future__ import annotations

import base64
import json
import secrets
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp

from gui_trader.core.clock import IST, next_midnight_ist
from gui_trader.sim.errors import SessionInvalid


@dataclass(frozen=True)
class SimUser:
    ucc: str
    mobile: str
    consumer_key: str
    mpin: str
    totp_secret: str
    name: str = "Paper Trader"


PAPER_USER = SimUser(
    ucc="PAPER1",
    mobile="+919999999999",
    consumer_key="paper-consumer-key",
    mpin="123456",
    totp_secret="JBSWY3DPEHPK3PXPPAPERTOTP234567A"[:32],
)


def jwt(payload: dict[str, Any]) -> str:
    """A JWT-shaped token (unsigned for paper); the client decodes `exp` from it."""

    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    sig = base64.urlsafe_b64encode(secrets.token_bytes(24)).rstrip(b"=").decode()
    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(payload)}.{sig}"


TradeSession = tuple[str, str, float]  # (ucc, sid, expires at: epoch seconds on the wall clock)


class Sessions:
    """Who may log in and which tokens are live; counts logins and validates into `stats`.

    A trade session lasts `ttl_s` seconds of the exchange's wall clock, or (None) until the next
    IST midnight, as the broker's tokens do; an expired one is refused like a revoked one.
    """

    def __init__(
        self,
        users: list[SimUser],
        base_url: str,
        stats: dict[str, int],
        clock: Callable[[], float] = _time.time,
        ttl_s: float | None = None,
    ) -> None:
        self.users = {u.ucc: u for u in users}
        self.base_url = base_url
        self.stats = stats
        self.clock = clock
        self.ttl_s = ttl_s
        self.view: dict[str, tuple[str, str]] = {}  # token -> (ucc, sid)
        self.trade: dict[str, TradeSession] = {}

    def expiry(self, issued: float) -> float:
        """When a trade session issued at `issued` (wall-clock epoch seconds) ends."""
        if self.ttl_s is not None:
            return issued + self.ttl_s
        return next_midnight_ist(datetime.fromtimestamp(issued, IST)).timestamp()

    def restore(self, kind: str, token: str, value: list[Any]) -> None:
        """A stored session back in its table; a trade session stored before expiries were
        kept (ucc, sid) gets today's default expiry."""
        if kind == "view":
            self.view[token] = (str(value[0]), str(value[1]))
            return
        ends = float(value[2]) if len(value) > 2 else self.expiry(self.clock())
        self.trade[token] = (str(value[0]), str(value[1]), ends)

    def login(self, consumer_key: str, body: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(body.get("ucc", "")))
        if user is None or user.consumer_key != consumer_key:
            return {"error": [{"code": "10020", "message": "Invalid UCC or consumer key"}]}
        if str(body.get("mobileNumber", "")) != user.mobile:
            return {"error": [{"code": "10021", "message": "Invalid mobile number"}]}
        if not pyotp.TOTP(user.totp_secret).verify(str(body.get("totp", "")), valid_window=1):
            return {"error": [{"code": "10022", "message": "Invalid TOTP"}]}
        token, sid = jwt({"sub": user.ucc, "kType": "View"}), secrets.token_hex(16)
        self.view[token] = (user.ucc, sid)
        self.stats["logins"] += 1
        return {
            "data": {
                "token": token,
                "sid": sid,
                "rid": secrets.token_hex(8),
                "ucc": user.ucc,
                "greetingName": user.name,
                "kType": "View",
                "status": "success",
                "dataCenter": "E21",
            }
        }

    def validate(
        self, consumer_key: str, view_token: str, view_sid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        session = self.view.get(view_token)
        if session is None or session[1] != view_sid:
            return {"error": [{"code": "10030", "message": "Invalid view session"}]}
        user = self.users[session[0]]
        if user.consumer_key != consumer_key:
            return {"error": [{"code": "10020", "message": "Invalid consumer key"}]}
        if str(body.get("mpin", "")) != user.mpin:
            return {"error": [{"code": "10031", "message": "Invalid MPIN"}]}
        del self.view[view_token]
        issued = self.clock()
        expiry = self.expiry(issued)
        token = jwt(
            {
                "sub": user.ucc,
                "ucc": user.ucc,
                "exp": int(expiry),
                "iat": int(issued),
                "scope": "trade",
            }
        )
        sid = secrets.token_hex(16)
        self.trade[token] = (user.ucc, sid, expiry)
        self.stats["validates"] += 1
        return {
            "data": {
                "token": token,
                "sid": sid,
                "rid": secrets.token_hex(8),
                "ucc": user.ucc,
                "kType": "Trade",
                "baseUrl": self.base_url,
                "dataCenter": "E21",
                "greetingName": user.name,
                "feedUrl": self.base_url + "/apifeed",
                "rtUrl": self.base_url + "/realtime",
            }
        }

    def user_of(self, auth: str | None, sid: str | None) -> str:
        """The ucc behind a trade token and sid, or SessionInvalid."""
        session = self.trade.get(auth or "")
        if session is None or session[1] != sid:
            raise SessionInvalid
        if self.clock() >= session[2]:
            del self.trade[auth or ""]  # expired: gone for good, as a revoked one
            raise SessionInvalid
        return session[0]

    def revoke(self, ucc: str | None = None) -> int:
        stale = [t for t, (u, _, _) in self.trade.items() if ucc in (None, u)]
        for t in stale:
            del self.trade[t]
        return len(stale)
