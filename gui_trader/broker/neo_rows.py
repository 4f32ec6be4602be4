"""Broker rows -> core types. The wire mixes ints, strings, "--" and several time formats."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from gui_trader.core.clock import IST
from gui_trader.core.market_data import Candle, Quote
from gui_trader.core.money import ZERO, to_decimal
from gui_trader.core.order import Order, OrderStatus, Side, Trade
from gui_trader.core.portfolio import Funds, Holding, MarginCheck, Position

_TIME_FORMATS = (
    "%d-%b-%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%d-%b-%Y %H: %M: %S",
    "%Y-%m-%dT%H:%M:%S%z",
)


def as_int(value: Any) -> int:
    d = to_decimal(value)
    return int(d)


def as_str(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text in ("--", "NA") else text


def parse_time(value: Any) -> datetime | None:
    text = as_str(value)
    if not text:
        return None
    if text.isdigit():
        n = int(text)
        seconds = n / 1e9 if n > 10**14 else n
        return datetime.fromtimestamp(seconds, IST)
    for fmt in _TIME_FORMATS:
        try:
            t = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return t if t.tzinfo else t.replace(tzinfo=IST)
    return None


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


def order_from_row(row: dict[str, Any]) -> Order:
    qty, filled = as_int(row.get("qty")), as_int(row.get("fldQty"))
    raw = as_str(row.get("ordSt") or row.get("stat"))
    return Order(
        order_id=as_str(row.get("nOrdNo")),
        trading_symbol=as_str(row.get("trdSym")),
        segment=as_str(row.get("exSeg")),
        token=as_str(row.get("tok")),
        side=Side.BUY if as_str(row.get("trnsTp")).upper().startswith("B") else Side.SELL,
        qty=qty,
        filled_qty=filled,
        status=map_status(raw, qty, filled),
        order_type=as_str(row.get("prcTp")),
        product=as_str(row.get("prod")),
        price=to_decimal(row.get("prc")),
        avg_price=to_decimal(row.get("avgPrc")),
        trigger_price=to_decimal(row.get("trgPrc")),
        tag=as_str(row.get("GuiOrdId")),
        reject_reason=as_str(row.get("rejRsn")),
        raw_status=raw,
        time=parse_time(row.get("ordDtTm") or row.get("hsUpTm")),
        validity=as_str(row.get("vldt") or row.get("ordDur")) or "DAY",
    )


def trade_from_row(row: dict[str, Any]) -> Trade:
    return Trade(
        order_id=as_str(row.get("nOrdNo")),
        fill_id=as_str(row.get("flId")),
        trading_symbol=as_str(row.get("trdSym")),
        segment=as_str(row.get("exSeg")),
        side=Side.BUY if as_str(row.get("trnsTp")).upper().startswith("B") else Side.SELL,
        qty=as_int(row.get("fldQty")),
        price=to_decimal(row.get("avgPrc")),
        tag=as_str(row.get("GuiOrdId")),
        time=parse_time(row.get("exTm") or row.get("hsUpTm")),
    )


def position_from_row(row: dict[str, Any]) -> Position:
    nf = (
        to_decimal(row.get("multiplier") or 1)
        * to_decimal(row.get("genNum") or 1)
        / to_decimal(row.get("genDen") or 1)
        * to_decimal(row.get("prcNum") or 1)
        / to_decimal(row.get("prcDen") or 1)
    )
    return Position(
        trading_symbol=as_str(row.get("trdSym")),
        segment=as_str(row.get("exSeg")),
        token=as_str(row.get("tok")),
        product=as_str(row.get("prod")),
        buy_qty=as_int(row.get("flBuyQty")) + as_int(row.get("cfBuyQty")),
        sell_qty=as_int(row.get("flSellQty")) + as_int(row.get("cfSellQty")),
        buy_amount=to_decimal(row.get("buyAmt")) + to_decimal(row.get("cfBuyAmt")),
        sell_amount=to_decimal(row.get("sellAmt")) + to_decimal(row.get("cfSellAmt")),
        multiplier=nf or Decimal(1),
        ltp=to_decimal(row.get("ltp")),
    )


def holding_from_row(row: dict[str, Any]) -> Holding:
    symbol = as_str(row.get("symbol") or row.get("displaySymbol"))
    return Holding(
        symbol=symbol,
        trading_symbol=f"{symbol}-EQ",  # resolved against the scrip master by token when needed
        segment=as_str(row.get("exchangeSegment")) or "nse_cm",
        token=as_str(row.get("exchangeIdentifier")),
        qty=as_int(row.get("quantity")),
        sellable_qty=as_int(row.get("sellableQuantity")),
        avg_price=to_decimal(
            repr(row["averagePrice"])
            if isinstance(row.get("averagePrice"), float)
            else row.get("averagePrice")
        ).quantize(Decimal("0.0001")),
        close_price=to_decimal(str(row.get("closingPrice", 0))),
    )


def funds_from_reply(body: dict[str, Any]) -> Funds:
    return Funds(
        available=to_decimal(body.get("Net")),
        margin_used=to_decimal(body.get("MarginUsed")),
        collateral=to_decimal(body.get("CollateralValue")),
    )


def margin_from_reply(body: dict[str, Any]) -> MarginCheck:
    data = body.get("data", body)
    required = to_decimal(data.get("reqdMrgn") or data.get("ordMrgn"))
    short = to_decimal(data.get("insufFund"))
    return MarginCheck(
        required=required.quantize(Decimal("0.01")),
        available=to_decimal(data.get("avlCash")).quantize(Decimal("0.01")),
        ok=str(data.get("rmsVldtd", "")).upper() == "OK" and short <= 0,
        shortfall=short.quantize(Decimal("0.01")),
    )


def quote_from_row(row: dict[str, Any]) -> Quote:
    ohlc = row.get("ohlc") or {}
    return Quote(
        segment=as_str(row.get("exchange")),
        token=as_str(row.get("exchange_token")),
        symbol=as_str(row.get("display_symbol")),
        ltp=to_decimal(row.get("ltp")).quantize(Decimal("0.01")),
        prev_close=to_decimal(ohlc.get("close")).quantize(Decimal("0.01")),
        open=to_decimal(ohlc.get("open")).quantize(Decimal("0.01")),
        high=to_decimal(ohlc.get("high")).quantize(Decimal("0.01")),
        low=to_decimal(ohlc.get("low")).quantize(Decimal("0.01")),
        volume=as_int(row.get("last_volume")),
        time=parse_time(row.get("lstup_time")),
    )


def candle_from_row(row: list[Any]) -> Candle:
    t = parse_time(row[0])
    if t is None:
        raise ValueError(f"bad candle time {row[0]!r}")

    def d(v: Any) -> Decimal:
        return to_decimal(repr(v) if isinstance(v, float) else v)

    return Candle(
        t, d(row[1]), d(row[2]), d(row[3]), d(row[4]), as_int(row[5]) if len(row) > 5 else 0
    )


__all__ = [
    "ZERO",
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
