"""Headless commands on the same engine as the window (no Qt import here).

Contract: `--account NAME` / `--paper` / `--login-url` / `--json` may stand before or after the
subcommand; `--json` prints exactly one JSON document on stdout; exit 0 only when everything
asked for happened, otherwise a one-line reason; nothing prompts when stdin is not a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Any

from gui_trader.broker.base import Ambiguous, BrokerError
from gui_trader.broker.vault import KeyringUnavailable
from gui_trader.cli_args import EXIT_BAD_INPUT, EXIT_FAILED, CommandError, build_parser
from gui_trader.cli_output import EXIT_BUSY, EXIT_UNKNOWN, Result, ok, table
from gui_trader.config import Paths
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import (
    Order,
    OrderOutcome,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    default_product,
)
from gui_trader.engine.order_checks import InvalidOrder
from gui_trader.engine.ownership import OwnedElsewhere
from gui_trader.engine.portfolio import portfolio
from gui_trader.market.instruments import UnknownSymbol

if TYPE_CHECKING:
    from gui_trader.engine.straddle import StraddleRun
    from gui_trader.engine.trading import TradingEngine


def opt(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
        command = args.command or "gui"
        if command == "gui":
            from gui_trader.gui.launch import run_gui

            return run_gui(
                account=opt(args, "account"),
                paper=bool(opt(args, "paper")),
                login_url=opt(args, "login_url"),
            )
        if command == "sim":
            return run_sim(args)
        result = asyncio.run(dispatch(command, args))
    except CommandError as exc:
        return fail(str(exc), exc.code, as_json)
    except (InvalidOrder, UnknownSymbol, argparse.ArgumentTypeError) as exc:
        return fail(str(exc).strip("'\""), EXIT_BAD_INPUT, as_json)
    except KeyboardInterrupt:
        return fail("interrupted", 130, as_json)
    except OwnedElsewhere as exc:
        return fail(f"{exc} (nothing sent)", EXIT_BUSY, as_json)
    except Ambiguous as exc:  # a cancel or modify whose outcome could not be settled
        return fail(f"{exc}; check the order book", EXIT_UNKNOWN, as_json)
    except KeyringUnavailable as exc:
        return fail(str(exc), EXIT_FAILED, as_json)
    except (BrokerError, KeyError, LookupError, OSError) as exc:
        return fail(str(exc).strip("'\"") or type(exc).__name__, EXIT_FAILED, as_json)
    except Exception as exc:  # last resort: still one line, never a traceback dump
        from gui_trader.broker.redact import redact

        return fail(redact(f"{type(exc).__name__}: {exc}"), EXIT_FAILED, as_json)
    status, payload, text = result
    if as_json:
        print(json.dumps(payload, default=str, indent=2, allow_nan=False))
    elif text:
        print(text)
    if isinstance(status, bool):
        return 0 if status else EXIT_FAILED
    return status


def outcome_exit(outcomes: list[OrderOutcome]) -> int:
    """0 all placed; 3 any outcome unknown (an order may exist); 1 otherwise."""
    if any(o.status is OrderStatus.UNKNOWN for o in outcomes):
        return EXIT_UNKNOWN
    return 0 if all(o.order_id is not None for o in outcomes) else EXIT_FAILED


@contextlib.contextmanager
def on_interrupt(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM ask a long job to stop in order (abort a straddle, stop a monitor)
    instead of killing it; it then reports what it did."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop)
    try:
        yield
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def _engine(ctx: Any) -> TradingEngine:
    """The same engine the window drives; the CLI never starts its polling."""
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.trading import TradingEngine

    return TradingEngine(ctx, EventHub())


def fail(message: str, code: int, as_json: bool) -> int:
    from gui_trader.broker.redact import redact

    message = redact(message.splitlines()[0] if message else "failed")
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    print(f"gui-trader: {message}", file=sys.stderr)
    return code


def run_sim(args: argparse.Namespace) -> int:
    from gui_trader.sim.serve import build, serve_forever

    app = build(args.port, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, seed=args.seed)
    from gui_trader.sim.exchange import PAPER_USER as u

    print(
        f"paper exchange on http://127.0.0.1:{args.port} (latency {args.latency_ms:g} ms); "
        f"login with --login-url http://127.0.0.1:{args.port} --mobile {u.mobile} "
        f"--ucc {u.ucc}",
        file=sys.stderr,
    )
    serve_forever(app, args.port)
    return 0


async def dispatch(command: str, args: argparse.Namespace) -> Result:
    from gui_trader.app import open_context, reconcile, setup_logging

    paths = Paths.resolve().ensure()
    setup_logging(paths, verbose=bool(opt(args, "verbose")))
    if command == "account":
        from gui_trader.cli_accounts import account_command

        return await account_command(args, paths)
    ctx = await open_context(
        account=opt(args, "account"),
        paper=bool(opt(args, "paper")),
        login_url=opt(args, "login_url"),
        paths=paths,
    )
    try:
        if command == "login":
            await ctx.broker.login(opt(args, "totp"))
            return ok(
                {"account": ctx.account, "mode": ctx.mode, "logins": ctx.broker.logins},
                f"{ctx.mode} {ctx.account}: session ready "
                f"({'new login' if ctx.broker.logins else 'stored session reused'})",
            )
        if command == "logout":
            await ctx.broker.logout()
            return ok({"account": ctx.account}, f"{ctx.account}: session forgotten")
        if command in ("buy", "sell", "cancel"):
            await reconcile(ctx)
        handler = COMMANDS[command]
        return await handler(ctx, args)
    finally:
        await ctx.close()


# ------------------------------------------------------------------------------- market/orders
async def cmd_quote(ctx: Any, args: argparse.Namespace) -> Result:
    store = await ctx.instruments()
    instruments = [store.resolve(s) for s in args.symbols]
    quotes = {q.key: q for q in await ctx.broker.quotes([i.key for i in instruments])}
    rows, missing = [], []
    for i in instruments:
        q = quotes.get(i.key)
        if q is None:
            missing.append(i.trading_symbol)
            continue
        rows.append(
            {
                "symbol": i.trading_symbol,
                "ltp": q.ltp,
                "change": q.change,
                "change_pct": q.change_pct,
                "prev_close": q.prev_close,
            }
        )
    text = table(
        ["SYMBOL", "LTP", "CHANGE", "%"],
        [[r["symbol"], r["ltp"], r["change"], r["change_pct"]] for r in rows],
    )
    if missing:
        text += f"\nno quote for {', '.join(missing)}"
    return not missing, {"mode": ctx.mode, "quotes": rows, "missing": missing}, text


async def cmd_orders(ctx: Any, args: argparse.Namespace) -> Result:
    orders = await ctx.broker.orders()
    rows = [_order_json(o) for o in orders]
    text = table(
        [
            "ORDER",
            "TIME",
            "SYMBOL",
            "SIDE",
            "QTY",
            "FILLED",
            "TYPE",
            "PRICE",
            "AVG",
            "STATUS",
            "TAG",
        ],
        [
            [
                o.order_id,
                o.time.strftime("%H:%M:%S") if o.time else "",
                o.trading_symbol,
                o.side.label,
                o.qty,
                o.filled_qty,
                o.order_type,
                o.price,
                o.avg_price,
                o.status.value + (f" ({o.reject_reason})" if o.reject_reason else ""),
                o.tag,
            ]
            for o in orders
        ],
    )
    return ok({"mode": ctx.mode, "orders": rows}, text)


def _order_json(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "time": o.time.isoformat() if o.time else None,
        "symbol": o.trading_symbol,
        "side": o.side.label,
        "qty": o.qty,
        "filled": o.filled_qty,
        "type": o.order_type,
        "price": o.price,
        "avg_price": o.avg_price,
        "status": o.status.value,
        "tag": o.tag,
        "product": o.product,
        "reject_reason": o.reject_reason,
    }


async def cmd_positions(ctx: Any, args: argparse.Namespace) -> Result:
    view = await portfolio(ctx.broker, holdings=False)
    rows = [asdict(p) for p in view.positions]
    text = table(
        ["SYMBOL", "PRODUCT", "NET QTY", "AVG", "LTP", "P&L"],
        [[p.symbol, p.product, p.net_qty, p.avg_price, p.ltp, p.pnl] for p in view.positions],
    )
    if rows:
        text += f"\ntotal P&L {view.positions_pnl:.2f}"
    return ok({"mode": ctx.mode, "positions": rows, "total_pnl": view.positions_pnl}, text)


async def cmd_holdings(ctx: Any, args: argparse.Namespace) -> Result:
    view = await portfolio(ctx.broker, positions=False)
    text = table(
        ["SYMBOL", "QTY", "SELLABLE", "AVG", "LTP", "P&L"],
        [[h.symbol, h.qty, h.sellable, h.avg_price, h.ltp, h.pnl] for h in view.holdings],
    )
    payload = {
        "mode": ctx.mode,
        "holdings": [asdict(h) for h in view.holdings],
        "total_pnl": view.holdings_pnl,
    }
    return ok(payload, text)


async def cmd_limits(ctx: Any, args: argparse.Namespace) -> Result:
    f = await ctx.broker.limits()
    return ok(
        {"mode": ctx.mode, "available": f.available, "margin_used": f.margin_used},
        f"available {f.available:,.2f}   margin used {f.margin_used:,.2f}",
    )


async def cmd_order(ctx: Any, args: argparse.Namespace) -> Result:
    store = await ctx.instruments()
    inst: Instrument = store.resolve(args.symbol)
    side = Side.BUY if args.command == "buy" else Side.SELL
    product = Product(args.product) if args.product else default_product(inst)
    order_type = OrderType.LIMIT if args.price is not None else OrderType.MARKET
    req = OrderRequest(inst, side, args.qty, order_type, args.price, product)
    outcome = await ctx.desk.place(req)
    order = None
    if outcome.order_id:
        # Best effort: the order is placed whatever this read says.
        with contextlib.suppress(BrokerError):
            order = next(
                (o for o in await ctx.broker.orders() if o.order_id == outcome.order_id), None
            )
    status = order.status if order else outcome.status
    reason = (order.reject_reason if order else "") or outcome.error
    payload = {
        "mode": ctx.mode,
        "outcome": _outcome_word(outcome, status),
        "tag": outcome.tag,
        "order_id": outcome.order_id,
        "status": status.value,
        "reason": reason,
        "attempts": outcome.attempts,
        "order": _order_json(order) if order else None,
    }
    what = f"{side.label} {args.qty} {inst.trading_symbol}"
    if outcome.status is OrderStatus.UNKNOWN:
        text = f"{ctx.mode}: {what}: OUTCOME UNKNOWN (tag {outcome.tag}): {reason}"
        print(f"gui-trader: {text}", file=sys.stderr)
        return EXIT_UNKNOWN, payload, text
    if outcome.order_id is not None and status is not OrderStatus.REJECTED:
        text = (
            f"{ctx.mode}: {what} -> order {outcome.order_id} "
            + (status.value if order else "placed (status not read)")
            + (f" at {order.avg_price}" if order and order.filled_qty else "")
        )
        return 0, payload, text
    text = f"{what} not placed: {status.value}: {reason} (tag {outcome.tag})"
    print(f"gui-trader: {text}", file=sys.stderr)
    return EXIT_FAILED, payload, text


def _outcome_word(outcome: OrderOutcome, status: OrderStatus) -> str:
    if outcome.status is OrderStatus.UNKNOWN:
        return "unknown"
    if outcome.order_id is not None and status is not OrderStatus.REJECTED:
        return "placed"
    return "rejected"


async def cmd_cancel(ctx: Any, args: argparse.Namespace) -> Result:
    order_id = args.order_id.strip()
    if not order_id.isdigit():
        raise CommandError(f"order id {order_id!r} is not an order number", EXIT_BAD_INPUT)
    known = {o.order_id: o for o in await ctx.broker.orders()}
    if order_id not in known:
        raise CommandError(f"no order {order_id} in today's book", EXIT_BAD_INPUT)
    if known[order_id].status.terminal:
        raise CommandError(
            f"order {order_id} is already {known[order_id].status.value}", EXIT_FAILED
        )
    after = await ctx.desk.cancel(order_id)
    ok = after is not None and after.status is OrderStatus.CANCELLED
    status = after.status.value if after else "unknown"
    return ok, {"order_id": order_id, "status": status}, f"order {order_id}: {status}"


async def cmd_straddle(ctx: Any, args: argparse.Namespace) -> Result:

    from gui_trader.engine import straddle_plan as sp
    from gui_trader.straddle_report import plan_table

    engine = _engine(ctx)
    if args.resume:
        return await _resume_straddle(engine, args)
    missing = [o for o, v in (("--expiry", args.expiry), ("--lots", args.lots)) if v is None]
    if missing:
        raise CommandError(f"straddle: {' and '.join(missing)} required", EXIT_BAD_INPUT)
    try:
        expiry = date.fromisoformat(args.expiry)
    except ValueError:
        raise CommandError(f"--expiry {args.expiry!r}: use YYYY-MM-DD", EXIT_BAD_INPUT) from None
    if not (args.atm or args.strike is not None or args.call_strike is not None):
        raise CommandError(
            "give --strike S, or --call-strike C --put-strike P, or --atm", EXIT_BAD_INPUT
        )
    if args.steps and not args.atm:
        raise CommandError("--steps goes with --atm", EXIT_BAD_INPUT)
    spec = sp.StraddleSpec(
        underlying=args.underlying.upper(),
        expiry=expiry,
        lots=args.lots,
        batch_lots=args.batch_lots,
        call_strike=args.strike if args.strike is not None else args.call_strike,
        put_strike=args.strike if args.strike is not None else args.put_strike,
        atm_steps=args.steps if args.atm else None,
        side=Side.SELL if args.side == "sell" else Side.BUY,
        delay_s=None if args.paced else args.delay,
        product=Product(args.product),
        order_type=OrderType.MARKET if args.order_type == "MKT" else OrderType.LIMIT,
        buffer_pct=args.buffer_pct,
        dynamic_delay=args.dynamic_delay,
    )
    plan = await engine.prepare_straddle(spec)
    text = plan_table(plan)
    payload: dict[str, Any] = {"mode": ctx.mode, "plan": _plan_json(plan)}
    if not plan.ok:
        raise CommandError("cannot run: " + "; ".join(plan.problems), EXIT_BAD_INPUT)
    if not args.yes:
        return True, {**payload, "sent": False}, text + "\nnothing sent: add --yes to fire"
    return await _run_straddle(args, engine.straddle_run(plan), payload, text)


def _plan_json(plan: Any) -> dict[str, Any]:
    return {
        "call": plan.call.trading_symbol if plan.call else None,
        "put": plan.put.trading_symbol if plan.put else None,
        "spot": plan.spot,
        "lot_size": plan.lot_size,
        "qty_per_leg": plan.qty_per_leg,
        "batches": [
            {
                "batch": b.number,
                "lots": b.lots,
                "orders": [{"leg": o.leg, "qty": o.qty, "price": o.price} for o in b.orders],
            }
            for b in plan.batches
        ],
        "margin_required": plan.margin_required,
        "margin_available": plan.margin_available,
        "expected_s": round(plan.expected_s, 2),
        "problems": list(plan.problems),
    }


async def _run_straddle(
    args: argparse.Namespace,
    run: StraddleRun,
    payload: dict[str, Any],
    text: str,
    resume: list[Any] | None = None,
) -> Result:
    from gui_trader.straddle_report import summary_text

    with on_interrupt(run.abort):  # Ctrl-C / SIGTERM: abort, then the summary
        summary = await run.execute(resume=resume)
    result = summary.to_json()
    legs = list(summary.results.values())
    if summary.complete:
        status = 0
    elif any(r.status is OrderStatus.UNKNOWN for r in legs):
        status = EXIT_UNKNOWN
    else:
        status = EXIT_FAILED
    return status, {**payload, **result, "sent": True}, text + "\n" + summary_text(summary)


async def _resume_straddle(engine: TradingEngine, args: argparse.Namespace) -> Result:
    from gui_trader.engine import straddle as sd

    runs = await engine.unfinished_straddles()
    if not runs:
        return True, {"mode": engine.mode, "resumed": None}, "no interrupted straddle run"
    record = runs[-1]
    payload: dict[str, Any] = {"mode": engine.mode, "resumed": record.id}
    try:
        run, intents = await engine.resume_straddle(record)
    except sd.EarlierDayRun as exc:
        report = await engine.earlier_day_report(exc.run, expire=bool(args.yes))
        text = _earlier_day_text(str(exc), report)
        if not args.yes:
            text += "\n(add --yes to retire it so it is not offered again)"
        return EXIT_FAILED, {**payload, "sent": False, "earlier_day": report}, text
    except sd.RunRefused as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None
    done = {(i.meta or {}).get("batch") for i in intents}
    on_wire = sum(i.state in ("sent", "unknown") for i in intents)
    text = (
        f"run {run.run_id} was interrupted: {len(intents)} of {len(run.plan.orders)} orders "
        f"journaled (batches {sorted(b for b in done if b)}); finishing it sends only what "
        "the broker proves it does not have"
        + (
            f" ({on_wire} orders were on the wire: they are looked up once they can no longer land)"
            if on_wire
            else ""
        )
    )
    if not args.yes:
        run.release()
        return True, {**payload, "sent": False}, text + "\nnothing sent: add --yes to finish it"
    return await _run_straddle(args, run, payload, text, resume=intents)


def _earlier_day_text(headline: str, report: dict[str, Any]) -> str:
    lines = [headline]
    for leg, symbol in report["contracts"].items():
        lines.append(
            f"  {leg} {symbol}: planned {report['planned_qty'].get(leg, 0)}, placed then "
            f"{report['placed_qty_then'].get(leg, 0)}, net position today "
            f"{report['net_qty_today'].get(leg, 0)}"
        )
    if report["open_orders_today"]:
        lines.append(f"  open orders today: {', '.join(report['open_orders_today'])}")
    return "\n".join(lines)


async def cmd_monitor(ctx: Any, args: argparse.Namespace) -> Result:
    engine = _engine(ctx)
    store = await engine.store()
    symbols = None
    if args.symbols:
        symbols = frozenset(
            store.resolve(s).trading_symbol for s in args.symbols.split(",") if s.strip()
        )
    dry = bool(args.dry_run or not args.yes)
    monitor = await engine.monitor(
        interval_s=args.monitor_interval,
        max_below_entry_pct=args.max_below_entry_pct,
        dry_run=dry,
        symbols=symbols,
        include_positions=args.include_positions,
    )
    with on_interrupt(monitor.stop):
        report = await monitor.run(skip_wait=args.skip_wait, once=args.run_once)
    rows = [
        [
            r["symbol"],
            r["action"],
            r["qty"],
            r["entry"],
            r["ltp"] or "",
            f"{r['ema9']:.2f}" if r["ema9"] else "",
            f"{r['lowest_ema9']:.2f}" if r["lowest_ema9"] else "",
            r["order_price"] or "",
            r["pnl"] or "",
            r["reason"],
        ]
        for r in report
    ]
    text = table(
        ["SYMBOL", "ACTION", "QTY", "ENTRY", "LTP", "EMA9", "LOWEST", "ORDER", "P&L", "REASON"],
        rows,
    )
    if dry and not args.dry_run:
        text += "\ndry run: nothing sent (add --yes to place and lower orders)"
    payload = {
        "mode": ctx.mode,
        "dry_run": dry,
        "symbols": report,
        "cycle_s": round(monitor.last_cycle_s, 3),
    }
    return monitor.failures == 0, payload, text


COMMANDS = {
    "quote": cmd_quote,
    "orders": cmd_orders,
    "positions": cmd_positions,
    "holdings": cmd_holdings,
    "limits": cmd_limits,
    "buy": cmd_order,
    "sell": cmd_order,
    "cancel": cmd_cancel,
    "straddle": cmd_straddle,
    "monitor": cmd_monitor,
}
