"""`gui-trader login` / `logout`: the account's stored session."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gui_trader.cli.output import Result, ok

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


async def cmd_login(engine: TradingEngine, args: argparse.Namespace) -> Result:
    await engine.login(getattr(args, "totp", None))
    return ok(
        {"account": engine.account, "mode": engine.mode, "logins": engine.logins},
        f"{engine.mode} {engine.account}: session ready "
        f"({'new login' if engine.logins else 'stored session reused'})",
    )


async def cmd_logout(engine: TradingEngine, args: argparse.Namespace) -> Result:
    await engine.logout()
    return ok({"account": engine.account}, f"{engine.account}: session forgotten")
