from __future__ import annotations

import inspect
import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui_trader.broker.rate_limit import RateLimiter
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, OrderType, Product, Side
from gui_trader.engine.order_checks import InvalidOrder, check_order


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def limiter(rate: float, burst: float | None = None) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, burst, clock=clock), clock


def test_the_default_clock_is_monotonic() -> None:
    assert inspect.signature(RateLimiter).parameters["clock"].default is time.monotonic


def test_burst_then_paced_evenly() -> None:
    lim, _ = limiter(10)
    waits = [lim.reserve() for _ in range(30)]
    assert waits[:10] == pytest.approx([0.0] * 10, abs=1e-9)  # the burst
    assert waits[10:] == pytest.approx([0.1 * i for i in range(1, 21)])
    assert waits[-1] == pytest.approx(2.0)  # 30 orders at 10/s: the last one after 2 s


def test_an_explicit_burst_is_honoured() -> None:
    lim, _ = limiter(10, burst=3)
    waits = [lim.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2], abs=1e-9)


def test_a_slow_rate_still_allows_one_request_at_once() -> None:
    lim, _ = limiter(0.5)  # burst defaults to at least one slot
    assert lim.burst == 1.0
    assert [lim.reserve() for _ in range(3)] == pytest.approx([0.0, 2.0, 4.0])


def test_time_passing_frees_slots_at_the_rate() -> None:
    lim, clock = limiter(10)
    assert lim.headroom() == pytest.approx(10)
    for _ in range(10):
        lim.reserve()
    assert lim.headroom() == pytest.approx(0, abs=1e-9)
    assert lim.reserve() == pytest.approx(0.1)  # the 11th waits one interval
    clock.advance(0.6)  # 0.5 s after that slot: five more freed
    assert lim.headroom() == pytest.approx(5)
    assert [lim.reserve() for _ in range(6)] == pytest.approx([0.0] * 5 + [0.1], abs=1e-9)
    clock.advance(60)
    assert lim.headroom() == pytest.approx(10)  # idle time refills to the burst, not beyond


def test_requests_at_the_rate_never_wait() -> None:
    lim, clock = limiter(10, burst=1)
    for _ in range(50):
        assert lim.reserve() == pytest.approx(0.0, abs=1e-9)
        clock.advance(0.1)


def test_retry_after_pauses_everyone() -> None:
    lim, clock = limiter(10)
    lim.pause(1.5)
    waits = [lim.reserve() for _ in range(11)]
    assert waits == pytest.approx([1.5] * 10 + [1.6])  # the burst starts when the pause ends
    assert lim.headroom() == 0
    clock.advance(5)
    assert lim.reserve() == 0.0
    assert lim.headroom() > 0


def test_a_shorter_retry_after_never_shortens_a_pause() -> None:
    lim, clock = limiter(10)
    lim.pause(5)
    lim.pause(1)
    clock.advance(2)
    assert lim.headroom() == 0
    assert lim.reserve() == pytest.approx(3.0)


@pytest.mark.asyncio
async def test_acquire_within_the_burst_does_not_wait() -> None:
    lim, _ = limiter(10)
    await lim.acquire_many(6)
    for _ in range(4):
        await lim.acquire()
    assert lim.waited == pytest.approx(0.0, abs=1e-9)
    assert lim.headroom() == pytest.approx(0, abs=1e-9)
    assert lim.reserve() == pytest.approx(0.1)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    n=st.integers(min_value=1, max_value=200),
)
def test_simultaneous_requests_are_spaced_one_interval_after_the_burst(
    rate: int, burst: int, n: int
) -> None:
    lim, _ = limiter(rate, burst)
    waits = [lim.reserve() for _ in range(n)]
    expected = [max(0.0, (k - burst + 1) / rate) for k in range(n)]
    assert waits == pytest.approx(expected, abs=1e-9)


NIFTY_CE = Instrument(
    "nse_fo",
    "40001",
    "NIFTY24NOV2525900CE",
    "NIFTY",
    "OPTIDX",
    "CE",
    Decimal(25900),
    None,
    lot_size=75,
    tick_size=Decimal("0.05"),
    freeze_qty=1800,
)


@pytest.mark.parametrize(
    ("qty", "price", "message"),
    [
        (0, None, "must be positive"),
        (-75, None, "must be positive"),
        (10, None, "not a multiple of NIFTY24NOV2525900CE's lot size 75"),
        (1875, None, "above NIFTY24NOV2525900CE's freeze limit: at most 1800 per order (24 lots)"),
        (75, Decimal("100.03"), "not on NIFTY24NOV2525900CE's tick of 0.05"),
        (75, Decimal("-5"), "must be positive"),
    ],
)
def test_bad_orders_are_refused(qty: int, price: Decimal | None, message: str) -> None:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    with pytest.raises(InvalidOrder, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_order(OrderRequest(NIFTY_CE, Side.SELL, qty, kind, price, Product.NRML))


def test_a_good_order_passes() -> None:
    check_order(
        OrderRequest(NIFTY_CE, Side.SELL, 1800, OrderType.LIMIT, Decimal("120.05"), Product.NRML)
    )
