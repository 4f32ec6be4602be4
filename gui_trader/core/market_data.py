"""Quotes and candles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from gui_trader.core.instrument import instrument_key
from gui_trader.core.money import ZERO


@dataclass(frozen=True, slots=True)
class DepthLevel:
    price: Decimal
    qty: int
    orders: int = 0


@dataclass(frozen=True, slots=True)
class Quote:
    """One instrument's market picture, from a REST quote (`source` "poll") or a feed tick."""

    segment: str
    token: str
    symbol: str
    ltp: Decimal
    prev_close: Decimal = ZERO
    open: Decimal = ZERO
    high: Decimal = ZERO
    low: Decimal = ZERO
    volume: int = 0
    time: datetime | None = None
    bid: Decimal = ZERO  # best bid / ask (ZERO: not known)
    ask: Decimal = ZERO
    bid_qty: int = 0
    ask_qty: int = 0
    open_interest: int = 0
    bids: tuple[DepthLevel, ...] = ()  # up to 5 levels, best first
    asks: tuple[DepthLevel, ...] = ()
    source: str = "poll"

    @property
    def key(self) -> str:
        return instrument_key(self.segment, self.token)

    @property
    def change(self) -> Decimal:
        return self.ltp - self.prev_close if self.prev_close else ZERO

    @property
    def change_pct(self) -> Decimal:
        if not self.prev_close:
            return ZERO
        return (self.change * 100 / self.prev_close).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class Candle:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int = 0
