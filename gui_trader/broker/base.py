"""The Broker protocol and its error taxonomy: every failure is exactly one of these, on purpose.

- Rejected: definitely not placed/changed; safe to report, never silently retried.
- Ambiguous: may have happened; resolve by tag before doing anything else.
- AuthExpired: the session is stale; one re-login (single-flight) then retry.
- RateLimited: the broker asked us to wait `retry_after` seconds; nothing happened.
- BadReply: the broker answered something we cannot read (never crashes the app).
- Unreachable: a read failed in transport after retries (reads are safe to retry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from gui_trader.core.market_data import Candle, Quote
from gui_trader.core.order import Order, OrderRequest, Trade
from gui_trader.core.portfolio import Funds, Holding, MarginCheck, Position


class BrokerError(Exception):
    """Base of the taxonomy; the message is fit to show a trader."""


class Rejected(BrokerError):
    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class DuplicateTag(Rejected):
    """The broker already has an order with this tag today (stCode 5204)."""


class OrderFinished(Rejected):
    """Modify/cancel of an order that is already complete, rejected or cancelled (1021)."""


class Ambiguous(BrokerError):
    def __init__(self, tag: str | None, detail: str) -> None:
        super().__init__(f"outcome unknown ({detail})")
        self.tag = tag
        self.detail = detail


class AuthExpired(BrokerError):
    pass


class LoginFailed(BrokerError):
    """Credentials refused (wrong TOTP, MPIN, consumer key): no retry would help."""


class RateLimited(BrokerError):
    """The broker refused the request for now (HTTP 429): nothing happened."""

    def __init__(self, retry_after: float, capped: bool = False) -> None:
        super().__init__(
            f"rate limited by the broker: it asks to wait {retry_after:g} s"
            + (" (longer than we wait; try again later)" if capped else "")
        )
        self.retry_after = retry_after
        self.capped = capped


class BadReply(BrokerError):
    pass


class Unreachable(BrokerError):
    pass


@dataclass(frozen=True)
class Telemetry:
    """What the status bar and the engine may know of a broker connection, typed."""

    session_expires: float | None  # epoch s of the current session's expiry; None: logged out
    rtt_ms: float  # the last request's round trip
    order_headroom: float  # order slots free right now
    orders_per_second: float
    logins: int  # logins this process made (0: a stored session was reused)
    rate_limited: int  # 429s met so far


class Feeds(Protocol):
    """An account's live market and order feeds (broker/live_feeds.py)."""

    def start(self) -> None: ...
    def watch(self, keys: dict[str, str], depth: Iterable[str] = ()) -> None:
        """The instruments wanted now (key -> symbol), `depth` of them with the 5-level book."""
        ...

    def states(self) -> dict[str, str]:
        """ "market" / "orders" -> "off" | "live" | "reconnecting"."""
        ...

    async def close(self) -> None: ...


class Broker(Protocol):
    """One instance per account. Quantities in units, prices in rupees (Decimal)."""

    name: str

    @property
    def logins(self) -> int: ...

    def telemetry(self) -> Telemetry: ...

    @property
    def landing_s(self) -> float:
        """How long after a request ended (failed, timed out) the broker may still act on it."""
        ...

    @property
    def in_flight_s(self) -> float:
        """How long after it was sent a request may still land (total deadline + landing)."""
        ...

    async def login(self, totp: str | None = None) -> None: ...
    async def logout(self) -> None: ...
    async def reserve_orders(self, n: int) -> None: ...
    async def place(self, request: OrderRequest) -> str: ...
    async def modify(
        self,
        order: Order,
        *,
        price: Decimal | None = None,
        qty: int | None = None,
        trigger: Decimal | None = None,
        order_type: str | None = None,
    ) -> str: ...
    async def cancel(self, order_id: str) -> str: ...
    async def orders(self) -> list[Order]: ...
    async def order_history(self, order_id: str) -> list[Order]: ...
    async def trades(self) -> list[Trade]: ...
    async def positions(self) -> list[Position]: ...
    async def holdings(self) -> list[Holding]: ...
    async def limits(self) -> Funds: ...
    async def margin(self, request: OrderRequest) -> MarginCheck: ...
    async def quotes(self, keys: list[str]) -> list[Quote]: ...
    async def candles(self, key: str, interval: str, start: date, end: date) -> list[Candle]: ...
    async def instrument_files(self) -> dict[str, str]: ...
    async def download(self, url: str) -> bytes: ...
    def live_feeds(
        self,
        on_quotes: Callable[[list[Quote]], None],
        on_order: Callable[[Order | None], None],
        on_position: Callable[[], None],
        on_state: Callable[[str, str, int], None],
    ) -> Feeds: ...
    async def close(self) -> None: ...
