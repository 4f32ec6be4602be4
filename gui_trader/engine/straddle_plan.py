"""The pure straddle plan: lots -> batches -> freeze slices -> orders, bounded first.

A plan is built from a spec and live inputs (spot, option prices, margin) and sends nothing;
every reason it cannot run is collected in `problems`. The run (engine/straddle.py) executes it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from gui_trader.broker.base import Broker
from gui_trader.core.instrument import Instrument, chunks
from gui_trader.core.limits import (
    MAX_BATCHES,
    MAX_BUFFER_PCT,
    MAX_DELAY_S,
    MAX_LOTS,
    MAX_PLAN_ORDERS,
)
from gui_trader.core.money import round_to_tick
from gui_trader.core.order import OrderRequest, OrderType, Product, Side
from gui_trader.core.portfolio import MarginCheck
from gui_trader.market.instruments import INDICES, InstrumentStore, atm_index

log = logging.getLogger(__name__)


class Leg(StrEnum):
    """A straddle's two legs; the values are what JSON and the journal carry."""

    CE = "CE"
    PE = "PE"


LEGS = (Leg.CE, Leg.PE)


@dataclass(frozen=True)
class StraddleSpec:
    underlying: str
    expiry: date
    lots: int
    batch_lots: int = 20
    call_strike: Decimal | None = None
    put_strike: Decimal | None = None
    atm_steps: int | None = None  # ATM from the live spot: CE at ATM+N steps, PE at ATM-N
    side: Side = Side.SELL
    delay_s: float | None = 20.0  # None = paced by the account's order rate
    product: Product = Product.NRML
    order_type: OrderType = OrderType.MARKET
    buffer_pct: Decimal = Decimal(0)  # LIMIT: sells at LTP - x %, buys at LTP + x %
    dynamic_delay: bool = False


@dataclass(frozen=True)
class PlannedOrder:
    batch: int  # 1-based
    leg: Leg
    slice: int  # 1-based: a batch above the freeze quantity is several orders per leg
    qty: int
    price: Decimal | None = None

    @property
    def key(self) -> tuple[int, Leg, int]:
        return (self.batch, self.leg, self.slice)


@dataclass(frozen=True)
class Batch:
    number: int
    lots: int
    orders: tuple[PlannedOrder, ...]


@dataclass(frozen=True)
class StraddlePlan:
    spec: StraddleSpec
    call: Instrument | None
    put: Instrument | None
    spot: Decimal | None
    batches: tuple[Batch, ...]
    margin_required: Decimal | None = None
    margin_available: Decimal | None = None
    expected_s: float = 0.0
    problems: tuple[str, ...] = ()
    leg_ltp: dict[str, Decimal] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def lot_size(self) -> int:
        return self.call.lot_size if self.call else 0

    @property
    def qty_per_leg(self) -> int:
        return sum(o.qty for b in self.batches for o in b.orders if o.leg is Leg.CE)

    @property
    def orders(self) -> list[PlannedOrder]:
        return [o for b in self.batches for o in b.orders]

    def instrument(self, leg: str) -> Instrument:
        inst = self.call if leg == Leg.CE else self.put
        assert inst is not None
        return inst

    def request(self, o: PlannedOrder) -> OrderRequest:
        return OrderRequest(
            self.instrument(o.leg),
            self.spec.side,
            o.qty,
            self.spec.order_type,
            o.price,
            self.spec.product,
        )

    def to_json(self) -> dict[str, Any]:
        """What a resumed run needs: the resolved contracts and every planned order."""
        spec = asdict(self.spec)
        spec.update(
            expiry=self.spec.expiry.isoformat(),
            side=self.spec.side.value,
            product=self.spec.product.value,
            order_type=self.spec.order_type.value,
            buffer_pct=str(self.spec.buffer_pct),
            call_strike=str(self.spec.call_strike) if self.spec.call_strike else None,
            put_strike=str(self.spec.put_strike) if self.spec.put_strike else None,
        )
        return {
            "spec": spec,
            "call": self.call.key if self.call else None,
            "put": self.put.key if self.put else None,
            "batches": [
                [
                    b.number,
                    b.lots,
                    [
                        [o.leg, o.slice, o.qty, str(o.price) if o.price is not None else None]
                        for o in b.orders
                    ],
                ]
                for b in self.batches
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], store: InstrumentStore) -> StraddlePlan:
        s = dict(data["spec"])
        spec = StraddleSpec(
            underlying=s["underlying"],
            expiry=date.fromisoformat(s["expiry"]),
            lots=s["lots"],
            batch_lots=s["batch_lots"],
            atm_steps=s["atm_steps"],
            side=Side(s["side"]),
            delay_s=s["delay_s"],
            product=Product(s["product"]),
            order_type=OrderType(s["order_type"]),
            buffer_pct=Decimal(s["buffer_pct"]),
            call_strike=Decimal(s["call_strike"]) if s["call_strike"] else None,
            put_strike=Decimal(s["put_strike"]) if s["put_strike"] else None,
            dynamic_delay=s.get("dynamic_delay", False),
        )
        batches = tuple(
            Batch(
                n,
                lots,
                tuple(
                    PlannedOrder(n, Leg(leg), sl, qty, Decimal(p) if p else None)
                    for leg, sl, qty, p in orders
                ),
            )
            for n, lots, orders in data["batches"]
        )
        return cls(
            spec, store.by_key.get(data["call"]), store.by_key.get(data["put"]), None, batches
        )


# ------------------------------------------------------------------------------- planning
def spec_problems(spec: StraddleSpec) -> list[str]:
    """Bounds checked before anything is built: a plan's size is known from the spec alone."""
    problems: list[str] = []
    if not 1 <= spec.lots <= MAX_LOTS:
        problems.append(f"lots must be 1-{MAX_LOTS:,}, got {spec.lots}")
    if not 1 <= spec.batch_lots <= MAX_LOTS:
        problems.append(f"lots per batch must be 1-{MAX_LOTS:,}, got {spec.batch_lots}")
    elif 1 <= spec.lots <= MAX_LOTS and -(-spec.lots // spec.batch_lots) > MAX_BATCHES:
        problems.append(
            f"{spec.lots} lots at {spec.batch_lots} per batch is more than {MAX_BATCHES:,}"
            " batches; send more lots per batch"
        )
    if spec.delay_s is not None and not (
        math.isfinite(spec.delay_s) and 0 <= spec.delay_s <= MAX_DELAY_S
    ):
        problems.append(f"the delay between batches must be 0-{MAX_DELAY_S:,} s")
    if not (spec.buffer_pct.is_finite() and 0 <= spec.buffer_pct <= MAX_BUFFER_PCT):
        problems.append(f"the limit buffer must be 0-{MAX_BUFFER_PCT} %")
    return problems


def split_lots(lots: int, per_batch: int) -> list[int]:
    """167 lots at 20 per batch -> eight batches of 20 and one of 7."""
    return chunks(lots, per_batch)


def freeze_slices(lots: int, max_lots: int) -> list[int]:
    """A leg above the exchange freeze quantity goes out as several orders, each whole lots."""
    return chunks(lots, max_lots)


def limit_price(ltp: Decimal, side: Side, buffer_pct: Decimal, tick: Decimal) -> Decimal:
    """Marketable limit: sells at LTP - buffer % rounded down to the tick, buys at LTP + buffer %
    rounded up; never below one tick."""
    factor = (
        (Decimal(100) - buffer_pct) / 100
        if side is Side.SELL
        else (Decimal(100) + buffer_pct) / 100
    )
    price = round_to_tick(ltp * factor, tick, "down" if side is Side.SELL else "up")
    return max(price, tick)


def resolve_strikes(
    spec: StraddleSpec, store: InstrumentStore, spot: Decimal | None
) -> tuple[Decimal | None, Decimal | None, list[str]]:
    chain = store.chain(spec.underlying, spec.expiry)
    if not chain:
        return (
            None,
            None,
            [f"no {spec.underlying} options expiring {spec.expiry} in today's instrument file"],
        )
    if spec.atm_steps is None:
        call = spec.call_strike
        put = spec.put_strike if spec.put_strike is not None else spec.call_strike
        if call is None or put is None:
            return None, None, ["give a strike, or call and put strikes, or ATM"]
        return call, put, []
    if spot is None:
        return None, None, [f"no live price for {spec.underlying}: ATM cannot be found"]
    strikes = [row.strike for row in chain]
    atm = atm_index(strikes, spot)
    ci, pi = atm + spec.atm_steps, atm - spec.atm_steps
    if not (0 <= pi < len(strikes) and 0 <= ci < len(strikes)):
        return None, None, [f"ATM +/- {spec.atm_steps} steps is outside the listed strikes"]
    return strikes[ci], strikes[pi], []


def plan_straddle(
    spec: StraddleSpec,
    store: InstrumentStore,
    *,
    spot: Decimal | None,
    ltps: dict[str, Decimal],
    today: date,
    market_open: bool,
    orders_per_second: float,
    rtt_s: float = 0.1,
    margin: MarginCheck | None = None,
) -> StraddlePlan:
    """Every reason the plan cannot run is collected; a plan with problems sends nothing."""
    problems = spec_problems(spec)
    if spec.expiry < today:
        problems.append(f"expiry {spec.expiry} has passed")
    if not market_open:
        problems.append("the market is closed (NSE trades 09:15-15:30 IST on weekdays)")
    if spec.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        problems.append("straddle legs are MKT or LIMIT orders")
    call_strike, put_strike, strike_problems = resolve_strikes(spec, store, spot)
    problems += strike_problems
    call = put = None
    for kind, strike in ((Leg.CE, call_strike), (Leg.PE, put_strike)):
        if strike is None:
            continue
        try:
            inst = store.option(spec.underlying, spec.expiry, strike, kind)
        except LookupError:
            problems.append(
                f"no {spec.underlying} {spec.expiry} {strike:g} {kind} in the instrument file"
            )
            continue
        if kind is Leg.CE:
            call = inst
        else:
            put = inst
    batches: list[Batch] = []
    if call and put and not problems:
        prices: dict[Leg, Decimal | None] = {Leg.CE: None, Leg.PE: None}
        if spec.order_type is OrderType.LIMIT:
            for kind, inst in ((Leg.CE, call), (Leg.PE, put)):
                ltp = ltps.get(inst.key)
                if not ltp:
                    problems.append(f"no live price for {inst.trading_symbol}: cannot set a limit")
                    continue
                prices[kind] = limit_price(ltp, spec.side, spec.buffer_pct, inst.tick_size)
        max_lots = call.max_order_qty // call.lot_size if call.max_order_qty else 0
        per_batch = len(freeze_slices(spec.batch_lots, max_lots)) * len(LEGS)
        if per_batch * -(-spec.lots // spec.batch_lots) > MAX_PLAN_ORDERS:
            problems.append(f"the plan would be more than {MAX_PLAN_ORDERS:,} orders")
        for n, lots in enumerate(
            split_lots(spec.lots, spec.batch_lots) if not problems else [], start=1
        ):
            orders = tuple(
                PlannedOrder(n, kind, i, part * inst.lot_size, prices[kind])
                for kind, inst in ((Leg.CE, call), (Leg.PE, put))
                for i, part in enumerate(freeze_slices(lots, max_lots), start=1)
            )
            batches.append(Batch(n, lots, orders))
    if margin is not None and not margin.ok:
        problems.append(
            f"not enough margin: needs {margin.required:,.2f}, available {margin.available:,.2f}"
        )
    n_orders = sum(len(b.orders) for b in batches)
    if spec.delay_s is None:
        expected = max(0.0, (n_orders - orders_per_second) / orders_per_second) + rtt_s
    else:
        expected = len(batches) * rtt_s + max(len(batches) - 1, 0) * spec.delay_s
    return StraddlePlan(
        spec,
        call,
        put,
        spot,
        tuple(batches),
        margin.required if margin else None,
        margin.available if margin else None,
        expected,
        tuple(problems),
        {k: v for k, v in ltps.items()},
    )


async def prepare_plan(
    spec: StraddleSpec,
    broker: Broker,
    store: InstrumentStore,
    *,
    today: date,
    market_open: bool,
    orders_per_second: float,
    check_margin: bool = True,
) -> StraddlePlan:
    """Live inputs (spot, option prices, margin) fetched together, then the pure plan."""
    index = INDICES.get(spec.underlying.upper())
    keys = [index.key] if index else []
    chain = store.chain(spec.underlying, spec.expiry)
    keys += [i.key for row in chain for i in (row.call, row.put) if i is not None]
    started = time.perf_counter()
    quotes = {q.key: q.ltp for q in await broker.quotes(keys)} if keys else {}
    rtt = max(time.perf_counter() - started, 0.01)
    spot = quotes.get(index.key) if index else None
    plan = functools.partial(
        plan_straddle,
        spec,
        store,
        spot=spot,
        ltps=quotes,
        today=today,
        market_open=market_open,
        orders_per_second=orders_per_second,
        rtt_s=rtt,
    )
    draft = plan()
    if not check_margin or draft.call is None or draft.put is None or not draft.batches:
        return draft
    checks = await asyncio.gather(
        *(
            broker.margin(
                OrderRequest(
                    draft.instrument(leg),
                    spec.side,
                    draft.qty_per_leg,
                    OrderType.LIMIT,
                    quotes.get(draft.instrument(leg).key),
                    spec.product,
                )
            )
            for leg in LEGS
        ),
        return_exceptions=True,
    )
    good = [c for c in checks if isinstance(c, MarginCheck)]
    if len(good) != len(checks):
        failed = next(c for c in checks if not isinstance(c, MarginCheck))
        log.warning("margin check failed: %s", failed)
        return draft
    required = sum((c.required for c in good), Decimal(0))
    available = min(c.available for c in good)
    return plan(
        margin=MarginCheck(
            required, available, required <= available, max(required - available, Decimal(0))
        )
    )
