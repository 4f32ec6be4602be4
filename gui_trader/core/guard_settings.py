"""`[guards]` in config.toml: the trader's fat-finger limits, read and checked.

Apart from the guards themselves (engine/order_guards.py, which re-exports GuardSettings) so that
reading config.toml at launch does not import the order model: the window's first frame loads
the config, and the guards are only needed once an order is about to be sent (issue 16).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from gui_trader.core import limits as L

__all__ = ["GuardSettings"]


@dataclass(frozen=True)
class GuardSettings:
    """`[guards]` in config.toml. Each `confirm_*` is the soft threshold below its `max_*`: above
    it the window asks and the CLI wants `--yes`; one at or above its max never asks."""

    max_order_qty: int = 100_000  # units per order (shares; lots x lot size for F&O)
    confirm_order_qty: int = 10_000
    max_order_value: Decimal = Decimal(5_000_000)  # rupees: qty x limit price (x LTP at market)
    confirm_order_value: Decimal = Decimal(1_000_000)
    max_straddle_lots: int = 200
    confirm_straddle_lots: int = 50
    # How far a LIMIT may trade through the last price: a buy above it, a sell below it.
    max_ltp_distance_pct: Decimal = Decimal(10)
    confirm_ltp_distance_pct: Decimal = Decimal(5)

    @classmethod
    def from_toml(cls, table: object) -> GuardSettings:
        """The `[guards]` table; a bad key or value refuses config.toml in one line (a typo
        silently ignored would leave a limit the trader believes in switched off)."""
        if not isinstance(table, Mapping):
            raise ValueError("config.toml [guards] must be a table (key = number lines)")
        unknown = sorted(str(k) for k in table if k not in _RANGES)
        if unknown:
            raise ValueError(
                f"config.toml [guards] {unknown[0]}: unknown key (known: {', '.join(_RANGES)})"
            )
        values: dict[str, Any] = {k: _setting(k, v) for k, v in table.items()}
        return cls(**values)

    def to_toml(self) -> dict[str, int | float]:
        """The settings that differ from the defaults (the defaults may improve over time)."""
        default = GuardSettings()
        out: dict[str, int | float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                integral = value == value.to_integral_value() if isinstance(value, Decimal) else 1
                out[f.name] = int(value) if integral else float(value)
        return out


# Each setting's range: finite, positive, and within what the order checks accept anyway.
_RANGES: dict[str, tuple[Decimal, Decimal]] = {
    "max_order_qty": (Decimal(1), Decimal(L.MAX_QTY)),
    "confirm_order_qty": (Decimal(1), Decimal(L.MAX_QTY)),
    "max_order_value": (Decimal(1), L.MAX_GUARD_VALUE),
    "confirm_order_value": (Decimal(1), L.MAX_GUARD_VALUE),
    "max_straddle_lots": (Decimal(1), Decimal(L.MAX_LOTS)),
    "confirm_straddle_lots": (Decimal(1), Decimal(L.MAX_LOTS)),
    "max_ltp_distance_pct": (Decimal("0.01"), L.MAX_GUARD_PCT),
    "confirm_ltp_distance_pct": (Decimal("0.01"), L.MAX_GUARD_PCT),
}


def _setting(key: str, raw: object) -> int | Decimal:
    whole = isinstance(getattr(GuardSettings, key), int)
    lo, hi = _RANGES[key]
    value = Decimal("NaN")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = Decimal(str(raw))  # via str: 0.1 stays 0.1
    fits = value.is_finite() and lo <= value <= hi
    if not fits or (whole and value != value.to_integral_value()):
        kind = "a whole number" if whole else "a number"
        raise ValueError(
            f"config.toml [guards] {key} = {raw!r}: must be {kind} from {lo:,} to {hi:,}"
        )
    return int(value) if whole else value
