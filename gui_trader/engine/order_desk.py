"""Exactly-once orders: journal first, send once, and after an ambiguous failure ask the broker's
book (by tag) before ever sending again.

The tag is both the journal key and the idempotency guard: a resend carries the same tag, so even
if the first request landed after our look-up, the broker answers "duplicate tag" (5204) rather
than placing a second order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from gui_trader.broker.base import (
    Ambiguous,
    Broker,
    BrokerError,
    DuplicateTag,
    OrderFinished,
    RateLimited,
    Rejected,
)
from gui_trader.core.clock import today_ist
from gui_trader.core.order import Order, OrderOutcome, OrderRequest, OrderStatus, OrderType
from gui_trader.engine.journal import IntentState, Journal
from gui_trader.engine.live_orders import LiveOrders, OrderHandle
from gui_trader.engine.loop_share import turn
from gui_trader.engine.order_checks import InvalidOrder, check_order
from gui_trader.engine.order_guards import EXIT_FEATURES

log = logging.getLogger(__name__)

# EXIT_FEATURES (order_guards, one list): orders that only take risk off pass while trading is
# blocked, and never wait their turn on the loop; every other feature is refused then.

LOOKUP_ATTEMPTS = 6
LOOKUP_BACKOFF_S = 0.05
MAX_SENDS = 3


class LookupFailed(Exception):
    """The order book could not be read: the outcome stays unknown, nothing is resent."""


def block_message(account: str, reason: str) -> str:
    return (
        f"trading blocked for today on {account}: {reason}; "
        f"`gui-trader risk reset --account {account}` to allow orders again"
    )


class TradingBlocked(InvalidOrder):
    """A new order on an account blocked for the day (kill switch, an MTM limit): refused
    before it is journaled or sent, in one line that says how to allow orders again."""

    def __init__(self, account: str, reason: str) -> None:
        super().__init__(block_message(account, reason))
        self.account = account
        self.reason = reason


class TagCollision(Exception):
    """The broker holds an order with our tag that is not our request (a restored journal,
    another program): never believed as ours, said loudly, and the request gets a new tag."""


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
        **({"amo": True} if req.amo else {}),
    }


def matches(order: Order, record: dict[str, Any]) -> bool:
    """Is this broker order the request we journaled? Symbol, side, quantity, product, order
    type, and the limit price for priced orders (a working order of ours is only ever
    modified after it was matched, so a look-up by tag sees it as sent)."""
    if (
        order.trading_symbol != record["symbol"]
        or order.side.value != record["side"]
        or order.qty != int(record["qty"])
        or order.product != record["product"]
        or (order.order_type and order.order_type != record["type"])
    ):
        return False
    if record["type"] in (OrderType.LIMIT.value, OrderType.STOP.value) and record["price"]:
        return order.price == Decimal(record["price"])
    return True


@dataclass(frozen=True)
class Lookup:
    """What the broker's book says of one tag: our order, someone else's, or nothing."""

    order: Order | None
    collision: Order | None = None


class OrderDesk:
    def __init__(self, broker: Broker, journal: Journal, account: str) -> None:
        self.broker = broker
        self.journal = journal
        self.account = account
        self.on_send: Callable[[str], None] | None = None  # tag -> the moment it hits the wire
        self.live = LiveOrders(broker.orders)  # every order placed here, kept current

    def handle(self, outcome: OrderOutcome) -> OrderHandle | None:
        """The self-updating handle of a placed order (None if it never reached the book)."""
        if outcome.order_id is None:
            return None
        return self.live.track(outcome.order_id, outcome.tag, outcome.status)

    async def book(self) -> list[Order]:
        """The order book, read with retries; LookupFailed if it stays unreadable."""
        last: Exception | None = None
        for attempt in range(LOOKUP_ATTEMPTS):
            try:
                book = await self.broker.orders()
            except BrokerError as exc:
                last = exc
                await asyncio.sleep(LOOKUP_BACKOFF_S * 2**attempt)
            else:
                self.live.apply(book)
                return book
        raise LookupFailed(f"order book unreadable: {last}")

    async def lookup(self, tag: str, record: dict[str, Any]) -> Lookup:
        """Our order with this tag, if the broker has it; an order with the tag that does not
        match the request is reported as a collision, never as ours."""
        return find_tag(await self.book(), tag, record)

    async def find_by_tag(self, tag: str) -> Order | None:
        """The broker's order with this tag (matched against the journaled request)."""
        intent = await self.journal.by_tag(tag)
        if intent is None:
            return next((o for o in await self.book() if o.tag == tag), None)
        found = await self.lookup(tag, intent.request)
        if found.collision is not None and found.order is None:
            raise TagCollision(collision_text(tag, found.collision))
        return found.order

    async def place(
        self,
        req: OrderRequest,
        *,
        feature: str = "O",
        group: str | None = None,
        max_sends: int = MAX_SENDS,
    ) -> OrderOutcome:
        if feature not in EXIT_FEATURES:  # taking risk off never waits its turn
            await turn()  # a burst's first steps take turns with the window (loop_share)
        check_order(req)
        await self.gate(feature)
        tag = await self.journal.new_intent(
            self.account, "place", feature, request_record(req), group
        )
        return await self.send(replace(req, tag=tag), max_sends=max_sends, gated=True)

    async def gate(self, feature: str) -> None:
        """The one block check every order passes (place, prepare, send): while the account
        is blocked for the day only exits go (EXIT_FEATURES); anything else raises
        TradingBlocked. Exits skip the journal read, so a kill costs nothing extra. One read
        of the journal, so a block another process set counts at once."""
        if feature in EXIT_FEATURES:
            return
        day = await self.journal.risk_day(self.account, today_ist())
        if day is not None and day.blocked:
            raise TradingBlocked(self.account, day.reason)

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
        await self.gate(feature)
        tags = await self.journal.new_intents(
            self.account, "place", feature, [request_record(r) for r in reqs], group, metas
        )
        return [replace(r, tag=t) for r, t in zip(reqs, tags, strict=True)]

    async def send(
        self,
        req: OrderRequest,
        *,
        marked: bool = False,
        max_sends: int = MAX_SENDS,
        resend_refused: bool = False,
        gated: bool = False,
    ) -> OrderOutcome:
        """Send a journaled request (also used to resume one after a restart).

        Outcomes are what is known: placed (an order id the broker gave, or found by a tag
        whose order matches the request), rejected (a refusal the reference defines), or
        unknown (the tag, and what to check). A resend happens only after a look-up that ran
        once the first request could no longer land (`Broker.landing_s` after it ended).
        `marked`: the caller already journaled it as sent (a batch marks all its legs in one
        write, so nothing stands between the legs and the wire). `max_sends`: sends in all,
        resends (each only after the tag was proven absent) included. `resend_refused`: a 429
        (refused, nothing placed) is sent again, same tag, while sends remain. `gated`: the
        caller (place) checked the day's block a moment ago; otherwise it is checked here
        (a fan-out or a straddle batch journaled its intents already).
        """
        assert req.tag, "journal the request first"
        if not gated:
            try:
                await self.gate(req.tag[0])
            except TradingBlocked as exc:
                return await self._blocked(req, str(exc))
        notes: list[str] = []
        record = request_record(req)
        sends = 0
        paced = req.tag[0] not in EXIT_FEATURES  # exits never wait their turn
        while True:
            tag = req.tag or ""
            sends += 1
            if not (marked and sends == 1):
                await self.journal.update(tag, IntentState.SENT, bump=True)
                if paced:  # the journal's group commit wakes a burst at once
                    await turn()
            if self.on_send is not None:
                self.on_send(tag)
            try:
                order_id = await self.broker.place(req)
            except DuplicateTag:
                notes.append("the broker already had this tag")
                outcome = await self._settle(req, record, notes, sends, duplicate=True)
            except Rejected as exc:
                return await self._rejected(req, exc.reason, sends, notes)
            except RateLimited as exc:  # HTTP 429: the broker refused it; nothing happened
                if resend_refused and sends < max_sends:
                    notes.append(f"refused for now ({exc}); sent once more with the same tag")
                    log.info("order %s refused for now (429); sending it once more", tag)
                    continue
                return await self._rejected(req, str(exc), sends, notes, retryable=True)
            except Ambiguous as exc:
                notes.append(f"ambiguous: {exc.detail}")
                outcome = await self._settle(req, record, notes, sends)
            except BrokerError as exc:  # a stale session whose re-login failed: refused
                return await self._rejected(req, str(exc), sends, notes, state=IntentState.FAILED)
            else:
                if paced:  # replies arriving together
                    await turn()
                log.info(
                    "%s %s %s sent: order %s [%s]",
                    req.side.label,
                    req.qty,
                    req.instrument.trading_symbol,
                    order_id,
                    tag,
                )
                await self.journal.update(tag, IntentState.PLACED, order_id=order_id)
                self.live.track(order_id, tag)
                return OrderOutcome(tag, req, order_id, OrderStatus.OPEN, "", sends, notes)
            if isinstance(outcome, OrderOutcome):
                return outcome
            if outcome == "collision":
                new_tag = await self.journal.retag(tag)
                notes.append(f"tag {tag} collided with another order: sending as {new_tag}")
                req = replace(req, tag=new_tag)
                continue
            if sends >= max_sends:
                detail = (
                    f"not placed: {sends} sends failed ({notes[-1] if notes else 'no reply'}), and"
                    f" the broker had no order with tag {tag} {self.broker.landing_s:g} s after"
                    " the last one ended"
                )
                return await self._rejected(req, detail, sends, notes, state=IntentState.FAILED)
            log.info("order %s proven absent at the broker; sending it again", tag)

    async def _blocked(self, req: OrderRequest, reason: str) -> OrderOutcome:
        """A journaled request refused by the day's block: not sent. Its intent says so; one
        whose outcome was already unknown stays unknown (it may exist)."""
        tag = req.tag or ""
        intent = await self.journal.by_tag(tag)
        state = intent.state if intent is not None else None
        if state is IntentState.UNKNOWN:
            detail = f"{reason} (an earlier send may exist: check the order book for tag {tag})"
            return OrderOutcome(tag, req, None, OrderStatus.UNKNOWN, detail, 0, [reason])
        log.warning(
            "%s %s %s not sent: %s [%s]",
            req.side.label,
            req.qty,
            req.instrument.trading_symbol,
            reason,
            tag,
        )
        if state is IntentState.NEW:
            await self.journal.update(tag, IntentState.ABORTED, detail=reason)
        elif state is IntentState.SENT:  # marked by the caller, never on the wire
            await self.journal.update(tag, IntentState.FAILED, detail=reason)
        return OrderOutcome(tag, req, None, OrderStatus.REJECTED, reason, 0, [reason])

    async def _rejected(
        self,
        req: OrderRequest,
        reason: str,
        sends: int,
        notes: list[str],
        state: IntentState = IntentState.REJECTED,
        *,
        retryable: bool = False,
    ) -> OrderOutcome:
        tag = req.tag or ""
        log.warning(
            "%s %s %s not placed: %s [%s]",
            req.side.label,
            req.qty,
            req.instrument.trading_symbol,
            reason,
            tag,
        )
        await self.journal.update(tag, state, detail=reason)
        return OrderOutcome(
            tag, req, None, OrderStatus.REJECTED, reason, sends, notes, retryable=retryable
        )

    async def _settle(
        self,
        req: OrderRequest,
        record: dict[str, Any],
        notes: list[str],
        sends: int,
        *,
        duplicate: bool = False,
    ) -> OrderOutcome | str:
        """After an ambiguous send: the order found by tag (an outcome), "collision" (the tag
        is someone else's: retag and send), or "absent" (proven, safe to send again)."""
        tag = req.tag or ""
        ended = time.monotonic()
        try:
            found = await self.lookup(tag, record)
            if found.order is None and found.collision is None and not duplicate:
                # Not there yet; the request may still land. Look again once it cannot.
                await asyncio.sleep(max(0.0, ended + self.broker.landing_s - time.monotonic()))
                found = await self.lookup(tag, record)
        except LookupFailed as exc:
            detail = f"{exc}; check the order book for tag {tag}"
            await self.journal.update(tag, IntentState.UNKNOWN, detail=detail)
            return OrderOutcome(tag, req, None, OrderStatus.UNKNOWN, detail, sends, notes)
        if found.order is not None:
            order = found.order
            notes.append(f"found by tag as {order.order_id}")
            log.info("order %s found at the broker as %s; not resent", tag, order.order_id)
            state = (
                IntentState.REJECTED if order.status is OrderStatus.REJECTED else IntentState.PLACED
            )
            await self.journal.update(
                tag, state, order_id=order.order_id, detail=order.reject_reason or None
            )
            self.live.track(order.order_id, tag, order.status).apply(order)
            return OrderOutcome(
                tag, req, order.order_id, order.status, order.reject_reason, sends, notes
            )
        if found.collision is not None:
            log.error("%s", collision_text(tag, found.collision))
            return "collision"
        if duplicate:
            # The broker says the tag exists but its book does not show it (GuiOrdId can change
            # after a modify): never resend, and do not claim it is absent either.
            detail = (
                f"the broker reports tag {tag} exists, but no order in the book carries it;"
                " check the order book"
            )
            await self.journal.update(tag, IntentState.UNKNOWN, detail=detail)
            return OrderOutcome(tag, req, None, OrderStatus.UNKNOWN, detail, sends, notes)
        return "absent"

    async def modify(
        self,
        order: Order,
        *,
        price: Decimal | None = None,
        qty: int | None = None,
        trigger: Decimal | None = None,
        order_type: str | None = None,
    ) -> Order:
        """Modify is safe to repeat (same target); after an ambiguity, check before resending."""
        log.info(
            "modifying order %s (%s): price %s qty %s%s%s",
            order.order_id,
            order.trading_symbol,
            price if price is not None else "unchanged",
            qty if qty is not None else "unchanged",
            f" trigger {trigger}" if trigger is not None else "",
            f" type {order_type}" if order_type else "",
        )
        for _ in range(MAX_SENDS):
            try:
                await self.broker.modify(
                    order, price=price, qty=qty, trigger=trigger, order_type=order_type
                )
            except Ambiguous:
                current = await self._current(order.order_id)
                if current is None or current.status.terminal:
                    raise
                if (
                    (price is None or current.price == price)
                    and (qty is None or current.qty == qty)
                    and (trigger is None or current.trigger_price == trigger)
                    and (order_type is None or current.order_type == order_type)
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
                book = await self.broker.orders()
            except BrokerError:
                await asyncio.sleep(LOOKUP_BACKOFF_S * 2**attempt)
            else:
                self.live.apply(book)
                return next((o for o in book if o.order_id == order_id), None)
        return None

    async def settle_tag(self, tag: str) -> Order | None:
        """The order our intent `tag` became, or None once it is proven absent: never sent, or
        not in the book after the longest a request can still be in flight. For a feature
        that wrote a tag down before sending and must know, after a restart, whether to send
        again."""
        intent = await self.journal.by_tag(tag)
        if intent is None or intent.state in (
            IntentState.ABSENT,
            IntentState.ABORTED,
            IntentState.EXPIRED,
            IntentState.FAILED,
        ):
            return None
        found = await self.lookup(tag, intent.request)
        if found.order is None and intent.state in (IntentState.SENT, IntentState.UNKNOWN):
            wait = intent.updated + self.broker.in_flight_s - time.time()
            if wait > 0:
                log.info("order %s may still land: looking again in %.0f s", tag, wait)
                await asyncio.sleep(wait)
            found = await self.lookup(tag, intent.request)
        if found.order is not None:
            if intent.state is not IntentState.PLACED:
                await self.journal.update(tag, IntentState.PLACED, order_id=found.order.order_id)
            return found.order
        if intent.state in (IntentState.NEW, IntentState.SENT, IntentState.UNKNOWN):
            detail = "never sent" if intent.state is IntentState.NEW else "not at the broker"
            await self.journal.update(tag, IntentState.ABSENT, detail=detail)
        return None

    async def reconcile(self, idle_s: float = 120.0) -> list[dict[str, Any]]:
        """Settle intents a crash left open: found by tag (and matching) -> placed; never
        sent, or proven absent -> absent; from an earlier day -> expired (today's book cannot
        speak for them). Nothing is resent here: that is the feature's decision.

        Only intents idle for longer than a request can be in flight are touched, and none of
        a straddle run still marked running: its owner, or its resume, settles those.
        """
        idle = max(idle_s, self.broker.in_flight_s)
        open_intents = await self.journal.unresolved(self.account, idle_s=idle)
        running = {r.id for r in await self.journal.runs(self.account, "straddle")}
        open_intents = [i for i in open_intents if i.group_id not in running]
        if not open_intents:
            return []
        book = await self.book()
        today = today_ist().isoformat()
        settled: list[dict[str, Any]] = []
        for intent in open_intents:
            if intent.day != today:  # the broker's book only holds today's orders
                await self.journal.update(
                    intent.tag,
                    IntentState.EXPIRED,
                    detail=f"from {intent.day}: not in today's book",
                )
                continue
            found = find_tag(book, intent.tag, intent.request)
            if found.order is not None:
                await self.journal.update(
                    intent.tag, IntentState.PLACED, order_id=found.order.order_id
                )
            else:
                detail = (
                    "never sent"
                    if intent.state == IntentState.NEW
                    else "not at the broker on restart"
                )
                if found.collision is not None:
                    detail += f"; {collision_text(intent.tag, found.collision)}"
                await self.journal.update(intent.tag, IntentState.ABSENT, detail=detail)
            order_id = found.order.order_id if found.order else None
            settled.append({"tag": intent.tag, "order_id": order_id})
        return settled


def find_tag(book: list[Order], tag: str, record: dict[str, Any]) -> Lookup:
    carrying = [o for o in book if o.tag == tag]
    mine = next((o for o in carrying if matches(o, record)), None)
    return Lookup(mine, None if mine is not None or not carrying else carrying[0])


def collision_text(tag: str, other: Order) -> str:
    return (
        f"TAG COLLISION: tag {tag} is on order {other.order_id} ({other.side.label} "
        f"{other.qty} {other.trading_symbol}), which is not this request; it is not believed"
    )
