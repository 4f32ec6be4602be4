"""Positions and holdings priced with live quotes: one quotes round for both, exact P&L."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from gui_trader.broker.base import Broker
from gui_trader.core.portfolio import Holding, Position

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    product: str
    net_qty: int
    avg_price: Decimal
    ltp: Decimal
    pnl: Decimal
    realized: Decimal = Decimal(0)  # booked by what was closed today; pnl - realized is open
    segment: str = ""


@dataclass(frozen=True, slots=True)
class HoldingView:
    symbol: str
    qty: int
    sellable: int
    avg_price: Decimal
    ltp: Decimal
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class PortfolioView:
    positions: list[PositionView]
    holdings: list[HoldingView]

    @property
    def positions_pnl(self) -> Decimal:
        return sum((p.pnl for p in self.positions), Decimal(0))

    @property
    def holdings_pnl(self) -> Decimal:
        return sum((h.pnl for h in self.holdings), Decimal(0))


async def last_prices(broker: Broker, keys: list[str]) -> dict[str, Decimal]:
    return {q.key: q.ltp for q in await broker.quotes(keys)} if keys else {}


def price_positions(positions: list[Position], ltp: dict[str, Decimal]) -> list[PositionView]:
    out = []
    for p in positions:
        price = ltp.get(p.key, p.ltp)
        out.append(
            PositionView(
                p.trading_symbol,
                p.product,
                p.net_qty,
                p.avg_price,
                price,
                p.pnl(price).quantize(CENT),
                p.realized,
                p.segment,
            )
        )
    return out


def price_holdings(holdings: list[Holding], ltp: dict[str, Decimal]) -> list[HoldingView]:
    out = []
    for h in holdings:
        price = ltp.get(h.key, h.close_price)
        out.append(
            HoldingView(
                h.symbol,
                h.qty,
                h.sellable_qty,
                h.avg_price.quantize(CENT),
                price,
                h.pnl(price).quantize(CENT),
            )
        )
    return out


async def portfolio(
    broker: Broker, *, positions: bool = True, holdings: bool = True
) -> PortfolioView:
    """Books fetched together, then one (chunked) quotes round for every symbol in them."""
    empty_p: list[Position] = []
    empty_h: list[Holding] = []

    async def nothing_p() -> list[Position]:
        return empty_p

    async def nothing_h() -> list[Holding]:
        return empty_h

    pos, hold = await asyncio.gather(
        broker.positions() if positions else nothing_p(),
        broker.holdings() if holdings else nothing_h(),
    )
    keys = list(dict.fromkeys([p.key for p in pos] + [h.key for h in hold]))
    ltp = await last_prices(broker, keys)
    return PortfolioView(price_positions(pos, ltp), price_holdings(hold, ltp))
