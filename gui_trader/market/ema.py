"""EMA9 of daily closes, as pandas `ewm(span=9, adjust=False)` computes it, updated in O(1).

y0 = x0; y_t = alpha * x_t + (1 - alpha) * y_(t-1), alpha = 2 / (span + 1). Yesterday's value is
computed once from at least 60 closes (the starting value's weight, (1 - alpha)^60 ~ 1.5e-6, is
then far below a tick); today's value is one multiply-add per tick.
"""

from __future__ import annotations

from collections.abc import Iterable

SPAN = 9
ALPHA = 2.0 / (SPAN + 1)
MIN_CLOSES = 60


def ema(values: Iterable[float], span: int = SPAN) -> float:
    alpha = 2.0 / (span + 1)
    it = iter(values)
    try:
        y = float(next(it))
    except StopIteration:
        raise ValueError("no values") from None
    for x in it:
        y = alpha * float(x) + (1.0 - alpha) * y
    return y


def ema_series(values: Iterable[float], span: int = SPAN) -> list[float]:
    """Every point of the EMA (the chart's line), by the same recursion as `ema`."""
    alpha = 2.0 / (span + 1)
    out: list[float] = []
    for x in values:
        out.append(float(x) if not out else alpha * float(x) + (1.0 - alpha) * out[-1])
    return out


def ema_today(ema_yesterday: float, ltp: float, alpha: float = ALPHA) -> float:
    return alpha * ltp + (1.0 - alpha) * ema_yesterday
