"""The command line's grammar: every subcommand, option and number the CLI accepts, checked at
parse time so a bad value sends nothing and reads as one line."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from gui_trader.cli.version import VersionAction
from gui_trader.core import limits as L
from gui_trader.core.money import ZERO
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


class _StoreOne(argparse.Action):
    """argparse's "store", refusing a list where one value belongs: `--qty=--` skips the type
    function and stores [] (argparse strips the "--"), which no check downstream expects."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if self.nargs is None and isinstance(values, list):
            raise argparse.ArgumentError(self, "expected one argument")
        setattr(namespace, self.dest, values)


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments give one line, not a usage dump."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOne)  # the default action
        self.register("action", "store", _StoreOne)

    def error(self, message: str) -> NoReturn:
        # `fail` prefixes "gui-trader: " once; a subcommand's prog (whatever the program was
        # called) says which one, and a message that already names the program loses it.
        root, *words = self.prog.split()
        where = " ".join(words)
        for name in {root, "gui-trader"}:
            message = message.removeprefix(f"{name}: ").removeprefix(f"{name} ")
        if where:
            message = message.removeprefix(f"{where}: ")
        raise CommandError(_one_line(f"{where}: {message}" if where else message), EXIT_BAD_INPUT)


def _one_line(text: str) -> str:
    """argparse echoes raw argv in some messages (unrecognized arguments): escape what would
    break the line or the terminal."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


_WHOLE = re.compile(r"[0-9]+")
_SIGNED_WHOLE = re.compile(r"-?[0-9]+")
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_MAX_DIGITS = 40  # longer is outside every range; keeps int()/Decimal() cheap on hostile input
_SHOW_CHARS = 24


def _show(text: str) -> str:
    """The offending value, quoted and short: messages stay one readable line."""
    return repr(text if len(text) <= _SHOW_CHARS else text[:_SHOW_CHARS] + "...")


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """ASCII digits only: int() would also take "1_0", full-width digits, "+5" and " 5"."""
    pattern = _SIGNED_WHOLE if lo < 0 else _WHOLE
    allowed = f"a whole number from {lo} to {hi}"

    def parse(text: str) -> int:
        if text.startswith("-") and _WHOLE.fullmatch(text[1:]) and lo >= 0:
            raise argparse.ArgumentTypeError(f"{_show(text)} is out of range: {allowed}")
        if not pattern.fullmatch(text):
            raise argparse.ArgumentTypeError(
                f"expected {allowed} (plain digits), got {_show(text)}"
            )
        if len(text) > _MAX_DIGITS or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"{_show(text)} is out of range: {allowed}")
        return int(text)

    parse.__name__ = "whole number"
    return parse


def decimal(lo: Decimal, hi: Decimal, *, above_lo: bool = False) -> Callable[[str], Decimal]:
    """Plain ASCII notation (no sign, exponent, nan or inf), within [lo, hi] or (lo, hi]."""
    allowed = f"a number above {lo} and at most {hi}" if above_lo else f"a number from {lo} to {hi}"

    def parse(text: str) -> Decimal:
        if text.startswith("-") and _PLAIN_DECIMAL.fullmatch(text[1:]):
            raise argparse.ArgumentTypeError(f"{_show(text)} is out of range: {allowed}")
        if not _PLAIN_DECIMAL.fullmatch(text):
            raise argparse.ArgumentTypeError(
                f"expected {allowed} (plain digits, e.g. 12.5), got {_show(text)}"
            )
        value = Decimal(text)
        if value < lo or value > hi or (above_lo and value == lo):
            raise argparse.ArgumentTypeError(f"{_show(text)} is out of range: {allowed}")
        return value

    parse.__name__ = "number"
    return parse


def seconds(lo: float, hi: float) -> Callable[[str], float]:
    """decimal(), as a float for the timers: checked as a Decimal, so nothing rounds to inf."""
    check = decimal(Decimal(lo), Decimal(hi))

    def parse(text: str) -> float:
        return float(check(text))

    parse.__name__ = "number"
    return parse


def totp(text: str) -> str:
    """Exactly six ASCII digits, kept as text: a leading zero is part of the code. The message
    does not echo the value (a code is a credential for its 30 seconds)."""
    if len(text) != L.TOTP_DIGITS or not _WHOLE.fullmatch(text):
        # Starts with a throwaway word: the redactor behind the CLI's one-line failures masks
        # the word after "--totp: ".
        raise argparse.ArgumentTypeError(
            f"it must be the {L.TOTP_DIGITS} digits your authenticator shows (plain digits)"
        )
    return text


def output_file(text: str) -> Path:
    """A file to write: its folder must exist (nothing is created behind the trader's back)."""
    path = Path(text).expanduser()
    if not text.strip() or path.is_dir() or not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{_show(text)}: not a file in an existing folder")
    return path


def follow_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--follow", action="store_true", help="stream updates from the live feed")
    p.add_argument(
        "--duration",
        type=seconds(0.1, L.MAX_FOLLOW_S),
        default=None,
        metavar="S",
        help="with --follow: stop after S seconds (default: until Ctrl-C)",
    )


def protect_arguments(p: argparse.ArgumentParser) -> None:
    price = decimal(ZERO, L.MAX_PRICE, above_lo=True)
    p.add_argument("--sl", type=price, metavar="PRICE", help="stop-loss price")
    p.add_argument("--target", type=price, metavar="PRICE", help="target price (a resting LIMIT)")
    p.add_argument("--trail", metavar="X|X%%", help="trailing stop: points, or percent like 1.5%%")
    p.add_argument(
        "--stop-at",
        choices=["engine", "broker"],
        default="engine",
        help="the stop watched here on ticks (default), or an SL order resting at the broker",
    )


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
    p.add_argument("--version", action=VersionAction)
    sub = p.add_subparsers(dest="command", parser_class=OneLineParser)

    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text)

    cmd("gui", "open the window (the default)")
    acc = cmd("account", "add (live, or --paper), list, remove accounts")
    acc_sub = acc.add_subparsers(dest="account_command", parser_class=OneLineParser, required=True)
    add = acc_sub.add_parser("add", parents=[common], help="add an account and log in once")
    add.add_argument("name")
    add.add_argument("--mobile", help="with country code, e.g. +919876543210")
    add.add_argument("--ucc", help="the client code (generated for a --paper account)")
    add.add_argument(
        "--from-env", action="store_true", help="read " + ", ".join(ENV_SECRETS.values())
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="an account of this name exists: log in with the new secrets, then replace it",
    )
    acc_sub.add_parser("list", parents=[common])
    aset = acc_sub.add_parser("set", parents=[common], help="fan-out settings of an account")
    aset.add_argument("name")
    aset.add_argument(
        "--group", action="append", metavar="G", help="a label (repeat; replaces the groups)"
    )
    aset.add_argument(
        "--amount", type=decimal(L.MIN_AMOUNT, L.MAX_AMOUNT), help="rupees of margin per signal"
    )
    aset.add_argument("--leverage", type=decimal(L.MIN_LEVERAGE, L.MAX_LEVERAGE))
    aset.add_argument("--max-positions", type=whole(1, L.MAX_OPEN_POSITIONS), metavar="N")
    aset.add_argument("--priority", type=whole(-L.MAX_PRIORITY, L.MAX_PRIORITY), metavar="P")
    aset.add_argument("--enabled", choices=["yes", "no"])
    aset.add_argument(
        "--notify", action="append", metavar="URL", help="an Apprise URL (repeat; replaces)"
    )
    rm = acc_sub.add_parser("remove", parents=[common])
    rm.add_argument("name")
    df = acc_sub.add_parser("default", parents=[common])
    df.add_argument("name")

    login = cmd("login", "log in (TOTP + MPIN) and keep the session")
    login.add_argument(
        "--totp", type=totp, help="today's 6-digit code instead of the stored secret"
    )
    cmd("logout", "forget the stored session")
    q = cmd("quote", "last price and change (--follow: every tick until Ctrl-C)")
    q.add_argument("symbols", nargs="+", metavar="SYMBOL")
    follow_options(q)
    cmd("positions", "today's positions with P&L")
    cmd("holdings", "demat holdings with P&L")
    pnl = cmd("pnl", "today's P&L: booked and open, per position, product and market")
    pnl.add_argument(
        "--csv", type=output_file, metavar="FILE", help="also write the per-position rows as CSV"
    )
    follow_options(cmd("orders", "today's order book (--follow: every update until Ctrl-C)"))
    cmd("limits", "funds and margin used")
    for side in ("buy", "sell"):
        o = cmd(side, f"{side} at market, or at a limit with --price")
        o.add_argument("symbol")
        o.add_argument(
            "--qty",
            type=whole(1, L.MAX_QTY),
            required=True,
            help="units (lots x lot size for F&O)",
        )
        o.add_argument(
            "--price",
            type=decimal(ZERO, L.MAX_PRICE, above_lo=True),
            help="limit price (on the tick)",
        )
        o.add_argument("--product", choices=[p.value for p in Product], default=None)
        o.add_argument(
            "--amo",
            action="store_true",
            help="after-market order: taken while the market is closed, sent at the open",
        )
        o.add_argument(
            "--yes", action="store_true", help="send it even above a [guards] confirm threshold"
        )
        protect_arguments(o)
    pr = cmd("protect", "stop-loss, target and trailing stop on an open position, watched")
    pr.add_argument("symbol", nargs="?")
    pr.add_argument(
        "--watch", action="store_true", help="watch every protection the account has (resume)"
    )
    protect_arguments(pr)
    pr.add_argument("--qty", type=whole(1, L.MAX_QTY), help="units to protect (default: all)")
    pr.add_argument(
        "--remove", action="store_true", help="take the protection off (its orders cancelled)"
    )
    pr.add_argument(
        "--detach",
        action="store_true",
        help="arm the resting orders and return (an engine stop is then not watched)",
    )
    c = cmd("cancel", "cancel an open order")
    c.add_argument("order_id")
    st = cmd("straddle", "sell (or buy back) CALL + PUT in batches, both legs at once")
    st.add_argument("--underlying", default="NIFTY")
    # --expiry and --lots are required unless --resume: cli/straddle.py checks (argparse has
    # no "unless").
    st.add_argument(
        "--expiry",
        metavar="YYYY-MM-DD|next",
        help="the expiry date, or next: the nearest one that has not passed",
    )
    strikes = st.add_mutually_exclusive_group()
    strike = decimal(ZERO, L.MAX_STRIKE, above_lo=True)
    strikes.add_argument("--strike", type=strike, help="one strike for both legs")
    strikes.add_argument("--atm", action="store_true", help="the strike nearest the live spot")
    st.add_argument("--call-strike", type=strike)
    st.add_argument("--put-strike", type=strike)
    st.add_argument(
        "--steps",
        type=whole(0, L.MAX_STEPS),
        default=0,
        help="with --atm: CE at ATM+N strikes, PE at ATM-N (a strangle; 0: the straddle)",
    )
    st.add_argument("--lots", type=whole(1, L.MAX_LOTS))
    st.add_argument("--batch-lots", type=whole(1, L.MAX_LOTS), default=20)
    pace = st.add_mutually_exclusive_group()
    pace.add_argument(
        "--delay", type=seconds(0, L.MAX_DELAY_S), default=20.0, help="seconds between batches"
    )
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
    st.add_argument("--buffer-pct", type=decimal(ZERO, L.MAX_BUFFER_PCT), default=Decimal("1"))
    st.add_argument("--yes", action="store_true", help="send it (otherwise: show the plan)")
    pct = decimal(ZERO, Decimal(1000), above_lo=True)
    rupees = decimal(ZERO, L.MAX_AMOUNT, above_lo=True)
    st.add_argument(
        "--combined-sl-pct", type=pct, metavar="N", help="exit both legs N%% against the premium"
    )
    st.add_argument(
        "--combined-target-pct", type=pct, metavar="N", help="exit both legs N%% in favour"
    )
    st.add_argument(
        "--leg-sl-pct",
        type=pct,
        metavar="N",
        help="a leg N%% against its entry exits; the other leg's stop moves to cost",
    )
    st.add_argument("--lock-at", type=rupees, metavar="RUPEES", help="MTM profit that arms a trail")
    st.add_argument(
        "--trail-by", type=rupees, metavar="RUPEES", help="MTM fall from its best that exits"
    )
    st.add_argument(
        "--resume",
        action="store_true",
        help="finish a run a crash interrupted (journal); nothing else",
    )
    mon = cmd("monitor", "EMA9 sell monitor: a limit sell at EMA9 per holding, only lowered")
    mon.add_argument("--run-once", action="store_true", help="one cycle, then exit")
    mon.add_argument("--skip-wait", action="store_true", help="do not wait for the open")
    mon.add_argument(
        "--monitor-interval",
        type=seconds(L.MIN_MONITOR_INTERVAL_S, L.MAX_MONITOR_INTERVAL_S),
        default=60.0,
        metavar="S",
    )
    sends = mon.add_mutually_exclusive_group()  # "--dry-run --yes" says two opposite things
    sends.add_argument("--dry-run", action="store_true", help="compute and show; send nothing")
    mon.add_argument(
        "--max-below-entry-pct",
        type=decimal(ZERO, L.MAX_BELOW_ENTRY_PCT),
        default=Decimal(5),
        metavar="P",
    )
    mon.add_argument("--symbols", help="comma-separated: only these (default: all holdings)")
    mon.add_argument(
        "--include-positions", action="store_true", help="also manage today's long positions"
    )
    sends.add_argument("--yes", action="store_true", help="send orders (otherwise a dry run)")
    from gui_trader.cli.kill import add_arguments as kill_arguments
    from gui_trader.cli.risk import add_arguments as risk_arguments

    kill_arguments(cmd("kill", "cancel every open order, flatten every position, block orders"))
    risk_arguments(cmd("risk", "daily MTM limits, square-off time, today's block"), common)
    from gui_trader.cli.signal import add_arguments as signal_arguments

    signal_arguments(cmd("signal", "fire a signal at every eligible account of a group"))
    from gui_trader.cli.webhook import add_arguments as webhook_arguments

    webhook_arguments(cmd("webhook", "take charting alerts on 127.0.0.1 and fire them as signals"))
    sim = cmd("sim", "serve the paper exchange on 127.0.0.1")
    sim.add_argument(
        "--port", type=whole(0, L.MAX_PORT), default=8765, help="0: any free port (see --json)"
    )
    sim.add_argument("--latency-ms", type=seconds(0, L.MAX_LATENCY_MS), default=0.0)
    sim.add_argument("--jitter-ms", type=seconds(0, L.MAX_LATENCY_MS), default=0.0)
    sim.add_argument("--seed", type=whole(0, L.MAX_SEED), default=7)
    sim.add_argument(
        "--accounts",
        type=whole(1, L.MAX_SIM_ACCOUNTS),
        default=1,
        help="paper accounts to serve (the first is the fixed demo account)",
    )
    sim.add_argument(
        "--session",
        action="store_true",
        help="follow NSE hours, holidays and the after-market rules instead of always open",
    )
    sim.add_argument(
        "--feed-interval-ms",
        type=seconds(10, 60_000),
        default=200.0,
        help="how often the live market feed pushes changed prices",
    )
    sim.add_argument(
        "--feed-discovery",
        choices=("both", "config", "validate", "none"),
        default="both",
        help="where clients learn the feed URLs: the config service, the validate reply, both",
    )
    return p
