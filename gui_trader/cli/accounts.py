"""`gui-trader account ...`: add, list, remove, default. Secrets go to the keyring only."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

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
                "default": active is not None and a.name == active.name,
            }
            for a in config.accounts.values()
        ]
        text = table(
            ["NAME", "UCC", "MOBILE", "LOGIN URL", "DEFAULT"],
            [
                [r["name"], r["ucc"], r["mobile"], r["login_url"], "*" if r["default"] else ""]
                for r in rows
            ],
        )
        if not rows:
            text = "no accounts: paper mode (add one with `gui-trader account add NAME ...`)"
        return ok({"accounts": rows, "mode": "LIVE" if rows else "PAPER"}, text)
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
    if sub == "default":
        if args.name not in config.accounts:
            raise CommandError(f"no account named {args.name!r}", EXIT_BAD_INPUT)
        config.default_account = args.name
        config.save()
        return ok({"default": args.name}, f"{args.name} is now the default account")
    return await account_add(args, paths, config)


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
