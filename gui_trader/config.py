"""Where things live on disk, and config.toml (accounts and defaults; never a secret)."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

APP = "gui_trader"
FORBIDDEN_KEYS = frozenset({"consumer_key", "mpin", "totp_secret", "token", "sid", "password"})


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def resolve(cls) -> Paths:
        """GUI_TRADER_HOME puts everything under one folder (tests, portable use)."""
        home = os.environ.get("GUI_TRADER_HOME")
        root = Path(home) if home else Path(platformdirs.user_data_dir(APP, appauthor=False))
        return cls(root)

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite3"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def paper(self) -> Path:
        return self.root / "paper"

    @property
    def locks(self) -> Path:
        """Run owners and login locks (OS file locks: a killed process releases its own)."""
        return self.root / "locks"

    @property
    def keyring_scope(self) -> str:
        """This data folder's name space in the keyring (a short hash of its absolute path)."""
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()
        return digest[:12]

    def ensure(self) -> Paths:
        for p in (self.root, self.cache, self.logs, self.paper, self.locks):
            p.mkdir(parents=True, exist_ok=True)
        return self


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
    notify: tuple[str, ...] = ()  # Apprise URLs: one consolidated message per run

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
            "notify": list(self.notify),
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
    from gui_trader.core import limits as L

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
            raise ValueError(
                f"notify URL {url[:40]!r}: expected an Apprise URL like json://host/path"
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


@dataclass
class AccountConfig:
    name: str
    mobile: str
    ucc: str
    login_url: str
    paper: bool = False  # an account of this folder's paper exchange (its login lives there)
    fanout: FanoutSettings = field(default_factory=FanoutSettings)

    def to_toml(self) -> dict[str, Any]:
        row: dict[str, Any] = {"mobile": self.mobile, "ucc": self.ucc, "login_url": self.login_url}
        if self.paper:
            row["paper"] = True
        if self.fanout != FanoutSettings():
            row["fanout"] = self.fanout.to_toml()
        return row

    def in_group(self, group: str) -> bool:
        """`all` is every enabled account; any other group is a plain label."""
        return self.fanout.enabled and (group == ALL_GROUP or group in self.fanout.groups)


@dataclass
class Config:
    path: Path
    accounts: dict[str, AccountConfig] = field(default_factory=dict)
    default_account: str | None = None
    orders_per_second: float = 10.0
    requests_per_second: float = 25.0
    deadline_s: float = 15.0  # total per broker request
    landing_s: float = 45.0  # how long after a request ended the broker may still act on it
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Config:
        data: dict[str, Any] = {}
        if path.exists():
            with path.open("rb") as f:
                data = tomllib.load(f)
        accounts = {
            name: AccountConfig(
                name,
                str(a.get("mobile", "")),
                str(a.get("ucc", "")),
                str(a.get("login_url", "")),
                a.get("paper") is True,
                FanoutSettings.from_toml(name, a.get("fanout") or {}),
            )
            for name, a in (data.get("accounts") or {}).items()
        }
        limits = data.get("limits") or {}
        extra = {
            k: v for k, v in data.items() if k not in ("accounts", "default_account", "limits")
        }
        return cls(
            path,
            accounts,
            data.get("default_account"),
            _limit(limits, "orders_per_second", 10.0, 0.1, 1000.0),
            _limit(limits, "requests_per_second", 25.0, 0.1, 1000.0),
            _limit(limits, "deadline_s", 15.0, 0.05, 120.0),
            _limit(limits, "landing_s", 45.0, 0.0, 600.0),
            extra,
        )

    def save(self) -> None:
        data: dict[str, Any] = dict(self.extra)
        if self.default_account:
            data["default_account"] = self.default_account
        data["limits"] = {
            "orders_per_second": self.orders_per_second,
            "requests_per_second": self.requests_per_second,
            "deadline_s": self.deadline_s,
            "landing_s": self.landing_s,
        }
        data["accounts"] = {n: a.to_toml() for n, a in self.accounts.items()}
        _refuse_secrets(data)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        tmp.replace(self.path)

    def active_account(self) -> AccountConfig | None:
        """The default account, else the first live one added; None means the demo paper
        account (zero configuration, even beside paper accounts added for fan-out)."""
        if self.default_account and self.default_account in self.accounts:
            return self.accounts[self.default_account]
        return next((a for a in self.accounts.values() if not a.paper), None)


def _limit(table: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    """A [limits] number: finite and in range, or config.toml is refused in one line."""
    raw = table.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not low <= value <= high:  # also refuses NaN
        raise ValueError(f"config.toml [limits] {key} = {raw!r}: must be {low:g}-{high:g}")
    return value


def _refuse_secrets(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in FORBIDDEN_KEYS:
            raise ValueError(f"refusing to write secret field {key!r} to config.toml")
        if isinstance(value, dict):
            _refuse_secrets(value)
