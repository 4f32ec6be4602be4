"""An account's daily risk limits (`gui-trader risk set`): plain, typed, bounded data that
config.toml stores under `[risk.ACCOUNT]` and the engine's AccountRisk enforces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gui_trader.core.clock import MARKET_CLOSE, MARKET_OPEN

__all__ = ["MAX_RUPEES", "MIN_RUPEES", "OFF", "RiskLimits", "parse_hhmm", "parse_rupees"]

MIN_RUPEES: Final = Decimal(1)
MAX_RUPEES: Final = Decimal(1_000_000_000)  # a typo beyond this would disarm the limit
OFF: Final = "off"

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_PLAIN = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?")


def parse_rupees(text: str, what: str) -> Decimal:
    """Plain digits, at most paise, within [MIN_RUPEES, MAX_RUPEES]; one-line ValueError."""
    shown = text if len(text) <= 24 else text[:24] + "..."
    if not _PLAIN.fullmatch(text.replace(",", "")):
        raise ValueError(f"{what} {shown!r}: expected rupees as plain digits, e.g. 25000")
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern already refused it
        raise ValueError(f"{what} {shown!r}: not a number") from None
    if not MIN_RUPEES <= value <= MAX_RUPEES:
        raise ValueError(f"{what} {shown!r}: must be {MIN_RUPEES}-{MAX_RUPEES:,} rupees")
    return value


def parse_hhmm(text: str) -> time:
    """HH:MM IST inside the NSE session (09:15-15:30); one-line ValueError."""
    m = _HHMM.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"square-off {text[:24]!r}: expected HH:MM (IST), e.g. 15:15")
    at = time(int(m.group(1)), int(m.group(2)))
    if not MARKET_OPEN <= at <= MARKET_CLOSE:
        raise ValueError(
            f"square-off {text!r}: must be within the session,"
            f" {MARKET_OPEN:%H:%M}-{MARKET_CLOSE:%H:%M} IST"
        )
    return at


@dataclass(frozen=True)
class RiskLimits:
    """Daily MTM loss and profit limits (rupees, both positive) and the intraday square-off
    time (IST). None: that limit is off. Checked on construction, so a bad value is never
    stored or enforced."""

    max_loss: Decimal | None = None
    max_profit: Decimal | None = None
    square_off: time | None = None

    def __post_init__(self) -> None:
        for what, value in (("max loss", self.max_loss), ("max profit", self.max_profit)):
            if value is not None and not (value.is_finite() and MIN_RUPEES <= value <= MAX_RUPEES):
                raise ValueError(f"{what} {value}: must be {MIN_RUPEES}-{MAX_RUPEES:,} rupees")
        if self.square_off is not None and not MARKET_OPEN <= self.square_off <= MARKET_CLOSE:
            raise ValueError(f"square-off {self.square_off:%H:%M}: must be within the session")

    @property
    def empty(self) -> bool:
        return self.max_loss is None and self.max_profit is None and self.square_off is None

    def to_toml(self) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if self.max_loss is not None:
            row["max_loss"] = str(self.max_loss)
        if self.max_profit is not None:
            row["max_profit"] = str(self.max_profit)
        if self.square_off is not None:
            row["square_off"] = f"{self.square_off:%H:%M}"
        return row

    def to_json(self) -> dict[str, Any]:
        return {
            "max_loss": str(self.max_loss) if self.max_loss is not None else None,
            "max_profit": str(self.max_profit) if self.max_profit is not None else None,
            "square_off": f"{self.square_off:%H:%M}" if self.square_off is not None else None,
        }

    @classmethod
    def from_toml(cls, name: str, row: dict[str, Any]) -> RiskLimits:
        """A `[risk.NAME]` table; a bad one is refused in one line naming it."""
        try:
            if not isinstance(row, dict):
                raise ValueError("expected a table")
            loss, profit, at = row.get("max_loss"), row.get("max_profit"), row.get("square_off")
            return cls(
                parse_rupees(str(loss), "max loss") if loss is not None else None,
                parse_rupees(str(profit), "max profit") if profit is not None else None,
                parse_hhmm(str(at)) if at is not None else None,
            )
        except ValueError as exc:
            raise ValueError(f"config.toml [risk.{name}]: {exc}") from None
