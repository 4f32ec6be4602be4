"""The SFeed market feed's binary packets (reference kotak-neo-feeds.md §2), built from the
simulator's market pictures.

Little-endian and packed; every packet starts with a 9-byte header whose first field is the
packet's whole length. A binary WebSocket message carries any number of packets back to back.
Prices go out as integers: the rupee value times the exchange's divider (100 for the segments
the simulator lists), percentages times 100.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gui_trader.sim.market_data import Level, Market, Picture
from gui_trader.sim.universe import Listing

# name -> (exchange id, divider), as the auth reply announces them (the first four are the
# live sample's; the others are the reference's suggestion for a simulator).
EXCHANGES: dict[str, tuple[int, int]] = {
    "nse_cm": (1, 100),
    "nse_fo": (2, 100),
    "cde_fo": (3, 10_000_000),
    "bse_cm": (5, 100),
    "bse_fo": (6, 100),
    "bse_cd": (7, 10_000_000),
    "mcx_fo": (9, 100),
}
MSG_MARKET_PICTURE = 7208  # also used for level 1, whose own code is not public
MSG_INDEX = 7207
MSG_MARKET_STATUS = 105
MINI, TOUCH_LINE, DEPTH, FULL_DEPTH = 1, 4, 8, 16
ROWS = {TOUCH_LINE: 1, DEPTH: 5, FULL_DEPTH: 20}  # depth rows a side per level
# The numeric tokens an index is sent under (it is subscribed by name): NSE's own numbers.
INDEX_TOKENS = {"Nifty 50": 26000, "Nifty Bank": 26009, "INDIA VIX": 26017, "SENSEX": 1}
STATUS_OPEN, STATUS_CLOSED = 1, 2
PRECISION = 2

HEADER = struct.Struct("<HHbBBBB")
MINI_BODY = struct.Struct("<IqIqIiiIBI")
PICTURE_BODY = struct.Struct("<IqqqqqIIIIIqIIIIhiIdiIIIIIBI")
DEPTH_ROW = struct.Struct("<qii")
INDEX_BODY = struct.Struct("<IiiiiiQiiidBi21s")
STATUS_BODY = struct.Struct("<H5s")
assert HEADER.size == 9 and HEADER.size + PICTURE_BODY.size == 144
assert HEADER.size + MINI_BODY.size == 54 and HEADER.size + INDEX_BODY.size == 87


def exchange_id(segment: str) -> int:
    return EXCHANGES.get(segment, (0, 100))[0]


def divider(segment: str) -> int:
    return EXCHANGES.get(segment, (0, 100))[1]


def index_token(x: Listing) -> int:
    """The number an index's packets carry (26000 for Nifty 50); other listings: their token."""
    if x.instrument_type == "INDEX":
        return INDEX_TOKENS.get(x.token, 0)
    return int(x.token)


def _raw(value: Decimal, div: int) -> int:
    return int((value * div).to_integral_value(ROUND_HALF_UP))


def _pct(p: Picture) -> int:
    """The change on the previous close in hundredths of a percent."""
    if not p.close:
        return 0
    return _raw((p.ltp - p.close) * 100 / p.close, 100)


def _packet(code: int, segment: str, level: int, body: bytes) -> bytes:
    size = HEADER.size + len(body)
    return HEADER.pack(size, code, exchange_id(segment), level, 0, 0, 0) + body


def mini(x: Listing, p: Picture) -> bytes:
    """Level 1, the mini touch line (54 bytes)."""
    d = divider(x.segment)
    body = MINI_BODY.pack(
        int(x.token),
        p.at,
        _raw(p.ltp, d),
        x.lot_size,
        _raw(p.close, d),
        _pct(p),
        _raw(p.ltp - p.close, d),
        x.lot_size,
        PRECISION,
        1,
    )
    return _packet(MSG_MARKET_PICTURE, x.segment, MINI, body)


def market_picture(x: Listing, p: Picture, level: int, market: Market) -> bytes:
    """Levels 4, 8 and 16: the touch line with 1, 5 or 20 depth rows a side (144 + 16n bytes)."""
    d = divider(x.segment)
    n = ROWS[level]
    bids, asks = market.depth_levels(x, p.ltp, n)
    total_buy = 10 * sum(q for _, q, _ in bids[:5])
    total_sell = 10 * sum(q for _, q, _ in asks[:5])
    body = PICTURE_BODY.pack(
        int(x.token),
        total_buy,
        total_sell,
        p.volume,
        p.at,  # last trade time
        p.at,  # last update
        _raw(p.open, d),
        _raw(p.close, d),
        _raw(p.high, d),
        _raw(p.low, d),
        _raw(p.ltp, d),
        x.lot_size,  # last traded quantity, as the REST quote says
        _raw(p.atp, d),
        0,  # indicative close: none outside the closing auction
        n,
        n,
        0,  # trading status (meaning not public)
        _pct(p),
        p.open_interest,
        float(p.volume * p.atp * d),  # turnover, the client divides it by the divider
        _raw(p.ltp - p.close, d),
        _raw(p.close * Decimal("1.2"), d),  # circuits as the REST quote's price ranges
        _raw(p.close * Decimal("0.8"), d),
        _raw(p.year_high, d),
        _raw(p.year_low, d),
        x.lot_size,
        PRECISION,
        1,
    )
    rows = b"".join(DEPTH_ROW.pack(q, _raw(price, d), o) for price, q, o in _rows(bids, asks))
    return _packet(MSG_MARKET_PICTURE, x.segment, level, body + rows)


def _rows(bids: list[Level], asks: list[Level]) -> Iterable[Level]:
    yield from bids
    yield from asks


def index(x: Listing, p: Picture) -> bytes:
    """An index (7207, 87 bytes): numeric token, OHLC, value, and the name it was asked by."""
    d = divider(x.segment)
    body = INDEX_BODY.pack(
        index_token(x),
        _raw(p.open, d),
        _raw(p.close, d),
        _raw(p.high, d),
        _raw(p.low, d),
        _raw(p.ltp, d),
        p.at,
        _raw(p.year_high, d),
        _raw(p.year_low, d),
        _pct(p),
        0.0,  # market capitalisation: not modelled (the client ignores it)
        PRECISION,
        d,  # multiplier: the client divides it by the divider, so this reads as 1.0
        x.token.encode()[:21],
    )
    return _packet(MSG_INDEX, x.segment, 0, body)


def market_status(segment: str, is_open: bool) -> bytes:
    """Market status (105, 16 bytes): 1 open or 2 closed."""
    code, text = (STATUS_OPEN, b"open") if is_open else (STATUS_CLOSED, b"close")
    return _packet(MSG_MARKET_STATUS, segment, 0, STATUS_BODY.pack(code, text))


def encode(x: Listing, p: Picture, level: int, market: Market) -> bytes:
    """The packet of `x` at `level` (MINI, TOUCH_LINE, DEPTH, FULL_DEPTH, or MSG_INDEX)."""
    if level == MSG_INDEX:
        return index(x, p)
    if level == MINI:
        return mini(x, p)
    return market_picture(x, p, level, market)


def auth_reply() -> dict[str, Any]:
    """The 1119 reply to a good auth frame: the exchanges and their price dividers."""
    return {
        "message_code": 1119,
        "id": "SFD_CPROD_701",
        "version": 1,
        "exchanges": {name: {"value": v, "divider": d} for name, (v, d) in EXCHANGES.items()},
    }
