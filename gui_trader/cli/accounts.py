"""`gui-trader account ...`: add, list, remove, default. Secrets go to the keyring only."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import Any

from gui_trader.app import account_notify
from gui_trader.cli.args import ENV_SECRETS, EXIT_BAD_INPUT, CommandError
from gui_trader.cli.output import Result, ok, table
from gui_trader.config import Config, Paths


async def account_command(args: argparse.Namespace, paths: Paths) -> Result:
    config = Config.load(paths.config)
    sub = args.account_command
    if sub == "list":
        active = config.active_account()
        rows = [
            {
                "name": a.name,
                "ucc": a.ucc,
                "mobile": _mask(a.mobile),
                "login_url": a.login_url,
                "paper": a.paper,
                "default": active is not None and a.name == active.name,
                **_shown(a.fanout.to_toml(), await account_notify(paths, config, a.name)),
            }
            for a in config.accounts.values()
        ]
        text = table(
            [
                "NAME",
                "MODE",
                "UCC",
                "MOBILE",
                "LOGIN URL",
                "DEFAULT",
                "ON",
                "GROUPS",
                "AMOUNT",
                "LEV",
                "MAXPOS",
                "PRIO",
            ],
            [
                [
                    r["name"],
                    "PAPER" if r["paper"] else "LIVE",
                    r["ucc"],
                    r["mobile"],
                    r["login_url"],
                    "*" if r["default"] else "",
                    "yes" if r["enabled"] else "no",
                    ",".join(r["groups"]) or "-",
                    r["amount"],
                    r["leverage"],
                    r["max_positions"],
                    r["priority"],
                ]
                for r in rows
            ],
        )
        if not rows:
            text = "no accounts: paper mode (add one with `gui-trader account add NAME ...`)"
        mode = "LIVE" if active is not None and not active.paper else "PAPER"
        return ok({"accounts": rows, "mode": mode}, text)
    if sub == "remove":
        from gui_trader.broker.vault import VaultKey, forget

        if args.name not in config.accounts:
            raise CommandError(f"no account named {args.name!r}", EXIT_BAD_INPUT)
        gone = config.accounts.pop(args.name)
        if config.default_account == args.name:
            config.default_account = None
        config.save()
        await asyncio.to_thread(forget, VaultKey(paths.keyring_scope, gone.name, gone.ucc))
        return ok({"removed": args.name}, f"removed {args.name} and its keyring secrets")
    if sub == "set":
        return await account_set(args, paths, config)
    if sub == "default":
        if args.name not in config.accounts:
            raise CommandError(f"no account named {args.name!r}", EXIT_BAD_INPUT)
        config.default_account = args.name
        config.save()
        return ok({"default": args.name}, f"{args.name} is now the default account")
    return await account_add(args, paths, config)


async def account_set(args: argparse.Namespace, paths: Paths, config: Config) -> Result:
    """Fan-out settings: every value checked (one line, nothing saved) before config.toml;
    notify URLs (and any an older config.toml still had) go to the keyring."""
    from dataclasses import replace

    from gui_trader.broker.vault import KeyringUnavailable, VaultKey, store_notify
    from gui_trader.core.account_settings import FanoutSettings

    account = config.accounts.get(args.name)
    if account is None:
        raise CommandError(f"no account named {args.name!r}", EXIT_BAD_INPUT)
    changes: dict[str, object] = {}
    if args.group is not None:
        changes["groups"] = tuple(dict.fromkeys(g.strip() for g in args.group if g.strip()))
    if args.notify is not None:
        changes["notify"] = tuple(dict.fromkeys(u.strip() for u in args.notify if u.strip()))
    for key in ("amount", "leverage", "max_positions", "priority"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.enabled is not None:
        changes["enabled"] = args.enabled == "yes"
    try:
        settings: FanoutSettings = replace(account.fanout, **changes)  # type: ignore[arg-type]
    except ValueError as exc:
        raise CommandError(f"account set {args.name}: {exc}", EXIT_BAD_INPUT) from None
    if "notify" in changes or settings.notify:
        vault_key = VaultKey(paths.keyring_scope, account.name, account.ucc)
        # Replaced by --notify, or (moving an older config.toml's) the keyring's and those.
        keep = (
            settings.notify
            if "notify" in changes
            else await account_notify(paths, config, account.name)
        )
        try:
            await asyncio.to_thread(store_notify, vault_key, keep)
        except KeyringUnavailable as exc:
            raise CommandError(
                f"account set {args.name}: notify URLs may hold tokens and are kept only in the"
                f" keyring: {exc}",
                EXIT_BAD_INPUT,
            ) from None
        settings = replace(settings, notify=())
    account.fanout = settings
    config.save()
    urls = await account_notify(paths, config, account.name)
    row = {"account": account.name, **_shown(settings.to_toml(), urls)}
    return ok(
        row, f"{account.name}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "account")
    )


def _shown(settings: dict[str, Any], urls: tuple[str, ...]) -> dict[str, Any]:
    """Settings as printed: notify URLs only by their scheme (the rest may be a token)."""
    return settings | {"notify": [u.partition("://")[0] + "://***" for u in urls]}


def _mask(mobile: str) -> str:
    return mobile[:-6] + "******" if len(mobile) > 6 else mobile


async def account_add(args: argparse.Namespace, paths: Paths, config: Config) -> Result:
    """Refuse what can be refused before asking for secrets; `add_account` does the rest."""
    from gui_trader.accounts import BadAccountInput, NewAccount, add_account, refuse_existing
    from gui_trader.broker.neo import PROD_LOGIN_URL
    from gui_trader.broker.vault import check_keyring

    replace = bool(getattr(args, "replace", False))
    try:
        old = refuse_existing(config, args.name, replace=replace)
    except BadAccountInput as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from None
    if getattr(args, "paper", False):
        return await paper_account_add(args, paths, config, replaced=old is not None)
    if not args.mobile or not args.ucc:
        raise CommandError("--mobile and --ucc are needed (or --paper)", EXIT_BAD_INPUT)
    await asyncio.to_thread(check_keyring)
    secrets = read_secrets(bool(args.from_env))
    new = NewAccount(
        args.name,
        args.mobile,
        args.ucc,
        secrets["consumer_key"],
        secrets["mpin"],
        secrets["totp_secret"],
        getattr(args, "login_url", None) or PROD_LOGIN_URL,
    )
    try:
        account = await add_account(paths, new, replace=replace)
    except BadAccountInput as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from None
    verb = "replaced" if old is not None else "added"
    return ok(
        {
            "account": account.name,
            "ucc": account.ucc,
            "login_url": account.login_url,
            "logins": 1,
            "replaced": old is not None,
        },
        f"account {account.name} {verb}; logged in as {account.ucc} at {account.login_url}; "
        "secrets are in the OS keyring",
    )


async def paper_account_add(
    args: argparse.Namespace, paths: Paths, config: Config, *, replaced: bool
) -> Result:
    """An account of this folder's paper exchange: its own funds, books and login (kept in the
    paper store, nothing in the keyring), logged in once to prove it."""
    from gui_trader.accounts import BadAccountInput, check_name
    from gui_trader.app import open_engine
    from gui_trader.config import AccountConfig
    from gui_trader.engine.events import EventHub
    from gui_trader.sim.link import paper_users
    from gui_trader.sim.paper_accounts import new_user
    from gui_trader.sim.paper_files import PAPER_URL

    try:
        check_name(args.name)
    except BadAccountInput as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from None

    def create() -> AccountConfig:
        store = paper_users(paths.paper)
        try:
            taken = {u.ucc for u in store.users()} | {"PAPER1"}
            ucc = (args.ucc or "").strip().upper() or next(
                f"PAPER{n}" for n in range(2, 10_000) if f"PAPER{n}" not in taken
            )
            if ucc in taken and not args.ucc:
                raise CommandError(f"paper client code {ucc} is taken", EXIT_BAD_INPUT)
            mobile = args.mobile or f"+91999{secrets_digits(7)}"
            store.add_user(new_user(ucc, mobile, args.name))
        finally:
            store.close()
        return AccountConfig(args.name, mobile, ucc, PAPER_URL, paper=True)

    account = await asyncio.to_thread(create)
    config.accounts[account.name] = account
    config.save()
    engine = await open_engine(EventHub(), account=account.name, paths=paths)
    try:
        await engine.login()
    finally:
        await engine.stop()
    verb = "replaced" if replaced else "added"
    return ok(
        {
            "account": account.name,
            "ucc": account.ucc,
            "paper": True,
            "login_url": account.login_url,
            "logins": 1,
            "replaced": replaced,
        },
        f"paper account {account.name} {verb} (client code {account.ucc}, its own funds and "
        f"books); use it with --account {account.name}",
    )


def secrets_digits(n: int) -> str:
    import secrets

    return "".join(str(secrets.randbelow(10)) for _ in range(n))


def read_secrets(from_env: bool) -> dict[str, str]:
    if from_env:
        values = {k: os.environ.get(v, "").strip() for k, v in ENV_SECRETS.items()}
        missing = [ENV_SECRETS[k] for k, v in values.items() if not v]
        if missing:
            raise CommandError(f"--from-env: {', '.join(missing)} not set", EXIT_BAD_INPUT)
    elif not sys.stdin.isatty():
        raise CommandError(
            "stdin is not a terminal: use --from-env with " + ", ".join(ENV_SECRETS.values()),
            EXIT_BAD_INPUT,
        )
    else:
        values = {
            "consumer_key": getpass.getpass("Consumer key: ").strip(),
            "mpin": getpass.getpass("MPIN: ").strip(),
            "totp_secret": getpass.getpass("TOTP secret (base32): ").strip(),
        }
    return values  # checked by NewAccount.checked with the rest
