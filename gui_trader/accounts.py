"""Adding an account, shared by `gui-trader account add` and the window's account dialog:
validate, log in once to verify, then keep secrets in the keyring and the rest in config.toml."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pyotp

from gui_trader.broker.neo import PROD_LOGIN_URL, NeoClient
from gui_trader.broker.vault import (
    Credentials,
    KeyringSessionStore,
    VaultKey,
    check_keyring,
    store_secrets,
)
from gui_trader.config import AccountConfig, Config, Paths


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
        name, mobile = self.name.strip(), self.mobile.strip().replace(" ", "")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise BadAccountInput(f"account name {name!r}: use letters, digits, - and _")
        if not (mobile.startswith("+") and mobile[1:].isdigit() and len(mobile) >= 11):
            raise BadAccountInput(
                f"mobile {mobile!r}: give it with the country code, e.g. +919876543210"
            )
        if not self.ucc.strip():
            raise BadAccountInput("the UCC (client code) is required")
        if not self.consumer_key.strip():
            raise BadAccountInput("the consumer key is required (Neo app -> Trade API)")
        if not (self.mpin.isdigit() and 4 <= len(self.mpin) <= 6):
            raise BadAccountInput("MPIN must be 4-6 digits")
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


async def add_account(paths: Paths, new: NewAccount) -> AccountConfig:
    new = new.checked()
    await asyncio.to_thread(check_keyring)
    creds = Credentials(new.consumer_key, new.mobile, new.ucc, new.mpin, new.totp_secret)
    key = VaultKey(paths.keyring_scope, new.name, new.ucc)
    store = KeyringSessionStore(key)
    client = NeoClient(new.name, creds, store, login_url=new.login_url)
    try:
        await client.login()  # verify before keeping anything; the session is kept
    finally:
        await client.close()
    await asyncio.to_thread(
        lambda: store_secrets(
            key, consumer_key=new.consumer_key, mpin=new.mpin, totp_secret=new.totp_secret
        )
    )
    config = Config.load(paths.config)
    account = AccountConfig(new.name, new.mobile, new.ucc, new.login_url)
    config.accounts[new.name] = account
    config.save()
    return account
