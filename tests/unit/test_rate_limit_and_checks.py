from __future__ import annotations

from decimal import Decimal

import pytest

from gui_trader.broker.rate_limit import RateLimiter
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, OrderType, Product, Side
from gui_trader.engine.order_checks import InvalidOrder, check_order


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def limiter(rate: float) -> tuple[RateLimiter, Clock]:
    lim, clock = RateLimiter(rate), Clock()
    lim._now = clock  # type: ignore[method-assign]
    return lim, clock


def test_burst_then_paced_evenly() -> None:
    lim, _ = limiter(10)
    waits = [lim.reserve() for _ in range(30)]
    assert waits[:10] == pytest.approx([0.0] * 10, abs=1e-9)  # the burst
    assert waits[10:] == pytest.approx([0.1 * i for i in range(1, 21)])
    assert waits[-1] == pytest.approx(2.0)  # 30 orders at 10/s: the last one after 2 s


def test_retry_after_pauses_everyone() -> None:
    lim, clock = limiter(10)
    lim.pause(1.5)
    assert lim.reserve() == pytest.approx(1.5)
    assert lim.headroom() == 0
    clock.t += 5
    assert lim.reserve() == 0.0


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
