"""Exact prices: Decimal in rupees, always on the instrument's tick."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)


def to_decimal(value: object) -> Decimal:
    """Parse a broker number ("1500.00", 1500, "1.485e+07", "--") without float rounding."""
    if isinstance(value, Decimal):
        return value
    if value is None:
        return ZERO
    text = str(value).strip()
    if text in ("", "--", "NA", "null", "None"):
        return ZERO
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not number.is_finite():  # NaN / Infinity never become a price or a quantity
        raise ValueError(f"not a finite number: {value!r}")
    return number


def on_tick(price: Decimal, tick: Decimal) -> bool:
    return tick > 0 and (price / tick) == (price / tick).to_integral_value()


def round_to_tick(price: Decimal, tick: Decimal, mode: str = "nearest") -> Decimal:
    """Round to the tick: "down" for a sell that must not be above a target, "up" for a buy cap.

    "nearest" rounds half to even so repeated rounding never drifts one way.
    """
    rounding = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}[mode]
    steps = (price / tick).quantize(Decimal(1), rounding=rounding)
    return (steps * tick).quantize(tick)


def wire_price(price: Decimal | None) -> str:
    """Prices go on the wire as strings with two decimals; "0" for market orders."""
    if price is None or price == 0:
        return "0"
    return f"{price:.2f}"
