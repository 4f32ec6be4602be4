"""The simulator's feed encoder and order-feed handshake parser, piece by piece."""

from __future__ import annotations

import struct
from datetime import date
from decimal import Decimal

from gui_trader.sim import feed_packets as fp
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.order_feed import parse_frame


def test_packet_sizes_headers_and_scaling() -> None:
    ex = Exchange(today=date(2026, 2, 3))
    ex.pin("RELIANCE-EQ", Decimal("1452.35"))
    x, nifty = ex.universe.by_symbol["RELIANCE-EQ"], ex.universe.by_symbol["NIFTY 50"]
    p = ex.market.picture(x)
    sizes = {
        level: len(fp.encode(x, p, level, ex.market))
        for level in (fp.MINI, fp.TOUCH_LINE, fp.DEPTH, fp.FULL_DEPTH)
    }
    assert sizes == {1: 54, 4: 144 + 32, 8: 144 + 160, 16: 144 + 640}
    packet = fp.encode(x, p, fp.TOUCH_LINE, ex.market)
    assert struct.unpack_from("<HHbBBBB", packet) == (176, 7208, 1, 4, 0, 0, 0)
    assert struct.unpack_from("<I", packet, 69)[0] == 145235  # paise: divider 100
    index = fp.encode(nifty, ex.market.picture(nifty), fp.MSG_INDEX, ex.market)
    assert len(index) == 87 and struct.unpack_from("<H", index, 2)[0] == 7207
    assert struct.unpack_from("<I", index, 9)[0] == 26000  # subscribed by name, sent by number
    assert index[66:87].rstrip(b"\0") == b"Nifty 50"
    assert len(fp.market_status("nse_cm", True)) == 16


def test_the_order_feed_handshake_is_read_with_or_without_quotes() -> None:
    raw = "{type:cn,Authorization:eyJh.eyJz.c2ln,Sid:abc123,src:WEB}"
    assert parse_frame(raw) == {
        "type": "cn",
        "Authorization": "eyJh.eyJz.c2ln",
        "Sid": "abc123",
        "src": "WEB",
    }
    assert parse_frame('{"type":"cn","Sid":"s"}') == {"type": "cn", "Sid": "s"}
    assert parse_frame("{type:hb}") == {"type": "hb"}
    assert parse_frame("hello") == {}
