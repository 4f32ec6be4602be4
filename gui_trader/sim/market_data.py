"""Paper market data: last prices, quotes, day ranges, candles and the scrip master CSV.

Every price is read off the seeded paths at the exchange's session clock, so a seed and a second
always give the same market; a pinned price overrides the path where a test or a demo needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from gui_trader.sim.errors import SimError
from gui_trader.sim.prices import SESSION_MINUTES, PricePaths, option_price, session_minute_time
from gui_trader.sim.prices import on_tick as price_on_tick
from gui_trader.sim.universe import Listing, Universe, scrip_master_csv

FUTURES_CARRY = 1.004  # the future trades a little over spot
INTERVALS = {
    "1min": 1,
    "3min": 3,
    "5min": 5,
    "10min": 10,
    "15min": 15,
    "30min": 30,
    "60min": 60,
}
Candle = tuple[datetime, Decimal, Decimal, Decimal, Decimal, int]
Level = tuple[Decimal, int, int]  # price, quantity, orders
DEPTH_LEVELS = 5
YEAR_TRADING_DAYS = 250
# What each quote type returns besides the identity (§6); `all` returns every field.
IDENTITY = ("exchange_token", "exchange", "display_symbol")
QUOTE_TYPES: dict[str, tuple[str, ...]] = {
    "all": (),
    "ltp": ("ltp", "last_traded_quantity", "lstup_time"),
    "ohlc": ("ohlc", "change", "per_change"),
    "market_depth": ("depth", "total_buy", "total_sell"),
    "oi": ("open_int",),
    "52w": ("year_high", "year_low"),
    "circuit_limits": ("low_price_range", "high_price_range"),
    "scrip_details": (),
}


@dataclass(frozen=True, slots=True)
class Picture:
    """A listing's market picture at one moment (the feed encodes it; sim/feed_packets.py)."""

    ltp: Decimal
    close: Decimal  # the previous session's close
    open: Decimal
    high: Decimal
    low: Decimal
    volume: int
    atp: Decimal
    year_high: Decimal
    year_low: Decimal
    open_interest: int
    at: int  # epoch seconds of the exchange's clock

    def moved(self, other: Picture | None) -> bool:
        """Whether anything a packet shows changed (the time alone does not count)."""
        if other is None:
            return True
        return (self.ltp, self.high, self.low, self.volume, self.open, self.atp) != (
            other.ltp,
            other.high,
            other.low,
            other.volume,
            other.open,
            other.atp,
        )


class Market:
    """Prices of every listing at the session clock; `seconds` is that clock."""

    def __init__(
        self,
        universe: Universe,
        paths: PricePaths,
        today: date,
        seconds: Callable[[], float],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.universe = universe
        self.clock = clock  # the real IST clock, when the exchange runs on it
        self.paths = paths
        self.today = today
        self.seconds = seconds
        self.spot = universe.by_symbol["NIFTY 50"]
        self.pinned: dict[str, Decimal] = {}
        self._ranges: dict[str, tuple[int, float, float, float]] = {}  # today's o/h/l so far
        self._closes: dict[str, Decimal] = {}

    def now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
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
            value *= FUTURES_CARRY
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

    def quotes(self, keys: list[str], kind: str = "all") -> list[dict[str, Any]]:
        """Quote rows of one type (QUOTE_TYPES); unknown keys are left out, as the broker does."""
        wanted = QUOTE_TYPES[kind]
        out = []
        for key in keys:
            x = self.universe.by_key.get(key)
            if x is None:
                continue
            row = self.quote(x)
            out.append(row if kind == "all" else {k: row[k] for k in (*IDENTITY, *wanted)})
        return out

    def quote(self, x: Listing) -> dict[str, Any]:
        """Every field of the `all` type: prices as strings with 4 decimals (§6)."""
        ltp, close = self.ltp(x), self.prev_close(x)
        op, hi, lo, volume = self._day_range(x)
        change = ltp - close
        buy, sell = self._depth(x, ltp)
        year_low, year_high = self._year_range(x, lo, hi)

        def f4(v: Decimal) -> str:
            return f"{v:.4f}"

        return {
            "exchange_token": x.token,
            "exchange": x.segment,
            "display_symbol": x.trading_symbol,
            "ltp": f4(ltp),
            "last_traded_quantity": str(x.lot_size),
            "lstup_time": str(int(self.now().timestamp())),
            "last_volume": str(volume),
            "avg_cost": f4(price_on_tick(float(op + hi + lo + ltp) / 4, x.tick)),
            "total_buy": str(10 * sum(int(level["quantity"]) for level in buy)),
            "total_sell": str(10 * sum(int(level["quantity"]) for level in sell)),
            "change": f4(change),
            "per_change": f"{(change * 100 / close) if close else 0:.4f}",
            "ohlc": {
                "open": f4(op),
                "high": f4(max(hi, ltp)),
                "low": f4(min(lo, ltp)),
                "close": f4(close),
            },
            "depth": {"buy": buy, "sell": sell},
            "open_int": str(self._open_interest(x)),
            "year_high": f4(year_high),
            "year_low": f4(year_low),
            "low_price_range": f"{close * Decimal('0.8'):.2f}",
            "high_price_range": f"{close * Decimal('1.2'):.2f}",
        }

    def _depth(self, x: Listing, ltp: Decimal) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Five levels a side around the last price: bids from the LTP down, asks a tick up."""
        bids, asks = self.depth_levels(x, ltp)

        def level(row: Level) -> dict[str, str]:
            return {"price": f"{row[0]:.4f}", "quantity": str(row[1]), "orders": str(row[2])}

        return [level(b) for b in bids], [level(a) for a in asks]

    def depth_levels(
        self, x: Listing, ltp: Decimal, levels: int = DEPTH_LEVELS
    ) -> tuple[list[Level], list[Level]]:
        """`levels` bids from the LTP down and as many asks from a tick up (the REST quote shows
        the first five, the live feed up to twenty)."""
        seed = sum(map(ord, x.token))

        def level(price: Decimal, i: int) -> Level:
            lots = 1 + (seed * (i + 3)) % 17
            return price, lots * x.lot_size * (10 if x.lot_size == 1 else 1), 1 + (seed + i) % 9

        # ask i keeps the index it has always had in the five-level quote (i + 5)
        bids = [level(max(ltp - i * x.tick, x.tick), i) for i in range(levels)]
        asks = [level(ltp + (i + 1) * x.tick, i + DEPTH_LEVELS) for i in range(levels)]
        return bids, asks

    def picture(self, x: Listing) -> Picture:
        """Everything the live feed's packets carry for `x`, as the REST quote computes it."""
        ltp, close = self.ltp(x), self.prev_close(x)
        op, hi, lo, volume = self._day_range(x)
        year_low, year_high = self._year_range(x, lo, hi)
        atp = price_on_tick(float(op + hi + lo + ltp) / 4, x.tick)
        return Picture(
            ltp=ltp,
            close=close,
            open=op,
            high=max(hi, ltp),
            low=min(lo, ltp),
            volume=volume,
            atp=atp,
            year_high=year_high,
            year_low=year_low,
            open_interest=self._open_interest(x),
            at=int(self.now().timestamp()),
        )

    @staticmethod
    def _open_interest(x: Listing) -> int:
        """Contracts outstanding (units) for F&O; cash has none."""
        if not x.segment.endswith("_fo"):
            return 0
        return x.lot_size * (5_000 + sum(map(ord, x.trading_symbol)) * 37 % 95_000)

    def _year_range(self, x: Listing, low: Decimal, high: Decimal) -> tuple[Decimal, Decimal]:
        """A 52-week band: the opening price spread by a year's volatility, widened to hold
        today's range (an approximation; the seeded paths are not walked back a year)."""
        base = float(x.base_price if x.instrument_type != "OPTIDX" else self.prev_close(x))
        spread = base * x.daily_vol * YEAR_TRADING_DAYS**0.5 * 0.8
        year_high = max(high, price_on_tick(base + spread, x.tick))
        year_low = min(low, price_on_tick(max(base - spread, float(x.tick)), x.tick))
        return year_low, year_high

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
                    v *= FUTURES_CARRY
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
    ) -> Candle:
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
            return [v * FUTURES_CARRY for v in spot]
        if x.instrument_type == "OPTIDX":
            day_date = self._day_date(day)
            return [
                option_price(x, v, session_minute_time(day_date, i)) for i, v in enumerate(spot)
            ]
        return spot

    def _day_date(self, day: int) -> date:
        """The calendar date of trading day `day` (0 today, -1 the weekday before, ...)."""
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
        if interval not in INTERVALS and interval not in ("D", "W"):
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
                bars.extend(self.intraday(x, n, INTERVALS[interval]))
        return [
            [t.strftime("%Y-%m-%dT%H:%M:%S+0530"), float(o), float(h), float(lo), float(c), v, 0]
            for t, o, h, lo, c, v in bars
        ]

    def scrip_csv(self, name: str) -> str:
        segment = name.replace("-v1", "")
        return scrip_master_csv(self.universe, segment)
