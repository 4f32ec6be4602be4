"""The paper exchange's records: orders, fills, holdings, and each account's book of them.

Kept apart from the code that changes them so matching, the wire rows and persistence can all
read the same records without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from gui_trader.core.money import ZERO
from gui_trader.sim.prices import on_tick as price_on_tick
from gui_trader.sim.universe import Universe, demo_holdings

PAPER_CASH = Decimal("100000000")  # ₹10 crore: enough margin for the seed's 167-lot straddle
TERMINAL = ("complete", "rejected", "cancelled")
AMO_WAITING = "after market order req received"  # an AMO before the market opens


@dataclass
class SimOrder:
    no: str
    tag: str | None
    ts: str
    seg: str
    tok: str
    side: str
    qty: int
    price: Decimal
    trigger: Decimal
    pt: str
    prod: str
    validity: str
    created: datetime
    status: str = "open"
    filled: int = 0
    avg: Decimal = ZERO
    rej: str = "--"
    history: list[tuple[str, datetime]] = field(default_factory=list)
    amo: bool = False  # placed after market: waits for the open before it can fill


@dataclass
class SimFill:
    fill_id: str
    no: str
    ts: str
    seg: str
    tok: str
    side: str
    qty: int
    price: Decimal
    prod: str
    tag: str | None
    at: datetime


@dataclass
class SimHolding:
    qty: int
    avg: Decimal
    sold: int = 0  # sold today (sellable = qty - sold - blocked)


@dataclass
class Book:
    cash: Decimal = PAPER_CASH
    orders: dict[str, SimOrder] = field(default_factory=dict)
    fills: list[SimFill] = field(default_factory=list)
    holdings: dict[str, SimHolding] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    working: set[str] = field(default_factory=set)  # order numbers not yet terminal
    net: dict[tuple[str, str], int] = field(default_factory=dict)  # (symbol, product) -> qty
    dirty: set[str] = field(default_factory=set)  # orders changed since the store last wrote

    @classmethod
    def opening(cls, universe: Universe) -> Book:
        """A new paper account holds the demo portfolio, so the monitor has work at once."""
        book = cls()
        for sym, qty, ratio in demo_holdings(universe):
            x = universe.by_symbol[f"{sym}-EQ"]
            avg = price_on_tick(float(x.base_price * Decimal(ratio)), x.tick)
            book.holdings[x.trading_symbol] = SimHolding(qty, avg)
        return book

    def position(self, ts: str, prod: str) -> int:
        return self.net.get((ts, prod), 0)

    def count_fill(self, f: SimFill) -> None:
        key = (f.ts, f.prod)
        self.net[key] = self.net.get(key, 0) + (f.qty if f.side == "B" else -f.qty)

    def blocked(self, ts: str) -> int:
        """Quantity that working CNC sells already claim from the holding."""
        return sum(
            o.qty - o.filled
            for o in map(self.orders.__getitem__, self.working)
            if o.ts == ts and o.side == "S" and o.prod == "CNC"
        )

    def set_status(self, o: SimOrder, status: str, at: datetime) -> None:
        """Record a status change; `working` indexes the orders matching still has to visit."""
        o.status = status
        o.history.append((status, at))
        self.dirty.add(o.no)
        if status in TERMINAL:
            self.working.discard(o.no)
        else:
            self.working.add(o.no)
