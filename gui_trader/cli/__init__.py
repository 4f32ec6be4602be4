"""Headless commands on the same engine as the window (no Qt import here).

Contract: `--account NAME` / `--paper` / `--login-url` / `--json` may stand before or after the
subcommand; `--json` prints exactly one JSON document on stdout; exit 0 only when everything
asked for happened, otherwise a one-line reason; nothing prompts when stdin is not a terminal.

One module per command family (market, orders, portfolio, session, straddle, monitor, accounts,
sim); args.py is the grammar, output.py the result triple and exit statuses, interrupt.py the
Ctrl-C helper. This module parses, dispatches and turns every failure into one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

# The grammar (cli.args: every subcommand's module) is imported only for a command: the
# window's way in reads its few options itself (window_only).
from gui_trader.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_UNKNOWN,
    Result,
    Streamed,
)

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine

__all__ = ["dispatch", "main"]

Command = Callable[["TradingEngine", argparse.Namespace], Awaitable[Result]]


def commands() -> dict[str, Command]:
    """The command table, imported on first use: `gui-trader` with no command opens the
    window, and the command modules (keyring, the protection engine...) cost it ~0.2 s."""
    from gui_trader.cli.market import cmd_quote
    from gui_trader.cli.monitor import cmd_monitor
    from gui_trader.cli.orders import cmd_cancel, cmd_order, cmd_orders
    from gui_trader.cli.portfolio import cmd_holdings, cmd_limits, cmd_pnl, cmd_positions
    from gui_trader.cli.protect import cmd_protect
    from gui_trader.cli.session import cmd_login, cmd_logout
    from gui_trader.cli.straddle import cmd_straddle

    return {
        "login": cmd_login,
        "logout": cmd_logout,
        "quote": cmd_quote,
        "orders": cmd_orders,
        "positions": cmd_positions,
        "holdings": cmd_holdings,
        "limits": cmd_limits,
        "pnl": cmd_pnl,
        "buy": cmd_order,
        "sell": cmd_order,
        "cancel": cmd_cancel,
        "straddle": cmd_straddle,
        "monitor": cmd_monitor,
        "protect": cmd_protect,
    }


Errors = tuple[type[BaseException], ...]
WINDOW_OPTIONS = {"--paper": "paper", "-v": "verbose", "--verbose": "verbose", "--json": "json"}
WINDOW_VALUES = {"--account": "account", "--login-url": "login_url"}


def window_only(argv: Sequence[str]) -> argparse.Namespace | None:
    """`gui-trader [gui] [--paper] [--account NAME] [--login-url URL]` read without building
    the whole grammar (every subcommand's module: ~0.2 s of the window's start). Anything
    else (a command, --help, an abbreviation, a missing value) returns None: the full parser
    reads it, and says what is wrong."""
    words = list(argv)
    if words[:1] == ["gui"]:
        words = words[1:]
    found: dict[str, Any] = {}
    while words:
        word = words.pop(0)
        name, eq, value = word.partition("=")
        if word in WINDOW_OPTIONS:
            found[WINDOW_OPTIONS[word]] = True
        elif name in WINDOW_VALUES:
            if not eq:
                if not words or words[0].startswith("-"):
                    return None
                value = words.pop(0)
            found[WINDOW_VALUES[name]] = value
        else:
            return None
    return argparse.Namespace(command="gui", **found)


def _command_error() -> Errors:
    from gui_trader.cli.args import CommandError

    return (CommandError,)


# The failure classes, imported when a failure reaches main's handlers (an `except` clause
# evaluates its expression only then), so the window's start does not pay for them.
def _bad_input() -> Errors:
    from gui_trader.engine.order_checks import InvalidOrder
    from gui_trader.market.instruments import UnknownSymbol

    return (InvalidOrder, UnknownSymbol, argparse.ArgumentTypeError)


def _owned() -> Errors:
    from gui_trader.engine.ownership import OwnedElsewhere

    return (OwnedElsewhere,)


def _ambiguous() -> Errors:
    from gui_trader.broker.base import Ambiguous

    return (Ambiguous,)


def _no_keyring() -> Errors:
    from gui_trader.broker.vault import KeyringUnavailable

    return (KeyringUnavailable,)


def _failed() -> Errors:
    from gui_trader.broker.base import BrokerError

    return (BrokerError, KeyError, LookupError, OSError)


def opt(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        args = window_only(argv)
        if args is None:
            from gui_trader.cli.args import build_parser

            args = build_parser().parse_args(argv)
        command = args.command or "gui"
        if command == "gui":
            from gui_trader.cli.screen import no_screen

            reason = no_screen(os.environ)
            if reason is not None:
                return fail(reason, EXIT_BAD_INPUT, as_json)
            from gui_trader.gui.launch import run_gui

            return run_gui(
                account=opt(args, "account"),
                paper=bool(opt(args, "paper")),
                login_url=opt(args, "login_url"),
            )
        if command == "sim":
            from gui_trader.cli.sim import run_sim

            return run_sim(args)
        if command == "webhook":
            from gui_trader.cli.webhook import run_webhook

            return run_webhook(args)
        result = asyncio.run(dispatch(command, args))
    except _command_error() as exc:
        return fail(str(exc), getattr(exc, "code", EXIT_FAILED), as_json)
    except _bad_input() as exc:
        return fail(str(exc).strip("'\""), EXIT_BAD_INPUT, as_json)
    except KeyboardInterrupt:
        return fail("interrupted", 130, as_json)
    except _owned() as exc:
        return fail(f"{exc} (nothing sent)", EXIT_BUSY, as_json)
    except _ambiguous() as exc:  # a cancel or modify whose outcome could not be settled
        return fail(f"{exc}; check the order book", EXIT_UNKNOWN, as_json)
    except _no_keyring() as exc:
        return fail(str(exc), EXIT_FAILED, as_json)
    except _failed() as exc:
        return fail(str(exc).strip("'\"") or type(exc).__name__, EXIT_FAILED, as_json)
    except Exception as exc:  # last resort: still one line, never a traceback dump
        from gui_trader.broker.redact import redact

        return fail(redact(f"{type(exc).__name__}: {exc}"), EXIT_FAILED, as_json)
    status, payload, text = result
    if isinstance(payload, Streamed):
        pass  # printed line by line already
    elif as_json:
        print(json.dumps(payload, default=str, indent=2, allow_nan=False))
    elif text:
        print(text)
    if isinstance(status, bool):
        return 0 if status else EXIT_FAILED
    return status


def fail(message: str, code: int, as_json: bool) -> int:
    from gui_trader.broker.redact import redact

    message = redact(message.splitlines()[0] if message else "failed")
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    print(f"gui-trader: {message}", file=sys.stderr)
    return code


class _SaidByTheCommand(logging.Filter):
    """The order desk logs each order it could not place; every command that places orders
    reports each outcome itself (buy/sell's one line, a straddle's summary, a signal's or a
    kill's table), so on stderr that log line would be the same error a second time. The log
    file keeps it."""

    SOURCE = "gui_trader.engine.order_desk"

    def filter(self, record: logging.LogRecord) -> bool:
        said = record.name == self.SOURCE and record.levelno == logging.WARNING
        text = record.msg if isinstance(record.msg, str) else ""
        return not (said and (" not placed: " in text or " not sent: " in text))


def said_by_the_command() -> None:
    root = logging.getLogger()
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
            handler.addFilter(_SaidByTheCommand())


async def dispatch(command: str, args: argparse.Namespace) -> Result:
    from gui_trader.app import open_context, setup_logging
    from gui_trader.cli.progress import TapHub
    from gui_trader.config import Paths
    from gui_trader.engine.trading import TradingEngine

    paths = Paths.resolve().ensure()
    setup_logging(paths, verbose=bool(opt(args, "verbose")))
    said_by_the_command()
    if command == "account":
        from gui_trader.cli.accounts import account_command

        return await account_command(args, paths)
    if command == "signal":
        from gui_trader.cli.signal import cmd_signal

        return await cmd_signal(args, paths)
    if command == "kill":
        from gui_trader.cli.kill import cmd_kill

        return await cmd_kill(args, paths)
    if command == "risk":
        from gui_trader.cli.risk import cmd_risk

        return await cmd_risk(args, paths)
    ctx = await open_context(
        account=opt(args, "account"),
        paper=bool(opt(args, "paper")),
        login_url=opt(args, "login_url"),
        paths=paths,
    )
    try:
        # The window's engine; the CLI never polls: its hub calls the progress listeners.
        engine = TradingEngine(ctx, TapHub())
        if command in ("buy", "sell", "cancel"):
            await engine.reconcile()
        return await commands()[command](engine, args)
    finally:
        await ctx.close()
