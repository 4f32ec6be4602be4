"""`gui-trader signal`: one signal (or a file of them) fired at every eligible account of a
group, accounts in parallel, signals one after another. Without --yes: the plan, nothing sent."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from gui_trader.cli.args import EXIT_BAD_INPUT, EXIT_FAILED, CommandError, decimal, whole
from gui_trader.cli.output import EXIT_UNKNOWN, Result, table
from gui_trader.config import Config, Paths
from gui_trader.core import limits as L
from gui_trader.core.account_settings import ALL_GROUP
from gui_trader.core.money import ZERO
from gui_trader.core.order import Product, Side

if TYPE_CHECKING:
    from gui_trader.engine.fanout import FanoutReport, Signal

DEFAULT_CONCURRENCY = 32
SIDES = {"buy": Side.BUY, "sell": Side.SELL, "b": Side.BUY, "s": Side.SELL}
MAX_FILE_BYTES = 1_000_000


def read_signals(args: argparse.Namespace) -> list[Signal]:
    """The signals asked for: refused whole (one line) if any of them is bad."""
    from gui_trader.engine.fanout import Signal

    if args.file is not None:
        if args.symbol:
            raise CommandError("give a SYMBOL or --file, not both", EXIT_BAD_INPUT)
        return read_file(args.file, default_product=args.product, default_qty=args.qty)
    if not args.symbol:
        raise CommandError("signal: a SYMBOL (or --file) is needed", EXIT_BAD_INPUT)
    if args.side is None:
        raise CommandError("signal: --side buy|sell is needed", EXIT_BAD_INPUT)
    product = Product(args.product) if args.product else None
    return [Signal(args.symbol.strip(), SIDES[args.side], args.price, product, args.qty)]


def read_file(path: Path, *, default_product: str | None, default_qty: int | None) -> list[Signal]:
    from gui_trader.engine.fanout import Signal

    try:
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
    if len(raw) > MAX_FILE_BYTES:
        raise CommandError(f"{path}: larger than {MAX_FILE_BYTES} bytes", EXIT_BAD_INPUT)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text", EXIT_BAD_INPUT) from None
    price_of = decimal(ZERO, L.MAX_PRICE, above_lo=True)
    qty_of = whole(1, L.MAX_QTY)
    out: list[Signal] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if n == 1 and cells[0].lower() == "symbol":
            continue  # a header
        where = f"{path.name} line {n}"
        if len(cells) < 2 or len(cells) > 5:
            raise CommandError(
                f"{where}: expected symbol,side[,price,product,qty], got {len(cells)} columns",
                EXIT_BAD_INPUT,
            )
        cells += [""] * (5 - len(cells))
        symbol, side, price, product, qty = cells
        if not symbol or not symbol.isprintable() or len(symbol) > 60:
            raise CommandError(f"{where}: bad symbol {symbol[:30]!r}", EXIT_BAD_INPUT)
        if side.lower() not in SIDES:
            raise CommandError(
                f"{where}: side must be buy or sell, got {side[:20]!r}", EXIT_BAD_INPUT
            )
        if product and product.upper() not in {p.value for p in Product}:
            raise CommandError(f"{where}: unknown product {product[:20]!r}", EXIT_BAD_INPUT)
        try:
            p = price_of(price) if price else None
            q = qty_of(qty) if qty else default_qty
        except argparse.ArgumentTypeError as exc:
            raise CommandError(f"{where}: {exc}", EXIT_BAD_INPUT) from None
        prod = product.upper() or default_product
        out.append(Signal(symbol, SIDES[side.lower()], p, Product(prod) if prod else None, q))
        if len(out) > L.MAX_SIGNALS:
            raise CommandError(f"{path.name}: more than {L.MAX_SIGNALS} signals", EXIT_BAD_INPUT)
    if not out:
        raise CommandError(f"{path.name}: no signals in it", EXIT_BAD_INPUT)
    return out


def chosen_accounts(args: argparse.Namespace, config: Config) -> list[str]:
    if args.accounts:
        names = [n.strip() for n in args.accounts.split(",") if n.strip()]
        missing = [n for n in names if n not in config.accounts]
        if missing:
            raise CommandError(f"no account named {missing[0]!r}", EXIT_BAD_INPUT)
    else:
        group = args.group or ALL_GROUP
        names = [a.name for a in config.accounts.values() if a.in_group(group)]
        if not names:
            raise CommandError(
                f"no enabled account in group {group!r} (see `gui-trader account set`)",
                EXIT_BAD_INPUT,
            )
    if len(names) > L.MAX_FANOUT_ACCOUNTS:
        raise CommandError(f"more than {L.MAX_FANOUT_ACCOUNTS} accounts", EXIT_BAD_INPUT)
    return list(dict.fromkeys(names))


async def cmd_signal(args: argparse.Namespace, paths: Paths) -> Result:
    signals = read_signals(args)
    notify = notify_urls(args.notify)
    config = Config.load(paths.config)
    names = chosen_accounts(args, config)
    from gui_trader.cli.progress import FanoutProgress

    progress: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if args.yes:
        progress = FanoutProgress(len(signals)).running()
    with progress:
        report = await run_signals(
            signals,
            names,
            paths,
            send=args.yes,
            concurrency=args.concurrency,
            amount=args.amount,
            notify=notify,
        )
    return outcome(report)


async def run_signals(
    signals: list[Signal],
    names: list[str],
    paths: Paths,
    *,
    send: bool,
    concurrency: int = DEFAULT_CONCURRENCY,
    amount: Decimal | None = None,
    notify: tuple[str, ...] = (),
) -> FanoutReport:
    """The one engine path of every signal source (this command, the webhook; the window calls
    app.signal_run itself): the plan, or with `send` the fan-out, then one message per account
    (after trading, bounded). Failures as one-line command errors."""
    from gui_trader.app import NoAccount, signal_run

    try:
        return await signal_run(
            signals,
            names,
            fire=send,
            concurrency=concurrency,
            amount=amount,
            paths=paths,
            notify=notify,
        )
    except NoAccount as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None
    except LookupError as exc:
        raise CommandError(str(exc).strip("'\""), EXIT_BAD_INPUT) from None


def notify_urls(given: list[str] | None) -> tuple[str, ...]:
    urls = tuple(dict.fromkeys(given or ()))
    if len(urls) > L.MAX_NOTIFY_URLS:
        raise CommandError(f"at most {L.MAX_NOTIFY_URLS} --notify URLs", EXIT_BAD_INPUT)
    return urls


def notify_url(text: str) -> str:
    """An Apprise URL, checked for shape only; never echoed past its scheme (tokens)."""
    from gui_trader.engine.run_messages import mask_url

    if "://" not in text or len(text) > 2000 or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"notify URL {mask_url(text)!r}: expected an Apprise URL like json://host/path"
        )
    return text


def outcome(report: FanoutReport) -> Result:
    lines: list[str] = []
    for sig in report.signals:
        s = sig.signal
        head = f"{s.side.label} {s.symbol}" + (f" @ {s.price}" if s.price is not None else "")
        if report.sent:
            head += f"  ({sig.elapsed_s:.2f} s, spread {sig.spread_ms:.1f} ms)"
        lines.append(head)
        rows = [
            [
                a.account,
                a.status.upper() + (" (EXIT)" if a.exit else ""),
                a.qty or "",
                a.order_id or "",
                a.attempts or "",
                a.reason,
            ]
            for a in sig.accounts
        ]
        lines.append(table(["ACCOUNT", "STATUS", "QTY", "ORDER", "TRIES", "REASON"], rows))
    b = report.breaker
    if b.tripped:
        lines.append(
            f"CIRCUIT BREAKER TRIPPED: {b.failed} of {b.attempted} accounts failed on {b.signal};"
            f" not sent: {', '.join(b.not_sent) or 'nothing was left'}"
        )
    if not report.sent:
        lines.append("plan only: nothing sent (add --yes to send)")
    missed = sorted(n for n, ok in report.notified.items() if not ok)
    if report.notified:
        lines.append(
            f"notified: {len(report.notified) - len(missed)} of {len(report.notified)} accounts"
            + (f"; NOT notified: {', '.join(missed)} (see the warnings)" if missed else "")
        )
    status: bool | int = report.ok
    if not report.ok:
        status = EXIT_UNKNOWN if report.unknown else EXIT_FAILED
    return status, report.to_json(), "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("symbol", nargs="?", help="the symbol (or --file)")
    p.add_argument("--side", choices=["buy", "sell"])
    p.add_argument("--price", type=decimal(ZERO, L.MAX_PRICE, above_lo=True), help="LIMIT price")
    p.add_argument("--product", choices=[x.value for x in Product if x is not Product.MTF])
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--amount",
        type=decimal(L.MIN_AMOUNT, L.MAX_AMOUNT),
        help="rupees per account (instead of each account's own amount)",
    )
    size.add_argument("--qty", type=whole(1, L.MAX_QTY), help="units for every account")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--group", metavar="G", help="accounts with this label (default: all)")
    who.add_argument("--accounts", metavar="A,B", help="these accounts")
    p.add_argument("--file", type=Path, help="a CSV of symbol,side[,price,product,qty]")
    p.add_argument(
        "--concurrency",
        type=whole(1, L.MAX_FANOUT_CONCURRENCY),
        default=DEFAULT_CONCURRENCY,
        help="orders in flight at once across accounts",
    )
    p.add_argument("--yes", action="store_true", help="send (otherwise: the plan per account)")
    p.add_argument(
        "--notify",
        action="append",
        type=notify_url,
        metavar="URL",
        help="an Apprise URL for every account's message after the run (repeatable)",
    )


__all__ = ["add_arguments", "cmd_signal", "run_signals"]
