"""The market feed's binary packets (SFeed "native_batch", kotak-neo-feeds.md §2), read into Quotes.

A frame carries several little-endian packets back to back, each starting with its own length.
Reading is one `struct.unpack_from` per packet and no copies of the frame; a packet that is
short, truncated or of an unknown kind is counted and skipped, never fatal.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from gui_trader.core.clock import IST
from gui_trader.core.instrument import instrument_key
from gui_trader.core.market_data import DepthLevel, Quote

HEADER = struct.Struct("<HHbBBBB")  # len, code, exchange id, level, auction, seq, bitmask len
MINI = struct.Struct("<IqIqIiiIBI")  # level 1, from byte 9
PICTURE = struct.Struct("<IqqqqqIIIIIqIIIIhiIdiIIIIIBI")  # levels 2/4/8/16, from byte 9
ROW = struct.Struct("<qii")  # depth row: qty, price, orders
INDEX = struct.Struct("<IiiiiiQiiidBi21s")  # code 7207, from byte 9
STATUS = struct.Struct("<H5s")  # code 105, from byte 9

INDEX_CODE, STATUS_CODE, CAS_CODE, OPEN_CODE, CLOSE_CODE = 7207, 105, 104, 6511, 6521
PICTURE_LEVELS = (2, 4, 8, 16)
SEGMENTS = {
    1: "nse_cm",
    2: "nse_fo",
    3: "cde_fo",
    4: "nse_com",
    5: "bse_cm",
    6: "bse_fo",
    7: "bse_cd",
    8: "bse_co",
    9: "mcx_fo",
    10: "ncd_co",
}
CACHE_MAX = 200_000  # distinct prices and depth levels kept (a few MB), then started afresh
MARKET_STATUS = {1: "open", 2: "closed", 3: "pre-open ending", 4: "pre-open ended"}


@dataclass
class FeedStats:
    packets: int = 0
    skipped: int = 0  # short, truncated, unknown kind or unknown instrument


@dataclass
class PacketReader:
    """Turns frames into Quotes for the instruments we asked for.

    `names` maps our instrument keys to display symbols; indices are asked for by name and
    answered with a number, so they are matched by the name inside the packet.
    """

    dividers: dict[int, int] = field(default_factory=dict)  # exchange id -> price divider
    names: dict[str, str] = field(default_factory=dict)  # key -> symbol
    stats: FeedStats = field(default_factory=FeedStats)
    market_status: str = ""
    _index_keys: dict[str, str] = field(default_factory=dict)  # lower-case name -> key
    _scale: dict[int, int] = field(default_factory=dict)  # divider -> power of ten (or -1)
    # Prices repeat tick after tick (and across depth levels): one Decimal per raw value.
    _prices: dict[tuple[int, int], Decimal] = field(default_factory=dict)
    _levels: dict[tuple[int, int, int, int], DepthLevel] = field(default_factory=dict)
    _ids: dict[tuple[int, int], tuple[str, str, str]] = field(default_factory=dict)

    def watch(self, key: str, symbol: str) -> None:
        self.names[key] = symbol
        self._ids.clear()
        token = key.partition("|")[2]
        if not token.isdigit():
            self._index_keys[token.lower()] = key

    def forget(self, key: str) -> None:
        self.names.pop(key, None)
        self._ids.clear()
        _, _, token = key.partition("|")
        self._index_keys.pop(token.lower(), None)

    def read(self, frame: bytes) -> list[Quote]:
        out: list[Quote] = []
        view = memoryview(frame)
        pos, end = 0, len(frame)
        while end - pos >= HEADER.size:
            length, code, exchange, level, _auction, _seq, _bits = HEADER.unpack_from(view, pos)
            if length < HEADER.size or pos + length > end:
                self.stats.skipped += 1
                break  # the rest of the frame cannot be framed
            self.stats.packets += 1
            try:
                quote = self._packet(view, pos, length, code, exchange, level)
            except (struct.error, ValueError, ArithmeticError):
                quote = None
            if quote is None:
                self.stats.skipped += 1
            else:
                out.append(quote)
            pos += length
        return out

    # ------------------------------------------------------------------ kinds
    def _packet(
        self, view: memoryview, pos: int, length: int, code: int, exchange: int, level: int
    ) -> Quote | None:
        if code == INDEX_CODE:
            return self._index(view, pos, length, exchange) if length >= 87 else None
        if code == STATUS_CODE:
            if length >= 16:
                status, _ = STATUS.unpack_from(view, pos + 9)
                self.market_status = MARKET_STATUS.get(status, f"status {status}")
            return None
        if code in (CAS_CODE, OPEN_CODE, CLOSE_CODE):
            return None
        if level == 1:
            return self._mini(view, pos, length, exchange) if length >= 54 else None
        if level in PICTURE_LEVELS and length >= 144:
            return self._picture(view, pos, length, exchange, level)
        return None

    def _mini(self, view: memoryview, pos: int, length: int, exchange: int) -> Quote | None:
        token, ltt, ltp, _ltq, close, _pct, _net, _lot, _prec, _mul = MINI.unpack_from(
            view, pos + 9
        )
        known = self._known(exchange, token)
        if known is None:
            return None
        segment, tok, symbol = known
        d = self._divider(exchange)
        return Quote(
            segment=segment,
            token=tok,
            symbol=symbol,
            ltp=self._price(ltp, d),
            prev_close=self._price(close, d),
            time=_time(ltt),
            source="feed",
        )

    def _picture(
        self, view: memoryview, pos: int, length: int, exchange: int, level: int
    ) -> Quote | None:
        (
            token,
            _tot_buy,
            _tot_sell,
            volume,
            ltt,
            _last_update,
            open_,
            close,
            high,
            low,
            ltp,
            _ltq,
            _atp,
            _ind_close,
            buy_rows,
            sell_rows,
            _trading_status,
            _pct,
            oi,
            _turnover,
            _net,
            _ucl,
            _lcl,
            _high52,
            _low52,
            _lot,
            _prec,
            _mul,
        ) = PICTURE.unpack_from(view, pos + 9)
        known = self._known(exchange, token)
        if known is None:
            return None
        segment, tok, symbol = known
        d = self._divider(exchange)
        if level == 4:
            buy_rows = sell_rows = 1
        room = (length - 144) // ROW.size
        buy_rows = min(buy_rows, room)
        sell_rows = min(sell_rows, room - buy_rows)
        rows = [
            ROW.unpack_from(view, pos + 144 + i * ROW.size) for i in range(buy_rows + sell_rows)
        ]
        bids = tuple(self._level(p, q, n, d) for q, p, n in rows[:buy_rows][:5] if q > 0)
        asks = tuple(self._level(p, q, n, d) for q, p, n in rows[buy_rows:][:5] if q > 0)
        return Quote(
            segment=segment,
            token=tok,
            symbol=symbol,
            ltp=self._price(ltp, d),
            prev_close=self._price(close, d),
            open=self._price(open_, d),
            high=self._price(high, d),
            low=self._price(low, d),
            volume=max(0, volume),
            time=_time(ltt),
            bid=bids[0].price if bids else Decimal(0),
            ask=asks[0].price if asks else Decimal(0),
            bid_qty=bids[0].qty if bids else 0,
            ask_qty=asks[0].qty if asks else 0,
            open_interest=oi,
            bids=bids if level != 4 else (),
            asks=asks if level != 4 else (),
            source="feed",
        )

    def _index(self, view: memoryview, pos: int, length: int, exchange: int) -> Quote | None:
        (token, open_, close, high, low, value, ltt, _h52, _l52, _pct, _mcap, _prec, _mul, raw) = (
            INDEX.unpack_from(view, pos + 9)
        )
        name = raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()
        key = self._index_keys.get(name.lower())
        if key is not None:
            segment, _, tok = key.partition("|")
            symbol = self.names.get(key, name)
        else:
            known = self._known(exchange, token)
            if known is None:
                return None
            segment, tok, symbol = known
        d = self._divider(exchange)
        return Quote(
            segment=segment,
            token=tok,
            symbol=symbol,
            ltp=self._price(value, d),
            prev_close=self._price(close, d),
            open=self._price(open_, d),
            high=self._price(high, d),
            low=self._price(low, d),
            time=_time(ltt),
            source="feed",
        )

    # ------------------------------------------------------------------ helpers
    def _known(self, exchange: int, token: int) -> tuple[str, str, str] | None:
        """(segment, token, symbol) of a watched instrument, or None."""
        found = self._ids.get((exchange, token))
        if found is None:
            segment = SEGMENTS.get(exchange)
            if segment is None:
                return None
            symbol = self.names.get(instrument_key(segment, str(token)))
            if symbol is None:
                return None
            found = self._ids[(exchange, token)] = (segment, str(token), symbol)
        return found

    def _level(self, raw: int, qty: int, orders: int, divider: int) -> DepthLevel:
        key = (raw, qty, orders, divider)
        level = self._levels.get(key)
        if level is None:
            if len(self._levels) > CACHE_MAX:
                self._levels.clear()
            level = self._levels[key] = DepthLevel(self._price(raw, divider), qty, orders)
        return level

    def _divider(self, exchange: int) -> int:
        return self.dividers.get(exchange, 100)

    def _price(self, raw: int, divider: int) -> Decimal:
        """Exact: a power-of-ten divider shifts the decimal point, anything else divides."""
        cached = self._prices.get((raw, divider))
        if cached is not None:
            return cached
        if len(self._prices) > CACHE_MAX:
            self._prices.clear()
        value = self._prices[(raw, divider)] = self._exact(raw, divider)
        return value

    def _exact(self, raw: int, divider: int) -> Decimal:
        power = self._scale.get(divider)
        if power is None:
            text = str(divider)
            power = len(text) - 1 if divider > 0 and text == "1" + "0" * (len(text) - 1) else -1
            self._scale[divider] = power
        if power >= 0:
            return Decimal(raw).scaleb(-power)
        return Decimal(raw) / Decimal(divider)


def _time(ltt: int) -> datetime | None:
    if ltt <= 0 or ltt > 4_102_444_800:  # absent, or past 2100: not a time
        return None
    return datetime.fromtimestamp(ltt, IST)


def dividers_from_auth(reply: dict[str, object]) -> dict[int, int]:
    """The auth reply's `exchanges` ({segment: {value, divider}}) as exchange id -> divider."""
    out: dict[int, int] = {}
    exchanges = reply.get("exchanges")
    if isinstance(exchanges, dict):
        for spec in exchanges.values():
            if isinstance(spec, dict):
                try:
                    value, divider = int(spec["value"]), int(spec["divider"])
                except (KeyError, TypeError, ValueError):
                    continue
                if divider > 0:
                    out[value] = divider
    return out
