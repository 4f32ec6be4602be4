"""Fat-finger guards: the trader's own limits on one order and on one straddle.

The exchange's rules (order_checks.check_order) say what can be sent at all; these say what this
trader plausibly means to send. Both run before anything is journaled, planned or sent. A hard
limit refuses in one line; above a soft threshold the front end asks first (the window's dialog,
the CLI's `--yes`). Exits of what is held (position exits, risk exits, the kill switch, monitor
sells) are never held back by quantity, value or distance from the last price: a trader must
always be able to get out. The exchange's price band still applies to their limit prices
(check_order does that for every order).

Pure: settings, a request and the last price in, a verdict out. The settings are config.toml's
`[guards]` table (config.py reads it through GuardSettings.from_toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from gui_trader.core.guard_settings import GuardSettings as GuardSettings  # re-exported
from gui_trader.core.order import OrderRequest, OrderType, Side
from gui_trader.engine.order_checks import InvalidOrder

if TYPE_CHECKING:
    from gui_trader.engine.straddle_plan import StraddlePlan, StraddleSpec

# Tag prefixes (DESIGN.md) of orders that close what is held: position exits, risk exits, the
# kill switch, the monitor's sells.
EXIT_FEATURES = frozenset({"X", "R", "K", "M"})


class GuardRefused(InvalidOrder):
    """Above one of the trader's hard limits: refused, nothing sent."""


class NeedsConfirmation(InvalidOrder):
    """Above a soft threshold and nobody confirmed it: nothing sent."""


@dataclass(frozen=True)
class Verdict:
    """What the guards say about one order or straddle."""

    what: str  # "SELL 5,000,000 RELIANCE-EQ at market"
    value: Decimal | None = None  # rupees, when known
    refusal: str | None = None  # above a hard limit: one line; nothing may be sent
    warnings: tuple[str, ...] = ()  # above soft thresholds: ask before sending

    @property
    def needs_confirmation(self) -> bool:
        return self.refusal is None and bool(self.warnings)

    def summary(self) -> str:
        """The order and its value, as a confirmation names them."""
        if self.value is None:
            return self.what
        return f"{self.what}, value about Rs {rupees(self.value)}"

    def question(self) -> str:
        """The window's confirmation text (several lines)."""
        reasons = "\n".join(f"- {w}" for w in self.warnings)
        return f"{self.summary()}\n\n{reasons}\n\nSend it anyway?"

    def enforce(self, *, confirmed: bool) -> None:
        """Raise unless it may be sent: a hard limit always; a soft one when not confirmed."""
        if self.refusal is not None:
            raise GuardRefused(self.refusal)
        if self.warnings and not confirmed:
            raise NeedsConfirmation(f"{self.summary()}: {'; '.join(self.warnings)}")


def guard_order(
    req: OrderRequest, settings: GuardSettings, *, ltp: Decimal | None, exit: bool = False
) -> Verdict:
    """Quantity, value (qty x limit price, or x `ltp` at market) and how far a LIMIT price
    trades through `ltp` (None: not known). An exit is only described, never held back here."""
    s = settings
    x = req.instrument
    limit = req.price if req.order_type in (OrderType.LIMIT, OrderType.STOP) else None
    trigger = req.trigger_price if req.order_type is OrderType.STOP_MARKET else None
    unit = limit or trigger or (ltp if ltp is not None and ltp > 0 else None)
    value = unit * req.qty if unit else None
    what = f"{req.side.label} {req.qty:,} {x.trading_symbol} at " + (
        f"limit {limit}" if limit else "market"
    )
    if exit:
        return Verdict(what, value)
    hard: list[str] = []
    soft: list[str] = []
    units = f"{req.qty:,} units"
    if req.qty > s.max_order_qty:
        hard.append(
            f"{units} is above your limit of {s.max_order_qty:,} per order {_key('max_order_qty')}"
        )
    elif req.qty > s.confirm_order_qty:
        soft.append(f"{units} is above {s.confirm_order_qty:,} {_key('confirm_order_qty')}")
    if value is None:
        soft.append(f"its value is not known (no last price for {x.trading_symbol})")
    elif value > s.max_order_value:
        hard.append(
            f"value Rs {rupees(value)} is above your limit of Rs {rupees(s.max_order_value)}"
            f" per order {_key('max_order_value')}"
        )
    elif value > s.confirm_order_value:
        soft.append(
            f"the value is above Rs {rupees(s.confirm_order_value)} {_key('confirm_order_value')}"
        )
    if req.order_type is OrderType.LIMIT and limit and ltp is not None and ltp > 0:
        # Only the side that trades through the book: a buy above the last price, a sell
        # below it. A buy below (a sell above) just rests until the market comes to it.
        through = limit - ltp if req.side is Side.BUY else ltp - limit
        pct = max(through, Decimal(0)) * 100 / ltp
        away = f"limit {limit} is {pct:.1f} % {'above' if limit > ltp else 'below'} the LTP {ltp}"
        if pct > s.max_ltp_distance_pct:
            hard.append(
                f"{away}, more than your {s.max_ltp_distance_pct} % {_key('max_ltp_distance_pct')}"
            )
        elif pct > s.confirm_ltp_distance_pct:
            soft.append(
                f"{away}, more than {s.confirm_ltp_distance_pct} %"
                f" {_key('confirm_ltp_distance_pct')}"
            )
    refusal = f"{what}: {'; '.join(hard)}; nothing sent" if hard else None
    return Verdict(what, value, refusal, tuple(soft))


def guard_straddle(spec: StraddleSpec, settings: GuardSettings) -> Verdict:
    """Lots per straddle, from the spec alone: checked before a plan is built or a price read."""
    s = settings
    what = f"{spec.side.label} {spec.lots:,} lots {spec.underlying} straddle"
    if spec.lots > s.max_straddle_lots:
        return Verdict(
            what,
            refusal=f"{what}: {spec.lots:,} lots is above your limit of {s.max_straddle_lots:,}"
            f" per straddle {_key('max_straddle_lots')}; nothing planned or sent",
        )
    if spec.lots > s.confirm_straddle_lots:
        key = _key("confirm_straddle_lots")
        warning = f"{spec.lots:,} lots is above {s.confirm_straddle_lots:,} {key}"
        return Verdict(what, warnings=(warning,))
    return Verdict(what)


def straddle_value(plan: StraddlePlan) -> Decimal | None:
    """The whole straddle's premium at the plan's last prices: qty per leg x (CE + PE)."""
    if plan.call is None or plan.put is None:
        return None
    ce, pe = plan.leg_ltp.get(plan.call.key), plan.leg_ltp.get(plan.put.key)
    return plan.qty_per_leg * (ce + pe) if ce and pe else None


def _key(name: str) -> str:
    """Where the trader changes the limit a message names."""
    return f"([guards] {name})"


def rupees(value: Decimal) -> str:
    """Whole rupees in Indian grouping, as traders read them: 5000000 -> 50,00,000."""
    whole = int(value.quantize(Decimal(1), ROUND_HALF_UP))
    digits = str(abs(whole))
    head, groups = digits[:-3], [digits[-3:]]
    while head:
        groups.insert(0, head[-2:])
        head = head[:-2]
    return ("-" if whole < 0 else "") + ",".join(groups)
