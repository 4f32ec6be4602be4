"""The market feed's packets read as the reference's tables say, and bad bytes never fatal."""

from __future__ import annotations

import struct
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gui_trader.broker.sfeed_packets import PacketReader, dividers_from_auth


def header(length: int, code: int, exchange: int, level: int) -> bytes:
    return struct.pack("<HHbBBBB", length, code, exchange, level, 0, 0, 0)


def picture(
    token: int,
    ltp: int,
    *,
    level: int = 8,
    exchange: int = 1,
    bids: list[tuple[int, int, int]] | None = None,
    asks: list[tuple[int, int, int]] | None = None,
) -> bytes:
    bids = (
        bids if bids is not None else [(100 * (i + 1), ltp - 5 * (i + 1), i + 1) for i in range(5)]
    )
    asks = (
        asks if asks is not None else [(200 * (i + 1), ltp + 5 * (i + 1), i + 2) for i in range(5)]
    )
    body = struct.pack(
        "<IqqqqqIIIIIqIIIIhiIdiIIIIIBI",
        token,
        1000,  # total buy
        2000,  # total sell
        123456,  # volume
        1_765_080_000,  # ltt, Unix seconds
        -1,  # last update: never
        ltp - 100,  # open
        ltp - 50,  # previous close
        ltp + 200,  # high
        ltp - 300,  # low
        ltp,
        25,  # ltq
        ltp,  # atp
        0,
        len(bids),
        len(asks),
        0,
        150,  # chg %
        777,  # open interest
        1.5e9,
        50,
        ltp * 2,
        ltp // 2,
        ltp * 3,
        ltp // 3,
        1,
        2,
        1,
    )
    rows = b"".join(struct.pack("<qii", q, p, n) for q, p, n in [*bids, *asks])
    packet = body + rows
    return header(9 + len(packet), 7208, exchange, level) + packet


def index(token: int, value: int, name: str) -> bytes:
    body = struct.pack(
        "<IiiiiiQiiidBi21s",
        token,
        value - 10,
        value - 20,
        value + 30,
        value - 40,
        value,
        1_765_080_000,
        value + 1000,
        value - 1000,
        -12,
        0.0,
        2,
        1,
        name.encode(),
    )
    return header(9 + len(body), 7207, 1, 0) + body


def reader() -> PacketReader:
    r = PacketReader(dividers={1: 100, 2: 100})
    r.watch("nse_cm|2885", "RELIANCE-EQ")
    r.watch("nse_cm|11536", "TCS-EQ")
    r.watch("nse_cm|Nifty 50", "NIFTY 50")
    r.watch("nse_fo|43210", "NIFTY25DEC26000CE")
    return r


def test_a_frame_of_several_packets_reads_exact_prices_and_depth() -> None:
    r = reader()
    frame = (
        picture(2885, 145795)
        + picture(11536, 380010, level=4, bids=[(100, 380005, 1)], asks=[(200, 380015, 2)])
        + index(26000, 2590585, "Nifty 50")
    )
    quotes = r.read(frame)
    assert [q.symbol for q in quotes] == ["RELIANCE-EQ", "TCS-EQ", "NIFTY 50"]
    rel, tcs, nifty = quotes
    assert rel.key == "nse_cm|2885" and rel.ltp == Decimal("1457.95")
    assert rel.prev_close == Decimal("1457.45") and rel.high == Decimal("1459.95")
    assert rel.bid == Decimal("1457.90") and rel.ask == Decimal("1458.00")
    assert (rel.bid_qty, rel.ask_qty, rel.open_interest, rel.volume) == (100, 200, 777, 123456)
    assert [x.price for x in rel.bids] == [
        Decimal(p) / 100 for p in (145790, 145785, 145780, 145775, 145770)
    ]
    assert len(rel.asks) == 5 and rel.asks[4].orders == 6 and rel.source == "feed"
    assert rel.time is not None and rel.time.tzinfo is not None
    # Level 4 is one buy and one sell row, whatever the counts say.
    assert tcs.bid == Decimal("3800.05") and tcs.ask == Decimal("3800.15") and tcs.bids == ()
    # An index answers by number; it is matched by its name.
    assert nifty.key == "nse_cm|Nifty 50" and nifty.ltp == Decimal("25905.85")
    assert nifty.prev_close == Decimal("25905.65")
    assert r.stats.packets == 3 and r.stats.skipped == 0


def test_other_dividers_stay_exact() -> None:
    r = PacketReader(dividers={3: 10_000_000, 1: 7})
    r.watch("cde_fo|1", "USDINR")
    r.watch("nse_cm|5", "ODD")
    (usd,) = r.read(picture(1, 835_012_500, exchange=3))
    assert usd.ltp == Decimal("83.50125")
    (odd,) = r.read(picture(5, 7000, exchange=1))
    assert odd.ltp == Decimal(1000)


def test_unknown_short_truncated_and_unwatched_packets_are_skipped() -> None:
    r = reader()
    good = picture(2885, 145795)
    unwatched = picture(999, 100_000)
    unknown_level = header(20, 7208, 1, 3) + b"\0" * 11
    truncated = good[:-10]
    quotes = r.read(unwatched + unknown_level + good + truncated)
    assert [q.symbol for q in quotes] == ["RELIANCE-EQ"]
    assert r.stats.skipped == 3  # unwatched, unknown level, the truncated tail
    assert r.read(b"") == [] and r.read(b"\x01") == []
    assert r.read(header(3, 7208, 1, 8)) == []  # a length below the header: stop


def test_forgotten_instruments_stop_reading() -> None:
    r = reader()
    r.forget("nse_cm|2885")
    r.forget("nse_cm|Nifty 50")
    assert r.read(picture(2885, 100_000) + index(26000, 100_000, "Nifty 50")) == []


def test_dividers_come_from_the_auth_reply() -> None:
    reply = {
        "message_code": 1119,
        "exchanges": {
            "nse_cm": {"value": 1, "divider": 100},
            "cde_fo": {"value": 3, "divider": 10000000},
            "junk": {"value": "x"},
            "zero": {"value": 9, "divider": 0},
        },
    }
    assert dividers_from_auth(reply) == {1: 100, 3: 10_000_000}
    assert dividers_from_auth({"exchanges": "nope"}) == {}


@given(st.binary(max_size=600))
def test_garbage_is_never_fatal(data: bytes) -> None:
    r = reader()
    r.read(data)
    r.read(picture(2885, 145795) + data)
