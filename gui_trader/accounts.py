"""Adding an account, shared by `gui-trader account add` and the window's account dialog:
validate, log in afresh with the new secrets, and only then keep them (keyring) and the account
(config.toml). A refused login changes nothing; an existing name needs `replace=True`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pyotp

from gui_trader.broker.neo import PROD_LOGIN_URL, NeoClient
from gui_trader.broker.session import MemorySessionStore, SessionToken
from gui_trader.broker.vault import (
    Credentials,
    KeyringSessionStore,
    VaultKey,
    check_keyring,
    forget,
    store_secrets,
)
from gui_trader.config import AccountConfig, Config, Paths

DEFAULT_LOGIN_URL = PROD_LOGIN_URL  # what the account form starts with


class BadAccountInput(ValueError):
    pass


@dataclass(frozen=True)
class NewAccount:
    name: str
    mobile: str
    ucc: str
    consumer_key: str
    mpin: str
    totp_secret: str
    login_url: str = PROD_LOGIN_URL

    def checked(self) -> NewAccount:
        name, mobile = check_name(self.name), self.mobile.strip().replace(" ", "")
        if not (mobile.startswith("+") and ascii_digits(mobile[1:]) and len(mobile) >= 11):
            raise BadAccountInput(
                f"mobile {mobile!r}: give it with the country code, e.g. +919876543210"
            )
        if not self.ucc.strip():
            raise BadAccountInput("the UCC (client code) is required")
        if not _ascii_alnum(self.ucc.strip()):
            raise BadAccountInput("the UCC (client code) is letters and digits only")
        if not self.consumer_key.strip():
            raise BadAccountInput("the consumer key is required (Neo app -> Trade API)")
        if not (ascii_digits(self.mpin) and 4 <= len(self.mpin) <= 6):
            raise BadAccountInput("MPIN must be 4-6 digits (0-9)")
        seed = self.totp_secret.replace(" ", "").upper()
        try:
            pyotp.TOTP(seed).now()
        except Exception:
            raise BadAccountInput("the TOTP secret is not valid base32") from None
        return NewAccount(
            name,
            mobile,
            self.ucc.strip().upper(),
            self.consumer_key.strip(),
            self.mpin,
            seed,
            (self.login_url or PROD_LOGIN_URL).rstrip("/"),
        )


def ascii_digits(text: str) -> bool:
    """0-9 only: str.isdigit() also accepts full-width and superscript digits the broker refuses."""
    return text.isascii() and text.isdigit()


def _ascii_alnum(text: str) -> bool:
    return text.isascii() and text.isalnum()


def check_name(name: str) -> str:
    name = name.strip()
    if not _ascii_alnum(name.replace("-", "").replace("_", "")):
        raise BadAccountInput(f"account name {name!r}: use letters, digits, - and _")
    return name


def refuse_existing(config: Config, name: str, *, replace: bool) -> AccountConfig | None:
    """The account `name` would replace; an existing name needs `replace`, said in one line."""
    old = config.accounts.get(name.strip())
    if old is not None and not replace:
        raise BadAccountInput(f"account {old.name} exists; use --replace to change it")
    return old


async def add_account(paths: Paths, new: NewAccount, *, replace: bool = False) -> AccountConfig:
    """Log in with the new secrets first; keep them, the session and the account only then."""
    new = new.checked()
    old = refuse_existing(
        await asyncio.to_thread(Config.load, paths.config), new.name, replace=replace
    )
    await asyncio.to_thread(check_keyring)
    session = await verify_login(new)
    key = VaultKey(paths.keyring_scope, new.name, new.ucc)
    old_key = VaultKey(paths.keyring_scope, old.name, old.ucc) if old else None
    return await asyncio.to_thread(_keep, paths, new, key, session, old_key)


async def verify_login(new: NewAccount) -> SessionToken:
    """A fresh login with exactly these secrets: never a stored session, never the old account's."""
    creds = Credentials(new.consumer_key, new.mobile, new.ucc, new.mpin, new.totp_secret)
    client = NeoClient(new.name, creds, MemorySessionStore(), login_url=new.login_url)
    try:
        await client.login()
        session = client.session.current
    finally:
        await client.close()
    assert session is not None
    if session.ucc and session.ucc.upper() != new.ucc:
        raise BadAccountInput(f"the broker logged in as {session.ucc}, not {new.ucc}")
    return session


def _keep(
    paths: Paths,
    new: NewAccount,
    key: VaultKey,
    session: SessionToken,
    old_key: VaultKey | None,
) -> AccountConfig:
    """Secrets, then session, then config; the old account's entries go last, and only when
    they live elsewhere (its UCC changed): the new ones just overwrote them otherwise."""
    store_secrets(key, consumer_key=new.consumer_key, mpin=new.mpin, totp_secret=new.totp_secret)
    KeyringSessionStore(key).save(session)
    config = Config.load(paths.config)
    account = AccountConfig(new.name, new.mobile, new.ucc, new.login_url)
    if new.name in config.accounts:  # a replaced account keeps its fan-out settings
        account.fanout = config.accounts[new.name].fanout
    config.accounts[new.name] = account
    config.save()
    if old_key is not None and old_key.entry("session") != key.entry("session"):  # UCC changed
        forget(old_key)
    return account
