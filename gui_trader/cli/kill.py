"""`gui-trader kill [--account A | --all-accounts] [--yes]`: cancel every open order and flatten
every position on one account or on every configured one at once, then block new orders until
`gui-trader risk reset`. Without --yes: what it would do; nothing sent, nothing blocked."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from gui_trader.cli.args import EXIT_BAD_INPUT, EXIT_FAILED, CommandError
from gui_trader.cli.output import EXIT_BUSY, EXIT_UNKNOWN, Result
from gui_trader.config import Config, Paths

if TYPE_CHECKING:
    from gui_trader.engine.account_risk import SquareOff
    from gui_trader.engine.trading import TradingEngine

PAPER = "paper"  # the demo paper account's name (app.PAPER)


def add_scope(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--all-accounts",
        action="store_true",
        help="every configured account at once (instead of --account)",
    )


def wants_all(args: argparse.Namespace) -> bool:
    every = bool(getattr(args, "all_accounts", False))
    if every and (getattr(args, "account", None) or getattr(args, "paper", False)):
        raise CommandError(
            "give --account (or --paper) or --all-accounts, not both", EXIT_BAD_INPUT
        )
    return every


def account_names(args: argparse.Namespace, config: Config) -> list[str]:
    """The accounts a risk command acts on, without opening them: --all-accounts is every
    configured account (the demo paper account when none is); else --account, --paper, or
    the account the other commands use by default."""
    if wants_all(args):
        return list(config.accounts) or [PAPER]
    if getattr(args, "paper", False):
        return [PAPER]
    name = getattr(args, "account", None)
    if name is not None:
        if name not in config.accounts:
            raise CommandError(
                f"no account named {name!r} (see `gui-trader account list`)", EXIT_BAD_INPUT
            )
        return [name]
    active = config.active_account()
    return [active.name if active is not None else PAPER]


@contextlib.asynccontextmanager
async def open_engines(
    args: argparse.Namespace, paths: Paths
) -> AsyncIterator[tuple[list[TradingEngine], dict[str, str]]]:
    """The engines asked for, logged in, and {account: why it cannot be used}; closed after.
    Several accounts open together as a fleet (one journal connection, logins at once)."""
    from gui_trader.app import open_context, open_fleet
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.trading import TradingEngine

    config = Config.load(paths.config)
    if wants_all(args) and config.accounts:
        fleet = await open_fleet(EventHub(), list(config.accounts), paths=paths)
        try:
            await fleet.login()
            yield [e for e in fleet if fleet.usable(e.account)], dict(fleet.unusable)
        finally:
            await fleet.close()
        return
    ctx = await open_context(
        account=getattr(args, "account", None),
        paper=bool(getattr(args, "paper", False)) or (wants_all(args) and not config.accounts),
        login_url=getattr(args, "login_url", None),
        paths=paths,
    )
    try:
        yield [TradingEngine(ctx, EventHub())], {}
    finally:
        await ctx.close()


async def cmd_kill(args: argparse.Namespace, paths: Paths) -> Result:
    send = bool(args.yes)
    async with open_engines(args, paths) as (engines, unusable):
        results = await asyncio.gather(
            *(e.risk.kill(send=send, source="cli") for e in engines), return_exceptions=True
        )
    reports: dict[str, SquareOff | str] = dict(unusable)
    if send and unusable:  # nothing can be closed there, but nothing new leaves from here
        await block_anyway(paths, reports, list(unusable))
    for engine, res in zip(engines, results, strict=True):
        if isinstance(res, BaseException):
            if not isinstance(res, Exception):
                raise res
            reports[engine.account] = str(res).strip("'\"") or type(res).__name__
        else:
            reports[engine.account] = res
    return kill_result(reports, send)


async def block_anyway(paths: Paths, reports: dict[str, SquareOff | str], names: list[str]) -> None:
    """Accounts that could not be opened are still blocked in the journal, so no process on
    this data folder sends them a new order until `risk reset`."""
    from gui_trader.core.clock import now_ist
    from gui_trader.engine.journal import Journal

    at = now_ist()
    journal = await Journal(paths.journal).open()
    try:
        for name in names:
            reason = f"kill switch (cli) at {at:%H:%M:%S} IST; not squared off: {reports[name]}"
            await journal.block_trading(name, at.date(), "kill", reason)
            reports[name] = f"{reports[name]}; blocked for today, nothing closed"
    finally:
        await journal.close()


def kill_result(reports: dict[str, SquareOff | str], send: bool) -> Result:
    docs: dict[str, Any] = {}
    lines: list[str] = []
    statuses: list[int] = []
    for name, rep in reports.items():
        if isinstance(rep, str):
            docs[name] = {"account": name, "ok": False, "error": rep}
            lines.append(f"{name}: NOT KILLED: {rep}")
            statuses.append(EXIT_FAILED)
            continue
        docs[name] = rep.to_json()
        lines += report_lines(rep)
        if rep.busy:
            statuses.append(EXIT_BUSY)
        elif rep.unknown:
            statuses.append(EXIT_UNKNOWN)
        elif not rep.ok:
            statuses.append(EXIT_FAILED)
    if not send:
        lines.append("plan only: nothing sent, nothing blocked (add --yes to kill)")
    status: bool | int = max(statuses, key=_severity) if statuses else True
    ok = not statuses
    return status, {"sent": send, "ok": ok, "accounts": docs}, "\n".join(lines)


def _severity(code: int) -> int:
    return {EXIT_UNKNOWN: 3, EXIT_BUSY: 2, EXIT_FAILED: 1}.get(code, 0)


def report_lines(rep: SquareOff) -> list[str]:
    head = f"{rep.account}: {'KILL' if rep.sent else 'KILL (plan)'}: {rep.summary()}"
    if rep.blocked:
        head += f" ({rep.blocked})"
    out = [head]
    for c in rep.cancelled:
        out.append(
            f"  cancel  {c.order_id or '-':<18} {c.side:<4} {c.qty:>8} {c.symbol} {c.product}"
            f"  {c.status}" + (f": {c.error}" if c.error else "")
        )
    for p in rep.placed:
        out.append(
            f"  exit    {p.order_id or '-':<18} {p.side:<4} {p.qty:>8} {p.symbol} {p.product}"
            f"  {p.status}" + (f" [{p.tag}]" if p.tag else "") + (f": {p.error}" if p.error else "")
        )
    for pos in rep.positions_left if rep.sent else ():
        out.append(f"  LEFT    {pos['symbol']} {pos['product']} net {pos['net_qty']}")
    if rep.in_flight:
        out.append(
            "  exits of an earlier run may still land: "
            + ", ".join(rep.in_flight)
            + " (run kill again shortly)"
        )
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scope(p)
    p.add_argument("--yes", action="store_true", help="do it (otherwise: what it would do)")


__all__ = ["account_names", "add_arguments", "add_scope", "cmd_kill", "open_engines"]
