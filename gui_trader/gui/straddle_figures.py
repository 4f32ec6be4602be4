"""The straddle's money, from its legs' fills as they land: premium collected (or paid),
premium per unit, and the breakevens at expiry. Pure (no Qt): the panel shows these."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from gui_trader.engine.events import LegProgress
from gui_trader.engine.straddle_plan import Leg


def breakevens(
    call_strike: Decimal, put_strike: Decimal, per_unit: Decimal
) -> tuple[Decimal, Decimal]:
    """Where a short straddle (or strangle) stops making money at expiry: the put strike less
    the combined premium per unit, and the call strike plus it (strike ± premium when the
    strikes are one)."""
    return put_strike - per_unit, call_strike + per_unit


@dataclass
class LegFills:
    """Every leg order's latest fill (quantity and average price), by (batch, leg, slice)."""

    fills: dict[tuple[int, str, int], tuple[int, Decimal]] = field(default_factory=dict)

    def apply(self, e: LegProgress) -> None:
        if e.filled and e.avg_price is not None:
            self.fills[(e.batch, e.leg, e.slice)] = (e.filled, e.avg_price)

    def clear(self) -> None:
        self.fills.clear()

    def qty(self, leg: Leg) -> int:
        return sum(q for (_, kind, _), (q, _) in self.fills.items() if kind == leg)

    def value(self, leg: Leg) -> Decimal:
        return sum(
            (q * p for (_, kind, _), (q, p) in self.fills.items() if kind == leg), Decimal(0)
        )

    def average(self, leg: Leg) -> Decimal | None:
        qty = self.qty(leg)
        return self.value(leg) / qty if qty else None

    @property
    def total(self) -> Decimal:
        """The premium of every fill so far, both legs (collected on a sell, paid on a buy)."""
        return self.value(Leg.CE) + self.value(Leg.PE)

    @property
    def per_unit(self) -> Decimal | None:
        """CE average + PE average: None until both legs have filled something."""
        ce, pe = self.average(Leg.CE), self.average(Leg.PE)
        return None if ce is None or pe is None else ce + pe


__all__ = ["LegFills", "breakevens"]
