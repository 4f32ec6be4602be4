"""The command line's grammar: every subcommand, option and number the CLI accepts, checked at
parse time so a bad value sends nothing and reads as one line."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from gui_trader.core.order import Product

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
ENV_SECRETS = {
    "consumer_key": "GUI_TRADER_CONSUMER_KEY",
    "mpin": "GUI_TRADER_MPIN",
    "totp_secret": "GUI_TRADER_TOTP_SECRET",
}


class CommandError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments give one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{self.prog}: {message}", EXIT_BAD_INPUT)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def build_parser() -> OneLineParser:
    common = OneLineParser(add_help=False)
    S = argparse.SUPPRESS
    common.add_argument("--account", metavar="NAME", default=S, help="trade this account (live)")
    common.add_argument(
        "--paper", action="store_true", default=S, help="force paper mode (the simulated exchange)"
    )
    common.add_argument(
        "--login-url", metavar="URL", default=S, help="the login host's base URL (default: Kotak's)"
    )
    common.add_argument("--json", action="store_true", default=S, help="one JSON document")
    common.add_argument("-v", "--verbose", action="store_true", default=S)

    p = OneLineParser(
        prog="gui-trader",
        parents=[common],
        description="Kotak Neo trading monitor; paper trading by default.",
    )
    sub = p.add_subparsers(dest="command", parser_class=OneLineParser)

    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text)

    cmd("gui", "open the window (the default)")
    acc = cmd("account", "add, list, remove accounts")
    acc_sub = acc.add_subparsers(dest="account_command", parser_class=OneLineParser, required=True)
    add = acc_sub.add_parser("add", parents=[common], help="add an account and log in once")
    add.add_argument("name")
    add.add_argument("--mobile", required=True, help="with country code, e.g. +919876543210")
    add.add_argument("--ucc", required=True)
    add.add_argument(
        "--from-env", action="store_true", help="read " + ", ".join(ENV_SECRETS.values())
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="an account of this name exists: log in with the new secrets, then replace it",
    )
    acc_sub.add_parser("list", parents=[common])
    rm = acc_sub.add_parser("remove", parents=[common])
    rm.add_argument("name")
    df = acc_sub.add_parser("default", parents=[common])
    df.add_argument("name")

    login = cmd("login", "log in (TOTP + MPIN) and keep the session")
    login.add_argument("--totp", help="today's 6-digit code instead of the stored secret")
    cmd("logout", "forget the stored session")
    q = cmd("quote", "last price and change")
    q.add_argument("symbols", nargs="+", metavar="SYMBOL")
    cmd("positions", "today's positions with P&L")
    cmd("holdings", "demat holdings with P&L")
    cmd("orders", "today's order book")
    cmd("limits", "funds and margin used")
    for side in ("buy", "sell"):
        o = cmd(side, f"{side} at market, or at a limit with --price")
        o.add_argument("symbol")
        o.add_argument("--qty", type=_int, required=True, help="units (lots x lot size for F&O)")
        o.add_argument("--price", type=_decimal, help="limit price (on the tick)")
        o.add_argument("--product", choices=[p.value for p in Product], default=None)
    c = cmd("cancel", "cancel an open order")
    c.add_argument("order_id")
    st = cmd("straddle", "sell (or buy back) CALL + PUT in batches, both legs at once")
    st.add_argument("--underlying", default="NIFTY")
    st.add_argument("--expiry", required=True, metavar="YYYY-MM-DD")
    strikes = st.add_mutually_exclusive_group()
    strikes.add_argument("--strike", type=_decimal, help="one strike for both legs")
    strikes.add_argument("--atm", action="store_true", help="the strike nearest the live spot")
    st.add_argument("--call-strike", type=_decimal)
    st.add_argument("--put-strike", type=_decimal)
    st.add_argument(
        "--steps", type=_int, default=0, help="with --atm: CE at ATM+N strikes, PE at ATM-N"
    )
    st.add_argument("--lots", type=_int, required=True)
    st.add_argument("--batch-lots", type=_int, default=20)
    pace = st.add_mutually_exclusive_group()
    pace.add_argument("--delay", type=float, default=20.0, help="seconds between batches")
    pace.add_argument(
        "--paced", action="store_true", help="no delay: as fast as the account's order rate allows"
    )
    st.add_argument(
        "--dynamic-delay",
        action="store_true",
        help="widen the delay when the broker slows down or throttles",
    )
    st.add_argument("--side", choices=["sell", "buy"], default="sell")
    st.add_argument("--product", choices=["NRML", "MIS"], default="NRML")
    st.add_argument("--order-type", choices=["MKT", "LIMIT"], default="MKT")
    st.add_argument("--buffer-pct", type=_decimal, default=Decimal("1"))
    st.add_argument("--yes", action="store_true", help="send it (otherwise: show the plan)")
    st.add_argument(
        "--resume",
        action="store_true",
        help="finish a run a crash interrupted (journal); nothing else",
    )
    mon = cmd("monitor", "EMA9 sell monitor: a limit sell at EMA9 per holding, only lowered")
    mon.add_argument("--run-once", action="store_true", help="one cycle, then exit")
    mon.add_argument("--skip-wait", action="store_true", help="do not wait for the open")
    mon.add_argument("--monitor-interval", type=float, default=60.0, metavar="S")
    mon.add_argument("--dry-run", action="store_true", help="compute and show; send nothing")
    mon.add_argument("--max-below-entry-pct", type=_decimal, default=Decimal(5), metavar="P")
    mon.add_argument("--symbols", help="comma-separated: only these (default: all holdings)")
    mon.add_argument(
        "--include-positions", action="store_true", help="also manage today's long positions"
    )
    mon.add_argument("--yes", action="store_true", help="send orders (otherwise a dry run)")
    sim = cmd("sim", "serve the paper exchange on 127.0.0.1")
    sim.add_argument("--port", type=_int, default=8765)
    sim.add_argument("--latency-ms", type=float, default=0.0)
    sim.add_argument("--jitter-ms", type=float, default=0.0)
    sim.add_argument("--seed", type=_int, default=7)
    return p
