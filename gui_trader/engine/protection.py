"""Protective exits for an open position: stop-loss, target, trailing stop, one cancels the other.

Why each piece is as it is:
- The target rests at the broker as a LIMIT: it fills even while this app is closed.
- The stop is a broker SL order (trigger + limit: the broker refuses SL-M from API sessions)
  or is watched here on every tick, as the trader chooses. An engine stop that triggers turns
  the resting target into the exit (one modify to a marketable price): it is the same order, so
  a burst of ticks, a partial fill or a restart can never exit twice. Without a target the exit
  is a new order through the exactly-once desk, its tag written here before it is sent.
- One cancels the other: when a resting side fills the other is cancelled; a partial fill
  resizes it.
- A trailing stop follows the best price since it was set, never back.
- Everything lives in the journal: a restart neither forgets a stop nor exits twice. One
  process drives an account's protections (an OS lock); another only adds to the journal and
  the driver picks them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gui_trader.broker.base import BrokerError
from gui_trader.core.clock import today_ist
from gui_trader.core.instrument import Instrument
from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order, OrderRequest, OrderStatus, OrderType, Product
from gui_trader.core.portfolio import Position
from gui_trader.engine.events import Notice, ProtectionsChanged, ProtectionView
from gui_trader.engine.journal import IntentState
from gui_trader.engine.live_orders import OrderHandle
from gui_trader.engine.ownership import OwnedElsewhere, RunOwner
from gui_trader.engine.protection_rules import (
    FEATURE,
    OPEN_STATES,
    STOP_LIMIT_GAP,
    BadProtection,
    Protection,
    PState,
    StopAt,
    Trail,
    check_levels,
    marketable,
    stop_hit,
    to_tick,
    trailed_stop,
)

if TYPE_CHECKING:
    from gui_trader.engine.journal import Journal
    from gui_trader.engine.order_desk import OrderDesk
    from gui_trader.engine.trading import TradingEngine

log = logging.getLogger(__name__)

PICK_UP_S = 2.0  # how often the driver looks for protections other processes added
# A row's stamp is taken before its writer waits for the journal's lock (at most the
# journal's 10 s busy timeout): each look reaches this far back (rows it knows are skipped).
PICK_UP_LOOKBACK_S = 15.0
EXIT_WAIT_S = 10.0  # how long an exit waits for its orders' final word (then feeds/polls tell)


# ---------------------------------------------------------------------- the driver
class Protector:
    """One account's protections: armed, watched on ticks and order updates, exited once."""

    def __init__(self, engine: TradingEngine) -> None:
        self.engine = engine
        self.items: dict[str, Protection] = {}
        self.owner: RunOwner | None = None
        self.driving = False
        self.changed = asyncio.Event()  # set (and replaced) whenever any protection changes
        self._busy: set[str] = set()  # protections with an action in flight
        self._dirty: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._seen = 0.0
        self.trigger_to_wire_ms: list[float] = []
        from gui_trader.engine.straddle_guard import StraddleGuards

        self.straddles = StraddleGuards(self)  # a straddle's combined stops: same driver
        self._new_guards: list[Any] = []
        self._published: tuple[ProtectionView, ...] = ()

    @property
    def account(self) -> str:
        return self.engine.account

    @property
    def desk(self) -> OrderDesk:
        return self.engine.ctx.desk

    @property
    def journal(self) -> Journal:
        return self.engine.ctx.journal

    # ------------------------------------------------------------ life cycle
    async def start(self, *, drive: bool = True) -> bool:
        """Drive this account's protections if no other process does (True), else only read
        them (also with `drive=False`)."""
        if not drive:
            await self._pick_up()
            return False
        owner = self.journal.owner(f"protect-{self.account}", f"protections of {self.account}")
        try:
            owner.acquire()
        except OwnedElsewhere as exc:
            log.info("%s: protections are driven elsewhere (%s)", self.account, exc)
            await self._pick_up()
            return False
        self.owner, self.driving = owner, True
        await self._pick_up()
        for p in list(self.items.values()):
            await self._resume(p)
        for g in list(self.straddles.items.values()):
            await self.straddles.resume(g)
        self._loop_task = asyncio.create_task(self._loop(), name=f"protect-{self.account}")
        return True

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in [*self._tasks, *self.straddles._tasks]:  # an exit in flight finishes
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 30)
        await self._flush()
        if self.owner is not None:
            self.owner.release()
            self.owner, self.driving = None, False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(PICK_UP_S)
            try:
                await self._flush()
                for p in await self._pick_up():
                    await self._resume(p)
                for g in self._new_guards:
                    await self.straddles.resume(g)
                self._new_guards = []
            except Exception:  # a bad row or a journal hiccup must not end the watching
                log.exception("%s: protections: pick-up failed", self.account)

    async def _pick_up(self) -> list[Protection]:
        """Protections added, or removed, by another process since the last look."""
        states = (*OPEN_STATES, PState.DONE.value) if self._seen else OPEN_STATES
        since = max(self._seen - PICK_UP_LOOKBACK_S, 0.0) if self._seen else 0.0
        rows = await self.journal.load_protections(self.account, states, since)
        new = []
        for row in rows:
            self._seen = max(self._seen, float(row.pop("_updated")))
            if row.get("kind") == "straddle":
                guard = self.straddles.load(row)
                if guard is not None:
                    self._new_guards.append(guard)
                continue
            p = Protection.from_json(row)
            mine = self.items.get(p.id)
            if mine is not None:
                if p.state is PState.DONE and mine.state is not PState.DONE:
                    mine.state, mine.reason = PState.DONE, p.reason  # removed elsewhere
                continue
            if p.state is PState.DONE or p.id in self._busy:
                continue
            if self.driving and self.for_key(p.key) is not None:
                # Two processes protected one position at once: the first one stays; the
                # second is ended before anything of it rests (it would sell twice).
                p.state, p.reason = PState.DONE, f"{p.symbol} is already protected"
                await self._save(p)
                self.engine.hub.publish(Notice("reject", f"{p.symbol}: protection", p.reason))
                continue
            self.items[p.id] = p
            new.append(p)
        if rows:
            self._changed()
        return new

    async def change(
        self,
        p: Protection,
        *,
        sl: Decimal | None,
        target: Decimal | None,
        trail: Trail | None,
        ltp: Decimal,
    ) -> Protection:
        """New levels for an active protection (the window's edit, a dragged line): checked
        like new ones; resting orders are modified, placed or cancelled to match."""
        if p.state is not PState.ACTIVE:
            raise BadProtection(f"{p.symbol}'s protection is {p.state.value}: it cannot change")
        inst = self._instrument(p)
        if inst is None:
            raise BadProtection(f"{p.symbol} is not in today's instrument file")
        check = self.new(
            inst,
            long=p.long,
            qty=p.qty,
            product=p.product,
            sl=sl,
            target=target,
            trail=trail,
            stop_at=p.stop_at,
            ltp=ltp,
        )
        self._busy.add(p.id)
        try:
            if check.target is None and p.target_orders:
                await self._cancel(p.target_orders)
                p.target_orders, p.target_tags = [], []
            elif check.target is not None and p.target_orders and check.target != p.target:
                for oid in p.target_orders:
                    order = await self._fetch(oid)
                    if order is not None and not order.status.terminal:
                        await self.desk.modify(order, price=check.target)
            if check.sl is not None and p.stop_orders and check.sl != p.sl:
                for oid in p.stop_orders:
                    order = await self._fetch(oid)
                    if order is not None and not order.status.terminal:
                        limit = self._stop_limit(p, check.sl, inst)
                        await self.desk.modify(order, price=limit, trigger=check.sl)
            elif check.sl is None and p.stop_orders:
                await self._cancel(p.stop_orders)
                p.stop_orders, p.stop_tags = [], []
            p.sl, p.target, p.trail = check.sl, check.target, check.trail
            p.best = ltp if ltp > 0 else p.best
            await self._save(p)
            await self._arm(p, inst)  # a target (or broker stop) that did not rest yet
        finally:
            self._busy.discard(p.id)
            self._changed()
        self._evaluate(p)
        return p

    async def remove(self, p: Protection) -> None:
        """The trader takes the protection off: its resting orders are cancelled (any process
        may cancel them), the position stays."""
        p.state = PState.DONE  # first: no tick may trigger it while the cancels are out
        await self._cancel([*p.target_orders, *p.stop_orders])
        await self._finish(p, "removed by the trader")

    # ------------------------------------------------------------ adding
    async def protected_in_journal(self, key: str) -> bool:
        """An open protection on this instrument, whichever process added it (this one may
        not have looked at the journal since)."""
        rows = await self.journal.load_protections(self.account, OPEN_STATES)
        return any(r.get("key") == key and r.get("kind") != "straddle" for r in rows)

    def new(
        self,
        inst: Instrument,
        *,
        long: bool,
        qty: int,
        product: str,
        sl: Decimal | None,
        target: Decimal | None,
        trail: Trail | None,
        stop_at: StopAt,
        ltp: Decimal,
        entry_order: str | None = None,
    ) -> Protection:
        """A protection checked against the last price (BadProtection says why not)."""
        if sl is None and target is None and trail is None:
            raise BadProtection("give a stop (--sl), a target (--target) or a trail (--trail)")
        if qty <= 0:
            raise BadProtection(f"nothing to protect: {inst.trading_symbol} quantity is {qty}")
        for what, v in (("stop", sl), ("target", target)):
            if v is not None and (not v.is_finite() or v <= 0 or not inst.price_on_tick(v)):
                raise BadProtection(
                    f"{what} {v}: must be a positive price on {inst.trading_symbol}'s tick"
                    f" {inst.tick_size}"
                )
        if entry_order is None:
            check_levels(long, ltp, sl, target)
        if trail is not None and sl is None and ltp > 0:
            best = ltp
            raw = best - trail.distance(best) if long else best + trail.distance(best)
            sl = to_tick(raw, inst.tick_size, down=long)
        if stop_at is StopAt.BROKER and sl is None:
            raise BadProtection("a broker stop needs a stop price (--sl)")
        return Protection(
            id=f"P{uuid.uuid4().hex[:11]}",
            account=self.account,
            key=inst.key,
            symbol=inst.trading_symbol,
            long=long,
            qty=qty,
            product=product,
            sl=sl,
            target=target,
            trail=trail,
            stop_at=stop_at,
            state=PState.PENDING if entry_order else PState.ACTIVE,
            best=ltp if ltp > 0 and entry_order is None else None,
            entry_order=entry_order,
        )

    async def add(self, p: Protection) -> Protection:
        """Written down first; armed at once when this process drives the account."""
        self.items[p.id] = p
        await self._save(p)
        self._changed()
        if self.driving:
            await self._resume(p)
        return p

    # ------------------------------------------------------------ feeds in
    def on_quotes(self, quotes: Iterable[Quote]) -> None:
        """Every tick (and poll): trail, then stop. Cheap; actions run as tasks."""
        if not self.driving:
            return
        quotes = list(quotes)
        if self.straddles.items:
            ltp = {k: q.ltp for k, q in self.engine.quotes.items() if q.ltp > 0}
            self.straddles.on_quotes(quotes, ltp)
        if not self.items:
            return
        by_key = {q.key: q for q in quotes}
        for p in list(self.items.values()):
            q = by_key.get(p.key)
            if q is None or p.state is not PState.ACTIVE:
                continue
            inst = self._instrument(p)
            if inst is None:
                continue
            busy = p.id in self._busy
            moved = trailed_stop(p, q.ltp, inst.tick_size)
            if moved is not None:
                log.info("%s: trailing stop %s -> %s (best %s)", p.symbol, p.sl, moved, p.best)
                p.sl = moved
                self._dirty.add(p.id)
                if p.stop_at is StopAt.BROKER and p.stop_orders and not busy:
                    self._spawn(p, self._move_broker_stop(p, inst))  # it follows p.sl
                self._changed()
            if p.stop_at is StopAt.ENGINE and not busy and stop_hit(p, q.ltp):
                p.triggered_at = time.perf_counter()
                p.state = PState.EXITING  # now, so the next tick cannot trigger it again
                p.reason = f"stop {p.sl} hit at {q.ltp}"
                self._spawn(p, self._exit(p, inst, q.ltp))

    def on_positions(self, positions: Iterable[Position]) -> None:
        """A position that is gone (closed by hand, or by our exit) ends its protection."""
        if not self.driving:
            return
        net = {p.key: p.net_qty for p in positions}
        self.straddles.on_positions(net)
        for p in list(self.items.values()):
            if p.state is not PState.ACTIVE or p.id in self._busy:
                continue
            inst = self._instrument(p)
            if inst is None:
                continue
            held, _ = self.engine.held(inst)  # holdings and today's position, one measure
            units = held if p.long else -held
            if units <= 0:
                self._spawn(p, self._finish(p, "the position is closed", cancel_all=True))
                continue
            if (
                max(self._open_qty(p.target_orders), self._open_qty(p.stop_orders)) > units
            ):  # sold down by hand: what rests may not sell more than is held
                self._spawn(p, self._fit_to_held(p, units))

    async def _fit_to_held(self, p: Protection, units: int) -> None:
        """Each resting side carries at most what is held, judged on the book read afresh
        (a fill of its own since the last look already lowered what is held)."""
        await self.engine.read_orders()
        for orders in (p.target_orders, p.stop_orders):
            if self._open_qty(orders) > units:
                await self._resize(orders, units)

    # ------------------------------------------------------------ actions
    def _spawn(self, p: Protection, coro: Any) -> None:
        self._busy.add(p.id)

        async def run() -> None:
            try:
                await coro
            except Exception as exc:
                log.exception("%s: protection %s failed", p.symbol, p.id)
                self.engine.hub.publish(
                    Notice("reject", f"Protection of {p.symbol}", f"action failed: {exc}")
                )
            finally:
                self._busy.discard(p.id)
                self._changed()
            self._evaluate(p)  # what changed while it ran is judged now

        task = asyncio.create_task(run(), name=f"protect-{p.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resume(self, p: Protection) -> None:
        """Bring one protection to where it should be: its resting orders found (or placed
        again on a new day), a decided exit finished, an ended position noticed."""
        if p.id in self._busy:
            return
        self._busy.add(p.id)
        try:
            await self._settle(p)
        finally:
            self._busy.discard(p.id)
            self._changed()
        self._evaluate(p)

    async def _settle(self, p: Protection) -> None:
        inst = self._instrument(p)
        if inst is None:
            return
        if p.state is PState.PENDING:
            await self._await_entry(p)
            return
        today = today_ist().isoformat()
        if p.orders_day and p.orders_day != today:
            # DAY orders ended with yesterday's session: place them again today.
            p.target_orders, p.stop_orders, p.target_tags, p.stop_tags = [], [], [], []
            p.orders_day = ""
        await self._adopt(p)
        if p.state is PState.EXITING:
            await self._finish_exit(p, inst)
            return
        if p.state is PState.ACTIVE:
            held, _ = self.engine.held(inst)
            units = held if p.long else -held
            if units <= 0:  # closed while nobody watched: nothing of it may rest again
                await self._finish(p, "the position is closed", cancel_all=True)
                return
            if not p.target_tags and not p.stop_tags:
                p.qty = min(p.qty, units)  # what rests anew covers at most what is held
            await self._arm(p, inst)

    async def _adopt(self, p: Protection) -> None:
        """Orders whose tags were written down but whose numbers were not (a crash between
        the two): found by tag, or proven absent and forgotten (then placed again)."""
        for tags, orders in ((p.target_tags, p.target_orders), (p.stop_tags, p.stop_orders)):
            if len(orders) >= len(tags):
                continue
            found: list[str] = []
            for tag in tags:
                order = await self.desk.settle_tag(tag)
                if order is not None and not order.status.terminal:
                    found.append(order.order_id)
                    self.desk.live.track(order.order_id, tag, order.status).apply(order)
                elif order is not None and order.status is OrderStatus.COMPLETE:
                    found.append(order.order_id)
            tags[:] = [t for t in tags if t]  # kept for the record
            orders[:] = found
        for oid in (*p.target_orders, *p.stop_orders):
            self._listen(p, oid)
        await self._save(p)

    async def _await_entry(self, p: Protection) -> None:
        """Protect what the entry order fills, once it is done (a partial fill: that part)."""
        assert p.entry_order is not None
        handle = self.desk.live.track(p.entry_order)
        await self.desk.live.settle([handle], timeout_s=5.0)
        if not handle.done:
            handle.on_update(lambda h: self._entry_update(p, h))
            return
        self._entry_done(p, handle)

    def _entry_update(self, p: Protection, handle: OrderHandle) -> None:
        if handle.done and p.state is PState.PENDING and p.id not in self._busy:
            self._entry_done(p, handle)

    def _entry_done(self, p: Protection, handle: OrderHandle) -> None:
        if handle.filled_qty <= 0:
            self._spawn(p, self._finish(p, f"entry order {p.entry_order} filled nothing"))
            return
        p.qty = handle.filled_qty
        p.state = PState.ACTIVE
        inst = self._instrument(p)
        if inst is not None:
            fill = handle.avg_price
            if p.trail is not None and p.sl is None and fill > 0:
                raw = fill - p.trail.distance(fill) if p.long else fill + p.trail.distance(fill)
                p.sl = to_tick(raw, inst.tick_size, down=p.long)
            p.best = fill or None
            self._spawn(p, self._arm_and_save(p, inst))

    async def _arm_and_save(self, p: Protection, inst: Instrument) -> None:
        await self._save(p)
        await self._arm(p, inst)

    async def _arm(self, p: Protection, inst: Instrument) -> None:
        """Place what rests at the broker and is not there yet: the target, a broker stop."""
        reqs: list[tuple[str, OrderRequest]] = []
        product = Product(p.product)
        if p.target is not None and not p.target_tags:
            for q in inst.order_slices(p.qty):
                reqs.append(
                    (
                        "target",
                        OrderRequest(inst, p.exit_side, q, OrderType.LIMIT, p.target, product),
                    )
                )
        if p.stop_at is StopAt.BROKER and p.sl is not None and not p.stop_tags:
            limit = self._stop_limit(p, p.sl, inst)
            for q in inst.order_slices(p.qty):
                reqs.append(
                    (
                        "stop",
                        OrderRequest(
                            inst, p.exit_side, q, OrderType.STOP, limit, product, trigger_price=p.sl
                        ),
                    )
                )
        if not reqs:
            return
        ready = await self.desk.prepare(
            [r for _, r in reqs], feature=FEATURE, group=p.id, metas=[None] * len(reqs)
        )
        for (kind, _), req in zip(reqs, ready, strict=True):
            (p.target_tags if kind == "target" else p.stop_tags).append(req.tag or "")
        p.orders_day = today_ist().isoformat()
        await self._save(p)  # the tags are known before anything is sent
        outcomes = await asyncio.gather(*(self.desk.send(r) for r in ready))
        for (kind, _), outcome in zip(reqs, outcomes, strict=True):
            if outcome.order_id is not None and outcome.ok:
                (p.target_orders if kind == "target" else p.stop_orders).append(outcome.order_id)
                self.desk.live.track(outcome.order_id, outcome.tag, outcome.status)
                self._listen(p, outcome.order_id)
            else:
                what = "target" if kind == "target" else "broker stop"
                log.warning("%s: %s not placed: %s", p.symbol, what, outcome.error)
                self.engine.hub.publish(
                    Notice("reject", f"{p.symbol}: {what} not placed", outcome.error)
                )
                if kind == "stop":  # the stop is still kept: watched here instead
                    p.stop_at = StopAt.ENGINE
                    p.stop_tags = []
        await self._save(p)

    def _stop_limit(self, p: Protection, trigger: Decimal, inst: Instrument) -> Decimal:
        gap = max(inst.tick_size, trigger * STOP_LIMIT_GAP)
        raw = trigger - gap if p.long else trigger + gap
        return max(to_tick(raw, inst.tick_size, down=p.long), inst.tick_size)

    async def _move_broker_stop(self, p: Protection, inst: Instrument) -> None:
        """Trail the resting SL orders: one modify per order, to the newest stop."""
        while True:
            sl = p.sl
            assert sl is not None
            for oid in list(p.stop_orders):
                order = await self._fetch(oid)
                if order is None or order.status.terminal or order.trigger_price == sl:
                    continue
                try:
                    await self.desk.modify(order, price=self._stop_limit(p, sl, inst), trigger=sl)
                except BrokerError as exc:
                    # The broker kept the old trigger: the trailed stop is watched here from
                    # now on (the old SL order rests on as a backstop; an exit cancels it).
                    log.warning("%s: trailed stop not moved at the broker: %s", p.symbol, exc)
                    self.engine.hub.publish(
                        Notice("reject", f"{p.symbol}: stop {sl} watched here", str(exc))
                    )
                    p.stop_at = StopAt.ENGINE
            await self._save(p)
            if p.sl == sl or p.state is not PState.ACTIVE:
                return  # no newer stop came while these were in flight

    async def _exit(self, p: Protection, inst: Instrument, ltp: Decimal) -> None:
        """The engine stop triggered: the resting target becomes the exit, else a new order.
        What the exit orders do next (fills, a rejection) is judged by `_evaluate`."""
        if await self._ended_elsewhere(p):
            return
        log.warning("%s: %s: exiting %d", p.symbol, p.reason, p.qty)
        self.engine.hub.publish(Notice("risk", f"Stop hit: {p.symbol}", p.reason))
        price = marketable(p.long, ltp, inst)
        live = [oid for oid in p.target_orders if not self._terminal(oid)]
        if live:
            await self._save(p)  # EXITING with its target orders: a restart re-prices them
            p.wire_at = None
            results = await asyncio.gather(
                *(self._reprice(p, oid, price) for oid in live), return_exceptions=True
            )
            self._note_wire(p)
            if any(isinstance(r, BaseException) for r in results):
                # The broker refused to turn the target into the exit: cancel it and send
                # the rest as a new exit (`_new_exit` sends only once nothing else rests).
                log.warning("%s: the target could not be re-priced: a new exit", p.symbol)
                await self._new_exit(p, inst)
                return
            await self._cancel(p.stop_orders)
            await self._settle_orders(p.target_orders)
        else:
            await self._new_exit(p, inst)

    async def _ended_elsewhere(self, p: Protection) -> bool:
        """Another process (a kill, a square-off, a removal) ended it since the last look:
        its exit is theirs, nothing is sent here."""
        if await self.journal.protection_state(p.id) != PState.DONE.value:
            return False
        p.state, p.reason = PState.DONE, p.reason or "ended elsewhere"
        self._changed()
        return True

    async def _confirm_ended(self, order_ids: Iterable[str]) -> bool:
        """Every one of these orders is final at the broker (read afresh, not as last seen)."""
        wanted = set(order_ids)
        if not wanted:
            return True
        try:
            book = await self.engine.read_orders()  # also brings the live handles up to date
        except BrokerError:
            return False
        return all(o.status.terminal for o in book if o.order_id in wanted)

    async def _settle_orders(self, order_ids: Iterable[str]) -> None:
        """Wait (bounded) for the exit's orders to end: reads the book if no feed tells."""
        handles = [self.desk.live.track(o) for o in order_ids]
        await self.desk.live.settle(handles, timeout_s=EXIT_WAIT_S)

    async def _reprice(self, p: Protection, oid: str, price: Decimal) -> None:
        order = await self._fetch(oid)
        if order is None or order.status.terminal:
            return
        if p.wire_at is None:
            p.wire_at = time.perf_counter()
        await self.desk.modify(order, price=price)

    async def _new_exit(self, p: Protection, inst: Instrument) -> None:
        if await self._ended_elsewhere(p):
            return
        resting = [*p.target_orders, *p.stop_orders]
        await self._cancel(resting)  # first: nothing of them may fill beside the exit
        if not await self._confirm_ended(resting):
            why = "a resting target/stop could not be cancelled: no exit sent, check it"
            log.error("%s: %s", p.symbol, why)
            self.engine.hub.publish(Notice("reject", f"Exit of {p.symbol} not placed", why))
            return  # EXITING: a restart (or the next order update) decides again
        remaining = p.qty - self._filled(p.target_orders) - self._filled(p.stop_orders)
        held, _ = self.engine.held(inst)
        remaining = min(remaining, held if p.long else -held)  # never more than is held
        if remaining <= 0:  # the target filled it all, or the position is gone meanwhile
            await self._finish(p, f"{p.reason}; nothing left to exit")
            return
        product = Product(p.product)
        reqs = [
            OrderRequest(inst, p.exit_side, q, OrderType.MARKET, None, product)
            for q in inst.order_slices(remaining)
        ]
        ready = await self.desk.prepare(reqs, feature=FEATURE, group=p.id, metas=[None] * len(reqs))
        p.exit_tags = [r.tag or "" for r in ready]
        await self._save(p)  # the exit's tags are written before it is sent
        await self.journal.mark(
            p.exit_tags, IntentState.SENT
        )  # nothing left between it and the wire
        p.wire_at = time.perf_counter()
        outcomes = await asyncio.gather(*(self.desk.send(r, marked=True) for r in ready))
        self._note_wire(p)
        for outcome in outcomes:
            if outcome.order_id is not None:
                p.exit_orders.append(outcome.order_id)
                self.desk.live.track(outcome.order_id, outcome.tag, outcome.status)
                self._listen(p, outcome.order_id)
        bad = [o for o in outcomes if not o.ok]
        if bad:
            self.engine.hub.publish(
                Notice("reject", f"Exit of {p.symbol} not placed", bad[0].error)
            )
        if not p.exit_orders and all(o.status is OrderStatus.REJECTED for o in outcomes):
            # Proven not placed (nothing of it can still land): the stop is armed again, the
            # next tick through it tries once more (not EXITING with nothing on the wire).
            p.state, p.exit_tags, p.triggered_at = PState.ACTIVE, [], None
            await self._save(p)
            return
        await self._cancel(p.stop_orders)
        await self._save(p)
        await self._settle_orders(p.exit_orders)

    async def _finish_exit(self, p: Protection, inst: Instrument) -> None:
        """After a restart in EXITING: the exit's own orders were journaled; look them up and
        finish, sending only what is proven absent."""
        if p.exit_tags and not p.exit_orders:
            found = [await self.desk.settle_tag(t) for t in p.exit_tags]
            p.exit_orders = [o.order_id for o in found if o is not None]
            for o in found:
                if o is not None:
                    self.desk.live.track(o.order_id, o.tag, o.status).apply(o)
                    self._listen(p, o.order_id)
            if len(p.exit_orders) == len(p.exit_tags):
                await self._save(p)
                return  # all of it is out: `_evaluate` ends it when it fills
            p.exit_tags, p.exit_orders = [], []  # proven absent: decided again below
        if p.exit_orders:
            return
        if p.target_orders and not all(self._terminal(o) for o in p.target_orders):
            q = await self.engine.read_quotes([inst])
            ltp = q[inst.key].ltp if inst.key in q else Decimal(0)
            if ltp > 0:
                await self._exit(p, inst, ltp)
            return
        await self._new_exit(p, inst)

    def _listen(self, p: Protection, oid: str) -> None:
        handle = self.desk.live.track(oid)
        handle.on_update(lambda h: self._evaluate(p))

    def _evaluate(self, p: Protection) -> None:
        """What the orders now say, judged in one place: an exit that filled ends it; a
        resting side that filled cancels the other (OCO); a partial fill resizes the other."""
        if p.state in (PState.DONE, PState.PENDING) or p.id in self._busy:
            return
        targets, stops = p.target_orders, p.stop_orders
        t_filled, s_filled = self._filled(targets), self._filled(stops)
        if p.exit_orders:  # the stop fired through new orders
            if all(self._terminal(o) for o in p.exit_orders):
                done = t_filled + s_filled + self._filled(p.exit_orders)
                why = f"{p.reason}; exited {done} of {p.qty}"
                if done < p.qty:
                    why += ": NOT ALL OUT, check the position"
                    self.engine.hub.publish(Notice("reject", f"Exit of {p.symbol}", why))
                self._spawn(p, self._finish(p, why))
            return
        if p.state is PState.EXITING:  # the stop fired through the repriced target
            if targets and all(self._terminal(o) for o in targets):
                inst = self._instrument(p)
                if t_filled >= p.qty or inst is None:
                    self._spawn(p, self._finish(p, f"{p.reason}; exited {t_filled}"))
                else:  # the target ended short of the whole (cancelled elsewhere): the rest
                    self._spawn(p, self._new_exit(p, inst))
            return
        if targets and t_filled and all(self._terminal(o) for o in targets):
            self._spawn(p, self._oco_done(p, stops, f"target {p.target} filled ({t_filled})"))
        elif stops and s_filled and all(self._terminal(o) for o in stops):
            self._spawn(p, self._oco_done(p, targets, f"stop {p.sl} filled ({s_filled})"))
        elif t_filled and stops and self._open_qty(stops) > p.qty - t_filled:
            self._spawn(p, self._resize(stops, p.qty - t_filled))
        elif s_filled and targets and self._open_qty(targets) > p.qty - s_filled:
            self._spawn(p, self._resize(targets, p.qty - s_filled))
        elif (
            p.stop_at is StopAt.BROKER
            and stops
            and not s_filled
            and all(self._terminal(o) for o in stops)
        ):  # the broker rejected the SL order after taking it (or it was cancelled by
            # hand): the stop is kept, watched here from now on
            why = f"stop {p.sl} no longer rests at the broker: watched here"
            log.warning("%s: %s", p.symbol, why)
            self.engine.hub.publish(Notice("reject", f"{p.symbol}: broker stop", why))
            p.stop_at = StopAt.ENGINE
            self._spawn(p, self._save(p))

    def _open_qty(self, order_ids: Iterable[str]) -> int:
        total = 0
        for oid in order_ids:
            o = self._order_of(oid)
            if o is not None and not o.status.terminal:
                total += o.qty - o.filled_qty
        return total

    async def _oco_done(self, p: Protection, other: list[str], reason: str) -> None:
        await self._cancel(other)
        await self._finish(p, reason)

    async def _resize(self, orders: list[str], remaining: int) -> None:
        """The other side carries only what is still open (its first slices keep theirs)."""
        left = max(remaining, 0)
        for oid in orders:
            order = await self._fetch(oid)
            if order is None or order.status.terminal:
                continue
            open_qty = order.qty - order.filled_qty
            keep = min(open_qty, left)
            left -= keep
            if keep == 0:
                await self._cancel([oid])
            elif keep != open_qty:
                with contextlib.suppress(BrokerError):
                    await self.desk.modify(order, qty=order.filled_qty + keep)

    async def _cancel(self, order_ids: Iterable[str]) -> None:
        live = [o for o in order_ids if not self._terminal(o)]
        if live:
            await asyncio.gather(*(self.desk.cancel(o) for o in live), return_exceptions=True)

    async def _finish(
        self, p: Protection, reason: str, *, cancel_all: bool = False, ok: bool = True
    ) -> None:
        if cancel_all:
            await self._cancel([*p.target_orders, *p.stop_orders])
        p.state = PState.DONE
        p.reason = reason
        await self._save(p)
        self._changed()
        log.info("%s: protection %s done: %s", p.symbol, p.id, reason)
        if ok:
            self.engine.hub.publish(Notice("risk", f"{p.symbol}: protection ended", reason))

    def _note_wire(self, p: Protection) -> None:
        if p.triggered_at is not None and p.wire_at is not None:
            self.trigger_to_wire_ms.append((p.wire_at - p.triggered_at) * 1000)

    # ------------------------------------------------------------ helpers
    def _instrument(self, p: Protection) -> Instrument | None:
        store = self.engine.instruments
        return store.by_key.get(p.key) if store is not None else None

    def _order_of(self, oid: str) -> Order | None:
        h = self.desk.live.get(oid)
        return h.order if h is not None and h.order is not None else self.engine.orders.get(oid)

    async def _fetch(self, oid: str) -> Order | None:
        """The order as last seen, else read once from the broker."""
        order = self._order_of(oid)
        if order is None:
            with contextlib.suppress(BrokerError):
                order = await self.engine.read_order(oid)
        return order

    def _terminal(self, oid: str) -> bool:
        h = self.desk.live.get(oid)
        if h is not None and h.order is not None:
            return bool(h.done)
        o = self.engine.orders.get(oid)
        return o is not None and o.status.terminal

    def _filled(self, order_ids: Iterable[str]) -> int:
        total = 0
        for oid in order_ids:
            o = self._order_of(oid)
            total += o.filled_qty if o is not None else 0
        return total

    async def _save(self, p: Protection) -> None:
        self._dirty.discard(p.id)
        await self.journal.save_protection(p.id, p.account, p.state.value, p.to_json())

    async def _flush(self) -> None:
        for pid in list(self._dirty):
            p = self.items.get(pid)
            if p is not None:
                await self._save(p)
        self._dirty.clear()

    def _changed(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()
        views = tuple(
            ProtectionView(
                p.key,
                p.symbol,
                p.long,
                p.qty,
                p.sl,
                p.target,
                str(p.trail or ""),
                p.stop_at.value,
                p.state.value,
            )
            for p in self.open()
        )
        if views != self._published:
            self._published = views
            self.engine.hub.publish(ProtectionsChanged(self.account, views))

    async def idle(self) -> None:
        """Until no action is in flight (an exit, a trail's modify, an OCO cancel)."""
        while self._tasks or self.straddles._tasks:
            await asyncio.gather(*self._tasks, *self.straddles._tasks, return_exceptions=True)

    def open(self) -> list[Protection]:
        return [p for p in self.items.values() if p.state is not PState.DONE]

    def for_key(self, key: str) -> Protection | None:
        return next((p for p in self.open() if p.key == key), None)

    async def wait_all_done(self, ids: Iterable[str]) -> None:
        """Until every one of these protections (or straddle guards) has ended."""
        wanted = set(ids)

        def state(i: str) -> PState:
            item = self.items.get(i) or self.straddles.items.get(i)
            return item.state if item is not None else PState.DONE

        while any(state(i) is not PState.DONE for i in wanted):
            await self.changed.wait()
