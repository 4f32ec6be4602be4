"""`gui-trader risk set|show|reset`: an account's daily MTM loss and profit limits and its
intraday square-off time (config.toml `[risk.ACCOUNT]`), and the day's block (the journal)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import time
from decimal import Decimal
from typing import Any

from gui_trader.cli.args import EXIT_BAD_INPUT, CommandError
from gui_trader.cli.kill import account_names, add_scope, open_engines
from gui_trader.cli.output import Result, ok, table
from gui_trader.config import Config, Paths
from gui_trader.core.clock import today_ist
from gui_trader.core.risk_limits import OFF, RiskLimits, parse_hhmm, parse_rupees
from gui_trader.engine.journal import Journal, RiskDay

_UNSET = object()


def _rupees(what: str) -> Any:
    def parse(text: str) -> Decimal | None:
        if text.strip().lower() == OFF:
            return None
        try:
            return parse_rupees(text.strip(), what)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "rupees"
    return parse


def _hhmm(text: str) -> time | None:
    if text.strip().lower() == OFF:
        return None
    try:
        return parse_hhmm(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="risk_command", parser_class=type(p), required=True)
    s = sub.add_parser("set", parents=[common], help="daily MTM limits and square-off time")
    add_scope(s)
    s.add_argument(
        "--max-loss",
        type=_rupees("max loss"),
        default=_UNSET,
        metavar="RUPEES",
        help="square off and block when MTM reaches -RUPEES ('off' removes it)",
    )
    s.add_argument(
        "--max-profit",
        type=_rupees("max profit"),
        default=_UNSET,
        metavar="RUPEES",
        help="square off and block when MTM reaches +RUPEES ('off' removes it)",
    )
    s.add_argument(
        "--square-off",
        type=_hhmm,
        default=_UNSET,
        metavar="HH:MM",
        help="flatten intraday (MIS) positions at this IST time ('off' removes it)",
    )
    add_scope(sub.add_parser("show", parents=[common], help="limits, MTM and today's block"))
    add_scope(sub.add_parser("reset", parents=[common], help="allow orders again today"))


async def cmd_risk(args: argparse.Namespace, paths: Paths) -> Result:
    config = Config.load(paths.config)
    names = account_names(args, config)
    if args.risk_command == "set":
        return risk_set(args, config, names)
    if args.risk_command == "reset":
        return await risk_reset(paths, names)
    return await risk_show(args, paths, config, names)


def risk_set(args: argparse.Namespace, config: Config, names: list[str]) -> Result:
    given = {
        k: getattr(args, k)
        for k in ("max_loss", "max_profit", "square_off")
        if getattr(args, k) is not _UNSET
    }
    if not given:
        raise CommandError(
            "risk set: give --max-loss, --max-profit and/or --square-off", EXIT_BAD_INPUT
        )
    applied: dict[str, RiskLimits] = {}
    for name in names:
        try:
            old = config.risk(name)
        except ValueError:  # a hand-broken table: replaced by what is given now
            old = RiskLimits()
        applied[name] = RiskLimits(
            given.get("max_loss", old.max_loss),
            given.get("max_profit", old.max_profit),
            given.get("square_off", old.square_off),
        )
        config.set_risk(name, applied[name])
    config.save()
    doc = {"accounts": {n: v.to_json() for n, v in applied.items()}}
    return ok(doc, "\n".join(f"{n}: {describe(v)}" for n, v in applied.items()))


def describe(limits: RiskLimits) -> str:
    if limits.empty:
        return "no limits"
    parts = []
    if limits.max_loss is not None:
        parts.append(f"max loss {limits.max_loss:,}")
    if limits.max_profit is not None:
        parts.append(f"max profit {limits.max_profit:,}")
    if limits.square_off is not None:
        parts.append(f"square-off {limits.square_off:%H:%M} IST (MIS)")
    return ", ".join(parts)


def _day_json(day: RiskDay | None) -> dict[str, Any]:
    return {
        "blocked": bool(day and day.blocked),
        "reason": day.reason if day and day.blocked else None,
        "fired": sorted(day.fired) if day else [],
    }


async def risk_reset(paths: Paths, names: list[str]) -> Result:
    journal = await Journal(paths.journal).open()
    try:
        day = today_ist()
        before = {n: await journal.unblock_trading(n, day) for n in names}
    finally:
        await journal.close()
    lines = []
    for name, was in before.items():
        if was is not None and was.blocked:
            lines.append(f"{name}: orders allowed again (was blocked: {was.reason})")
        else:
            lines.append(f"{name}: was not blocked")
    doc = {
        n: {"was_blocked": bool(w and w.blocked), "reason": w.reason if w and w.blocked else None}
        for n, w in before.items()
    }
    return ok({"accounts": doc}, "\n".join(lines))


async def risk_show(
    args: argparse.Namespace, paths: Paths, config: Config, names: list[str]
) -> Result:
    """Limits and today's block from disk; MTM from each account's positions (an account
    that cannot be read says why, the others are shown)."""
    mtm: dict[str, Decimal | str] = {}
    async with open_engines(args, paths) as (engines, unusable):
        mtm.update(unusable)
        views = await asyncio.gather(
            *(e.read_portfolio(holdings=False) for e in engines), return_exceptions=True
        )
        for e, view in zip(engines, views, strict=True):
            if isinstance(view, Exception):
                mtm[e.account] = str(view).strip("'\"") or type(view).__name__
            elif isinstance(view, BaseException):
                raise view
            else:
                mtm[e.account] = view.positions_pnl
    journal = await Journal(paths.journal).open()
    try:
        days = {n: await journal.risk_day(n, today_ist()) for n in names}
    finally:
        await journal.close()
    doc: dict[str, Any] = {}
    rows = []
    for name in names:
        try:
            limits = config.risk(name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        value = mtm.get(name)
        day = days[name]
        doc[name] = {
            **limits.to_json(),
            "mtm": str(value.quantize(Decimal("0.01"))) if isinstance(value, Decimal) else None,
            **({"mtm_error": value} if isinstance(value, str) else {}),
            **_day_json(day),
        }
        rows.append(
            [
                name,
                f"{value:+,.2f}" if isinstance(value, Decimal) else "?",
                f"-{limits.max_loss:,}" if limits.max_loss is not None else "-",
                f"+{limits.max_profit:,}" if limits.max_profit is not None else "-",
                f"{limits.square_off:%H:%M}" if limits.square_off is not None else "-",
                f"BLOCKED: {day.reason}" if day and day.blocked else "trading",
            ]
        )
    text = table(["ACCOUNT", "MTM", "MAX LOSS", "MAX PROFIT", "SQUARE-OFF", "TODAY"], rows)
    errors = [f"{n}: MTM not read: {v}" for n, v in mtm.items() if isinstance(v, str)]
    return ok({"accounts": doc}, "\n".join([text, *errors]))


__all__ = ["add_arguments", "cmd_risk"]
