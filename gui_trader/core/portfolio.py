"""Positions, holdings and funds as the trader reads them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gui_trader.core.instrument import instrument_key
from gui_trader.core.money import ZERO


@dataclass(frozen=True, slots=True)
class Position:
    trading_symbol: str
    segment: str
    token: str
    product: str
    buy_qty: int
    sell_qty: int
    buy_amount: Decimal
    sell_amount: Decimal
    multiplier: Decimal = Decimal(1)  # nf: multiplier x gen x prc factors
    ltp: Decimal = ZERO

    @property
    def key(self) -> str:
        """The instrument's quote key (a position is one per key and product)."""
        return instrument_key(self.segment, self.token)

    @property
    def net_qty(self) -> int:
        return self.buy_qty - self.sell_qty

    @property
    def avg_price(self) -> Decimal:
        """Average of the side with the larger quantity (Kotak's rule); 0 when flat."""
        if self.net_qty > 0 and self.buy_qty:
            return (self.buy_amount / (self.buy_qty * self.multiplier)).quantize(Decimal("0.01"))
        if self.net_qty < 0 and self.sell_qty:
            return (self.sell_amount / (self.sell_qty * self.multiplier)).quantize(Decimal("0.01"))
        return ZERO

    def pnl(self, ltp: Decimal | None = None) -> Decimal:
        price = self.ltp if ltp is None else ltp
        return (self.sell_amount - self.buy_amount) + self.net_qty * price * self.multiplier

    @property
    def realized(self) -> Decimal:
        """What the closed part booked: the matched quantity at each side's average, to the
        paisa (the open part's P&L is the rest, so the total stays exact)."""
        matched = min(self.buy_qty, self.sell_qty)
        if not matched:
            return Decimal("0.00")
        booked = (
            self.sell_amount * matched / self.sell_qty - self.buy_amount * matched / self.buy_qty
        )
        return booked.quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    trading_symbol: str
    segment: str
    token: str  # exchangeIdentifier: the exchange token (not instrumentToken)
    qty: int
    sellable_qty: int
    avg_price: Decimal
    close_price: Decimal = ZERO
    ltp: Decimal = ZERO

    @property
    def key(self) -> str:
        return instrument_key(self.segment, self.token)

    def pnl(self, ltp: Decimal | None = None) -> Decimal:
        price = self.ltp if ltp is None else ltp
        return (price - self.avg_price) * self.qty


@dataclass(frozen=True, slots=True)
class Funds:
    available: Decimal
    margin_used: Decimal
    collateral: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class MarginCheck:
    required: Decimal
    available: Decimal
    ok: bool
    shortfall: Decimal = ZERO
