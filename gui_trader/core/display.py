"""Numbers and times as an Indian trader reads them: ₹5,85,25,354.58 and the IST clock.

One place decides the grouping (lakh/crore by default, a setting for international) so the
window, its dialogs and the CLI never disagree about what a figure looks like.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from gui_trader.core.clock import IST, now_ist

Grouping = Literal["indian", "international"]
_grouping: Grouping = "indian"


def set_grouping(style: str) -> Grouping:
    """ "indian" (12,34,567.00) or "international" (1,234,567.00); anything else is indian."""
    global _grouping
    _grouping = "international" if style == "international" else "indian"
    return _grouping


def grouping() -> Grouping:
    return _grouping


def group(digits: str) -> str:
    """Commas in a run of digits: the last three, then pairs (indian) or threes."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    step = 2 if _grouping == "indian" else 3
    parts: list[str] = []
    while len(head) > step:
        parts.insert(0, head[-step:])
        head = head[:-step]
    if head:
        parts.insert(0, head)
    return ",".join([*parts, tail])


def _to_decimal(value: Decimal | float | int) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def amount(value: Decimal | float | int | None, *, sign: bool = False, places: int = 2) -> str:
    """Grouped, always ``places`` decimals; ``sign`` puts + on gains. None -> ""."""
    if value is None:
        return ""
    number = _to_decimal(value)
    if not number.is_finite():
        return "—"
    q = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    negative = q < 0
    text = f"{abs(q):f}"
    whole, _, frac = text.partition(".")
    body = group(whole) + (f".{frac}" if places else "")
    if negative and q != 0:
        return "-" + body
    return ("+" + body) if sign and q != 0 else body


def rupees(value: Decimal | float | int | None, *, sign: bool = False) -> str:
    """₹ amount with two decimals: "₹5,85,25,354.58", "-₹1,536.50", "+₹5,354.00" (sign=True)."""
    text = amount(value, sign=sign)
    if not text or text == "—":
        return text
    if text[0] in "+-":
        return f"{text[0]}₹{text[1:]}"
    return f"₹{text}"


def price(value: Decimal | float | int | None) -> str:
    """A price: grouped, two decimals (every NSE tick is a multiple of 0.01)."""
    return amount(value)


def quantity(value: int | None, *, sign: bool = False) -> str:
    return "" if value is None else amount(value, sign=sign, places=0)


def percent(value: Decimal | float | None, *, sign: bool = True) -> str:
    """ "+1.25 %" style; None -> ""."""
    if value is None:
        return ""
    return f"{amount(value, sign=sign)}%"


def clock(at: datetime | None, *, now: datetime | None = None, seconds: bool = True) -> str:
    """An IST time; with the date when it is not today (IST): "14:32:05", "05 Dec 14:32:05".

    A naive datetime is taken as IST (the broker's and the simulator's times are IST).
    """
    if at is None:
        return ""
    local = at.replace(tzinfo=IST) if at.tzinfo is None else at.astimezone(IST)
    today: date = (now or now_ist()).astimezone(IST).date()
    time_text = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    if local.date() == today:
        return time_text
    if local.year == today.year:
        return f"{local.strftime('%d %b')} {time_text}"
    return f"{local.strftime('%d %b %Y')} {time_text}"
