"""Quotes and candles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from gui_trader.core.instrument import instrument_key
from gui_trader.core.money import ZERO


@dataclass(frozen=True, slots=True)
class Quote:
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
