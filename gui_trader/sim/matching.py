"""Order entry on paper: the broker's placement rules, RMS margin checks, fills, modify and cancel.

Matching is lazy: an account's working orders are checked against the market whenever that
account is touched, which keeps it deterministic and free of background tasks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from gui_trader.core.limits import PRODUCTS_BY_SEGMENT
from gui_trader.core.money import ZERO, on_tick, to_decimal
from gui_trader.sim.errors import SimError
from gui_trader.sim.market_data import Market
from gui_trader.sim.state import AMO_WAITING, TERMINAL, Book, SimFill, SimOrder
from gui_trader.sim.universe import Listing

SHORT_OPTION_MARGIN = Decimal("0.09")
FUTURES_MARGIN = Decimal("0.12")
MIS_MARGIN = Decimal("0.20")
PLACE_FIELDS = ("am", "dq", "es", "mp", "pc", "pr", "pt", "qt", "rt", "tp", "ts", "tt")
ORDER_TYPES = ("L", "MKT", "SL", "SL-M")
VALIDITIES = ("DAY", "IOC")
# The reference's refusal of a request that fails validation (§2.3): HTTP 200, stat Not_Ok.
INVALID = 5202
BAD_QTY = 1009  # "please provide valid quantity" (§2.3)


def invalid(detail: str) -> SimError:
    """A request the OMS refuses before it becomes an order: stCode 5202, with the reason."""
    return SimError(INVALID, f"Error: Invalid Request: {detail}")


def check_product(seg: str, prod: str) -> None:
    """Cash takes CNC/MIS/MTF, F&O NRML/MIS (the client offers the same: core/limits.py)."""
    allowed = PRODUCTS_BY_SEGMENT.get(seg, ())
    if prod not in allowed:
        raise invalid(f"product {prod} is not allowed on {seg} (allowed: {'/'.join(allowed)})")


def order_terms(x: Listing, j: dict[str, Any], pt: str) -> tuple[int, Decimal, Decimal]:
    """Quantity, price and trigger, refused as the broker refuses them (lot, freeze, tick)."""
    try:
        qty = int(str(j["qt"]))
        price = to_decimal(j["pr"])
        trigger = to_decimal(j["tp"])
    except ValueError as exc:
        raise SimError(BAD_QTY, "please provide valid quantity") from exc
    if qty <= 0 or qty % x.lot_size:
        raise SimError(BAD_QTY, f"please provide valid quantity (lot size {x.lot_size})")
    if qty > x.freeze_qty:
        raise SimError(BAD_QTY, f"please provide valid quantity (freeze limit {x.freeze_qty})")
    if pt in ("L", "SL") and (price <= 0 or not on_tick(price, x.tick)):
        raise invalid(f"please provide valid price (tick {x.tick})")
    if pt in ("SL", "SL-M") and (trigger <= 0 or not on_tick(trigger, x.tick)):
        raise invalid("please provide valid trigger price")
    return qty, price, trigger


class Matcher:
    """Places, fills, modifies and cancels orders in the books; it numbers orders and fills."""

    def __init__(self, market: Market, book: Callable[[str], Book], stats: dict[str, int]) -> None:
        self.market = market
        self.universe = market.universe
        self.book = book  # the account's book, opened on first use
        self.stats = stats
        self.order_seq = itertools.count(1)
        self.fill_seq = itertools.count(1)
        # Whether the market is open now (Exchange.market_open); closed, nothing fills and only
        # after-market orders are taken.
        self.is_open: Callable[[], bool] = lambda: True

    def _listing(self, seg: str, ts: str) -> Listing:
        x = self.universe.by_symbol.get(ts)
        if x is None or x.segment != seg or x.instrument_type == "INDEX":
            raise invalid(f"invalid trading symbol {ts} for {seg}")
        return x

    def place(self, ucc: str, j: dict[str, Any], *, unique_tags: bool) -> SimOrder:
        """Accept (and maybe fill or reject) an order; a refused request raises SimError."""
        missing = [k for k in PLACE_FIELDS if k not in j]
        if missing:
            raise SimError(1007, f"body invalid: missing {','.join(missing)}", "bad request")
        if any(j[k] == "" for k in ("dq", "pr", "tp", "qt")):
            raise SimError(INVALID, "Error: Invalid Request")
        x = self._listing(str(j["es"]), str(j["ts"]))
        side, pt, prod, rt = str(j["tt"]), str(j["pt"]), str(j["pc"]), str(j["rt"])
        if side not in ("B", "S"):
            raise invalid(f"transaction type {side} (B/S)")
        if pt not in ORDER_TYPES:
            raise invalid(f"order type {pt} ({'/'.join(ORDER_TYPES)})")
        if rt not in VALIDITIES:
            raise invalid(f"validity {rt} ({'/'.join(VALIDITIES)})")
        check_product(x.segment, prod)
        qty, price, trigger = order_terms(x, j, pt)
        amo = self._after_market(j)
        book = self.book(ucc)
        tag = j.get("ig")
        if tag is not None:
            tag = str(tag)
            if unique_tags and tag in book.tags:
                raise SimError(5204, "Client OrderID already exists")
        now = self.market.now()
        no = f"{self.market.today:%y%m%d}{next(self.order_seq):09d}"
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
            amo=amo,
        )
        for st in ("put order req received", "validation pending", "open pending"):
            order.history.append((st, now))
        if tag is not None:
            book.tags.add(tag)
        book.orders[no] = order
        self.stats["placed"] += 1
        reason = self._rms(book, x, order)
        if reason:
            book.set_status(order, "rejected", now)
            order.rej = reason
        elif amo:
            book.set_status(order, AMO_WAITING, now)
        else:
            book.set_status(order, "trigger pending" if pt in ("SL", "SL-M") else "open", now)
            self._try_fill(book, x, order, entry=True)
        return order

    def _after_market(self, j: dict[str, Any]) -> bool:
        """True for an after-market order taken while the market is closed; a regular order
        then is refused. During the session an `am` YES order is an ordinary one."""
        am = str(j.get("am", "NO")).upper()
        if am not in ("YES", "NO"):
            raise invalid(f"after market flag {j.get('am')} (YES/NO)")
        if self.is_open():
            return False
        if am != "YES":
            raise invalid("the market is closed: send it as an after-market order (am YES)")
        return True

    def margin(
        self, book: Book, x: Listing, side: str, qty: int, price: Decimal, prod: str
    ) -> Decimal:
        """What one more order would block; closing an open position needs none."""
        held = book.position(x.trading_symbol, prod)
        if (side == "S" and held >= qty) or (side == "B" and -held >= qty):
            return ZERO  # closing an existing position frees margin
        if x.segment == "nse_cm":
            if side == "S" and prod == "CNC":
                return ZERO
            value = price * qty
            return value if prod == "CNC" else (value * MIS_MARGIN).quantize(Decimal("0.01"))
        spot = self.market.ltp(self.market.spot)
        if x.instrument_type == "OPTIDX":
            if side == "B":
                return price * qty
            return (spot * qty * SHORT_OPTION_MARGIN).quantize(Decimal("0.01"))
        return (price * qty * FUTURES_MARGIN).quantize(Decimal("0.01"))

    def margin_used(self, book: Book) -> Decimal:
        """Margin the open F&O positions hold at today's spot."""
        used = ZERO
        spot = self.market.ltp(self.market.spot)
        fo = {ts for (ts, _prod) in book.net if self.universe.by_symbol[ts].segment == "nse_fo"}
        for ts in fo:
            x = self.universe.by_symbol[ts]
            net = book.position(ts, "NRML") + book.position(ts, "MIS")
            if net < 0:
                rate = SHORT_OPTION_MARGIN if x.instrument_type == "OPTIDX" else FUTURES_MARGIN
                used += spot * -net * rate
            elif net > 0 and x.instrument_type == "FUTIDX":
                used += spot * net * FUTURES_MARGIN
        return used.quantize(Decimal("0.01"))

    def available(self, book: Book) -> Decimal:
        return book.cash - self.margin_used(book)

    def margin_check(self, ucc: str, j: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
        """The check-margin request: (needed, available, in use) for the order it describes."""
        seg, tok = str(j.get("exSeg", "")), str(j.get("tok", ""))
        x = self.universe.by_key.get(f"{seg}|{tok}")
        if x is None:
            raise invalid("invalid token")
        check_product(x.segment, str(j.get("prod", "")))
        book = self.book(ucc)
        price = to_decimal(j.get("prc"))
        if not price:
            price = self.market.ltp(x)
        need = self.margin(
            book,
            x,
            str(j.get("trnsTp", "B")),
            int(str(j.get("qty", "0"))),
            price,
            str(j.get("prod")),
        )
        return need, self.available(book), self.margin_used(book)

    def _rms(self, book: Book, x: Listing, o: SimOrder) -> str:
        """The RMS refusal for a new order, or "" when it may go to the market."""
        price = o.price if o.pt in ("L", "SL") else self.market.ltp(x)
        if x.segment == "nse_cm" and o.side == "S" and o.prod == "CNC":
            if o.qty > self._sellable(book, x):
                return "RMS:Rule: Check holdings, Insufficient holdings"
            return ""
        need = self.margin(book, x, o.side, o.qty, price, o.prod)
        avail = self.available(book)
        if need > avail:
            return f"RMS:Margin Exceeds,Required:{need:.2f}, Available:{avail:.2f}"
        return ""

    def _sellable(self, book: Book, x: Listing) -> int:
        h = book.holdings.get(x.trading_symbol)
        held = (h.qty - h.sold) if h else 0
        bought = book.position(x.trading_symbol, "CNC") if x.segment == "nse_cm" else 0
        return held + max(bought, 0) - book.blocked(x.trading_symbol)

    def _try_fill(self, book: Book, x: Listing, o: SimOrder, entry: bool = False) -> None:
        """Fill `o` if the market has crossed it; a limit entering the book fills at the LTP."""
        if o.status in TERMINAL:
            return
        ltp = self.market.ltp(x)
        if o.status == "trigger pending":
            hit = ltp >= o.trigger if o.side == "B" else ltp <= o.trigger
            if not hit:
                return
            book.set_status(o, "open", self.market.now())
        if o.pt in ("MKT", "SL-M"):
            fill = ltp
        elif (o.side == "B" and ltp <= o.price) or (o.side == "S" and ltp >= o.price):
            fill = ltp if entry else o.price
        else:
            if o.validity == "IOC":
                book.set_status(o, "cancelled", self.market.now())
            return
        self._fill(book, x, o, o.qty - o.filled, fill)

    def _fill(self, book: Book, x: Listing, o: SimOrder, qty: int, price: Decimal) -> None:
        now = self.market.now()
        total = o.avg * o.filled + price * qty
        o.filled += qty
        o.avg = (total / o.filled).quantize(Decimal("0.01"))
        fill = SimFill(
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
        book.fills.append(fill)
        book.count_fill(fill)
        amount = price * qty
        book.cash += amount if o.side == "S" else -amount
        if o.side == "S" and o.prod == "CNC" and x.segment == "nse_cm":
            h = book.holdings.get(o.ts)
            if h is not None:
                h.sold += min(qty, h.qty - h.sold)
        if o.filled >= o.qty:
            book.set_status(o, "complete", now)

    def match(self, ucc: str) -> None:
        """Fill whatever the market has crossed since the last look (nothing while closed);
        after-market orders join the market at its open."""
        if not self.is_open():
            return
        book = self.book(ucc)
        for no in sorted(book.working):
            o = book.orders[no]
            x = self.universe.by_symbol[o.ts]
            if o.status == AMO_WAITING:
                book.set_status(
                    o, "trigger pending" if o.pt in ("SL", "SL-M") else "open", self.market.now()
                )
                self._try_fill(book, x, o, entry=True)
            else:
                self._try_fill(book, x, o)

    def _order(self, ucc: str, no: str) -> SimOrder:
        o = self.book(ucc).orders.get(no)
        if o is None:
            raise invalid(f"please provide valid order number ({no or 'none given'})")
        if o.status in TERMINAL:
            raise SimError(1021, "order is completed", "please provide valid order number")
        return o

    def modify(self, ucc: str, j: dict[str, Any]) -> SimOrder:
        self.match(ucc)
        o = self._order(ucc, str(j.get("no", "")))
        waiting = o.status == AMO_WAITING  # only an AMO can change while the market is closed
        if not waiting and not self.is_open():
            raise invalid("the market is closed: the order cannot be modified until it opens")
        x = self.universe.by_symbol[o.ts]
        pt = str(j.get("pt", o.pt))
        if pt not in ORDER_TYPES:
            raise invalid(f"order type {pt} ({'/'.join(ORDER_TYPES)})")
        if str(j.get("vd", o.validity)) not in VALIDITIES:
            raise invalid(f"validity {j.get('vd')} ({'/'.join(VALIDITIES)})")
        qty, price, trigger = order_terms(
            x, {"qt": j.get("qt", o.qty), "pr": j.get("pr", "0"), "tp": j.get("tp", "0")}, pt
        )
        if qty < o.filled:
            raise SimError(BAD_QTY, "please provide valid quantity (below the filled quantity)")
        o.qty, o.price, o.trigger, o.pt = qty, price, trigger, pt
        o.validity = str(j.get("vd", o.validity))
        book, now = self.book(ucc), self.market.now()
        book.set_status(o, "modified", now)
        if waiting:
            book.set_status(o, AMO_WAITING, now)
            return o
        book.set_status(o, "trigger pending" if pt in ("SL", "SL-M") else "open", now)
        self._try_fill(book, x, o, entry=True)
        return o

    def cancel(self, ucc: str, j: dict[str, Any]) -> SimOrder:
        self.match(ucc)
        o = self._order(ucc, str(j.get("on", "")))
        self.book(ucc).set_status(o, "cancelled", self.market.now())
        return o
