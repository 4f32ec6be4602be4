"""An account's fan-out settings (`gui-trader account set`): plain, typed, bounded data that
config.toml stores (all but the notify URLs: the keyring) and the engine's fan-out reads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gui_trader.core import limits as L

__all__ = ["ALL_GROUP", "FanoutSettings", "check_settings"]

ALL_GROUP = "all"  # every enabled account; not a label anyone stores


@dataclass(frozen=True)
class FanoutSettings:
    """How a signal fans out to this account (`gui-trader account set`): typed, bounded."""

    groups: tuple[str, ...] = ()
    amount: Decimal = Decimal(10_000)  # rupees of margin per signal
    leverage: Decimal = Decimal(1)
    max_positions: int = 10  # open positions (and working entry orders) at most
    priority: int = 0  # higher tiers dispatch first
    enabled: bool = True
    # Apprise URLs (one consolidated message per run). They may hold tokens: kept in the
    # keyring, never written to config.toml; here only while read from an older config.toml
    # that still had them (`account set` moves them to the keyring).
    notify: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_settings(self)

    def to_toml(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "amount": str(self.amount),
            "leverage": str(self.leverage),
            "max_positions": self.max_positions,
            "priority": self.priority,
            "enabled": self.enabled,
            # Only URLs an older config.toml had (kept until `account set` moves them).
            **({"notify": list(self.notify)} if self.notify else {}),
        }

    @classmethod
    def from_toml(cls, name: str, row: dict[str, Any]) -> FanoutSettings:
        try:
            return cls(
                tuple(str(g) for g in row.get("groups", ())),
                _decimal(row.get("amount", "10000")),
                _decimal(row.get("leverage", "1")),
                _int(row.get("max_positions", 10)),
                _int(row.get("priority", 0)),
                _bool(row.get("enabled", True)),
                tuple(str(u) for u in row.get("notify", ())),
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"config.toml [accounts.{name}.fanout]: {exc}") from None


_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def check_settings(s: FanoutSettings) -> None:
    """One line per bad value (ValueError), before anything is saved or sent."""
    for g in s.groups:
        if not _GROUP.fullmatch(g) or g.lower() == ALL_GROUP:
            raise ValueError(
                f"group {g[:40]!r}: letters, digits, '_', '.', '-' (up to 32), and not "
                f"{ALL_GROUP!r}"
            )
    if len(s.groups) > L.MAX_GROUPS:
        raise ValueError(f"at most {L.MAX_GROUPS} groups per account")
    if not (L.MIN_AMOUNT <= s.amount <= L.MAX_AMOUNT):
        raise ValueError(f"amount {s.amount}: must be {L.MIN_AMOUNT}-{L.MAX_AMOUNT} rupees")
    if not (L.MIN_LEVERAGE <= s.leverage <= L.MAX_LEVERAGE):
        raise ValueError(f"leverage {s.leverage}: must be {L.MIN_LEVERAGE}-{L.MAX_LEVERAGE}")
    if not 1 <= s.max_positions <= L.MAX_OPEN_POSITIONS:
        raise ValueError(f"max positions {s.max_positions}: must be 1-{L.MAX_OPEN_POSITIONS}")
    if not -L.MAX_PRIORITY <= s.priority <= L.MAX_PRIORITY:
        raise ValueError(f"priority {s.priority}: must be {-L.MAX_PRIORITY}-{L.MAX_PRIORITY}")
    if len(s.notify) > L.MAX_NOTIFY_URLS:
        raise ValueError(f"at most {L.MAX_NOTIFY_URLS} notify URLs per account")
    for url in s.notify:
        if "://" not in url or len(url) > 2000 or not url.isprintable():
            shown = url.partition("://")[0][:20] + "://***" if "://" in url else "***"
            raise ValueError(  # never the rest: it may be a token
                f"notify URL {shown!r}: expected an Apprise URL like json://host/path"
            )


def _decimal(raw: object) -> Decimal:
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _int(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"{raw!r} is not a whole number")
    return raw


def _bool(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not true or false")
    return raw
