"""engine/straddle_plan.py, the planner: lots -> batches -> freeze slices -> orders, bounded first.

The instruments are the paper exchange's NIFTY options for a fixed day (lot 75, freeze 1,800 =
24 lots, tick 0.05, strikes 24,650-27,150 every 50), so nothing here depends on today's date.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui_trader.core.limits import (
    MAX_BATCHES,
    MAX_BUFFER_PCT,
    MAX_DELAY_S,
    MAX_LOTS,
    MAX_PLAN_ORDERS,
)
from gui_trader.core.money import on_tick
from gui_trader.core.order import OrderType, Side
from gui_trader.core.portfolio import MarginCheck
from gui_trader.engine.straddle_plan import (
    StraddlePlan,
    StraddleSpec,
    freeze_slices,
    limit_price,
    plan_straddle,
    spec_problems,
    split_lots,
)
from gui_trader.market.instruments import InstrumentStore
from gui_trader.market.scrip_master import parse_scrip_master
from gui_trader.sim.exchange import Exchange

TODAY = date(2026, 12, 1)  # a Tuesday: the paper exchange lists weekly expiries from it
STORE = InstrumentStore(parse_scrip_master(Exchange(today=TODAY).scrip_csv("nse_fo"), "nse_fo"))
EXPIRY = STORE.expiries("NIFTY")[0]
STRIKE = Decimal(25900)
CALL = STORE.option("NIFTY", EXPIRY, STRIKE, "CE")
PUT = STORE.option("NIFTY", EXPIRY, STRIKE, "PE")
LOT = CALL.lot_size
FREEZE_LOTS = CALL.max_order_qty // LOT
TICK = Decimal("0.05")


def spec(**kw: object) -> StraddleSpec:
    base: dict[str, object] = {
        "underlying": "NIFTY",
        "expiry": EXPIRY,
        "lots": 167,
        "batch_lots": 20,
        "call_strike": STRIKE,
    }
    base.update(kw)
    return StraddleSpec(**base)  # type: ignore[arg-type]


def plan(
    s: StraddleSpec,
    *,
    store: InstrumentStore = STORE,
    spot: Decimal | None = Decimal("25912.40"),
    ltps: dict[str, Decimal] | None = None,
    today: date = TODAY,
    market_open: bool = True,
    margin: MarginCheck | None = None,
) -> StraddlePlan:
    return plan_straddle(
        s,
        store,
        spot=spot,
        ltps=ltps or {},
        today=today,
        market_open=market_open,
        orders_per_second=10,
        rtt_s=0.1,
        margin=margin,
    )


def test_the_fixture_is_what_the_numbers_below_assume() -> None:
    assert (LOT, CALL.max_order_qty, FREEZE_LOTS, CALL.tick_size) == (75, 1800, 24, TICK)
    assert EXPIRY == TODAY


# ------------------------------------------------------------------------------- split_lots
@pytest.mark.parametrize(
    ("lots", "per_batch", "batches"),
    [
        (167, 20, [20] * 8 + [7]),
        (20, 20, [20]),
        (5, 20, [5]),
        (40, 20, [20, 20]),
        (1, 1, [1]),
    ],
)
def test_split_lots(lots: int, per_batch: int, batches: list[int]) -> None:
    assert split_lots(lots, per_batch) == batches


@given(lots=st.integers(0, 100_000), per_batch=st.integers(1, 10_000))
def test_split_lots_adds_up_with_only_the_last_batch_short(lots: int, per_batch: int) -> None:
    parts = split_lots(lots, per_batch)
    assert sum(parts) == lots
    assert len(parts) == math.ceil(lots / per_batch)
    assert all(0 < p <= per_batch for p in parts)
    assert all(p == per_batch for p in parts[:-1])


# ------------------------------------------------------------------------------- freeze_slices
@pytest.mark.parametrize(
    ("lots", "max_lots", "slices"),
    [(20, 24, [20]), (24, 24, [24]), (50, 24, [24, 24, 2]), (50, 0, [50]), (50, -1, [50])],
)
def test_freeze_slices(lots: int, max_lots: int, slices: list[int]) -> None:
    assert freeze_slices(lots, max_lots) == slices


# ------------------------------------------------------------------------------- limit_price
@pytest.mark.parametrize(
    ("ltp", "side", "buffer", "price"),
    [
        ("100.03", Side.SELL, "0", "100.00"),  # sells round down
        ("100.03", Side.BUY, "0", "100.05"),  # buys round up
        ("100.00", Side.SELL, "1", "99.00"),
        ("100.00", Side.BUY, "1", "101.00"),
        ("10.01", Side.BUY, "2", "10.25"),  # 10.2102 up to the tick
        ("10.01", Side.SELL, "2", "9.80"),  # 9.8098 down to the tick
        ("0.05", Side.SELL, "20", "0.05"),  # 0.04 would round to 0: never below one tick
        ("0.01", Side.BUY, "0", "0.05"),
    ],
)
def test_limit_price(ltp: str, side: Side, buffer: str, price: str) -> None:
    assert limit_price(Decimal(ltp), side, Decimal(buffer), TICK) == Decimal(price)


@settings(max_examples=300, deadline=None)
@given(
    ltp=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100_000), places=2),
    buffer=st.decimals(min_value=Decimal(0), max_value=MAX_BUFFER_PCT, places=2),
    side=st.sampled_from([Side.SELL, Side.BUY]),
    tick=st.sampled_from([Decimal("0.05"), Decimal("0.10"), Decimal(1)]),
)
def test_limit_price_is_marketable_on_the_tick_and_at_least_one_tick(
    ltp: Decimal, buffer: Decimal, side: Side, tick: Decimal
) -> None:
    price = limit_price(ltp, side, buffer, tick)
    assert on_tick(price, tick) and price >= tick
    if side is Side.SELL:
        target = ltp * (100 - buffer) / 100
        assert price <= max(target, tick)  # never a worse (higher) ask than asked for
        assert price > target - tick
    else:
        target = ltp * (100 + buffer) / 100
        assert target <= price < target + tick


# ------------------------------------------------------------------------------- spec_problems
def test_a_sensible_spec_has_no_problems() -> None:
    assert spec_problems(spec()) == []
    assert spec_problems(spec(delay_s=None)) == []  # paced by the account's rate


@pytest.mark.parametrize(
    "edge",
    [
        {"lots": 1, "batch_lots": 1},
        {"lots": MAX_LOTS, "batch_lots": MAX_LOTS // MAX_BATCHES},  # exactly MAX_BATCHES
        {"batch_lots": MAX_LOTS},
        {"delay_s": 0.0},
        {"delay_s": float(MAX_DELAY_S)},
        {"buffer_pct": Decimal(0)},
        {"buffer_pct": MAX_BUFFER_PCT},
    ],
)
def test_the_documented_bounds_are_accepted(edge: dict[str, object]) -> None:
    assert spec_problems(spec(**edge)) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"lots": 0}, "lots must be 1-10,000, got 0"),
        ({"lots": MAX_LOTS + 1}, "lots must be 1-10,000, got 10001"),
        ({"batch_lots": 0}, "lots per batch must be 1-10,000, got 0"),
        ({"batch_lots": MAX_LOTS + 1}, "lots per batch must be 1-10,000"),
        (
            {"lots": MAX_LOTS, "batch_lots": MAX_LOTS // MAX_BATCHES - 1},
            "10000 lots at 9 per batch is more than 1,000 batches",
        ),
        ({"delay_s": -0.1}, "delay between batches must be 0-3,600 s"),
        ({"delay_s": MAX_DELAY_S + 0.1}, "delay between batches"),
        ({"delay_s": math.nan}, "delay between batches"),
        ({"delay_s": math.inf}, "delay between batches"),
        ({"buffer_pct": Decimal("-0.01")}, "limit buffer must be 0-20 %"),
        ({"buffer_pct": MAX_BUFFER_PCT + Decimal("0.01")}, "limit buffer"),
        ({"buffer_pct": Decimal("NaN")}, "limit buffer"),
        ({"buffer_pct": Decimal("Infinity")}, "limit buffer"),
    ],
)
def test_out_of_bounds_specs_are_refused_in_words(bad: dict[str, object], message: str) -> None:
    problems = spec_problems(spec(**bad))
    assert len(problems) == 1 and message in problems[0]


def test_every_problem_is_reported_at_once() -> None:
    problems = spec_problems(spec(lots=0, batch_lots=0, delay_s=-1.0, buffer_pct=Decimal(-1)))
    assert len(problems) == 4


# ------------------------------------------------------------------------------- plan_straddle
def test_167_lots_at_20_per_batch() -> None:
    p = plan(spec())
    assert p.ok and (p.call, p.put) == (CALL, PUT)
    assert [b.lots for b in p.batches] == [20] * 8 + [7]
    assert [b.number for b in p.batches] == list(range(1, 10))
    assert p.qty_per_leg == 167 * LOT == 12_525
    assert [(o.leg, o.slice, o.qty, o.price) for o in p.batches[0].orders] == [
        ("CE", 1, 1500, None),
        ("PE", 1, 1500, None),
    ]
    assert p.batches[-1].orders[0].qty == 7 * LOT
    assert p.expected_s == pytest.approx(9 * 0.1 + 8 * 20)  # replies plus the delays between
    req = p.request(p.batches[0].orders[1])
    assert (req.instrument, req.side, req.qty, req.order_type) == (
        PUT,
        Side.SELL,
        1500,
        OrderType.MARKET,
    )


def test_a_batch_above_the_freeze_quantity_is_sliced_in_whole_lots() -> None:
    p = plan(spec(lots=50, batch_lots=50))
    [batch] = p.batches
    assert [(o.leg, o.slice, o.qty) for o in batch.orders] == [
        ("CE", 1, 1800),
        ("CE", 2, 1800),
        ("CE", 3, 150),
        ("PE", 1, 1800),
        ("PE", 2, 1800),
        ("PE", 3, 150),
    ]


def test_paced_plans_expect_the_order_rate_to_set_the_time() -> None:
    p = plan(spec(delay_s=None))  # 18 orders at 10/s: 0.8 s after the first 10, plus a reply
    assert p.expected_s == pytest.approx(0.8 + 0.1)


def test_limit_legs_are_priced_from_their_own_ltp() -> None:
    ltps = {CALL.key: Decimal("120.33"), PUT.key: Decimal("98.02")}
    p = plan(spec(order_type=OrderType.LIMIT, buffer_pct=Decimal(1)), ltps=ltps)
    assert p.ok
    prices = {(o.leg, o.price) for o in p.orders}
    assert prices == {("CE", Decimal("119.10")), ("PE", Decimal("97.00"))}
    buy = plan(spec(order_type=OrderType.LIMIT, side=Side.BUY, buffer_pct=Decimal(1)), ltps=ltps)
    assert {(o.leg, o.price) for o in buy.orders} == {
        ("CE", Decimal("121.55")),
        ("PE", Decimal("99.05")),
    }


def test_a_limit_leg_without_a_price_sends_nothing() -> None:
    p = plan(spec(order_type=OrderType.LIMIT), ltps={CALL.key: Decimal(120)})
    assert not p.ok and p.batches == ()
    assert p.problems == (f"no live price for {PUT.trading_symbol}: cannot set a limit",)


@pytest.mark.parametrize(
    ("steps", "call", "put"), [(0, 25900, 25900), (2, 26000, 25800), (-1, 25850, 25950)]
)
def test_atm_from_the_spot(steps: int, call: int, put: int) -> None:
    p = plan(spec(call_strike=None, atm_steps=steps), spot=Decimal("25912.40"))
    assert p.ok
    assert p.call is not None and p.put is not None
    assert (p.call.strike, p.put.strike) == (Decimal(call), Decimal(put))
    assert (p.call.option_type, p.put.option_type) == ("CE", "PE")


def test_separate_call_and_put_strikes() -> None:
    p = plan(spec(call_strike=Decimal(26000), put_strike=Decimal(25800)))
    assert p.ok and p.call is not None and p.put is not None
    assert (p.call.strike, p.put.strike) == (Decimal(26000), Decimal(25800))


@pytest.mark.parametrize(
    ("kw", "problem"),
    [
        ({"today": EXPIRY + timedelta(days=1)}, "has passed"),
        ({"market_open": False}, "the market is closed"),
        ({"spec": spec(order_type=OrderType.STOP)}, "straddle legs are MKT or LIMIT orders"),
        ({"spec": spec(expiry=EXPIRY + timedelta(days=2))}, "no NIFTY options expiring"),
        ({"spec": spec(call_strike=Decimal(25925))}, "no NIFTY 2026-12-01 25925 CE"),
        ({"spec": spec(call_strike=None)}, "give a strike"),
        ({"spec": spec(call_strike=None, atm_steps=0), "spot": None}, "ATM cannot be found"),
        ({"spec": spec(call_strike=None, atm_steps=40)}, "outside the listed strikes"),
        ({"spec": spec(lots=0)}, "lots must be"),
    ],
)
def test_a_plan_with_a_problem_says_why_and_sends_nothing(
    kw: dict[str, object], problem: str
) -> None:
    rest = dict(kw)
    s = rest.pop("spec", spec())
    assert isinstance(s, StraddleSpec)
    p = plan(s, **rest)  # type: ignore[arg-type]
    assert not p.ok and p.batches == () and p.orders == []
    assert any(problem in text for text in p.problems), p.problems


def test_short_margin_blocks_the_plan_but_still_shows_it() -> None:
    p = plan(spec(), margin=MarginCheck(Decimal(500_000), Decimal(100_000), False))
    assert not p.ok
    assert p.problems == ("not enough margin: needs 500,000.00, available 100,000.00",)
    assert len(p.batches) == 9  # what it would send, for the trader to resize
    assert (p.margin_required, p.margin_available) == (Decimal(500_000), Decimal(100_000))
    enough = plan(spec(), margin=MarginCheck(Decimal(500_000), Decimal(600_000), True))
    assert enough.ok


def test_a_plan_of_too_many_orders_is_refused_before_it_is_built() -> None:
    one_lot_freeze = InstrumentStore(
        [dataclasses.replace(i, freeze_qty=i.lot_size) for i in STORE.all]
    )
    p = plan(spec(lots=MAX_LOTS, batch_lots=10), store=one_lot_freeze)  # 20,000 orders
    assert p.batches == ()
    assert p.problems == (f"the plan would be more than {MAX_PLAN_ORDERS:,} orders",)
    small = plan(spec(lots=10, batch_lots=5), store=one_lot_freeze)
    assert small.ok and len(small.orders) == 20 and {o.qty for o in small.orders} == {LOT}


def test_a_plan_survives_its_journal_round_trip() -> None:
    p = plan(
        spec(order_type=OrderType.LIMIT, lots=50, batch_lots=30),
        ltps={CALL.key: Decimal(120), PUT.key: Decimal(98)},
    )
    again = StraddlePlan.from_json(p.to_json(), STORE)
    assert again.spec == p.spec
    assert (again.call, again.put, again.batches) == (p.call, p.put, p.batches)


@st.composite
def lots_and_batch(draw: st.DrawFn) -> tuple[int, int]:
    lots = draw(st.integers(1, MAX_LOTS))
    batch = draw(st.integers(-(-lots // MAX_BATCHES), MAX_LOTS))
    return lots, batch


@settings(max_examples=150, deadline=None)
@given(sizes=lots_and_batch(), side=st.sampled_from([Side.SELL, Side.BUY]))
def test_every_valid_plan_adds_up_in_whole_lots_below_the_freeze(
    sizes: tuple[int, int], side: Side
) -> None:
    lots, batch_lots = sizes
    p = plan(spec(lots=lots, batch_lots=batch_lots, side=side))
    assert p.ok, p.problems
    assert [b.lots for b in p.batches] == split_lots(lots, batch_lots)
    assert sum(b.lots for b in p.batches) == lots
    assert p.qty_per_leg == lots * LOT
    assert len(p.orders) <= MAX_PLAN_ORDERS
    assert len({o.key for o in p.orders}) == len(p.orders)
    for b in p.batches:
        assert all(o.batch == b.number for o in b.orders)
        assert all(o.qty % LOT == 0 and 0 < o.qty <= CALL.max_order_qty for o in b.orders)
        legs = {
            leg: [(o.slice, o.qty, o.price) for o in b.orders if o.leg == leg]
            for leg in ("CE", "PE")
        }
        assert legs["CE"] == legs["PE"]  # the put mirrors the call, order for order
        assert sum(qty for _, qty, _ in legs["CE"]) == b.lots * LOT
        assert [s for s, _, _ in legs["CE"]] == list(range(1, len(legs["CE"]) + 1))
        assert len(legs["CE"]) == math.ceil(b.lots / FREEZE_LOTS)
