"""Exactly-once orders: journal first, send once, and after an ambiguous failure ask the broker's
book (by tag) before ever sending again.

The tag is both the journal key and the idempotency guard: a resend carries the same tag, so even
if the first request landed after our look-up, the broker answers "duplicate tag" (5204) rather
than placing a second order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from gui_trader.broker.base import (
    Ambiguous,
    Broker,
    BrokerError,
    DuplicateTag,
    OrderFinished,
    Rejected,
)
from gui_trader.core.clock import today_ist
from gui_trader.core.order import Order, OrderOutcome, OrderRequest, OrderStatus
from gui_trader.engine.journal import Journal
from gui_trader.engine.order_checks import check_order

log = logging.getLogger(__name__)

LOOKUP_ATTEMPTS = 6
LOOKUP_BACKOFF_S = 0.05
MAX_SENDS = 4


class LookupFailed(Exception):
    """The order book could not be read: the outcome stays unknown, nothing is resent."""


def request_record(req: OrderRequest) -> dict[str, Any]:
    x = req.instrument
    return {
        "symbol": x.trading_symbol,
        "segment": x.segment,
        "token": x.token,
        "side": req.side.value,
        "qty": req.qty,
        "type": req.order_type.value,
        "price": str(req.price) if req.price is not None else None,
        "product": req.product.value,
        "validity": req.validity,
    }


class OrderDesk:
    def __init__(self, broker: Broker, journal: Journal, account: str) -> None:
        self.broker = broker
        self.journal = journal
        self.account = account
        self.on_send: Callable[[str], None] | None = None  # tag -> the moment it hits the wire

    async def find_by_tag(self, tag: str) -> Order | None:
        """The broker's order with this tag, None if it has none; retries the look-up itself."""
        last: Exception | None = None
        for attempt in range(LOOKUP_ATTEMPTS):
            try:
                for order in await self.broker.orders():
                    if order.tag == tag:
                        return order
                return None
            except BrokerError as exc:
                last = exc
                await asyncio.sleep(LOOKUP_BACKOFF_S * 2**attempt)
        raise LookupFailed(f"order book unreadable: {last}")

    async def place(
        self, req: OrderRequest, *, feature: str = "O", group: str | None = None
    ) -> OrderOutcome:
        check_order(req)
        tag = await self.journal.new_intent(
            self.account, "place", feature, request_record(req), group
        )
        return await self.send(replace(req, tag=tag))

    async def prepare(
        self,
        reqs: list[OrderRequest],
        *,
        feature: str,
        group: str | None,
        metas: list[dict[str, Any] | None],
    ) -> list[OrderRequest]:
        """Check and journal several requests at once; they come back carrying their tags."""
        for req in reqs:
            check_order(req)
        tags = await self.journal.new_intents(
            self.account, "place", feature, [request_record(r) for r in reqs], group, metas
        )
        return [replace(r, tag=t) for r, t in zip(reqs, tags, strict=True)]

    async def send(self, req: OrderRequest, *, marked: bool = False) -> OrderOutcome:
        """Send a journaled request (also used to resume one after a restart).

        `marked`: the caller already journaled it as sent (a batch marks all its legs in one
        write, so nothing stands between the legs and the wire).
        """
        tag = req.tag
        assert tag, "journal the request first"
        notes: list[str] = []
        sends = 0
        while True:
            sends += 1
            if not (marked and sends == 1):
                await self.journal.update(tag, "sent", bump=True)
            if self.on_send is not None:
                self.on_send(tag)
            try:
                order_id = await self.broker.place(req)
            except DuplicateTag:
                notes.append("broker already had this tag")
                outcome = await self._resolve(
                    req, notes, sends, resend_ok=False, broker_has_tag=True
                )
            except Rejected as exc:
                log.warning(
                    "%s %s %s rejected: %s [%s]",
                    req.side.label,
                    req.qty,
                    req.instrument.trading_symbol,
                    exc.reason,
                    tag,
                )
                await self.journal.update(tag, "rejected", detail=exc.reason)
                return OrderOutcome(tag, req, None, OrderStatus.REJECTED, exc.reason, sends, notes)
            except Ambiguous as exc:
                notes.append(f"ambiguous: {exc.detail}")
                outcome = await self._resolve(req, notes, sends, resend_ok=sends < MAX_SENDS)
            except BrokerError as exc:  # AuthExpired after a failed re-login, LoginFailed, ...
                await self.journal.update(tag, "failed", detail=str(exc))
                return OrderOutcome(tag, req, None, OrderStatus.REJECTED, str(exc), sends, notes)
            else:
                log.info(
                    "%s %s %s sent: order %s [%s]",
                    req.side.label,
                    req.qty,
                    req.instrument.trading_symbol,
                    order_id,
                    tag,
                )
                await self.journal.update(tag, "placed", order_id=order_id)
                return OrderOutcome(tag, req, order_id, OrderStatus.OPEN, "", sends, notes)
            if outcome is not None:
                return outcome
            log.info("order %s not at the broker after an ambiguous failure; sending again", tag)

    async def _resolve(
        self,
        req: OrderRequest,
        notes: list[str],
        sends: int,
        resend_ok: bool,
        broker_has_tag: bool = False,
    ) -> OrderOutcome | None:
        """Look the tag up; None means "definitely absent, send again"."""
        tag = req.tag or ""
        try:
            found = await self.find_by_tag(tag)
        except LookupFailed as exc:
            await self.journal.update(tag, "unknown", detail=str(exc))
            return OrderOutcome(tag, req, None, OrderStatus.UNKNOWN, str(exc), sends, notes)
        if found is not None:
            notes.append(f"found by tag as {found.order_id}")
            log.info(
                "ambiguous reply for %s: found at the broker as order %s, not resent",
                tag,
                found.order_id,
            )
            state = "rejected" if found.status is OrderStatus.REJECTED else "placed"
            await self.journal.update(
                tag, state, order_id=found.order_id, detail=found.reject_reason or None
            )
            return OrderOutcome(
                tag, req, found.order_id, found.status, found.reject_reason, sends, notes
            )
        if broker_has_tag:
            # The broker says the tag exists but its book does not show it (GuiOrdId can change
            # after a modify): never resend, and do not claim it is absent either.
            detail = "broker reports this tag exists, but no order in the book carries it"
            await self.journal.update(tag, "unknown", detail=detail)
            return OrderOutcome(tag, req, None, OrderStatus.UNKNOWN, detail, sends, notes)
        if not resend_ok:
            # The look-up ran after the last failed send had finished: the broker has no such
            # order, so this is a definite "not placed", not an unknown.
            detail = f"not placed: {sends} sends failed ({notes[-1] if notes else 'no reply'})"
            await self.journal.update(tag, "failed", detail=detail)
            return OrderOutcome(tag, req, None, OrderStatus.REJECTED, detail, sends, notes)
        return None

    async def modify(
        self, order: Order, *, price: Decimal | None = None, qty: int | None = None
    ) -> Order:
        """Modify is safe to repeat (same target); after an ambiguity, check before resending."""
        log.info(
            "modifying order %s (%s): price %s qty %s",
            order.order_id,
            order.trading_symbol,
            price if price is not None else "unchanged",
            qty if qty is not None else "unchanged",
        )
        for _ in range(MAX_SENDS):
            try:
                await self.broker.modify(order, price=price, qty=qty)
            except Ambiguous:
                current = await self._current(order.order_id)
                if current is None or current.status.terminal:
                    raise
                if (price is None or current.price == price) and (
                    qty is None or current.qty == qty
                ):
                    return current
                order = current
                continue
            current = await self._current(order.order_id)
            return current or order
        raise Ambiguous(order.tag, "modify outcome unknown after retries")

    async def cancel(self, order_id: str) -> Order | None:
        log.info("cancelling order %s", order_id)
        for _ in range(MAX_SENDS):
            try:
                await self.broker.cancel(order_id)
            except OrderFinished:
                return await self._current(order_id)
            except Ambiguous:
                current = await self._current(order_id)
                if current is not None and current.status.terminal:
                    return current
                continue
            return await self._current(order_id)
        raise Ambiguous(None, "cancel outcome unknown after retries")

    async def _current(self, order_id: str) -> Order | None:
        for attempt in range(LOOKUP_ATTEMPTS):
            try:
                return next((o for o in await self.broker.orders() if o.order_id == order_id), None)
            except BrokerError:
                await asyncio.sleep(LOOKUP_BACKOFF_S * 2**attempt)
        return None

    async def reconcile(self, idle_s: float = 120.0) -> list[dict[str, Any]]:
        """Settle intents a crash left open: found by tag -> placed; absent -> not placed.

        Only intents idle for `idle_s` are touched: another process (the window, a script) may
        be sending its intents right now. Absent ones are never resent here; that is the
        feature's decision (a straddle asks first).
        """
        open_intents = await self.journal.unresolved(self.account, idle_s=idle_s)
        if not open_intents:
            return []
        book = {o.tag: o for o in await self.broker.orders() if o.tag}
        today = today_ist().isoformat()
        settled: list[dict[str, Any]] = []
        for intent in open_intents:
            if intent.day != today:  # the broker's book only holds today's orders
                await self.journal.update(intent.tag, "expired", detail="from an earlier day")
                continue
            order = book.get(intent.tag)
            if order is not None:
                await self.journal.update(intent.tag, "placed", order_id=order.order_id)
            else:
                await self.journal.update(
                    intent.tag, "absent", detail="not at the broker on restart"
                )
            settled.append({"tag": intent.tag, "order_id": order.order_id if order else None})
        return settled
