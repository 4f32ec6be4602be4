"""Refuse bad orders before they reach the wire, in words a trader understands."""

from __future__ import annotations

from decimal import Decimal

from gui_trader.core.order import OrderRequest, OrderType


class InvalidOrder(ValueError):
    pass


def check_order(req: OrderRequest) -> None:
    x = req.instrument
    sym = x.trading_symbol
    if not x.tradable:
        raise InvalidOrder(f"{sym} cannot be traded (an index or a quote-only segment)")
    if req.qty <= 0:
        raise InvalidOrder(f"quantity must be positive, got {req.qty}")
    if req.qty % x.lot_size:
        lower = (req.qty // x.lot_size) * x.lot_size
        raise InvalidOrder(
            f"quantity {req.qty} is not a multiple of {sym}'s lot size "
            f"{x.lot_size} (try {lower or x.lot_size} or {lower + x.lot_size})"
        )
    if x.max_order_qty and req.qty > x.max_order_qty:
        raise InvalidOrder(
            f"quantity {req.qty} is above {sym}'s freeze limit: at most "
            f"{x.max_order_qty} per order ({x.max_order_qty // x.lot_size} lots)"
        )
    needs_price = req.order_type in (OrderType.LIMIT, OrderType.STOP)
    if needs_price:
        _check_price("price", req.price, req)
    elif req.price not in (None, Decimal(0)):
        raise InvalidOrder("a market order takes no price (use --price for a limit order)")
    if req.order_type in (OrderType.STOP, OrderType.STOP_MARKET):
        _check_price("trigger price", req.trigger_price, req)


def _check_price(what: str, price: Decimal | None, req: OrderRequest) -> None:
    x = req.instrument
    if price is None:
        raise InvalidOrder(f"a {req.order_type.name.lower()} order needs a {what}")
    if price <= 0:
        raise InvalidOrder(f"{what} must be positive, got {price}")
    if not x.price_on_tick(price):
        down, up = x.round_price(price, "down"), x.round_price(price, "up")
        raise InvalidOrder(
            f"{what} {price} is not on {x.trading_symbol}'s tick of "
            f"{x.tick_size.normalize()} (nearest {down} or {up})"
        )
    if x.low_band and x.high_band and not (x.low_band <= price <= x.high_band):
        raise InvalidOrder(f"{what} {price} is outside today's band {x.low_band}-{x.high_band}")
