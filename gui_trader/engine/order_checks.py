"""Refuse bad orders before they reach the wire, in words a trader understands."""

from __future__ import annotations

from decimal import Decimal

from gui_trader.core.limits import MAX_PRICE, MAX_QTY, PRODUCTS_BY_SEGMENT
from gui_trader.core.order import OrderRequest, OrderType, Product

# What each product is, for the message when it is used in the wrong segment.
_PRODUCT_IS = {
    Product.CNC: "CNC is delivery in the cash segment",
    Product.MTF: "MTF is margin trading in the cash segment",
    Product.NRML: "NRML is for F&O",
}


class InvalidOrder(ValueError):
    """The order would be refused by the exchange, or is plainly not what anyone meant."""


def check_order(req: OrderRequest) -> None:
    x = req.instrument
    sym = x.trading_symbol
    if not x.tradable:
        raise InvalidOrder(f"{sym} cannot be traded (an index or a quote-only segment)")
    _check_product(req)
    for what, value in (("price", req.price), ("trigger price", req.trigger_price)):
        if value is not None and not value.is_finite():  # NaN would even break the comparisons
            raise InvalidOrder(f"{what} must be a number, got {value}")
    if req.qty <= 0:
        raise InvalidOrder(f"quantity must be positive, got {req.qty}")
    if req.qty > MAX_QTY:
        raise InvalidOrder(f"quantity {req.qty} is above the {MAX_QTY} units one order may carry")
    if req.qty % x.lot_size:
        lower = (req.qty // x.lot_size) * x.lot_size
        near = " or ".join(str(q) for q in sorted({lower or x.lot_size, lower + x.lot_size}))
        raise InvalidOrder(
            f"quantity {req.qty} is not a multiple of {sym}'s lot size {x.lot_size} (try {near})"
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


def _check_product(req: OrderRequest) -> None:
    """A product the segment does not have is rejected by the exchange (or worse, mapped to
    something else): refuse it here, naming the ones that exist."""
    x = req.instrument
    allowed = PRODUCTS_BY_SEGMENT.get(x.segment)
    if not allowed:
        raise InvalidOrder(
            f"{x.trading_symbol} ({x.segment}): no product is known for this segment"
        )
    if req.product.value not in allowed:
        choices = ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else allowed[0]
        what = _PRODUCT_IS.get(req.product, f"{req.product.value} is not offered here")
        raise InvalidOrder(f"{what}; {x.trading_symbol} ({x.segment}) takes {choices}")


def _check_price(what: str, price: Decimal | None, req: OrderRequest) -> None:
    x = req.instrument
    if price is None:
        raise InvalidOrder(f"a {req.order_type.name.lower()} order needs a {what}")
    if price <= 0:
        raise InvalidOrder(f"{what} must be positive, got {price}")
    if price > MAX_PRICE:
        raise InvalidOrder(f"{what} {price} is above the largest price accepted, {MAX_PRICE}")
    if not x.price_on_tick(price):
        down, up = x.round_price(price, "down"), x.round_price(price, "up")
        raise InvalidOrder(
            f"{what} {price} is not on {x.trading_symbol}'s tick of "
            f"{x.tick_size.normalize()} (nearest {down} or {up})"
        )
    if x.low_band and x.high_band and not (x.low_band <= price <= x.high_band):
        raise InvalidOrder(f"{what} {price} is outside today's band {x.low_band}-{x.high_band}")
