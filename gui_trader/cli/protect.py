"""`gui-trader protect SYMBOL ...` and `buy|sell ... --sl/--target/--trail`: a position's stop,
target and trail, watched here until its exit is done, or Ctrl-C (which says what stays at the
broker and what is no longer watched)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from gui_trader.cli.args import EXIT_BAD_INPUT, EXIT_FAILED, CommandError
from gui_trader.cli.interrupt import on_interrupt
from gui_trader.cli.output import Result
from gui_trader.core.order import OrderOutcome
from gui_trader.engine.protection import Protector
from gui_trader.engine.protection_rules import BadProtection, Protection, PState, StopAt, Trail
from gui_trader.engine.straddle_guard import StraddleStops

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


async def until_done_or_interrupted(protector: Protector, ids: list[str]) -> None:
    """The headless watcher's life: until these have all ended, or Ctrl-C / SIGTERM."""
    stop = asyncio.Event()
    done = asyncio.ensure_future(protector.wait_all_done(ids))
    stopped = asyncio.ensure_future(stop.wait())
    with on_interrupt(stop.set):
        await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (done, stopped):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def wants_protection(args: argparse.Namespace) -> bool:
    return any(getattr(args, k, None) is not None for k in ("sl", "target", "trail"))


def trail_of(args: argparse.Namespace) -> Trail | None:
    try:
        return Trail.parse(args.trail) if args.trail else None
    except BadProtection as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from None


async def cmd_protect(engine: TradingEngine, args: argparse.Namespace) -> Result:
    if args.watch:
        if args.symbol or wants_protection(args) or args.remove:
            raise CommandError("--watch takes no symbol or levels", EXIT_BAD_INPUT)
        return await watch_all(engine)
    if not args.symbol:
        raise CommandError("protect: give a SYMBOL (or --watch)", EXIT_BAD_INPUT)
    if args.remove:
        if wants_protection(args):
            raise CommandError("--remove takes no --sl/--target/--trail", EXIT_BAD_INPUT)
        return await _remove(engine, args.symbol)
    trail = trail_of(args)
    if not wants_protection(args):
        raise CommandError("give --sl, --target or --trail (or --remove)", EXIT_BAD_INPUT)
    if not await engine.start():
        raise CommandError("cannot start the account (see the log)", EXIT_FAILED)
    try:
        try:
            p = await engine.protect(
                args.symbol,
                sl=args.sl,
                target=args.target,
                trail=trail,
                stop_at=StopAt(args.stop_at),
                qty=args.qty,
            )
        except BadProtection as exc:
            raise CommandError(str(exc), EXIT_BAD_INPUT) from None
        return await watch(engine, p, detach=bool(args.detach))
    finally:
        await engine.stop(close=False)


async def protect_entry(
    engine: TradingEngine, args: argparse.Namespace, outcome: OrderOutcome
) -> Result:
    """After `buy/sell --sl ...` placed its entry: protect what it fills, then watch."""
    try:
        p = await engine.protect(
            outcome.request.instrument.trading_symbol,
            sl=args.sl,
            target=args.target,
            trail=trail_of(args),
            stop_at=StopAt(args.stop_at),
            entry=outcome,
        )
    except BadProtection as exc:
        raise CommandError(f"entry placed, but not protected: {exc}", EXIT_FAILED) from None
    return await watch(engine, p, detach=False)


async def watch(engine: TradingEngine, p: Protection, *, detach: bool) -> Result:
    """Until the protection ends (its exit done, or the position closed), or Ctrl-C."""
    protector = engine.protector
    if not protector.driving:
        doc = report(engine, p, "elsewhere")
        return 0, doc, f"{describe(p)}: added; another gui-trader process watches it"
    if detach:
        doc = report(engine, p, "detached")
        text = describe(p) + ": armed"
        if p.stop_at is StopAt.ENGINE and p.sl is not None:
            text += f"; the stop {p.sl} is watched only while gui-trader runs (window or protect)"
        return 0, doc, text
    await until_done_or_interrupted(protector, [p.id])
    with contextlib.suppress(Exception):
        await engine.refresh()
    if p.state is PState.DONE:
        return 0, report(engine, p, "done"), f"{describe(p)}: {p.reason}"
    return 0, report(engine, p, "interrupted"), interrupted_text(engine, p)


async def watch_all(engine: TradingEngine) -> Result:
    """Resume watching every protection (and straddle guard) the account has, until they
    have all ended or Ctrl-C."""
    if not await engine.start():
        raise CommandError("cannot start the account (see the log)", EXIT_FAILED)
    try:
        protector = engine.protector
        if not protector.driving:
            return 0, {"watching": "elsewhere"}, "another gui-trader process watches them"
        ids = [p.id for p in protector.open()]
        ids += [g.id for g in protector.straddles.items.values() if g.state is not PState.DONE]
        if not ids:
            return 0, {"watching": "nothing"}, "no protection to watch"
        await until_done_or_interrupted(protector, ids)
        left = [describe(p) for p in protector.open()]
        doc = {"watching": "interrupted" if left else "done", "open": left}
        text = "all protections ended" if not left else "stopped watching: " + "; ".join(left)
        return 0, doc, text
    finally:
        await engine.stop(close=False)


def interrupted_text(engine: TradingEngine, p: Protection) -> str:
    """What Ctrl-C leaves behind: resting orders still protect; an engine stop does not."""
    resting = [
        f"{role} order {oid} ({status})"
        for role, oid, status in _orders(engine, p)
        if status in ("open", "trigger pending", "partially filled")
    ]
    lines = [f"{describe(p)}: stopped watching."]
    lines.append(
        "Still at the broker: " + ", ".join(resting) if resting else "Nothing rests at the broker."
    )
    if p.stop_at is StopAt.ENGINE and p.sl is not None:
        lines.append(
            f"NOT protected now: the stop {p.sl} was watched here; `gui-trader protect --watch`"
            " or the window resumes watching it (it is kept)."
        )
    return "\n".join(lines)


def describe(p: Protection) -> str:
    parts = [f"{'long' if p.long else 'short'} {p.qty} {p.symbol}"]
    if p.sl is not None:
        parts.append(f"stop {p.sl}" + (" (broker SL)" if p.stop_at is StopAt.BROKER else ""))
    if p.target is not None:
        parts.append(f"target {p.target}")
    if p.trail is not None:
        parts.append(f"trail {p.trail}")
    return ", ".join(parts)


def _orders(engine: TradingEngine, p: Protection) -> list[tuple[str, str, str]]:
    out = []
    for role, ids in (("target", p.target_orders), ("stop", p.stop_orders)):
        for oid in ids:
            o = engine.orders.get(oid)
            out.append((role, oid, o.status.value if o else "unknown"))
    for o in engine.orders.values():
        if o.tag in p.exit_tags:
            out.append(("exit", o.order_id, o.status.value))
    return out


def report(engine: TradingEngine, p: Protection, watching: str) -> dict[str, Any]:
    orders = []
    for role, oid, status in _orders(engine, p):
        o = engine.orders.get(oid)
        orders.append({"role": role, "order_id": oid, "tag": o.tag if o else "", "status": status})
    positions = [
        {"symbol": x.trading_symbol, "net_qty": x.net_qty, "product": x.product}
        for x in engine.positions
        if x.key == p.key
    ]
    return {
        "mode": engine.mode,
        "watching": watching,
        "protection": p.to_json(),
        "orders": orders,
        "positions": positions,
    }


async def _remove(engine: TradingEngine, symbol: str) -> Result:
    await engine.store()
    await engine.protector.start(drive=False)  # only reads the journal
    try:
        p = await engine.unprotect(symbol)
    except BadProtection as exc:
        raise CommandError(str(exc), EXIT_BAD_INPUT) from None
    with contextlib.suppress(Exception):
        await engine.refresh()
    return 0, report(engine, p, "removed"), f"{describe(p)}: protection removed"


def straddle_stops(args: argparse.Namespace) -> StraddleStops | None:
    """The straddle's stop flags, checked (None when none was given)."""
    stops = StraddleStops(
        combined_sl_pct=getattr(args, "combined_sl_pct", None),
        combined_target_pct=getattr(args, "combined_target_pct", None),
        leg_sl_pct=getattr(args, "leg_sl_pct", None),
        lock_at=getattr(args, "lock_at", None),
        trail_by=getattr(args, "trail_by", None),
    )
    if stops.trail_by is not None and stops.lock_at is None:
        raise CommandError("--trail-by needs --lock-at (the MTM that arms it)", EXIT_BAD_INPUT)
    return stops if stops.any else None


async def watch_straddle(engine: TradingEngine, summary: Any, stops: StraddleStops) -> Result:
    """After a straddle run filled: its stops watched here until both legs are out, or
    Ctrl-C (nothing rests at the broker for them: say so)."""
    if not await engine.start():
        raise CommandError("straddle filled, but the account cannot start to watch its stops")
    try:
        try:
            g = await engine.guard_straddle(summary, stops)
        except BadProtection as exc:
            return EXIT_FAILED, {"watching": "nothing"}, f"stops not set: {exc}"
        if not engine.protector.driving:
            doc = {"watching": "elsewhere", "guard": g.to_json()}
            return 0, doc, "straddle stops added; another gui-trader process watches them"
        await until_done_or_interrupted(engine.protector, [g.id])
        await engine.protector.idle()
        if g.state is PState.DONE:
            return 0, {"watching": "done", "guard": g.to_json()}, f"straddle closed: {g.reason}"
        text = (
            "stopped watching the straddle's stops. NOT protected now: they are watched only"
            " while gui-trader runs; `gui-trader protect --watch` or the window resumes them"
        )
        return 0, {"watching": "interrupted", "guard": g.to_json()}, text
    finally:
        await engine.stop(close=False)
