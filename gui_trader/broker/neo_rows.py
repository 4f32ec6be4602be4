"""Broker rows -> core types. The wire mixes ints, strings, "--" and several time formats.

A field we cannot read raises `BadRow` (a `BadReply`) naming the row kind, the field, the value
and the order number when known, so one bad row reads as the broker's fault, never a crash.
Numbers must be finite and of a sane size: a NaN or 1e400 would poison every sum after it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, ParamSpec, TypeVar

from gui_trader.broker.base import BadReply
from gui_trader.core.clock import IST
from gui_trader.core.market_data import Candle, DepthLevel, Quote
from gui_trader.core.money import ZERO, to_decimal
from gui_trader.core.order import Order, OrderStatus, Side, Trade
from gui_trader.core.portfolio import Funds, Holding, MarginCheck, Position

_TIME_FORMATS = (
    "%d-%b-%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%d-%b-%Y %H: %M: %S",
    "%Y-%m-%dT%H:%M:%S%z",
)
# Far beyond any price, amount or volume, far inside what quantize() and int() handle cheaply.
_MAX_WIRE = Decimal("1e15")
_MIN_WIRE = Decimal("1e-30")  # smaller non-zero magnitudes overflow a division downstream
_MAX_EPOCH_DIGITS = 20
_SHOW = 40

P = ParamSpec("P")
R = TypeVar("R")


class BadRow(BadReply, ValueError):
    """One field of one reply row is unreadable.

    Also a ValueError, so callers that skip unreadable rows with `except ValueError` keep
    working; everyone else sees a BadReply, the taxonomy's "broker said something odd".
    """

    def __init__(
        self, message: str, *, kind: str, field: str = "", value: str = "", order_id: str = ""
    ) -> None:
        super().__init__(message)
        self.kind, self.field, self.value, self.order_id = kind, field, value, order_id


def short_repr(value: Any) -> str:
    """The value as a message can show it: short, and never an error of its own."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"<{value.bit_length()}-bit int>"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


class _Where:
    """Which row and field is being read, for the error message."""

    __slots__ = ("kind", "order_id")

    def __init__(self, kind: str, order_id: str = "") -> None:
        self.kind, self.order_id = kind, order_id

    def bad(self, field: str, value: Any, why: str) -> BadRow:
        shown = short_repr(value)
        where = f"{self.kind} (order {self.order_id})" if self.order_id else self.kind
        return BadRow(
            f"unreadable {where}: {field} = {shown} {why}",
            kind=self.kind,
            field=field,
            value=shown,
            order_id=self.order_id,
        )


_ANY = _Where("reply")


def _rows_of(kind: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The safety net under the field checks: whatever slips past them still leaves as a
    BadReply for this kind of row, never a bare ValueError, TypeError or InvalidOperation."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def parse(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except BadReply:
                raise
            except (ValueError, TypeError, ArithmeticError, LookupError, AttributeError) as exc:
                detail = short_repr(str(exc))
                raise BadRow(
                    f"unreadable {kind}: {type(exc).__name__} {detail}", kind=kind
                ) from exc

        return parse

    return wrap


def _mapping(value: Any, where: _Where, field: str = "row") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise where.bad(field, value, "is not an object")
    return value


def as_decimal(value: Any, where: _Where = _ANY, field: str = "value") -> Decimal:
    """A number as the wire sends it: a plain string ("1500.00", "1.485e+07", "--", ""), an
    int, a float or nothing (0). Not a bool, container, NaN, infinity or absurd magnitude."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal | None):
        raise where.bad(field, value, "is not a number")
    if isinstance(value, str) and (not value.isascii() or "_" in value):
        raise where.bad(field, value, "is not a plain number")
    try:
        number = to_decimal(value)
    except ValueError:
        raise where.bad(field, value, "is not a number") from None
    if not number.is_finite():
        raise where.bad(field, value, "is not a finite number")
    if number and not _MIN_WIRE <= abs(number) <= _MAX_WIRE:
        raise where.bad(field, value, "is out of any sane range")
    return number


def as_int(value: Any, where: _Where = _ANY, field: str = "value") -> int:
    """Whole units; a fractional value is truncated toward zero, as it always has been."""
    return int(as_decimal(value, where, field))


def as_str(value: Any, where: _Where = _ANY, field: str = "value") -> str:
    if isinstance(value, Mapping | list | tuple | set):
        raise where.bad(field, value, "is not text")
    try:
        text = "" if value is None else str(value).strip()
    except ValueError:  # an int too long to print
        raise where.bad(field, value, "is not text") from None
    return "" if text in ("--", "NA") else text


def as_order_id(value: Any, where: _Where, field: str = "nOrdNo") -> str:
    """The broker's order number: digits as a string, or an int. A float has already lost
    digits (2.61201000000001e14), so it is refused rather than matched to the wrong order."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value > 0:
            return str(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return text
    if value is None or value == "":
        raise where.bad(field, value, "is missing")
    raise where.bad(field, value, "is not an order number (digits)")


def parse_time(value: Any, where: _Where = _ANY, field: str = "time") -> datetime | None:
    """A time in any of the wire's formats; None when absent or in a format we do not know."""
    text = as_str(value, where, field)
    if not text:
        return None
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_EPOCH_DIGITS:
            return None
        n = int(text)
        seconds = n / 1e9 if n > 10**14 else n
        try:
            return datetime.fromtimestamp(seconds, IST)
        except (OverflowError, OSError, ValueError):
            return None
    return _text_time(text)


@functools.lru_cache(maxsize=4096)
def _text_time(text: str) -> datetime | None:
    """strptime costs ~30 us a try and an order's time is parsed again on every book refresh
    and feed message of that order: the same texts, cached (datetimes are immutable)."""
    for fmt in _TIME_FORMATS:
        try:
            t = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return t if t.tzinfo else t.replace(tzinfo=IST)
    return None


def _factor(row: Mapping[str, Any], key: str, where: _Where, *, divisor: bool = False) -> Decimal:
    value = row.get(key) or 1
    number = as_decimal(value, where, key)
    if divisor and not number:
        raise where.bad(key, value, "is zero (a divisor)")
    return number


def map_status(raw: str, qty: int, filled: int) -> OrderStatus:
    s = raw.strip().lower()
    if s in ("complete", "traded", "filled"):
        return OrderStatus.COMPLETE
    if s == "rejected":
        return OrderStatus.REJECTED
    if s in ("cancelled", "canceled"):
        return OrderStatus.CANCELLED
    # Every other string (open, *pending, modified, trigger pending, unknown ones) is working.
    if 0 < filled < qty:
        return OrderStatus.PARTIALLY_FILLED
    return OrderStatus.OPEN


class RowMemory(Generic[R]):
    """Rows read again parse once: the book and the positions are read again on every
    reconcile and after every burst, and most of their rows have not changed (parsing a row
    costs 50-60 us: 11 ms for a 200-position book on every refresh).

    `fields` are every field the parse reads, and nothing else (a test holds each parse to
    its list): a row with the same values, of the same types, parses to the same (frozen)
    object. Bad rows are never remembered (refused on every read); a row with an unhashable
    value is parsed, and refused, as before."""

    def __init__(self, fields: tuple[str, ...], parse: Callable[[dict[str, Any]], R], most: int):
        self.fields, self.parse, self.most = fields, parse, most
        self._known: dict[tuple[tuple[Any, ...], tuple[type, ...]], R] = {}

    def __call__(self, row: dict[str, Any]) -> R:
        key = None
        if type(row) is dict:
            values = tuple(map(row.get, self.fields))
            key = (values, tuple(map(type, values)))  # 5 and 5.0 are equal keys, not equal rows
            try:
                known = self._known.get(key)
            except TypeError:  # a list or an object where a value belongs: parsed (and refused)
                key, known = None, None
            if known is not None:
                return known
        parsed = self.parse(row)
        if key is not None:
            if len(self._known) >= self.most:
                self._known.clear()
            self._known[key] = parsed
        return parsed


ORDER_FIELDS = (
    "nOrdNo", "qty", "fldQty", "ordSt", "stat", "trdSym", "exSeg", "tok", "trnsTp", "prcTp",
    "prod", "prc", "avgPrc", "trgPrc", "GuiOrdId", "rejRsn", "ordDtTm", "hsUpTm", "vldt",
    "ordDur",
)  # fmt: skip
ORDERS_REMEMBERED = 10_000  # a heavy day's orders, each in two or three states (~5 MB)


@_rows_of("order row")
def _order_from_row(row: dict[str, Any]) -> Order:
    w = _Where("order row")
    row = _mapping(row, w)
    w.order_id = as_order_id(row.get("nOrdNo"), w)
    qty, filled = as_int(row.get("qty"), w, "qty"), as_int(row.get("fldQty"), w, "fldQty")
    raw = as_str(row.get("ordSt") or row.get("stat"), w, "ordSt")
    return Order(
        order_id=w.order_id,
        trading_symbol=as_str(row.get("trdSym"), w, "trdSym"),
        segment=as_str(row.get("exSeg"), w, "exSeg"),
        token=as_str(row.get("tok"), w, "tok"),
        side=_side(row, w),
        qty=qty,
        filled_qty=filled,
        status=map_status(raw, qty, filled),
        order_type=as_str(row.get("prcTp"), w, "prcTp"),
        product=as_str(row.get("prod"), w, "prod"),
        price=as_decimal(row.get("prc"), w, "prc"),
        avg_price=as_decimal(row.get("avgPrc"), w, "avgPrc"),
        trigger_price=as_decimal(row.get("trgPrc"), w, "trgPrc"),
        tag=as_str(row.get("GuiOrdId"), w, "GuiOrdId"),
        reject_reason=as_str(row.get("rejRsn"), w, "rejRsn"),
        raw_status=raw,
        time=parse_time(row.get("ordDtTm") or row.get("hsUpTm"), w, "ordDtTm"),
        validity=as_str(row.get("vldt") or row.get("ordDur"), w, "vldt") or "DAY",
    )


order_from_row = RowMemory(ORDER_FIELDS, _order_from_row, ORDERS_REMEMBERED)
"""An order row of the book or the order feed (BadReply when it cannot be read)."""


def _side(row: Mapping[str, Any], w: _Where) -> Side:
    return Side.BUY if as_str(row.get("trnsTp"), w, "trnsTp").upper().startswith("B") else Side.SELL


@_rows_of("trade row")
def trade_from_row(row: dict[str, Any]) -> Trade:
    w = _Where("trade row")
    row = _mapping(row, w)
    w.order_id = as_order_id(row.get("nOrdNo"), w)
    return Trade(
        order_id=w.order_id,
        fill_id=as_str(row.get("flId"), w, "flId"),
        trading_symbol=as_str(row.get("trdSym"), w, "trdSym"),
        segment=as_str(row.get("exSeg"), w, "exSeg"),
        side=_side(row, w),
        qty=as_int(row.get("fldQty"), w, "fldQty"),
        price=as_decimal(row.get("avgPrc"), w, "avgPrc"),
        tag=as_str(row.get("GuiOrdId"), w, "GuiOrdId"),
        time=parse_time(row.get("exTm") or row.get("hsUpTm"), w, "exTm"),
    )


POSITION_FIELDS = (
    "multiplier", "genNum", "genDen", "prcNum", "prcDen", "trdSym", "exSeg", "tok", "prod",
    "flBuyQty", "cfBuyQty", "flSellQty", "cfSellQty", "buyAmt", "cfBuyAmt", "sellAmt",
    "cfSellAmt", "ltp",
)  # fmt: skip
HOLDING_FIELDS = (
    "symbol", "displaySymbol", "averagePrice", "exchangeSegment", "exchangeIdentifier",
    "quantity", "sellableQuantity", "closingPrice",
)  # fmt: skip
ROWS_REMEMBERED = 5_000  # positions or holdings, each in several states


@_rows_of("position row")
def _position_from_row(row: dict[str, Any]) -> Position:
    w = _Where("position row")
    row = _mapping(row, w)
    nf = (
        _factor(row, "multiplier", w)
        * _factor(row, "genNum", w)
        / _factor(row, "genDen", w, divisor=True)
        * _factor(row, "prcNum", w)
        / _factor(row, "prcDen", w, divisor=True)
    )
    if nf and not _MIN_WIRE <= abs(nf) <= _MAX_WIRE:
        raise w.bad("multiplier", nf, "(multiplier x genNum/genDen x prcNum/prcDen) is absurd")

    def d(key: str) -> Decimal:
        return as_decimal(row.get(key), w, key)

    def n(key: str) -> int:
        return as_int(row.get(key), w, key)

    return Position(
        trading_symbol=as_str(row.get("trdSym"), w, "trdSym"),
        segment=as_str(row.get("exSeg"), w, "exSeg"),
        token=as_str(row.get("tok"), w, "tok"),
        product=as_str(row.get("prod"), w, "prod"),
        buy_qty=n("flBuyQty") + n("cfBuyQty"),
        sell_qty=n("flSellQty") + n("cfSellQty"),
        buy_amount=d("buyAmt") + d("cfBuyAmt"),
        sell_amount=d("sellAmt") + d("cfSellAmt"),
        multiplier=nf or Decimal(1),
        ltp=d("ltp"),
    )


position_from_row = RowMemory(POSITION_FIELDS, _position_from_row, ROWS_REMEMBERED)


@_rows_of("holding row")
def _holding_from_row(row: dict[str, Any]) -> Holding:
    w = _Where("holding row")
    row = _mapping(row, w)
    symbol = as_str(row.get("symbol") or row.get("displaySymbol"), w, "symbol")
    avg = row.get("averagePrice")
    return Holding(
        symbol=symbol,
        trading_symbol=f"{symbol}-EQ",  # resolved against the scrip master by token when needed
        segment=as_str(row.get("exchangeSegment"), w, "exchangeSegment") or "nse_cm",
        token=as_str(row.get("exchangeIdentifier"), w, "exchangeIdentifier"),
        qty=as_int(row.get("quantity"), w, "quantity"),
        sellable_qty=as_int(row.get("sellableQuantity"), w, "sellableQuantity"),
        avg_price=as_decimal(
            repr(avg) if isinstance(avg, float) else avg, w, "averagePrice"
        ).quantize(Decimal("0.0001")),
        close_price=as_decimal(row.get("closingPrice", 0), w, "closingPrice"),
    )


holding_from_row = RowMemory(HOLDING_FIELDS, _holding_from_row, ROWS_REMEMBERED)


@_rows_of("limits reply")
def funds_from_reply(body: dict[str, Any]) -> Funds:
    w = _Where("limits reply")
    body = _mapping(body, w, "reply")
    return Funds(
        available=as_decimal(body.get("Net"), w, "Net"),
        margin_used=as_decimal(body.get("MarginUsed"), w, "MarginUsed"),
        collateral=as_decimal(body.get("CollateralValue"), w, "CollateralValue"),
    )


@_rows_of("margin reply")
def margin_from_reply(body: dict[str, Any]) -> MarginCheck:
    w = _Where("margin reply")
    data = _mapping(_mapping(body, w, "reply").get("data", body), w, "data")
    required = as_decimal(data.get("reqdMrgn") or data.get("ordMrgn"), w, "reqdMrgn")
    short = as_decimal(data.get("insufFund"), w, "insufFund")
    return MarginCheck(
        required=required.quantize(Decimal("0.01")),
        available=as_decimal(data.get("avlCash"), w, "avlCash").quantize(Decimal("0.01")),
        ok=str(data.get("rmsVldtd", "")).upper() == "OK" and short <= 0,
        shortfall=short.quantize(Decimal("0.01")),
    )


@_rows_of("quote row")
def quote_from_row(row: dict[str, Any]) -> Quote:
    w = _Where("quote row")
    row = _mapping(row, w)
    ohlc = _mapping(row.get("ohlc") or {}, w, "ohlc")
    cent = Decimal("0.01")

    def price(value: Any, field: str) -> Decimal:
        return as_decimal(value, w, field).quantize(cent)

    return Quote(
        segment=as_str(row.get("exchange"), w, "exchange"),
        token=as_str(row.get("exchange_token"), w, "exchange_token"),
        symbol=as_str(row.get("display_symbol"), w, "display_symbol"),
        ltp=price(row.get("ltp"), "ltp"),
        prev_close=price(ohlc.get("close"), "ohlc.close"),
        open=price(ohlc.get("open"), "ohlc.open"),
        high=price(ohlc.get("high"), "ohlc.high"),
        low=price(ohlc.get("low"), "ohlc.low"),
        volume=as_int(row.get("last_volume"), w, "last_volume"),
        time=parse_time(row.get("lstup_time"), w, "lstup_time"),
        open_interest=_soft_int(row.get("open_int")),
        **_depth(row.get("depth")),
    )


def _soft_int(value: Any) -> int:
    """An optional count: absent or unreadable is 0, never a failed quote."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _depth(value: Any) -> dict[str, Any]:
    """The optional 5-level book of an `all` quote; unreadable levels are left out."""
    if not isinstance(value, dict):
        return {}
    sides: dict[str, tuple[DepthLevel, ...]] = {}
    for side in ("buy", "sell"):
        levels = []
        for row in value.get(side) or []:
            try:
                price = Decimal(str(row["price"])).quantize(Decimal("0.01"))
                qty = int(row["quantity"])
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue
            if price.is_finite() and price > 0 and qty > 0:
                levels.append(DepthLevel(price, qty, _soft_int(row.get("orders"))))
        sides[side] = tuple(levels[:5])
    bids, asks = sides["buy"], sides["sell"]
    out: dict[str, Any] = {"bids": bids, "asks": asks}
    if bids:
        out |= {"bid": bids[0].price, "bid_qty": bids[0].qty}
    if asks:
        out |= {"ask": asks[0].price, "ask_qty": asks[0].qty}
    return out


@_rows_of("candle row")
def candle_from_row(row: list[Any]) -> Candle:
    w = _Where("candle row")
    if not isinstance(row, list | tuple) or len(row) < 5:
        raise w.bad("row", row, "is not [time, open, high, low, close, volume]")
    t = parse_time(row[0], w, "time")
    if t is None:
        raise w.bad("time", row[0], "is not a time")

    def d(i: int, field: str) -> Decimal:
        v = row[i]
        return as_decimal(repr(v) if isinstance(v, float) else v, w, field)

    return Candle(
        t,
        d(1, "open"),
        d(2, "high"),
        d(3, "low"),
        d(4, "close"),
        as_int(row[5], w, "volume") if len(row) > 5 else 0,
    )


__all__ = [
    "ZERO",
    "BadRow",
    "candle_from_row",
    "funds_from_reply",
    "holding_from_row",
    "map_status",
    "margin_from_reply",
    "order_from_row",
    "position_from_row",
    "quote_from_row",
    "trade_from_row",
]
