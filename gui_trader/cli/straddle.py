"""`gui-trader straddle`: plan, fire or resume CALL + PUT in batches."""

from __future__ import annotations

import argparse
import contextlib
from datetime import date
from typing import TYPE_CHECKING, Any

from gui_trader.cli.args import EXIT_BAD_INPUT, EXIT_FAILED, CommandError
from gui_trader.cli.interrupt import on_interrupt
from gui_trader.cli.output import EXIT_UNKNOWN, Result
from gui_trader.core.order import OrderStatus, OrderType, Product, Side
from gui_trader.engine.order_guards import guard_straddle, rupees, straddle_value

if TYPE_CHECKING:
    from gui_trader.engine.straddle import StraddleRun
    from gui_trader.engine.trading import TradingEngine


async def cmd_straddle(engine: TradingEngine, args: argparse.Namespace) -> Result:

    from gui_trader.cli.straddle_report import plan_table
    from gui_trader.engine import straddle_plan as sp

    if args.resume:
        return await _resume_straddle(engine, args)
    missing = [o for o, v in (("--expiry", args.expiry), ("--lots", args.lots)) if v is None]
    if missing:
        raise CommandError(f"straddle: {' and '.join(missing)} required", EXIT_BAD_INPUT)
    check_strikes(args)
    expiry = await pick_expiry(engine, args.underlying, args.expiry)
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
    payload: dict[str, Any] = {"mode": engine.mode, "plan": _plan_json(plan)}
    if not plan.ok:
        raise CommandError("cannot run: " + "; ".join(plan.problems), EXIT_BAD_INPUT)
    from gui_trader.cli.protect import straddle_stops

    straddle_stops(args)  # bad stops are refused before anything is sent
    # Above a soft [guards] threshold: --yes is the confirmation, as for any straddle.
    large = guard_straddle(spec, engine.guards)
    payload["guard_warnings"] = list(large.warnings)
    if large.warnings:
        value = straddle_value(plan)
        text += f"\nlarge: {'; '.join(large.warnings)}" + (
            f"; premium about Rs {rupees(value)}" if value is not None else ""
        )
    if not args.yes:
        return True, {**payload, "sent": False}, text + "\nnothing sent: add --yes to fire"
    return await _run_straddle(
        args, engine.straddle_run(plan), payload, text, engine=engine, events=engine
    )


def check_strikes(args: argparse.Namespace) -> None:
    """One way to say the strikes: --strike S, --call-strike C with --put-strike P, or --atm
    (with --steps). Half a pair or two ways at once would trade strikes nobody asked for."""
    pair = {"--call-strike": args.call_strike, "--put-strike": args.put_strike}
    given = [name for name, v in pair.items() if v is not None]
    if given and (args.atm or args.strike is not None):
        other = "--atm" if args.atm else "--strike"
        raise CommandError(
            f"straddle: {given[0]} goes without {other}: give one of them", EXIT_BAD_INPUT
        )
    if len(given) == 1:
        missing = "--put-strike" if given[0] == "--call-strike" else "--call-strike"
        raise CommandError(
            f"straddle: {given[0]} needs {missing} too (or --strike S for both legs)",
            EXIT_BAD_INPUT,
        )
    if not (args.atm or args.strike is not None or given):
        raise CommandError(
            "straddle: give --strike S, or --call-strike C --put-strike P, or --atm", EXIT_BAD_INPUT
        )
    if args.steps and not args.atm:
        raise CommandError("straddle: --steps goes with --atm", EXIT_BAD_INPUT)


async def pick_expiry(engine: TradingEngine, underlying: str, text: str) -> date:
    """YYYY-MM-DD, or `next`: the nearest expiry in today's instrument file that has not passed
    (today's on an expiry day), so a command kept in a script or the README never goes stale."""
    if text.strip().lower() != "next":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise CommandError(
                f"--expiry {text!r}: use YYYY-MM-DD or next", EXIT_BAD_INPUT
            ) from None
    from gui_trader.core.clock import today_ist

    store = await engine.store()
    today = today_ist()
    upcoming = [e for e in store.expiries(underlying) if e >= today]
    if not upcoming:
        raise CommandError(
            f"--expiry next: no {underlying.upper()} expiry from {today} in today's instrument "
            "file",
            EXIT_BAD_INPUT,
        )
    return upcoming[0]


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
    engine: TradingEngine | None = None,
    events: TradingEngine | None = None,
) -> Result:
    """Run it (progress on stderr from `events`' hub), then the stops asked for (`engine`)."""
    from gui_trader.cli.progress import StraddleProgress
    from gui_trader.cli.straddle_report import summary_text

    progress = StraddleProgress(run)
    if not getattr(args, "json", False) and text:
        print(text, flush=True)  # the plan before it fires, not with the summary at the end
        text = ""
    with listening(events, progress), progress.running(), on_interrupt(run.abort) as stopped:
        # Ctrl-C / SIGTERM: abort, then the summary
        summary = await run.execute(resume=resume)
    from gui_trader.cli.protect import straddle_stops, watch_straddle

    stops = straddle_stops(args)
    if stops is not None and engine is not None and not summary.aborted:
        _, doc, guard_text = await watch_straddle(engine, summary, stops)
        text += ("\n" if text else "") + guard_text
        payload = {**payload, "guard": doc}
    result = summary.to_json()
    legs = list(summary.results.values())
    if summary.complete:
        status = 0
    elif any(r.status is OrderStatus.UNKNOWN for r in legs):
        status = EXIT_UNKNOWN  # what to check first outranks how it ended
    elif summary.aborted and stopped.exit_status is not None:
        status = stopped.exit_status
    else:
        status = EXIT_FAILED
    report = (text + "\n" if text else "") + summary_text(summary)
    return status, {**payload, **result, "sent": True}, report


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
    return await _run_straddle(args, run, payload, text, resume=intents, events=engine)


def listening(
    engine: TradingEngine | None, listener: Any
) -> contextlib.AbstractContextManager[None]:
    """The engine's events reach `listener` as they are published (the CLI's hub taps them)."""
    from gui_trader.cli.progress import TapHub

    hub = getattr(engine, "hub", None)
    return hub.listening(listener) if isinstance(hub, TapHub) else contextlib.nullcontext()


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
