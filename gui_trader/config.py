"""Where things live on disk, and config.toml (accounts and defaults; never a secret).

The window's first frame resolves the data folder and reads this config (issue 16: launch to
window shown), so this module imports only what that needs: the TOML reader and writer, the
platform's folders and the risk limits are imported where they are used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gui_trader.core.account_settings import ALL_GROUP, FanoutSettings
from gui_trader.core.guard_settings import GuardSettings

if TYPE_CHECKING:
    from gui_trader.core.risk_limits import RiskLimits

__all__ = ["APP", "FORBIDDEN_KEYS", "AccountConfig", "Config", "GuardSettings", "Paths"]

APP = "gui_trader"
FORBIDDEN_KEYS = frozenset({"consumer_key", "mpin", "totp_secret", "token", "sid", "password"})


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def resolve(cls) -> Paths:
        """GUI_TRADER_HOME puts everything under one folder (tests, portable use)."""
        home = os.environ.get("GUI_TRADER_HOME")
        if home:
            return cls(Path(home))
        import platformdirs

        return cls(Path(platformdirs.user_data_dir(APP, appauthor=False)))

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
    guards: GuardSettings = field(default_factory=GuardSettings)  # fat-finger limits
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Config:
        data: dict[str, Any] = {}
        if path.exists():
            import tomllib

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
        own = ("accounts", "default_account", "limits", "guards")
        extra = {k: v for k, v in data.items() if k not in own}
        return cls(
            path,
            accounts,
            data.get("default_account"),
            _limit(limits, "orders_per_second", 10.0, 0.1, 1000.0),
            _limit(limits, "requests_per_second", 25.0, 0.1, 1000.0),
            _limit(limits, "deadline_s", 15.0, 0.05, 120.0),
            _limit(limits, "landing_s", 45.0, 0.0, 600.0),
            GuardSettings.from_toml(data.get("guards") or {}),
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
        if self.guards.to_toml():
            data["guards"] = self.guards.to_toml()
        data["accounts"] = {n: a.to_toml() for n, a in self.accounts.items()}
        _refuse_secrets(data)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        import tomli_w

        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        tmp.replace(self.path)

    def risk(self, name: str) -> RiskLimits:
        """`[risk.NAME]`: the account's daily MTM limits and square-off time (none: all off);
        a bad table is refused in one line (ValueError)."""
        from gui_trader.core.risk_limits import RiskLimits

        return RiskLimits.from_toml(name, (self.extra.get("risk") or {}).get(name) or {})

    def set_risk(self, name: str, limits: RiskLimits) -> None:
        """Store (or, all off, drop) `[risk.NAME]`; `save()` writes it."""
        table = dict(self.extra.get("risk") or {})
        if limits.empty:
            table.pop(name, None)
        else:
            table[name] = limits.to_toml()
        if table:
            self.extra["risk"] = table
        else:
            self.extra.pop("risk", None)

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
