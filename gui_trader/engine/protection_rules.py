"""What a protection is and the pure decisions on it: the stop, target and trail of one
position, which side of the price each must be, where a trail moves the stop, whether a tick
hit it, and the price an exit that must fill now is sent at. The driver (orders, journal,
ticks) is in protection.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from gui_trader.core.instrument import Instrument
from gui_trader.core.order import Side

FEATURE = "R"  # the tag prefix of risk exits
EXIT_SLIPPAGE = Decimal("0.02")  # a triggered exit's limit this far through the last price
STOP_LIMIT_GAP = Decimal("0.005")  # a broker SL order's limit this far beyond its trigger
MAX_TRAIL_PCT = Decimal(50)


class StopAt(StrEnum):
    ENGINE = "engine"  # watched here on ticks; nothing rests at the broker for it
    BROKER = "broker"  # an SL order rests at the broker


class PState(StrEnum):
    PENDING = "pending"  # waiting for its entry order to fill
    ACTIVE = "active"
    EXITING = "exiting"  # the exit was decided (and written down) before it was sent
    DONE = "done"


OPEN_STATES = (PState.PENDING.value, PState.ACTIVE.value, PState.EXITING.value)


class BadProtection(ValueError):
    """A stop or target that cannot be what the trader meant; nothing is sent."""


def parse_level(text: str, what: str) -> Decimal | None:
    """A typed stop or target: empty is none; otherwise a positive number (BadProtection)."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadProtection(f"{what}: {text!r} is not a price") from None
    if not value.is_finite() or value <= 0:
        raise BadProtection(f"{what}: must be above 0")
    return value


@dataclass(frozen=True)
class Trail:
    amount: Decimal
    percent: bool = False

    @classmethod
    def parse(cls, text: str) -> Trail:
        raw = text.strip()
        percent = raw.endswith("%")
        try:
            amount = Decimal(raw.rstrip("%").strip())
        except InvalidOperation:
            raise BadProtection(
                f"trail {text!r}: a number of points, or a percent like 1.5%"
            ) from None
        if not amount.is_finite() or amount <= 0:
            raise BadProtection(f"trail {text!r}: must be above 0")
        if percent and amount > MAX_TRAIL_PCT:
            raise BadProtection(f"trail {text!r}: at most {MAX_TRAIL_PCT}%")
        return cls(amount, percent)

    def distance(self, ref: Decimal) -> Decimal:
        return ref * self.amount / 100 if self.percent else self.amount

    def __str__(self) -> str:
        return f"{self.amount}%" if self.percent else f"{self.amount}"


@dataclass
class Protection:
    """One position's stop, target and trail, and the orders that carry them out."""

    id: str
    account: str
    key: str  # the instrument key (segment|token)
    symbol: str
    long: bool  # protects a long position (exits sell) or a short one (exits buy)
    qty: int  # units still protected
    product: str
    sl: Decimal | None = None
    target: Decimal | None = None
    trail: Trail | None = None
    stop_at: StopAt = StopAt.ENGINE
    state: PState = PState.ACTIVE
    best: Decimal | None = None  # the best price seen while active (for the trail)
    entry_order: str | None = None  # PENDING: protect what this order fills
    target_tags: list[str] = field(default_factory=list)
    target_orders: list[str] = field(default_factory=list)
    stop_tags: list[str] = field(default_factory=list)
    stop_orders: list[str] = field(default_factory=list)
    exit_tags: list[str] = field(default_factory=list)
    exit_orders: list[str] = field(default_factory=list)
    orders_day: str = ""  # the trading day its resting orders were placed (DAY validity)
    reason: str = ""
    triggered_at: float | None = None  # perf_counter of the trigger (trigger-to-wire)
    wire_at: float | None = None  # perf_counter when the exit's first request left

    @property
    def exit_side(self) -> Side:
        return Side.SELL if self.long else Side.BUY

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("sl", "target", "best"):
            d[k] = str(d[k]) if d[k] is not None else None
        d["trail"] = str(self.trail) if self.trail else None
        d["stop_at"], d["state"] = self.stop_at.value, self.state.value
        d.pop("triggered_at"), d.pop("wire_at")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Protection:
        def dec(v: Any) -> Decimal | None:
            return Decimal(str(v)) if v is not None else None

        known = {f for f in cls.__dataclass_fields__ if f not in ("triggered_at", "wire_at")}
        row = {k: v for k, v in d.items() if k in known}
        row |= {"sl": dec(d.get("sl")), "target": dec(d.get("target")), "best": dec(d.get("best"))}
        row["trail"] = Trail.parse(d["trail"]) if d.get("trail") else None
        row["stop_at"], row["state"] = StopAt(d.get("stop_at", "engine")), PState(d["state"])
        return cls(**row)


# ---------------------------------------------------------------------- pure decisions
def check_levels(long: bool, ltp: Decimal, sl: Decimal | None, target: Decimal | None) -> None:
    """A stop on the wrong side of the price would exit at once, a target on the wrong side
    would fill at once: both are refused, in words."""
    what = "long" if long else "short"
    if sl is not None and ltp > 0 and (sl >= ltp if long else sl <= ltp):
        side = "below" if long else "above"
        raise BadProtection(f"stop {sl} must be {side} the last price {ltp} for a {what} position")
    if target is not None and ltp > 0 and (target <= ltp if long else target >= ltp):
        side = "above" if long else "below"
        raise BadProtection(f"target {target} must be {side} the last price {ltp} for a {what}")
    if sl is not None and target is not None and (sl >= target if long else sl <= target):
        raise BadProtection(f"stop {sl} and target {target} are the wrong way round")


def trailed_stop(p: Protection, ltp: Decimal, tick: Decimal) -> Decimal | None:
    """The stop the trail asks for at this price, if it is better than the current one (it
    never moves back): `best - distance` for a long, `best + distance` for a short."""
    if p.trail is None or ltp <= 0:
        return None
    best = ltp if p.best is None else (max(p.best, ltp) if p.long else min(p.best, ltp))
    p.best = best
    raw = best - p.trail.distance(best) if p.long else best + p.trail.distance(best)
    stop = to_tick(raw, tick, down=p.long)
    if stop <= 0:
        return None
    if p.sl is None or (stop > p.sl if p.long else stop < p.sl):
        return stop
    return None


def stop_hit(p: Protection, ltp: Decimal) -> bool:
    if p.sl is None or ltp <= 0:
        return False
    return ltp <= p.sl if p.long else ltp >= p.sl


def marketable(long: bool, ltp: Decimal, inst: Instrument) -> Decimal:
    """A limit price that fills now: through the last price by EXIT_SLIPPAGE, on the tick,
    inside the exchange band when the band is known."""
    tick = inst.tick_size
    if long:  # selling
        price = to_tick(ltp * (1 - EXIT_SLIPPAGE), tick, down=True)
        if inst.low_band:
            price = max(price, inst.low_band)
        return max(price, tick)
    price = to_tick(ltp * (1 + EXIT_SLIPPAGE), tick, down=False)
    if inst.high_band:
        price = min(price, inst.high_band)
    return price


def to_tick(price: Decimal, tick: Decimal, *, down: bool) -> Decimal:
    units = (price / tick).to_integral_value("ROUND_FLOOR" if down else "ROUND_CEILING")
    return units * tick
