"""EMA9 equals pandas ewm(span=9, adjust=False) over the same closes with today's LTP appended."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui_trader.market.ema import ema, ema_today

prices = st.floats(min_value=1.0, max_value=50_000.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(closes=st.lists(prices, min_size=60, max_size=400), ltp=prices)
def test_ema9_matches_pandas(closes: list[float], ltp: float) -> None:
    ours = ema_today(ema(closes), ltp)
    theirs = pd.Series([*closes, ltp]).ewm(span=9, adjust=False).mean().iloc[-1]
    assert math.isclose(ours, theirs, rel_tol=0, abs_tol=1e-9)


def test_sixty_closes_make_the_start_irrelevant() -> None:
    base = [100.0] * 60
    a = ema([100.0, *base])
    b = ema([10_000.0, *base])  # a wild first close
    assert abs(a - b) < 0.05  # below one tick: the recursion has forgotten where it started


def test_the_chart_line_is_the_same_recursion_as_pandas() -> None:
    from gui_trader.market.ema import ema_series

    closes = [100.0, 101.5, 99.25, 102.0, 98.0, 97.5, 103.0, 104.25, 101.0, 100.5]
    want = pd.Series(closes).ewm(span=9, adjust=False).mean().tolist()
    assert ema_series(closes) == pytest.approx(want, abs=1e-12)
    assert ema_series([]) == []
