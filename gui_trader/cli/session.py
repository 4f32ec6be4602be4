"""`gui-trader login` / `logout`: the account's stored session."""

from __future__ import annotations

import argparse
from typing import Any

from gui_trader.cli.output import Result, ok


async def cmd_login(ctx: Any, args: argparse.Namespace) -> Result:
    await ctx.broker.login(getattr(args, "totp", None))
    return ok(
        {"account": ctx.account, "mode": ctx.mode, "logins": ctx.broker.logins},
        f"{ctx.mode} {ctx.account}: session ready "
        f"({'new login' if ctx.broker.logins else 'stored session reused'})",
    )


async def cmd_logout(ctx: Any, args: argparse.Namespace) -> Result:
    await ctx.broker.logout()
    return ok({"account": ctx.account}, f"{ctx.account}: session forgotten")
