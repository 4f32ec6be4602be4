"""Broker reply rows with any field replaced by any JSON value: each parser either returns
finite numbers or raises BadReply; a bare ValueError/TypeError/InvalidOperation is a crash the
trader sees as a traceback, and a NaN price poisons every sum after it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui_trader.broker import neo_rows as rows
from gui_trader.broker.base import BadReply
from gui_trader.core.money import ZERO
from gui_trader.core.order import OrderStatus, Side

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)

ORDER_NO = "250101000012345"

# The shape gui_trader/sim/exchange.py `_order_row` sends (and Kotak's order book).
GOOD_ORDER: dict[str, Any] = {
    "nOrdNo": ORDER_NO,
    "exOrdId": "1000000012345",
    "ordSt": "open",
    "stat": "open",
    "rejRsn": "--",
    "qty": 150,
    "fldQty": 75,
    "unFldSz": 75,
    "cnlQty": 0,
    "avgPrc": "120.05",
    "prc": "120.05",
    "trgPrc": "0.00",
    "prcTp": "L",
    "trnsTp": "S",
    "prod": "NRML",
    "vldt": "DAY",
    "exSeg": "nse_fo",
    "tok": "40001",
    "trdSym": "NIFTY24NOV2525900CE",
    "GuiOrdId": "S1A2B3",
    "ordDtTm": "01-Jan-2025 09:15:01",
    "hsUpTm": "2025/01/01 09:15:02",
    "boeSec": 1735703102,
    "updRecvTm": 1735703102000000000,
    "lotSz": "75",
    "multiplier": "1",
}
GOOD_TRADE: dict[str, Any] = {
    "nOrdNo": ORDER_NO,
    "flId": "F1",
    "fldQty": 75,
    "avgPrc": "120.05",
    "exTm": "01-Jan-2025 09:15:03",
    "trnsTp": "S",
    "prcTp": "L",
    "prod": "NRML",
    "exSeg": "nse_fo",
    "trdSym": "NIFTY24NOV2525900CE",
    "tok": "",
    "GuiOrdId": "S1A2B3",
    "hsUpTm": "2025/01/01 09:15:03",
}
GOOD_POSITION: dict[str, Any] = {
    "exSeg": "nse_fo",
    "tok": "40001",
    "trdSym": "NIFTY24NOV2525900CE",
    "prod": "NRML",
    "flBuyQty": "0",
    "flSellQty": "150",
    "cfBuyQty": "0",
    "cfSellQty": "0",
    "buyAmt": "0.00",
    "sellAmt": "18007.50",
    "cfBuyAmt": "0.00",
    "cfSellAmt": "0.00",
    "multiplier": "1",
    "genNum": "1",
    "genDen": "1",
    "prcNum": "1",
    "prcDen": "1",
    "ltp": "110.00",
}
GOOD_HOLDING: dict[str, Any] = {
    "displaySymbol": "RELIANCE",
    "symbol": "RELIANCE",
    "averagePrice": 1234.5600000000002,
    "quantity": 10,
    "sellableQuantity": 8,
    "exchangeSegment": "nse_cm",
    "exchangeIdentifier": "2885",
    "closingPrice": 1250.1,
}
GOOD_QUOTE: dict[str, Any] = {
    "exchange_token": "2885",
    "exchange": "nse_cm",
    "display_symbol": "RELIANCE-EQ",
    "ltp": "1251.2500",
    "lstup_time": "1735703102",
    "last_volume": "123456",
    "ohlc": {"open": "1240.0000", "high": "1255.5000", "low": "1238.1000", "close": "1250.1000"},
}
GOOD_CANDLE: list[Any] = ["2025-01-01T09:15:00+0530", 1240.0, 1255.5, 1238.1, 1251.25, 1000, 0]
GOOD_FUNDS: dict[str, Any] = {
    "Net": "98765.43",
    "MarginUsed": "1234.57",
    "CollateralValue": "100000.00",
}
GOOD_MARGIN: dict[str, Any] = {
    "avlCash": "98765.430000",
    "ordMrgn": "5000.123456",
    "insufFund": "0",
    "rmsVldtd": "OK",
}

Parser = Callable[[Any], Any]
PARSERS: dict[str, tuple[Parser, dict[str, Any]]] = {
    "order": (rows.order_from_row, GOOD_ORDER),
    "trade": (rows.trade_from_row, GOOD_TRADE),
    "position": (rows.position_from_row, GOOD_POSITION),
    "holding": (rows.holding_from_row, GOOD_HOLDING),
    "quote": (rows.quote_from_row, GOOD_QUOTE),
    "funds": (rows.funds_from_reply, GOOD_FUNDS),
    "margin": (rows.margin_from_reply, GOOD_MARGIN),
}

TRICKY = [
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "sNaN",
    "1e400",
    "1e-400",
    "1e999999999999",
    "abc",
    "--",
    "NA",
    "",
    " ",
    "1_0",
    "１０",
    "٣",
    "²",
    "0",
    "-0",
    "2.61201000000001e14",
    "9" * 30,
    "9" * 5000,
    -(10**40),
    2.61201000000001e14,
    float("nan"),
    float("inf"),
    5e-324,
    1e308,
    True,
    False,
    None,
    [],
    {},
    {"a": 1},
    [1, 2],
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(TRICKY),
    st.builds(pow, st.just(10), st.just(5000)),  # str() refuses it: more than 4300 digits
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


def assert_finite_numbers(value: Any) -> None:
    """Every Decimal a parser returns is finite; every count is a plain int."""
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if isinstance(v, Decimal):
            assert v.is_finite(), (f.name, v)
        elif isinstance(v, bool):
            assert f.name == "ok", (f.name, v)
        elif isinstance(v, int):
            assert type(v) is int, (f.name, v)
        elif isinstance(v, tuple):  # depth levels: each checked the same way
            for item in v:
                assert dataclasses.is_dataclass(item), (f.name, item)
                assert_finite_numbers(item)
        else:
            assert v is None or isinstance(v, str | datetime | Side | OrderStatus), (f.name, v)


def parse_or_bad_reply(parse: Parser, row: Any) -> None:
    try:
        value = parse(row)
    except BadReply as exc:
        message = str(exc)
        assert message and "\n" not in message
        return
    assert_finite_numbers(value)


@pytest.mark.parametrize("kind", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_any_field_any_json_value(kind: str, data: st.DataObject) -> None:
    parse, good = PARSERS[kind]
    row = dict(good)
    keys = data.draw(st.lists(st.sampled_from(sorted(good)), min_size=1, max_size=4, unique=True))
    for key in keys:
        row[key] = data.draw(json_values, label=key)
    parse_or_bad_reply(parse, row)


@pytest.mark.parametrize("kind", sorted(PARSERS))
@FUZZ
@given(value=json_values)
def test_the_whole_reply_may_be_anything(kind: str, value: Any) -> None:
    parse, _ = PARSERS[kind]
    parse_or_bad_reply(parse, value)


@FUZZ
@given(data=st.data())
def test_quote_ohlc_fields_any_json_value(data: st.DataObject) -> None:
    ohlc = dict(GOOD_QUOTE["ohlc"])
    for key in data.draw(st.lists(st.sampled_from(sorted(ohlc)), min_size=1, unique=True)):
        ohlc[key] = data.draw(json_values, label=key)
    parse_or_bad_reply(rows.quote_from_row, {**GOOD_QUOTE, "ohlc": ohlc})


@FUZZ
@given(data=st.data())
def test_margin_nested_under_data(data: st.DataObject) -> None:
    inner = dict(GOOD_MARGIN)
    for key in data.draw(st.lists(st.sampled_from(sorted(inner)), min_size=1, unique=True)):
        inner[key] = data.draw(json_values, label=key)
    parse_or_bad_reply(rows.margin_from_reply, {"data": inner})
    parse_or_bad_reply(rows.margin_from_reply, {"data": data.draw(json_values)})


@FUZZ
@given(data=st.data())
def test_candle_any_item_any_json_value(data: st.DataObject) -> None:
    row = list(GOOD_CANDLE)[: data.draw(st.integers(0, len(GOOD_CANDLE)))]
    for i in data.draw(st.lists(st.integers(0, max(len(row) - 1, 0)), max_size=3)):
        if row:
            row[i] = data.draw(json_values)
    parse_or_bad_reply(rows.candle_from_row, row)
    parse_or_bad_reply(rows.candle_from_row, data.draw(json_values))


# ------------------------------------------------------------------ good rows read as before
def test_good_order_row() -> None:
    o = rows.order_from_row(GOOD_ORDER)
    assert o.order_id == ORDER_NO and o.trading_symbol == "NIFTY24NOV2525900CE"
    assert (o.qty, o.filled_qty, o.status) == (150, 75, OrderStatus.PARTIALLY_FILLED)
    assert (o.side, o.order_type, o.product, o.segment, o.token) == (
        Side.SELL,
        "L",
        "NRML",
        "nse_fo",
        "40001",
    )
    assert (o.price, o.avg_price, o.trigger_price) == (
        Decimal("120.05"),
        Decimal("120.05"),
        Decimal("0.00"),
    )
    assert (o.tag, o.reject_reason, o.validity, o.raw_status) == ("S1A2B3", "", "DAY", "open")
    assert o.time is not None and (o.time.hour, o.time.minute, o.time.second) == (9, 15, 1)


def test_good_trade_position_holding_quote_candle_funds_margin() -> None:
    t = rows.trade_from_row(GOOD_TRADE)
    assert (t.order_id, t.fill_id, t.qty, t.price, t.side) == (
        ORDER_NO,
        "F1",
        75,
        Decimal("120.05"),
        Side.SELL,
    )
    p = rows.position_from_row(GOOD_POSITION)
    assert (p.buy_qty, p.sell_qty, p.sell_amount, p.multiplier, p.ltp) == (
        0,
        150,
        Decimal("18007.50"),
        Decimal(1),
        Decimal("110.00"),
    )
    h = rows.holding_from_row(GOOD_HOLDING)
    assert (h.trading_symbol, h.qty, h.sellable_qty) == ("RELIANCE-EQ", 10, 8)
    assert (h.avg_price, h.close_price) == (Decimal("1234.5600"), Decimal("1250.1"))
    q = rows.quote_from_row(GOOD_QUOTE)
    assert (q.ltp, q.prev_close, q.open, q.high, q.low, q.volume) == (
        Decimal("1251.25"),
        Decimal("1250.10"),
        Decimal("1240.00"),
        Decimal("1255.50"),
        Decimal("1238.10"),
        123456,
    )
    c = rows.candle_from_row(GOOD_CANDLE)
    assert (c.open, c.high, c.low, c.close, c.volume) == (
        Decimal("1240.0"),
        Decimal("1255.5"),
        Decimal("1238.1"),
        Decimal("1251.25"),
        1000,
    )
    f = rows.funds_from_reply(GOOD_FUNDS)
    assert (f.available, f.margin_used, f.collateral) == (
        Decimal("98765.43"),
        Decimal("1234.57"),
        Decimal("100000.00"),
    )
    m = rows.margin_from_reply({"data": GOOD_MARGIN})
    assert (m.required, m.available, m.ok, m.shortfall) == (
        Decimal("5000.12"),
        Decimal("98765.43"),
        True,
        Decimal("0.00"),
    )


def test_dashes_and_blanks_still_read_as_zero() -> None:
    o = rows.order_from_row(
        {**GOOD_ORDER, "prc": "--", "avgPrc": "", "trgPrc": None, "fldQty": "NA"}
    )
    assert (o.price, o.avg_price, o.trigger_price) == (ZERO, ZERO, ZERO) and o.filled_qty == 0
    p = rows.position_from_row({**GOOD_POSITION, "multiplier": 0, "genDen": None})
    assert p.multiplier == 1


# ------------------------------------------------------------------ the reproduced bug
def test_one_unparsable_order_row_is_a_bad_reply_with_context() -> None:
    with pytest.raises(BadReply) as caught:
        rows.order_from_row({**GOOD_ORDER, "qty": "abc"})
    message = str(caught.value)
    assert "order row" in message and "qty" in message and "'abc'" in message
    assert ORDER_NO in message
    assert isinstance(caught.value, rows.BadRow) and caught.value.order_id == ORDER_NO


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prc", "abc"),
        ("prc", {"v": 1}),
        ("prc", [1]),
        ("prc", "NaN"),
        ("prc", "Infinity"),
        ("prc", float("nan")),
        ("prc", float("inf")),
        ("prc", "1e400"),
        ("prc", True),
        ("qty", "1.5e9999"),
        ("fldQty", "1_0"),
        ("avgPrc", "１２"),
        ("trdSym", {"a": 1}),
    ],
)
def test_malformed_order_fields_are_bad_replies(field: str, value: Any) -> None:
    with pytest.raises(BadReply, match=field):
        rows.order_from_row({**GOOD_ORDER, field: value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(ORDER_NO, ORDER_NO), (f" {ORDER_NO} ", ORDER_NO), (250101000012345, ORDER_NO)],
)
def test_order_numbers_are_digits(value: Any, expected: str) -> None:
    assert rows.order_from_row({**GOOD_ORDER, "nOrdNo": value}).order_id == expected
    assert rows.trade_from_row({**GOOD_TRADE, "nOrdNo": value}).order_id == expected


@pytest.mark.parametrize(
    "value", [2.61201000000001e14, 250101000012345.0, "2.5e14", "", "--", None, "abc", "１２", True]
)
def test_order_numbers_that_lost_digits_or_are_missing_are_refused(value: Any) -> None:
    with pytest.raises(BadReply, match="nOrdNo"):
        rows.order_from_row({**GOOD_ORDER, "nOrdNo": value})
    with pytest.raises(BadReply, match="nOrdNo"):
        rows.trade_from_row({**GOOD_TRADE, "nOrdNo": value})
    row = {k: v for k, v in GOOD_ORDER.items() if k != "nOrdNo"}
    with pytest.raises(BadReply, match="nOrdNo = None is missing"):
        rows.order_from_row(row)


def test_a_zero_divisor_in_a_position_is_a_bad_reply() -> None:
    with pytest.raises(BadReply, match="genDen"):
        rows.position_from_row({**GOOD_POSITION, "genDen": "0"})


def test_a_bad_quote_row_is_still_skippable_as_a_value_error() -> None:
    """neo.py skips unreadable quote rows with `except ValueError`: BadRow keeps that."""
    with pytest.raises(ValueError, match="ohlc"):
        rows.quote_from_row({**GOOD_QUOTE, "ohlc": ["x"]})


def test_huge_epoch_is_no_time_not_a_crash() -> None:
    for stamp in ("9" * 13, "9" * 25, 10**13):  # year 318,000; and 25 digits
        o = rows.order_from_row({**GOOD_ORDER, "ordDtTm": stamp, "hsUpTm": None})
        assert o.time is None


# ------------------------------------------------------------------ a book read again
class Reading(dict[str, Any]):
    """A row that notes every field read from it (a dict subclass: never served from memory)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize(
    ("parse", "good"),
    [
        (rows.order_from_row, GOOD_ORDER),
        (rows.position_from_row, GOOD_POSITION),
        (rows.holding_from_row, GOOD_HOLDING),
    ],
    ids=["order", "position", "holding"],
)
def test_a_row_is_parsed_from_the_remembered_fields_only(
    parse: rows.RowMemory[Any], good: dict[str, Any]
) -> None:
    """The memory of parsed rows is keyed by these fields: a field read but not in the key
    would let a changed row come back as the old object."""
    row = Reading(good)
    parse(row)
    assert row.read and row.read <= set(parse.fields)
    # ... and with every optional field present too (read only when the first is empty).
    full = Reading({**dict.fromkeys(parse.fields, ""), **good})
    parse(full)
    assert full.read <= set(parse.fields)


def test_a_position_read_again_is_the_same_and_a_changed_one_is_parsed_again() -> None:
    first = rows.position_from_row(dict(GOOD_POSITION))
    assert rows.position_from_row(dict(GOOD_POSITION)) is first
    sold = rows.position_from_row({**GOOD_POSITION, "flSellQty": first.buy_qty})
    assert sold.sell_qty == first.buy_qty and sold is not first
    for _ in range(2):
        with pytest.raises(BadReply):
            rows.position_from_row({**GOOD_POSITION, "genDen": "0"})


def test_a_row_read_again_is_the_same_order_and_a_changed_one_is_parsed_again() -> None:
    first = rows.order_from_row(dict(GOOD_ORDER))
    assert rows.order_from_row(dict(GOOD_ORDER)) is first  # not parsed again
    filled = rows.order_from_row({**GOOD_ORDER, "fldQty": 150, "ordSt": "complete"})
    assert (filled.filled_qty, filled.status) == (150, OrderStatus.COMPLETE)
    assert rows.order_from_row({**GOOD_ORDER, "qty": "150"}).qty == 150  # a string: its own key
    assert rows.order_from_row({**GOOD_ORDER, "qty": 150.0}).qty == 150
    for _ in range(2):  # a bad row is refused every time, never remembered
        with pytest.raises(BadReply):
            rows.order_from_row({**GOOD_ORDER, "qty": "abc"})
    with pytest.raises(BadReply):  # an unhashable value: parsed, and refused
        rows.order_from_row({**GOOD_ORDER, "qty": [150]})
