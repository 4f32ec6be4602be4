"""Secrets in the OS keyring, and only there: consumer key, MPIN, TOTP seed, the session token."""

from __future__ import annotations

import json
from dataclasses import dataclass

import keyring
import keyring.errors

from gui_trader.broker.redact import register_secret
from gui_trader.broker.session import SessionToken

SERVICE = "gui_trader"
SECRET_FIELDS = ("consumer_key", "mpin", "totp_secret")

NO_KEYRING = (
    "No OS keyring is available to keep broker secrets (on headless Linux: install and unlock a "
    "Secret Service, e.g. `apt install gnome-keyring dbus-user-session`, then run inside "
    "`dbus-run-session` after `gnome-keyring-daemon --unlock`); gui_trader never writes secrets "
    "to a plain file. Paper mode needs no keyring."
)


class KeyringUnavailable(Exception):
    def __init__(self, detail: str = "") -> None:
        super().__init__(NO_KEYRING + (f" ({detail})" if detail else ""))


def check_keyring() -> None:
    """Refuse the fail backend and plaintext files; say how to fix it in one line."""
    backend = keyring.get_keyring()
    module = type(backend).__module__
    name = type(backend).__name__
    if module.startswith("keyring.backends.fail") or "Plaintext" in name:
        raise KeyringUnavailable(f"backend {module}.{name}")
    if module.startswith("keyring.backends.chainer") and not getattr(backend, "backends", None):
        raise KeyringUnavailable("no backend found")


@dataclass(frozen=True)
class VaultKey:
    """Where one account's secrets live: data folder (scope), account name and UCC, so two data
    folders, or a renamed account, never share a session or secrets by accident."""

    scope: str
    account: str
    ucc: str

    def entry(self, field: str) -> str:
        return f"{self.scope}:{self.account}:{self.ucc.upper()}:{field}"


@dataclass(frozen=True)
class Credentials:
    consumer_key: str
    mobile: str
    ucc: str
    mpin: str
    totp_secret: str

    def __post_init__(self) -> None:
        for value in (self.consumer_key, self.mpin, self.totp_secret):
            register_secret(value)

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credentials(ucc={self.ucc!r}, mobile={self.mobile!r}, secrets=***)"


def _get(key: str) -> str | None:
    try:
        return keyring.get_password(SERVICE, key)
    except keyring.errors.NoKeyringError as exc:
        raise KeyringUnavailable() from exc
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(type(exc).__name__) from exc


def _set(key: str, value: str) -> None:
    try:
        keyring.set_password(SERVICE, key, value)
    except keyring.errors.NoKeyringError as exc:
        raise KeyringUnavailable() from exc
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(type(exc).__name__) from exc


def _delete(key: str) -> None:
    try:
        keyring.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        pass
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(type(exc).__name__) from exc


def store_secrets(key: VaultKey, *, consumer_key: str, mpin: str, totp_secret: str) -> None:
    check_keyring()
    for name, value in (
        ("consumer_key", consumer_key),
        ("mpin", mpin),
        ("totp_secret", totp_secret),
    ):
        register_secret(value)
        _set(key.entry(name), value)


def load_credentials(key: VaultKey, mobile: str) -> Credentials:
    check_keyring()
    values = {name: _get(key.entry(name)) for name in SECRET_FIELDS}
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise KeyError(
            f"account {key.account!r} has no {', '.join(missing)} in the keyring; "
            f"run `gui-trader account add {key.account} --replace ...` again"
        )
    return Credentials(mobile=mobile, ucc=key.ucc, **{k: str(v) for k, v in values.items()})


def forget(key: VaultKey) -> None:
    for name in (*SECRET_FIELDS, "session"):
        _delete(key.entry(name))


class KeyringSessionStore:
    """The trade session (token, sid, baseUrl, expiry) survives restarts, in the keyring."""

    def __init__(self, key: VaultKey) -> None:
        self.key = key.entry("session")

    def load(self) -> SessionToken | None:
        raw = _get(self.key)
        if not raw:
            return None
        try:
            return SessionToken.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            return None

    def save(self, token: SessionToken) -> None:
        _set(self.key, json.dumps(token.to_json()))

    def clear(self) -> None:
        _delete(self.key)
