"""Secrets in the OS keyring, and only there: consumer key, MPIN, TOTP seed, the session token."""

from __future__ import annotations

import json
from dataclasses import dataclass

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

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


# Backends that do not keep a secret safely: they store nothing (null), refuse everything (fail),
# or write files anyone with the disk can read (keyrings.alt's plaintext and "encrypted" files).
REFUSED_MODULES = ("keyring.backends.null", "keyring.backends.fail", "keyrings.alt")


def check_keyring() -> None:
    """Refuse a backend that would lose or expose the secrets, in one line that says the fix."""
    trusted_backend()


def trusted_backend() -> KeyringBackend:
    backend = load_backend()
    refusal = refused_backend(backend)
    if refusal:
        raise KeyringUnavailable(refusal)
    return backend


def load_backend() -> KeyringBackend:
    """The configured backend; one that cannot be loaded is the same one-line refusal."""
    try:
        return keyring.get_keyring()
    except Exception as exc:  # a bad PYTHON_KEYRING_BACKEND or keyringrc.cfg: any import error
        raise KeyringUnavailable(
            f"the configured keyring backend cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None


def refused_backend(backend: KeyringBackend) -> str | None:
    """Why `backend` must not hold broker secrets, or None when it may."""
    cls = type(backend)
    where = f"{cls.__module__}.{cls.__name__}"
    if isinstance(backend, ChainerBackend):
        try:
            chain = list(backend.backends)
        except Exception:
            chain = []
        # set_password writes to the first backend of the chain: that one must be safe.
        if not chain or refused_backend(chain[0]) is not None:
            names = ", ".join(type(b).__name__ for b in chain) or "none"
            return f"backend {where} has no safe backend first in its chain ({names})"
        return None
    if any(cls.__module__ == m or cls.__module__.startswith(m + ".") for m in REFUSED_MODULES):
        return f"backend {where} does not keep secrets safely"
    if "plaintext" in cls.__name__.lower():
        return f"backend {where} keeps secrets in a plain file"
    return None


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
        # Masked wherever they appear; the MPIN is too short for that (see redact.py) and is
        # masked as a field instead.
        register_secret(self.consumer_key)
        register_secret(self.totp_secret)

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credentials(ucc={self.ucc!r}, mobile={self.mobile!r}, secrets=***)"


def _get(key: str) -> str | None:
    backend = trusted_backend()
    try:
        return backend.get_password(SERVICE, key)
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(type(exc).__name__) from exc


def _set(key: str, value: str) -> None:
    backend = trusted_backend()
    try:
        backend.set_password(SERVICE, key, value)
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(type(exc).__name__) from exc


def _delete(key: str) -> None:
    """Deleting is safe from any backend, so an unsafe one does not stop a clean-up."""
    try:
        load_backend().delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        pass
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(type(exc).__name__) from exc


def store_secrets(key: VaultKey, *, consumer_key: str, mpin: str, totp_secret: str) -> None:
    check_keyring()
    register_secret(consumer_key)
    register_secret(totp_secret)
    for name, value in (
        ("consumer_key", consumer_key),
        ("mpin", mpin),
        ("totp_secret", totp_secret),
    ):
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


def store_notify(key: VaultKey, urls: tuple[str, ...]) -> None:
    """An account's notify URLs: they carry tokens (a chat bot's, a webhook's), so they live
    here, never in config.toml."""
    if not urls:
        _delete(key.entry("notify"))
        return
    check_keyring()
    for url in urls:
        register_secret(url)
    _set(key.entry("notify"), json.dumps(list(urls)))


def load_notify(key: VaultKey) -> tuple[str, ...]:
    """The account's notify URLs; none when the keyring is unavailable or holds none (the
    run's messages are not worth refusing to trade over)."""
    try:
        raw = _get(key.entry("notify"))
    except KeyringUnavailable:
        return ()
    try:
        urls = json.loads(raw) if raw else []
    except ValueError:
        return ()
    out = tuple(str(u) for u in urls if isinstance(u, str)) if isinstance(urls, list) else ()
    for url in out:
        register_secret(url)
    return out


def forget(key: VaultKey) -> None:
    for name in (*SECRET_FIELDS, "session", "notify"):
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
