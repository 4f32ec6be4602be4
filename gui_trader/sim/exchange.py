"""The paper exchange: the one object the server and the tests talk to.

Pure and synchronous: the server (sim/server.py) translates HTTP to these calls. Time moves on
the exchange's own session clock, so paper trading works at any hour. The work is done by
auth.py (sessions), matching.py (orders), market_data.py (prices), wire_rows.py (row shapes)
and snapshot.py (persistence); this module holds the clock and puts them together.
"""

from __future__ import annotations

import itertools
import time as _time
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from gui_trader.core.clock import IST, nse_open, today_ist
from gui_trader.sim import chain, wire_rows
from gui_trader.sim import snapshot as persistence
from gui_trader.sim.auth import PAPER_USER, Sessions, SimUser
from gui_trader.sim.errors import SessionInvalid, SimError
from gui_trader.sim.market_data import Market
from gui_trader.sim.matching import FUTURES_MARGIN, MIS_MARGIN, SHORT_OPTION_MARGIN, Matcher
from gui_trader.sim.prices import PricePaths, session_minute_time
from gui_trader.sim.state import (
    PAPER_CASH,
    TERMINAL,
    Book,
    SimFill,
    SimHolding,
    SimOrder,
)
from gui_trader.sim.universe import Listing, Universe


class Exchange:
    def __init__(
        self,
        *,
        seed: int = 7,
        users: list[SimUser] | None = None,
        today: date | None = None,
        wall: Callable[[], float] = _time.time,
        speed: float = 1.0,
        base_url: str = "http://paper.sim",
        start_seconds: float = 600.0,
        extra_equities: int = 0,
        unique_tags: bool = True,
        real_time: bool = False,
        session_ttl_s: float | None = None,
        session_hours: bool = False,
        holidays: Iterable[date] = (),
    ) -> None:
        self.seed = seed
        # False: a repeated `ig` tag places another order, as a broker that does not enforce
        # tag uniqueness would; proves the client never leans on the 5204 refusal.
        self.unique_tags = unique_tags
        self.today = today or today_ist()
        self.universe = Universe.build(self.today, extra_equities)
        self.paths = PricePaths(seed)
        self.wall = wall
        self.speed = speed
        # The session clock starts 10 minutes after the open so charts have some history;
        # `real_time` (the paper service, `gui-trader sim`) runs it on IST instead: one clock for
        # every timestamp, prices flat at the open before 09:15, moving on after 15:30.
        self.real_time = real_time
        if real_time:
            self.anchor, self.speed = session_minute_time(self.today, 0).timestamp(), 1.0
        else:
            self.anchor = wall() - start_seconds / speed
        self.books: dict[str, Book] = {}
        self.users_source: Callable[[], list[SimUser]] | None = None
        self.stats: dict[str, int] = {"logins": 0, "validates": 0, "placed": 0}
        # Trade sessions end `session_ttl_s` after the MPIN validate on the `wall` clock, or
        # (None) at the next IST midnight, as the broker's tokens do.
        self.sessions = Sessions(users or [PAPER_USER], base_url, self.stats, wall, session_ttl_s)
        clock = (lambda: datetime.fromtimestamp(wall(), IST)) if real_time else None
        self.market = Market(self.universe, self.paths, self.today, self.seconds, clock)
        self.matcher = Matcher(self.market, self.book, self.stats)
        # Off (the default), the market is open whenever the app runs. On, the NSE session
        # (09:15-15:30 IST on weekdays that are not `holidays`) on the exchange's clock: outside
        # it only after-market orders (`am` YES) are taken, and they wait for the open.
        self.session_hours = session_hours
        self.holidays = frozenset(holidays)
        self.matcher.is_open = self.market_open

    # ---------------------------------------------------------------- state held by the parts
    @property
    def base_url(self) -> str:
        return self.sessions.base_url

    @property
    def users(self) -> dict[str, SimUser]:
        return self.sessions.users

    @property
    def view_sessions(self) -> dict[str, tuple[str, str]]:
        return self.sessions.view

    @property
    def trade_sessions(self) -> dict[str, tuple[str, str, float]]:
        return self.sessions.trade

    @property
    def spot(self) -> Listing:
        return self.market.spot

    @property
    def pinned(self) -> dict[str, Decimal]:
        return self.market.pinned

    @property
    def order_seq(self) -> itertools.count[int]:
        return self.matcher.order_seq

    @order_seq.setter
    def order_seq(self, value: itertools.count[int]) -> None:
        self.matcher.order_seq = value

    @property
    def fill_seq(self) -> itertools.count[int]:
        return self.matcher.fill_seq

    @fill_seq.setter
    def fill_seq(self, value: itertools.count[int]) -> None:
        self.matcher.fill_seq = value

    # ---------------------------------------------------------------- clock and prices
    def seconds(self) -> float:
        return max(0.0, (self.wall() - self.anchor) * self.speed)

    def now(self) -> datetime:
        return self.market.now()

    def market_open(self, now: datetime | None = None) -> bool:
        """Whether orders can trade at `now` (default: the exchange's own clock)."""
        if not self.session_hours:
            return True
        return nse_open(now or self.now(), self.holidays)

    def fill_part(self, no: str, qty: int) -> dict[str, Any]:
        """Fill `qty` of a working order at its own price (tests: partial fills on demand)."""
        for ucc, book in self.books.items():
            o = book.orders.get(no)
            if o is None:
                continue
            if o.status in ("complete", "cancelled", "rejected") or o.status == "trigger pending":
                raise ValueError(f"order {no} is {o.status}: nothing to fill")
            qty = max(1, min(qty, o.qty - o.filled))
            x = self.universe.by_symbol[o.ts]
            price = o.price if o.pt in ("L", "SL") else self.market.ltp(x)
            self.matcher._fill(book, x, o, qty, price)  # still "open" until all of it fills
            return {"ucc": ucc, "no": no, "filled": o.filled, "status": o.status}
        raise KeyError(no)

    def pin(self, symbol: str, price: Decimal | None) -> None:
        self.market.pin(symbol, price)

    def ltp(self, x: Listing, seconds: float | None = None) -> Decimal:
        return self.market.ltp(x, seconds)

    def prev_close(self, x: Listing) -> Decimal:
        return self.market.prev_close(x)

    # ---------------------------------------------------------------- sessions
    def book(self, ucc: str) -> Book:
        book = self.books.get(ucc)
        if book is None:
            book = self.books[ucc] = Book.opening(self.universe)
        return book

    def login(self, consumer_key: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.users_source is not None:  # paper accounts added since the service started
            for user in self.users_source():
                self.add_user(user)
        return self.sessions.login(consumer_key, body)

    def validate(
        self, consumer_key: str, view_token: str, view_sid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return self.sessions.validate(consumer_key, view_token, view_sid, body)

    def session_user(self, auth: str | None, sid: str | None) -> str:
        return self.sessions.user_of(auth, sid)

    def add_user(self, user: SimUser) -> None:
        """Another paper account (`gui-trader account add NAME --paper`)."""
        self.sessions.users[user.ucc] = user

    def revoke(self, ucc: str | None = None) -> int:
        return self.sessions.revoke(ucc)

    # ---------------------------------------------------------------- orders
    def place(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        order = self.matcher.place(ucc, j, unique_tags=self.unique_tags)
        return wire_rows.placed_reply(order.no)

    def match(self, ucc: str) -> None:
        self.matcher.match(ucc)

    def modify(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        return wire_rows.order_ack(self.matcher.modify(ucc, j).no)

    def cancel(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        return wire_rows.order_ack(self.matcher.cancel(ucc, j).no)

    # ---------------------------------------------------------------- reports
    def order_book(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        return wire_rows.order_rows(self.book(ucc), self.universe)

    def order_report(self, ucc: str, no: str) -> list[dict[str, Any]]:
        """One order as the book shows it (`GET quick/user/orders/<nOrdNo>`); [] if unknown."""
        self.match(ucc)
        o = self.book(ucc).orders.get(no)
        return [] if o is None else [wire_rows.order_row(o, self.universe.by_symbol[o.ts])]

    def all_orders(self) -> list[dict[str, Any]]:
        """Every order of every user, plainly: the ground truth tests compare the client with."""
        rows: list[dict[str, Any]] = []
        for ucc in list(self.books):
            self.match(ucc)
            rows.extend(wire_rows.plain_orders(ucc, self.books[ucc]))
        return rows

    def order_history(self, ucc: str, no: str) -> list[dict[str, Any]]:
        self.match(ucc)
        o = self.book(ucc).orders.get(no)
        if o is None:
            return []
        return wire_rows.history_rows(o, self.universe.by_symbol[o.ts])

    def trades(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        return wire_rows.trade_rows(self.book(ucc), self.universe)

    def positions(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        return wire_rows.position_rows(self.book(ucc), self.market, ucc)

    def holdings(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        return wire_rows.holding_rows(self.book(ucc), self.market)

    def margin_used(self, book: Book) -> Decimal:
        return self.matcher.margin_used(book)

    def available(self, book: Book) -> Decimal:
        return self.matcher.available(book)

    def limits(self, ucc: str) -> dict[str, Any]:
        self.match(ucc)
        book = self.book(ucc)
        return wire_rows.limits_reply(book.cash, self.margin_used(book))

    def check_margin(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        return wire_rows.margin_reply(*self.matcher.margin_check(ucc, j))

    # ---------------------------------------------------------------- market data
    def quotes(self, keys: list[str], kind: str = "all") -> list[dict[str, Any]]:
        return self.market.quotes(keys, kind)

    def expiries(self, q: Mapping[str, str]) -> dict[str, Any]:
        return chain.expiries(
            self.market, q.get("exchange", ""), q.get("underlying", ""), q.get("instrument_type")
        )

    def option_chain(self, q: Mapping[str, str]) -> dict[str, Any]:
        return chain.option_chain(
            self.market,
            q.get("exchange", ""),
            q.get("underlying", ""),
            q.get("expiry"),
            q.get("instrument_type"),
            q.get("count"),
        )

    def intraday(self, x: Listing, day: int = 0, interval: int = 1) -> list[Any]:
        return self.market.intraday(x, day, interval)

    def daily(self, x: Listing, day: int) -> Any:
        return self.market.daily(x, day)

    def historical(self, key: str, interval: str, start: date, end: date) -> list[list[Any]]:
        return self.market.historical(key, interval, start, end)

    def scrip_csv(self, name: str) -> str:
        return self.market.scrip_csv(name)

    # ---------------------------------------------------------------- persistence (paper mode)
    def snapshot(self) -> dict[str, Any]:
        return persistence.snapshot(self)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue a paper session; on a new day, fills settle into holdings (T+1, simplified)."""
        persistence.restore(self, state)


__all__ = [
    "FUTURES_MARGIN",
    "IST",
    "MIS_MARGIN",
    "PAPER_CASH",
    "PAPER_USER",
    "SHORT_OPTION_MARGIN",
    "TERMINAL",
    "Book",
    "Exchange",
    "SessionInvalid",
    "SimError",
    "SimFill",
    "SimHolding",
    "SimOrder",
    "SimUser",
]
