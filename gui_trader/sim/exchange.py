"""The paper exchange: sessions, order matching, books and market data, in the broker's row shapes.

Pure and synchronous: the server (sim/server.py) translates HTTP to these calls. Time moves on
the exchange's own session clock, so paper trading works at any hour; matching is evaluated lazily
whenever an account is touched, which keeps it deterministic and free of background tasks.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time as _time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyotp

from gui_trader.core.clock import IST, next_midnight_ist, today_ist
from gui_trader.core.money import ZERO, on_tick, to_decimal
from gui_trader.sim.prices import SESSION_MINUTES, PricePaths, option_price, session_minute_time
from gui_trader.sim.prices import on_tick as price_on_tick
from gui_trader.sim.universe import Listing, Universe, demo_holdings, scrip_master_csv

PAPER_CASH = Decimal("100000000")  # ₹10 crore: enough margin for the seed's 167-lot straddle
SHORT_OPTION_MARGIN = Decimal("0.09")
FUTURES_MARGIN = Decimal("0.12")
MIS_MARGIN = Decimal("0.20")
TERMINAL = ("complete", "rejected", "cancelled")


class SimError(Exception):
    """A business error: becomes HTTP 200 + stat Not_Ok with this stCode."""

    def __init__(self, code: int, message: str, stat: str = "Not_Ok") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.stat = stat


class SessionInvalid(Exception):
    """Stale or unknown session token: 403 / stCode 100022."""


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


@dataclass
class SimOrder:
    no: str
    tag: str | None
    ts: str
    seg: str
    tok: str
    side: str
    qty: int
    price: Decimal
    trigger: Decimal
    pt: str
    prod: str
    validity: str
    created: datetime
    status: str = "open"
    filled: int = 0
    avg: Decimal = ZERO
    rej: str = "--"
    history: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass
class SimFill:
    fill_id: str
    no: str
    ts: str
    seg: str
    tok: str
    side: str
    qty: int
    price: Decimal
    prod: str
    tag: str | None
    at: datetime


@dataclass
class SimHolding:
    qty: int
    avg: Decimal
    sold: int = 0  # sold today (sellable = qty - sold - blocked)


@dataclass
class Book:
    cash: Decimal = PAPER_CASH
    orders: dict[str, SimOrder] = field(default_factory=dict)
    fills: list[SimFill] = field(default_factory=list)
    holdings: dict[str, SimHolding] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    working: set[str] = field(default_factory=set)  # order numbers not yet terminal
    net: dict[tuple[str, str], int] = field(default_factory=dict)  # (symbol, product) -> qty


def _fmt_book(t: datetime) -> str:
    return t.strftime("%d-%b-%Y %H:%M:%S")


def _fmt_hs(t: datetime) -> str:
    return t.strftime("%Y/%m/%d %H:%M:%S")


def _jwt(payload: dict[str, Any]) -> str:
    """A JWT-shaped token (unsigned for paper); the client decodes `exp` from it."""

    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    sig = base64.urlsafe_b64encode(secrets.token_bytes(24)).rstrip(b"=").decode()
    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(payload)}.{sig}"


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
        # The session clock starts 10 minutes after the open so charts have some history.
        self.anchor = wall() - start_seconds / speed
        self.base_url = base_url
        self.users = {u.ucc: u for u in (users or [PAPER_USER])}
        self.books: dict[str, Book] = {}
        self.view_sessions: dict[str, tuple[str, str]] = {}
        self.trade_sessions: dict[str, tuple[str, str]] = {}
        self.order_seq = itertools.count(1)
        self.fill_seq = itertools.count(1)
        self.stats: dict[str, int] = {"logins": 0, "validates": 0, "placed": 0}
        self._owner: dict[str, str] = {}  # order number -> ucc
        self._ranges: dict[str, tuple[int, float, float, float]] = {}  # today's o/h/l so far
        self._closes: dict[str, Decimal] = {}
        self.pinned: dict[str, Decimal] = {}
        self.spot = self.universe.by_symbol["NIFTY 50"]

    # ---------------------------------------------------------------- clock and prices
    def seconds(self) -> float:
        return max(0.0, (self.wall() - self.anchor) * self.speed)

    def now(self) -> datetime:
        return session_minute_time(self.today, 0) + timedelta(seconds=self.seconds())

    def pin(self, symbol: str, price: Decimal | None) -> None:
        """Hold a listing's last price where a test or a demo wants it (None releases it)."""
        if price is None:
            self.pinned.pop(symbol, None)
        else:
            self.pinned[symbol] = price

    def ltp(self, x: Listing, seconds: float | None = None) -> Decimal:
        if x.trading_symbol in self.pinned and seconds is None:
            return self.pinned[x.trading_symbol]
        s = self.seconds() if seconds is None else seconds
        if x.instrument_type == "OPTIDX":
            spot = self.paths.price_at(self.spot, 0, s)
            at = session_minute_time(self.today, 0) + timedelta(seconds=s)
            return price_on_tick(option_price(x, spot, at), x.tick)
        source = self.spot if x.instrument_type == "FUTIDX" else x
        value = self.paths.price_at(source, 0, s)
        if x.instrument_type == "FUTIDX":
            value *= 1.004  # a little carry over spot
        return price_on_tick(value, x.tick)

    def prev_close(self, x: Listing) -> Decimal:
        cached = self._closes.get(x.key)
        if cached is None:
            cached = self._closes[x.key] = self._prev_close(x)
        return cached

    def _prev_close(self, x: Listing) -> Decimal:
        if x.instrument_type == "OPTIDX":
            close_spot = self.paths.minute_path(self.spot, -1, SESSION_MINUTES)[-1]
            at = session_minute_time(self.today - timedelta(days=1), SESSION_MINUTES)
            return price_on_tick(option_price(x, float(close_spot), at), x.tick)
        source = self.spot if x.instrument_type == "FUTIDX" else x
        return price_on_tick(self.paths.daily_bar(source, -1)[3], x.tick)

    # ---------------------------------------------------------------- sessions
    def book(self, ucc: str) -> Book:
        book = self.books.get(ucc)
        if book is None:
            book = self.books[ucc] = Book()
            for sym, qty, ratio in demo_holdings(self.universe):
                x = self.universe.by_symbol[f"{sym}-EQ"]
                avg = price_on_tick(float(x.base_price * Decimal(ratio)), x.tick)
                book.holdings[x.trading_symbol] = SimHolding(qty, avg)
        return book

    def login(self, consumer_key: str, body: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(body.get("ucc", "")))
        if user is None or user.consumer_key != consumer_key:
            return {"error": [{"code": "10020", "message": "Invalid UCC or consumer key"}]}
        if str(body.get("mobileNumber", "")) != user.mobile:
            return {"error": [{"code": "10021", "message": "Invalid mobile number"}]}
        if not pyotp.TOTP(user.totp_secret).verify(str(body.get("totp", "")), valid_window=1):
            return {"error": [{"code": "10022", "message": "Invalid TOTP"}]}
        token, sid = _jwt({"sub": user.ucc, "kType": "View"}), secrets.token_hex(16)
        self.view_sessions[token] = (user.ucc, sid)
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
        session = self.view_sessions.get(view_token)
        if session is None or session[1] != view_sid:
            return {"error": [{"code": "10030", "message": "Invalid view session"}]}
        user = self.users[session[0]]
        if user.consumer_key != consumer_key:
            return {"error": [{"code": "10020", "message": "Invalid consumer key"}]}
        if str(body.get("mpin", "")) != user.mpin:
            return {"error": [{"code": "10031", "message": "Invalid MPIN"}]}
        del self.view_sessions[view_token]
        expiry = int(next_midnight_ist().timestamp())
        token = _jwt(
            {
                "sub": user.ucc,
                "ucc": user.ucc,
                "exp": expiry,
                "iat": int(_time.time()),
                "scope": "trade",
            }
        )
        sid = secrets.token_hex(16)
        self.trade_sessions[token] = (user.ucc, sid)
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
                "feedUrl": self.base_url + "/feed",
                "rtUrl": self.base_url + "/realtime",
            }
        }

    def session_user(self, auth: str | None, sid: str | None) -> str:
        session = self.trade_sessions.get(auth or "")
        if session is None or session[1] != sid:
            raise SessionInvalid
        return session[0]

    def revoke(self, ucc: str | None = None) -> int:
        stale = [t for t, (u, _) in self.trade_sessions.items() if ucc in (None, u)]
        for t in stale:
            del self.trade_sessions[t]
        return len(stale)

    # ---------------------------------------------------------------- orders
    def _listing(self, seg: str, ts: str) -> Listing:
        x = self.universe.by_symbol.get(ts)
        if x is None or x.segment != seg or x.instrument_type == "INDEX":
            raise SimError(1007, f"Invalid trading symbol {ts} for {seg}", "bad request")
        return x

    def place(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        missing = [
            k
            for k in ("am", "dq", "es", "mp", "pc", "pr", "pt", "qt", "rt", "tp", "ts", "tt")
            if k not in j
        ]
        if missing:
            raise SimError(1007, f"body invalid: missing {','.join(missing)}", "bad request")
        if any(j[k] == "" for k in ("dq", "pr", "tp", "qt")):
            raise SimError(5202, "Error: Invalid Request")
        x = self._listing(str(j["es"]), str(j["ts"]))
        side, pt, prod, rt = str(j["tt"]), str(j["pt"]), str(j["pc"]), str(j["rt"])
        if side not in ("B", "S") or pt not in ("L", "MKT", "SL", "SL-M"):
            raise SimError(1007, "body invalid: tt/pt", "bad request")
        if prod not in ("CNC", "NRML", "MIS", "MTF") or rt not in ("DAY", "IOC"):
            raise SimError(1007, "body invalid: pc/rt", "bad request")
        qty, price, trigger = self._qty_price(x, j, pt)
        book = self.book(ucc)
        tag = j.get("ig")
        if tag is not None:
            tag = str(tag)
            if self.unique_tags and tag in book.tags:
                raise SimError(5204, "Client OrderID already exists")
        now = self.now()
        no = f"{self.today:%y%m%d}{next(self.order_seq):09d}"
        order = SimOrder(
            no,
            tag,
            x.trading_symbol,
            x.segment,
            x.token,
            side,
            qty,
            price,
            trigger,
            pt,
            prod,
            rt,
            now,
        )
        for st in ("put order req received", "validation pending", "open pending"):
            order.history.append((st, now))
        if tag is not None:
            book.tags.add(tag)
        book.orders[no] = order
        self._owner[no] = ucc
        self.stats["placed"] += 1
        reason = self._rms(book, x, order)
        if reason:
            self._set(order, "rejected", now)
            order.rej = reason
        else:
            self._set(order, "trigger pending" if pt in ("SL", "SL-M") else "open", now)
            self._try_fill(book, x, order, entry=True)
        return {"stat": "Ok", "nOrdNo": no, "stCode": 200, "tid": f"server5_{no[-5:]}"}

    def _qty_price(self, x: Listing, j: dict[str, Any], pt: str) -> tuple[int, Decimal, Decimal]:
        try:
            qty = int(str(j["qt"]))
            price = to_decimal(j["pr"])
            trigger = to_decimal(j["tp"])
        except ValueError as exc:
            raise SimError(1009, "please provide valid quantity") from exc
        if qty <= 0 or qty % x.lot_size:
            raise SimError(1009, f"please provide valid quantity (lot size {x.lot_size})")
        if qty > x.freeze_qty:
            raise SimError(1009, f"Quantity exceeds freeze limit {x.freeze_qty}")
        if pt in ("L", "SL") and (price <= 0 or not on_tick(price, x.tick)):
            raise SimError(1009, f"please provide valid price (tick {x.tick})")
        if pt in ("SL", "SL-M") and (trigger <= 0 or not on_tick(trigger, x.tick)):
            raise SimError(1009, "please provide valid trigger price")
        return qty, price, trigger

    def _margin(
        self, book: Book, x: Listing, side: str, qty: int, price: Decimal, prod: str
    ) -> Decimal:
        held = self._net(book, x, prod)
        if (side == "S" and held >= qty) or (side == "B" and -held >= qty):
            return ZERO  # closing an existing position frees margin
        if x.segment == "nse_cm":
            if side == "S" and prod == "CNC":
                return ZERO
            value = price * qty
            return value if prod == "CNC" else (value * MIS_MARGIN).quantize(Decimal("0.01"))
        spot = self.ltp(self.spot)
        if x.instrument_type == "OPTIDX":
            if side == "B":
                return price * qty
            return (spot * qty * SHORT_OPTION_MARGIN).quantize(Decimal("0.01"))
        return (price * qty * FUTURES_MARGIN).quantize(Decimal("0.01"))

    def _rms(self, book: Book, x: Listing, o: SimOrder) -> str:
        price = o.price if o.pt in ("L", "SL") else self.ltp(x)
        if x.segment == "nse_cm" and o.side == "S" and o.prod == "CNC":
            if o.qty > self._sellable(book, x):
                return "RMS:Rule: Check holdings, Insufficient holdings"
            return ""
        need = self._margin(book, x, o.side, o.qty, price, o.prod)
        avail = self.available(book)
        if need > avail:
            return f"RMS:Margin Exceeds,Required:{need:.2f}, Available:{avail:.2f}"
        return ""

    def _sellable(self, book: Book, x: Listing) -> int:
        h = book.holdings.get(x.trading_symbol)
        held = (h.qty - h.sold) if h else 0
        bought = self._net(book, x, "CNC") if x.segment == "nse_cm" else 0
        return held + max(bought, 0) - self._blocked(book, x.trading_symbol)

    def _blocked(self, book: Book, ts: str) -> int:
        return sum(
            o.qty - o.filled
            for o in map(book.orders.__getitem__, book.working)
            if o.ts == ts and o.side == "S" and o.prod == "CNC"
        )

    def _net(self, book: Book, x: Listing, prod: str) -> int:
        return book.net.get((x.trading_symbol, prod), 0)

    def _set(self, o: SimOrder, status: str, at: datetime) -> None:
        o.status = status
        o.history.append((status, at))
        book = self.books.get(self._owner.get(o.no, ""))
        if book is not None:
            if status in TERMINAL:
                book.working.discard(o.no)
            else:
                book.working.add(o.no)

    def _try_fill(self, book: Book, x: Listing, o: SimOrder, entry: bool = False) -> None:
        if o.status in TERMINAL:
            return
        ltp = self.ltp(x)
        if o.status == "trigger pending":
            hit = ltp >= o.trigger if o.side == "B" else ltp <= o.trigger
            if not hit:
                return
            self._set(o, "open", self.now())
        if o.pt in ("MKT", "SL-M"):
            fill = ltp
        elif (o.side == "B" and ltp <= o.price) or (o.side == "S" and ltp >= o.price):
            fill = ltp if entry else o.price
        else:
            if o.validity == "IOC":
                self._set(o, "cancelled", self.now())
            return
        self._fill(book, x, o, o.qty - o.filled, fill)

    def _fill(self, book: Book, x: Listing, o: SimOrder, qty: int, price: Decimal) -> None:
        now = self.now()
        total = o.avg * o.filled + price * qty
        o.filled += qty
        o.avg = (total / o.filled).quantize(Decimal("0.01"))
        book.fills.append(
            SimFill(
                f"{next(self.fill_seq):08d}",
                o.no,
                o.ts,
                o.seg,
                o.tok,
                o.side,
                qty,
                price,
                o.prod,
                o.tag,
                now,
            )
        )
        key = (o.ts, o.prod)
        book.net[key] = book.net.get(key, 0) + (qty if o.side == "B" else -qty)
        amount = price * qty
        book.cash += amount if o.side == "S" else -amount
        if o.side == "S" and o.prod == "CNC" and x.segment == "nse_cm":
            h = book.holdings.get(o.ts)
            if h is not None:
                h.sold += min(qty, h.qty - h.sold)
        if o.filled >= o.qty:
            self._set(o, "complete", now)

    def match(self, ucc: str) -> None:
        """Fill whatever the market has crossed since the last look."""
        book = self.book(ucc)
        for no in sorted(book.working):
            o = book.orders[no]
            self._try_fill(book, self.universe.by_symbol[o.ts], o)

    def _order(self, ucc: str, no: str) -> SimOrder:
        o = self.book(ucc).orders.get(no)
        if o is None:
            raise SimError(1020, "please provide valid order number")
        if o.status in TERMINAL:
            raise SimError(1021, "order is completed", "please provide valid order number")
        return o

    def modify(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        self.match(ucc)
        o = self._order(ucc, str(j.get("no", "")))
        x = self.universe.by_symbol[o.ts]
        pt = str(j.get("pt", o.pt))
        qty, price, trigger = self._qty_price(
            x, {"qt": j.get("qt", o.qty), "pr": j.get("pr", "0"), "tp": j.get("tp", "0")}, pt
        )
        if qty < o.filled:
            raise SimError(1009, "quantity below filled quantity")
        o.qty, o.price, o.trigger, o.pt = qty, price, trigger, pt
        o.validity = str(j.get("vd", o.validity))
        self._set(o, "modified", self.now())
        self._set(o, "open", self.now())
        self._try_fill(self.book(ucc), x, o, entry=True)
        return {"stat": "Ok", "nOrdNo": o.no, "stCode": 200}

    def cancel(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        self.match(ucc)
        o = self._order(ucc, str(j.get("on", "")))
        self._set(o, "cancelled", self.now())
        return {"stat": "Ok", "nOrdNo": o.no, "stCode": 200}

    # ---------------------------------------------------------------- reports
    def _order_row(
        self, o: SimOrder, status: str | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        x = self.universe.by_symbol[o.ts]
        at = at or (o.history[-1][1] if o.history else o.created)
        st = status or o.status
        return {
            "nOrdNo": o.no,
            "exOrdId": f"1{o.no[-15:]}" if st != "rejected" else "",
            "ordSt": st,
            "stat": st,
            "rejRsn": o.rej if st == "rejected" else "--",
            "qty": o.qty,
            "fldQty": o.filled,
            "unFldSz": 0 if o.status in TERMINAL else o.qty - o.filled,
            "cnlQty": o.qty - o.filled if o.status == "cancelled" else 0,
            "avgPrc": f"{o.avg:.2f}",
            "prc": f"{o.price:.2f}",
            "trgPrc": f"{o.trigger:.2f}",
            "prcTp": o.pt,
            "trnsTp": o.side,
            "prod": o.prod,
            "vldt": o.validity,
            "exSeg": o.seg,
            "tok": o.tok,
            "trdSym": o.ts,
            "sym": x.name,
            "series": x.series,
            "optTp": x.option_type or "--",
            "stkPrc": f"{x.strike or 0:.2f}",
            "expDt": f"{x.expiry:%d %b, %Y}" if x.expiry else "NA",
            "GuiOrdId": o.tag or "",
            "ordDtTm": _fmt_book(o.created),
            "ordEntTm": _fmt_book(o.created),
            "exCfmTm": _fmt_book(at),
            "hsUpTm": _fmt_hs(at),
            "boeSec": int(at.timestamp()),
            "updRecvTm": int(at.timestamp() * 1e9),
            "lotSz": str(x.lot_size),
            "tckSz": f"{x.tick:.4f}",
            "multiplier": "1",
            "precision": "2",
            "dscQty": 0,
            "mktPro": "0",
            "ordSrc": "NEOTRADEAPI",
            "brdLtQty": x.lot_size,
        }

    def order_book(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        return [self._order_row(o) for o in self.book(ucc).orders.values()]

    def all_orders(self) -> list[dict[str, Any]]:
        """Every order of every user, plainly: the ground truth tests compare the client with."""
        rows: list[dict[str, Any]] = []
        for ucc in list(self.books):
            self.match(ucc)
            rows.extend(
                {
                    "no": o.no,
                    "tag": o.tag,
                    "ts": o.ts,
                    "tt": o.side,
                    "qty": o.qty,
                    "status": o.status,
                    "pt": o.pt,
                    "price": str(o.price),
                    "prod": o.prod,
                    "ucc": ucc,
                }
                for o in self.books[ucc].orders.values()
            )
        return rows

    def order_history(self, ucc: str, no: str) -> list[dict[str, Any]]:
        self.match(ucc)
        o = self.book(ucc).orders.get(no)
        if o is None:
            return []
        rows = []
        for st, at in reversed(o.history):
            row = self._order_row(o, st, at)
            row.update(
                {
                    "exch": "NSE",
                    "exchTmstp": at.strftime("%d-%b-%Y %H: %M: %S"),
                    "ordDur": o.validity,
                    "exchOrdId": row["exOrdId"],
                }
            )
            rows.append(row)
        return rows

    def trades(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        rows = []
        for f in self.book(ucc).fills:
            rows.append(
                {
                    "nOrdNo": f.no,
                    "exOrdId": f"1{f.no}",
                    "flId": f.fill_id,
                    "flLeg": 1,
                    "fldQty": f.qty,
                    "avgPrc": f"{f.price:.2f}",
                    "flDt": f.at.strftime("%d-%b-%Y"),
                    "flTm": f.at.strftime("%H:%M:%S"),
                    "exTm": _fmt_book(f.at),
                    "trnsTp": f.side,
                    "prcTp": "L",
                    "prod": f.prod,
                    "exSeg": f.seg,
                    "trdSym": f.ts,
                    "tok": "",
                    "sym": self.universe.by_symbol[f.ts].name,
                    "GuiOrdId": f.tag or "",
                    "rptTp": "fill",
                    "qty": 0,
                    "lotSz": "1",
                    "multiplier": "1",
                    "precision": "2",
                    "hsUpTm": _fmt_hs(f.at),
                    "boeSec": int(f.at.timestamp()),
                }
            )
        return rows

    def positions(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        agg: dict[tuple[str, str], dict[str, Any]] = {}
        for f in self.book(ucc).fills:
            row = agg.setdefault((f.ts, f.prod), {"b": 0, "s": 0, "ba": ZERO, "sa": ZERO, "f": f})
            if f.side == "B":
                row["b"] += f.qty
                row["ba"] += f.price * f.qty
            else:
                row["s"] += f.qty
                row["sa"] += f.price * f.qty
        rows = []
        for (ts, prod), a in agg.items():
            x = self.universe.by_symbol[ts]
            rows.append(
                {
                    "exSeg": x.segment,
                    "tok": x.token,
                    "trdSym": ts,
                    "sym": x.name,
                    "prod": prod,
                    "series": x.series,
                    "optTp": x.option_type or "--",
                    "type": x.instrument_type or "EQ",
                    "stkPrc": f"{x.strike or 0:.2f}",
                    "expDt": f"{x.expiry:%d %b, %Y}" if x.expiry else "NA",
                    "flBuyQty": str(a["b"]),
                    "flSellQty": str(a["s"]),
                    "cfBuyQty": "0",
                    "cfSellQty": "0",
                    "buyAmt": f"{a['ba']:.2f}",
                    "sellAmt": f"{a['sa']:.2f}",
                    "cfBuyAmt": "0.00",
                    "cfSellAmt": "0.00",
                    "lotSz": str(x.lot_size),
                    "brdLtQty": x.lot_size,
                    "multiplier": "1",
                    "precision": "2",
                    "genNum": "1",
                    "genDen": "1",
                    "prcNum": "1",
                    "prcDen": "1",
                    "sqrFlg": "Y",
                    "posFlg": "true",
                    "hsUpTm": _fmt_hs(self.now()),
                    "actId": ucc,
                    "ltp": f"{self.ltp(x):.2f}",
                }
            )
        return rows

    def holdings(self, ucc: str) -> list[dict[str, Any]]:
        self.match(ucc)
        rows = []
        for ts, h in self.book(ucc).holdings.items():
            x = self.universe.by_symbol[ts]
            if h.qty - h.sold <= 0:
                continue
            qty = h.qty - h.sold
            ltp = float(self.ltp(x))
            rows.append(
                {
                    "displaySymbol": x.name,
                    "symbol": x.name,
                    "averagePrice": float(h.avg),
                    "quantity": qty,
                    "sellableQuantity": max(qty - self._blocked(self.book(ucc), ts), 0),
                    "exchangeSegment": "nse_cm",
                    "exchangeIdentifier": x.token,
                    "instrumentToken": 8000 + int(x.token) % 1000,
                    "instrumentType": "Equity",
                    "holdingCost": float(h.avg * qty),
                    "mktValue": round(ltp * qty, 2),
                    "closingPrice": float(self.prev_close(x)),
                    "scripId": x.token,
                    "isAlternateScrip": False,
                }
            )
        return rows

    def margin_used(self, book: Book) -> Decimal:
        used = ZERO
        spot = self.ltp(self.spot)
        fo = {ts for (ts, _prod) in book.net if self.universe.by_symbol[ts].segment == "nse_fo"}
        for ts in fo:
            x = self.universe.by_symbol[ts]
            net = self._net(book, x, "NRML") + self._net(book, x, "MIS")
            if net < 0:
                rate = SHORT_OPTION_MARGIN if x.instrument_type == "OPTIDX" else FUTURES_MARGIN
                used += spot * -net * rate
            elif net > 0 and x.instrument_type == "FUTIDX":
                used += spot * net * FUTURES_MARGIN
        return used.quantize(Decimal("0.01"))

    def available(self, book: Book) -> Decimal:
        return book.cash - self.margin_used(book)

    def limits(self, ucc: str) -> dict[str, Any]:
        self.match(ucc)
        book = self.book(ucc)
        used = self.margin_used(book)
        return {
            "Net": f"{book.cash - used:.2f}",
            "MarginUsed": f"{used:.2f}",
            "CollateralValue": f"{book.cash:.2f}",
            "Collateral": "0.00",
            "RmsCollateral": "0.00",
            "NotionalCash": "0.00",
            "Category": "CLIENT",
            "TimeStamp": str(int(_time.time() * 1000)),
            "stCode": 200,
            "stat": "Ok",
        }

    def check_margin(self, ucc: str, j: dict[str, Any]) -> dict[str, Any]:
        seg, tok = str(j.get("exSeg", "")), str(j.get("tok", ""))
        x = self.universe.by_key.get(f"{seg}|{tok}")
        if x is None:
            raise SimError(1007, "Invalid token", "bad request")
        book = self.book(ucc)
        price = to_decimal(j.get("prc"))
        if not price:
            price = self.ltp(x)
        need = self._margin(
            book,
            x,
            str(j.get("trnsTp", "B")),
            int(str(j.get("qty", "0"))),
            price,
            str(j.get("prod", "NRML")),
        )
        avail = self.available(book)
        short = max(need - avail, ZERO)
        return {
            "avlCash": f"{avail:.6f}",
            "totMrgnUsd": f"{self.margin_used(book) + need:.6f}",
            "mrgnUsd": f"{self.margin_used(book):.6f}",
            "ordMrgn": f"{need:.6f}",
            "rmsVldtd": "OK" if not short else "NOT_OK",
            "reqdMrgn": f"{need:.6f}",
            "avlMrgn": f"{avail:.6f}",
            "insufFund": f"{short:.6f}",
            "stat": "Ok",
            "stCode": 200,
        }

    # ---------------------------------------------------------------- market data
    def quotes(self, keys: list[str]) -> list[dict[str, Any]]:
        out = []
        for key in keys:
            x = self.universe.by_key.get(key)
            if x is None:
                continue
            ltp, close = self.ltp(x), self.prev_close(x)
            op, hi, lo, volume = self._day_range(x)
            change = ltp - close
            out.append(
                {
                    "exchange_token": x.token,
                    "exchange": x.segment,
                    "display_symbol": x.trading_symbol,
                    "ltp": f"{ltp:.4f}",
                    "last_traded_quantity": str(x.lot_size),
                    "lstup_time": str(int(_time.time())),
                    "last_volume": str(volume),
                    "change": f"{change:.4f}",
                    "per_change": f"{(change * 100 / close) if close else 0:.4f}",
                    "ohlc": {
                        "open": f"{op:.4f}",
                        "high": f"{max(hi, ltp):.4f}",
                        "low": f"{min(lo, ltp):.4f}",
                        "close": f"{close:.4f}",
                    },
                    "low_price_range": f"{close * Decimal('0.8'):.2f}",
                    "high_price_range": f"{close * Decimal('1.2'):.2f}",
                }
            )
        return out

    def _day_range(self, x: Listing) -> tuple[Decimal, Decimal, Decimal, int]:
        """Today's open/high/low so far, extended one new minute at a time (cheap per quote)."""
        minutes = int(self.seconds() // 60)
        done, op, hi, lo = self._ranges.get(x.key, (-1, 0.0, float("-inf"), float("inf")))
        if minutes > done:
            source = self.spot if x.instrument_type in ("OPTIDX", "FUTIDX") else x
            path = self.paths.minute_path(source, 0, minutes)
            for m in range(done + 1, minutes + 1):
                v = float(path[m])
                if x.instrument_type == "OPTIDX":
                    v = option_price(x, v, session_minute_time(self.today, m))
                elif x.instrument_type == "FUTIDX":
                    v *= 1.004
                if m == 0:
                    op = v
                hi, lo = max(hi, v), min(lo, v)
            self._ranges[x.key] = (minutes, op, hi, lo)
        ltp = self.ltp(x)

        def tick(v: float) -> Decimal:
            return price_on_tick(v, x.tick)

        volume = 1000 * max(minutes, 1) * (1 + int(x.token[-1]) if x.token[-1].isdigit() else 1)
        return tick(op), max(tick(hi), ltp), min(tick(lo), ltp), volume

    def _bar_from(
        self, x: Listing, path: list[float], day: date, minute0: int, minutes: int
    ) -> tuple[datetime, Decimal, Decimal, Decimal, Decimal, int]:
        seg = path[minute0 : minute0 + minutes + 1]
        t = session_minute_time(day, minute0)

        def p(v: float) -> Decimal:
            return price_on_tick(v, x.tick)

        vol = 1000 * minutes * (1 + int(abs(seg[-1] - seg[0]) * 10) % 7)
        return t, p(seg[0]), p(max(seg)), p(min(seg)), p(seg[-1]), vol

    def _path(self, x: Listing, day: int, minutes: int) -> list[float]:
        source = self.spot if x.instrument_type in ("OPTIDX", "FUTIDX") else x
        spot = [float(v) for v in self.paths.minute_path(source, day, minutes)]
        if x.instrument_type == "FUTIDX":
            return [v * 1.004 for v in spot]
        if x.instrument_type == "OPTIDX":
            day_date = self._day_date(day)
            return [
                option_price(x, v, session_minute_time(day_date, i)) for i, v in enumerate(spot)
            ]
        return spot

    def _day_date(self, day: int) -> date:
        d, n = self.today, 0
        while n > day:
            d -= timedelta(days=1)
            if d.weekday() < 5:
                n -= 1
        return d

    def intraday(self, x: Listing, day: int = 0, interval: int = 1) -> list[Any]:
        minutes = int(self.seconds() // 60) if day == 0 else SESSION_MINUTES
        if minutes <= 0:
            return []
        path = self._path(x, day, minutes)
        d = self._day_date(day)
        return [
            self._bar_from(x, path, d, m, min(interval, minutes - m))
            for m in range(0, minutes, interval)
        ]

    def daily(self, x: Listing, day: int) -> Any:
        minutes = SESSION_MINUTES if day < 0 else max(int(self.seconds() // 60), 1)
        path = self._path(x, day, minutes)
        t, o, h, low, c, _ = self._bar_from(x, path, self._day_date(day), 0, minutes)
        return (t.replace(hour=0, minute=0), o, h, low, c, 1000 * (abs(day) % 97 + 500))

    def historical(self, key: str, interval: str, start: date, end: date) -> list[list[Any]]:
        x = self.universe.by_key.get(key)
        if x is None:
            raise SimError(400, "Invalid neosymbol")
        minutes = {
            "1min": 1,
            "3min": 3,
            "5min": 5,
            "10min": 10,
            "15min": 15,
            "30min": 30,
            "60min": 60,
        }
        if interval not in minutes and interval not in ("D", "W"):
            raise SimError(400, "Invalid interval value")
        days: list[int] = []
        d, n = self.today, 0
        while d >= start:
            if (d.weekday() < 5 or d == self.today) and d <= end:
                days.append(n)
            d -= timedelta(days=1)
            if d.weekday() < 5:
                n -= 1
        if x.instrument_type == "OPTIDX":
            days = [n for n in days if n >= -20]  # options listed recently
        bars: list[Any] = []
        for n in reversed(days):
            if interval in ("D", "W"):
                bars.append(self.daily(x, n))
            else:
                bars.extend(self.intraday(x, n, minutes[interval]))
        return [
            [t.strftime("%Y-%m-%dT%H:%M:%S+0530"), float(o), float(h), float(lo), float(c), v, 0]
            for t, o, h, lo, c, v in bars
        ]

    def scrip_csv(self, name: str) -> str:
        segment = name.replace("-v1", "")
        return scrip_master_csv(self.universe, segment)

    # ---------------------------------------------------------------- persistence (paper mode)
    def snapshot(self) -> dict[str, Any]:
        def book_dict(b: Book) -> dict[str, Any]:
            return {
                "cash": str(b.cash),
                "tags": sorted(b.tags),
                "orders": [_order_dict(o) for o in b.orders.values()],
                "fills": [_fill_dict(f) for f in b.fills],
                "holdings": {k: [h.qty, str(h.avg), h.sold] for k, h in b.holdings.items()},
            }

        return {
            "version": 1,
            "today": self.today.isoformat(),
            "anchor": self.anchor,
            "order_seq": self._peek(self.order_seq),
            "fill_seq": self._peek(self.fill_seq),
            "books": {u: book_dict(b) for u, b in self.books.items()},
        }

    @staticmethod
    def _peek(counter: itertools.count[int]) -> int:
        return int(repr(counter)[6:-1])

    def restore(self, state: dict[str, Any]) -> None:
        """Continue a paper session; on a new day, fills settle into holdings (T+1, simplified)."""
        same_day = state.get("today") == self.today.isoformat()
        if same_day:
            self.anchor = float(state["anchor"])
            self.order_seq = itertools.count(int(state["order_seq"]))
            self.fill_seq = itertools.count(int(state["fill_seq"]))
        for ucc, b in state.get("books", {}).items():
            book = Book(cash=Decimal(b["cash"]))
            for k, (qty, avg, sold) in b["holdings"].items():
                book.holdings[k] = SimHolding(int(qty), Decimal(avg), int(sold))
            fills = [_fill_from(f) for f in b["fills"]]
            if same_day:
                book.tags = set(b["tags"])
                book.orders = {o["no"]: _order_from(o) for o in b["orders"]}
                book.fills = fills
                for o in book.orders.values():
                    self._owner[o.no] = ucc
                    if o.status not in TERMINAL:
                        book.working.add(o.no)
                for f in fills:
                    key = (f.ts, f.prod)
                    book.net[key] = book.net.get(key, 0) + (f.qty if f.side == "B" else -f.qty)
            else:
                _settle(book, fills)
            self.books[ucc] = book


def _order_dict(o: SimOrder) -> dict[str, Any]:
    d = asdict(o)
    for k in ("price", "trigger", "avg"):
        d[k] = str(d[k])
    d["created"] = o.created.isoformat()
    d["history"] = [[s, t.isoformat()] for s, t in o.history]
    return d


def _order_from(d: dict[str, Any]) -> SimOrder:
    d = dict(d)
    for k in ("price", "trigger", "avg"):
        d[k] = Decimal(d[k])
    d["created"] = datetime.fromisoformat(d["created"])
    d["history"] = [(s, datetime.fromisoformat(t)) for s, t in d["history"]]
    return SimOrder(**d)


def _fill_dict(f: SimFill) -> dict[str, Any]:
    d = asdict(f)
    d["price"], d["at"] = str(f.price), f.at.isoformat()
    return d


def _fill_from(d: dict[str, Any]) -> SimFill:
    d = dict(d)
    d["price"], d["at"] = Decimal(d["price"]), datetime.fromisoformat(d["at"])
    return SimFill(**d)


def _settle(book: Book, fills: list[SimFill]) -> None:
    """Overnight: CNC equity buys join holdings; sold quantity leaves them."""
    for held in book.holdings.values():
        held.qty -= held.sold
        held.sold = 0
    for f in fills:
        if f.seg != "nse_cm" or f.prod != "CNC" or f.side != "B":
            continue
        h = book.holdings.get(f.ts)
        if h is None:
            book.holdings[f.ts] = SimHolding(f.qty, f.price)
        else:
            total = h.avg * h.qty + f.price * f.qty
            h.qty += f.qty
            h.avg = (total / h.qty).quantize(Decimal("0.01"))
    for k in [k for k, h in book.holdings.items() if h.qty <= 0]:
        del book.holdings[k]


__all__ = ["IST", "PAPER_USER", "Exchange", "SessionInvalid", "SimError", "SimUser"]
