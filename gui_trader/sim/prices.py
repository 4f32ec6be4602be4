"""Seeded price paths: the same seed gives the same market, so tests and demos are repeatable.

Each listing's day `d` (0 = today, negative = history) is a minute random walk scaled from that
day's open; days chain through an overnight gap. Options are priced from the NIFTY path.
"""

from __future__ import annotations

import math
import zlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np

from gui_trader.core.clock import IST
from gui_trader.core.money import round_to_tick
from gui_trader.sim.universe import Listing

SESSION_MINUTES = 375  # 09:15-15:30
RATE = 0.065
BASE_IV = 0.12


class PricePaths:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rel: dict[tuple[str, int, int], np.ndarray] = {}
        self._open: dict[tuple[str, int], float] = {}
        # (symbol, day) -> (minute, price at its start, price at its end): the live feed asks
        # for every subscribed price several times a second, mostly within one minute
        self._pairs: dict[tuple[str, int], tuple[int, float, float]] = {}

    def _rng(self, symbol: str, day: int, block: int) -> np.random.Generator:
        entropy = [self.seed, zlib.crc32(symbol.encode()), day + 100_000, block + 10]
        return np.random.default_rng(entropy)

    def _relative(self, x: Listing, day: int, block: int) -> np.ndarray:
        """Cumulative minute returns for one block of a session (block 0 is 09:15-15:30)."""
        key = (x.trading_symbol, day, block)
        rel = self._rel.get(key)
        if rel is None:
            sigma = x.daily_vol / math.sqrt(SESSION_MINUTES)
            steps = self._rng(x.trading_symbol, day, block).normal(0.0, sigma, SESSION_MINUTES)
            rel = np.exp(np.concatenate(([0.0], np.cumsum(steps))))
            self._rel[key] = rel
        return rel

    def _gap(self, x: Listing, day: int) -> float:
        return float(math.exp(self._rng(x.trading_symbol, day, -1).normal(0.0, x.daily_vol * 0.4)))

    def day_open(self, x: Listing, day: int) -> float:
        """Opens chain through each day's close and the overnight gap; cached per day."""
        sym = x.trading_symbol
        self._open.setdefault((sym, 0), float(x.base_price))
        step = -1 if day < 0 else 1
        d = day
        while (sym, d) not in self._open:
            d -= step
        while d != day:
            here = self._open[(sym, d)]
            if step < 0:  # open(d-1) = open(d) / gap(d) / close_rel(d-1)
                price = here / self._gap(x, d) / float(self._relative(x, d - 1, 0)[-1])
            else:
                price = here * float(self._relative(x, d, 0)[-1]) * self._gap(x, d + 1)
            d += step
            self._open[(sym, d)] = price
        return self._open[(sym, day)]

    def minute_path(self, x: Listing, day: int, minutes: int) -> np.ndarray:
        """Prices at each minute boundary 0..minutes; past 375 the walk simply goes on."""
        blocks = max(1, math.ceil(minutes / SESSION_MINUTES))
        level = self.day_open(x, day)
        parts: list[np.ndarray] = []
        for b in range(blocks):
            rel = self._relative(x, day, b) * level
            parts.append(rel if b == 0 else rel[1:])
            level = float(rel[-1])
        return np.concatenate(parts)[: minutes + 1]

    def price_at(self, x: Listing, day: int, seconds: float) -> float:
        minute = int(seconds // 60)
        key = (x.trading_symbol, day)
        pair = self._pairs.get(key)
        if pair is None or pair[0] != minute:
            path = self.minute_path(x, day, minute + 1)
            pair = self._pairs[key] = (minute, float(path[minute]), float(path[minute + 1]))
        _, start, end = pair
        frac = (seconds - minute * 60) / 60.0
        return start + (end - start) * frac

    def daily_bar(self, x: Listing, day: int) -> tuple[float, float, float, float, int]:
        path = self.minute_path(x, day, SESSION_MINUTES)
        vol = int(self._rng(x.trading_symbol, day, -2).integers(200_000, 2_000_000))
        return float(path[0]), float(path.max()), float(path.min()), float(path[-1]), vol


def black_scholes(spot: float, strike: float, years: float, vol: float, kind: str) -> float:
    if years <= 0 or vol <= 0:
        return max(0.0, spot - strike) if kind == "CE" else max(0.0, strike - spot)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (RATE + 0.5 * vol * vol) * years) / sd
    d2 = d1 - sd
    n = _norm_cdf
    disc = math.exp(-RATE * years)
    if kind == "CE":
        return spot * n(d1) - strike * disc * n(d2)
    return strike * disc * n(-d2) - spot * n(-d1)


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def option_price(x: Listing, spot: float, now: datetime) -> float:
    assert x.strike is not None and x.expiry is not None
    expiry_at = datetime.combine(x.expiry, time(15, 30), IST)
    years = max((expiry_at - now).total_seconds(), 0.0) / (365.0 * 86400.0)
    moneyness = abs(math.log(float(x.strike) / spot))
    vol = BASE_IV + 0.6 * moneyness  # a simple smile
    return black_scholes(spot, float(x.strike), years, vol, x.option_type)


def on_tick(value: float, tick: Decimal) -> Decimal:
    price = round_to_tick(Decimal(repr(value)), tick)
    return max(price, tick)


def session_minute_time(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(9, 15), IST) + timedelta(minutes=minute)
