"""Paper market data: last prices, quotes, day ranges, candles and the scrip master CSV.

Every price is read off the seeded paths at the exchange's session clock, so a seed and a second
always give the same market; a pinned price overrides the path where a test or a demo needs it.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
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
