"""`gui-trader orders` / `buy` / `sell` / `cancel`: the order book and single orders."""

from __future__ import annotations

import argparse
import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gui_trader.broker.base import BrokerError
from gui_trader.cli.args import EXIT_BAD_INPUT, EXIT_FAILED, CommandError
from gui_trader.cli.output import EXIT_UNKNOWN, Result, ok, table, tell
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
from gui_trader.engine.order_guards import NeedsConfirmation

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


def outcome_exit(outcomes: list[OrderOutcome]) -> int:
    """0 all placed; 3 any outcome unknown (an order may exist); 1 otherwise."""
    if any(o.status is OrderStatus.UNKNOWN for o in outcomes):
        return EXIT_UNKNOWN
    return 0 if all(o.order_id is not None for o in outcomes) else EXIT_FAILED


async def cmd_orders(engine: TradingEngine, args: argparse.Namespace) -> Result:
    if getattr(args, "follow", False):
        from gui_trader.cli.follow import follow

        return await follow(engine, args, [], quotes=False)
    orders = await engine.read_orders()
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
    return ok({"mode": engine.mode, "orders": rows}, text)


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


async def cmd_order(engine: TradingEngine, args: argparse.Namespace) -> Result:
    store = await engine.store()
    inst: Instrument = store.resolve(args.symbol)
    side = Side.BUY if args.command == "buy" else Side.SELL
    product = Product(args.product) if args.product else default_product(inst)
    order_type = OrderType.LIMIT if args.price is not None else OrderType.MARKET
    req = OrderRequest(inst, side, args.qty, order_type, args.price, product, amo=bool(args.amo))
    from gui_trader.cli.protect import wants_protection

    if wants_protection(args):
        return await _order_protected(engine, args, req)
    try:  # above a hard [guards] limit: GuardRefused, one line from main()
        outcome = await engine.place(req, confirmed=bool(args.yes))
    except NeedsConfirmation as exc:
        raise CommandError(f"{exc}; nothing sent: add --yes to send it", EXIT_BAD_INPUT) from None
    order = None
    if outcome.order_id:
        # Best effort: the order is placed whatever this read says.
        with contextlib.suppress(BrokerError):
            order = await engine.read_order(outcome.order_id)
    status = order.status if order else outcome.status
    reason = (order.reject_reason if order else "") or outcome.error
    payload = {
        "mode": engine.mode,
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
        tell(f"{engine.mode}: {what}: OUTCOME UNKNOWN (tag {outcome.tag}): {reason}")
        return EXIT_UNKNOWN, payload, ""
    if outcome.order_id is not None and status is not OrderStatus.REJECTED:
        text = (
            f"{engine.mode}: {what} -> order {outcome.order_id} "
            + (status.value if order else "placed (status not read)")
            + (f" at {order.avg_price}" if order and order.filled_qty else "")
        )
        return 0, payload, text
    tell(f"{what} not placed: {status.value}: {reason} (tag {outcome.tag})")
    return EXIT_FAILED, payload, ""


async def _order_protected(
    engine: TradingEngine, args: argparse.Namespace, req: OrderRequest
) -> Result:
    """`buy/sell ... --sl/--target/--trail`: the levels checked before the entry is sent, then
    the entry, then its protection, watched like `gui-trader protect`."""
    from gui_trader.cli.protect import protect_entry, trail_of
    from gui_trader.engine.protection_rules import BadProtection, check_levels

    trail_of(args)  # a bad --trail is refused before anything is sent
    if args.amo:
        raise CommandError(
            "--sl/--target/--trail cannot watch an after-market order", EXIT_BAD_INPUT
        )
    ref = req.price
    if ref is None:
        quotes = await engine.read_quotes([req.instrument])
        ref = quotes[req.instrument.key].ltp if req.instrument.key in quotes else None
    try:
        check_levels(req.side is Side.BUY, ref or Decimal(0), args.sl, args.target)
    except BadProtection as exc:
        raise CommandError(f"{exc} (nothing sent)", EXIT_BAD_INPUT) from None
    if not await engine.start():
        raise CommandError("cannot start the account (see the log)", EXIT_FAILED)
    try:
        try:
            outcome = await engine.place(req, confirmed=bool(args.yes))
        except NeedsConfirmation as exc:
            raise CommandError(
                f"{exc}; nothing sent: add --yes to send it", EXIT_BAD_INPUT
            ) from None
        if not outcome.ok or outcome.order_id is None:
            what = f"{req.side.label} {req.qty} {req.instrument.trading_symbol}"
            tell(f"{what} not placed: {outcome.error} (tag {outcome.tag})")
            code = EXIT_UNKNOWN if outcome.status is OrderStatus.UNKNOWN else EXIT_FAILED
            return code, {"mode": engine.mode, "outcome": "rejected", "tag": outcome.tag}, ""
        status, doc, text = await protect_entry(engine, args, outcome)
        doc["entry"] = {"order_id": outcome.order_id, "tag": outcome.tag}
        return status, doc, f"{engine.mode}: order {outcome.order_id}; " + text
    finally:
        await engine.stop(close=False)


def _outcome_word(outcome: OrderOutcome, status: OrderStatus) -> str:
    if outcome.status is OrderStatus.UNKNOWN:
        return "unknown"
    if outcome.order_id is not None and status is not OrderStatus.REJECTED:
        return "placed"
    return "rejected"


async def cmd_cancel(engine: TradingEngine, args: argparse.Namespace) -> Result:
    order_id = args.order_id.strip()
    if not order_id.isdigit():
        raise CommandError(f"order id {order_id!r} is not an order number", EXIT_BAD_INPUT)
    known = {o.order_id: o for o in await engine.read_orders()}
    if order_id not in known:
        raise CommandError(f"no order {order_id} in today's book", EXIT_BAD_INPUT)
    if known[order_id].status.terminal:
        raise CommandError(
            f"order {order_id} is already {known[order_id].status.value}", EXIT_FAILED
        )
    after = await engine.cancel_order(order_id)
    cancelled = after is not None and after.status is OrderStatus.CANCELLED
    status = after.status.value if after else "unknown"
    return cancelled, {"order_id": order_id, "status": status}, f"order {order_id}: {status}"
