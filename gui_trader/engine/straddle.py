"""Straddle batches: a pure plan (lots -> batches -> orders), and a run that sends the CALL and
the PUT of each batch together, waits only between batches, and accounts for every leg.

The seed system sold 167 lots as 9 batches of 20, CALL then PUT, a new login per order and 20 s
after every order. Here: one session; both legs of a batch leave in the same loop tick (their
rate slots reserved together); the delay runs from a batch's replies to the next batch; "paced"
drops the delay and lets the account's order rate decide. Every order is journaled before it is
sent, with its run, batch, leg and slice, so a crashed run resumes without a lot placed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

from gui_trader.broker.base import BrokerError
from gui_trader.core.clock import today_ist
from gui_trader.core.order import (
    OrderOutcome,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from gui_trader.engine.events import EventHub, LegProgress, RunProgress, RunState
from gui_trader.engine.journal import Intent, IntentState, Run
from gui_trader.engine.live_orders import OrderHandle
from gui_trader.engine.order_desk import LookupFailed, OrderDesk, collision_text, find_tag
from gui_trader.engine.ownership import RunOwner
from gui_trader.engine.straddle_plan import LEGS, Batch, Leg, PlannedOrder, StraddlePlan
from gui_trader.market.instruments import InstrumentStore

log = logging.getLogger(__name__)
KIND = "straddle"
FILL_WAIT_S = 3.0  # after the last batch, how long to wait for market orders to report fills


# ------------------------------------------------------------------------------- results
@dataclass
class LegResult:
    order: PlannedOrder
    tag: str = ""
    order_id: str | None = None
    status: OrderStatus = OrderStatus.NEW
    error: str = ""
    filled: int = 0
    avg_price: Decimal = Decimal(0)
    settled: bool = False  # resume: the journal already knows its fate (placed or refused)

    @property
    def placed(self) -> bool:
        return self.order_id is not None and self.status is not OrderStatus.REJECTED

    @property
    def to_send(self) -> bool:
        """Neither placed nor refused before: a rejected leg is resent only on the trader's
        word (Retry), never by a resume."""
        return not self.placed and not self.settled

    @property
    def failed(self) -> bool:
        return self.status in (OrderStatus.REJECTED, OrderStatus.UNKNOWN) or (
            self.tag != "" and self.order_id is None and self.status is not OrderStatus.NEW
        )


@dataclass(frozen=True)
class LegSummary:
    """One leg of a run, counted: orders planned/placed/filled/failed, quantities, prices."""

    planned: int
    placed: int
    filled: int
    failed: int
    qty_planned: int
    qty_filled: int
    avg_price: Decimal
    value: Decimal


@dataclass
class Summary:
    run_id: str
    plan: StraddlePlan
    results: dict[tuple[int, str, int], LegResult]
    elapsed_s: float
    skew_ms: dict[int, float]
    logins: int
    aborted: bool

    def leg(self, kind: Leg) -> LegSummary:
        rs = [r for r in self.results.values() if r.order.leg == kind]
        planned = [o for o in self.plan.orders if o.leg == kind]
        filled_qty = sum(r.filled for r in rs)
        value = sum((r.avg_price * r.filled for r in rs), Decimal(0))
        avg = (value / filled_qty).quantize(Decimal("0.01")) if filled_qty else Decimal(0)
        return LegSummary(
            planned=len(planned),
            placed=sum(r.placed for r in rs),
            filled=sum(r.filled == r.order.qty and r.filled > 0 for r in rs),
            failed=sum(r.failed for r in rs),
            qty_planned=sum(o.qty for o in planned),
            qty_filled=filled_qty,
            avg_price=avg,
            value=value.quantize(Decimal("0.01")),
        )

    def imbalances(self) -> list[dict[str, Any]]:
        """Batches where the CALL and the PUT did not fill the same quantity."""
        out = []
        for b in self.plan.batches:
            qty = {
                k: sum(
                    r.filled
                    for r in self.results.values()
                    if r.order.batch == b.number and r.order.leg == k
                )
                for k in LEGS
            }
            if qty[Leg.CE] != qty[Leg.PE]:
                out.append({"batch": b.number, "ce_filled": qty[Leg.CE], "pe_filled": qty[Leg.PE]})
        return out

    def to_json(self) -> dict[str, Any]:
        ce, pe = self.leg(Leg.CE), self.leg(Leg.PE)
        skews = sorted(self.skew_ms.values())
        return {
            "run_id": self.run_id,
            "batches": len(self.plan.batches),
            "batches_sent": len({r.order.batch for r in self.results.values() if r.tag}),
            "legs": {"CE": asdict(ce), "PE": asdict(pe)},
            "call": self.plan.call.trading_symbol if self.plan.call else None,
            "put": self.plan.put.trading_symbol if self.plan.put else None,
            "combined_premium": ce.avg_price + pe.avg_price,
            "premium_value": ce.value + pe.value,
            "elapsed_s": round(self.elapsed_s, 3),
            "skew_ms": {str(k): round(v, 3) for k, v in sorted(self.skew_ms.items())},
            "skew_ms_max": round(skews[-1], 3) if skews else None,
            "logins": self.logins,
            "aborted": self.aborted,
            "imbalances": self.imbalances(),
            "orders": [
                {
                    "batch": r.order.batch,
                    "leg": r.order.leg,
                    "slice": r.order.slice,
                    "qty": r.order.qty,
                    "tag": r.tag,
                    "order_id": r.order_id,
                    "status": r.status.value,
                    "filled": r.filled,
                    "avg_price": r.avg_price,
                    "error": r.error,
                }
                for r in sorted(self.results.values(), key=lambda r: r.order.key)
            ],
        }

    @property
    def complete(self) -> bool:
        ce, pe = self.leg(Leg.CE), self.leg(Leg.PE)
        return (
            not self.aborted
            and ce.placed == ce.planned
            and pe.placed == pe.planned
            and ce.failed == pe.failed == 0
        )


# ------------------------------------------------------------------------------- the run
class StraddleRun:
    """One execution of a plan; `abort()` stops everything not yet sent, at once."""

    def __init__(
        self,
        plan: StraddlePlan,
        desk: OrderDesk,
        *,
        hub: EventHub | None = None,
        run_id: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        owner: RunOwner | None = None,
    ) -> None:
        self.plan = plan
        self.desk = desk
        self.broker = desk.broker
        self.hub = hub
        self.run_id = run_id or f"S{time.strftime('%y%m%d%H%M%S')}{secrets.token_hex(2)}"
        self.clock = clock
        self.results: dict[tuple[int, str, int], LegResult] = {
            o.key: LegResult(o) for o in plan.orders
        }
        self.skew_ms: dict[int, float] = {}
        self._abort = asyncio.Event()
        self._sent_at: dict[str, float] = {}
        self.delay_s = plan.spec.delay_s
        self.batches_done = 0
        self.owner = owner or desk.journal.owner(
            f"run-{self.run_id}", f"straddle run {self.run_id}"
        )

    def release(self) -> None:
        """Give the run up without executing it (a preview, a resume the trader declined)."""
        self.owner.release()

    def _note_sent(self, tag: str) -> None:
        self._sent_at.setdefault(tag, self.clock())

    def abort(self) -> None:
        if not self._abort.is_set():
            log.warning("straddle %s: abort requested; nothing more will be sent", self.run_id)
            self._abort.set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def _publish(self, event: Any) -> None:
        if self.hub is not None:
            self.hub.publish(event)

    def _progress(self, state: RunState, next_at: float | None = None) -> None:
        self._publish(
            RunProgress(self.run_id, self.batches_done, len(self.plan.batches), state, next_at)
        )

    async def execute(self, resume: list[Intent] | None = None) -> Summary:
        """Run the plan; this process owns the run (OwnedElsewhere if another one does)."""
        if not self.owner.held:
            self.owner.acquire()
        try:
            return await self._execute(resume)
        finally:
            self.owner.release()

    async def _execute(self, resume: list[Intent] | None) -> Summary:
        started = self.clock()
        journal = self.desk.journal
        await journal.save_run(self.run_id, self.desk.account, KIND, self.plan.to_json(), "running")
        retry = await self._adopt(resume or [])
        previous_hook = self.desk.on_send
        self.desk.on_send = self._note_sent
        first = True
        paced = self.plan.spec.delay_s is None
        in_flight: list[asyncio.Future[Any]] = []
        try:
            for batch in self.plan.batches:
                todo = [o for o in batch.orders if self.results[o.key].to_send]
                if not todo:
                    self.batches_done += 1
                    continue
                if not first and await self._wait_between_batches():
                    break
                if self.aborted:
                    break
                first = False
                sending = await self._send_batch(batch, todo, retry)
                if paced:
                    # paced: the next batch leaves as soon as the rate allows, not after replies
                    in_flight.append(sending)
                else:
                    await sending  # the delay runs from this batch's replies
                    self.batches_done += 1
                    self._progress(RunState.RUNNING)
            if in_flight:
                await asyncio.gather(*in_flight)
                self.batches_done += len(in_flight)
            await self._collect_fills()
        finally:
            # An exception (a crash, a kill) leaves the run "running": it resumes on restart.
            self.desk.on_send = previous_hook
        state = RunState.ABORTED if self.aborted else RunState.DONE
        await journal.save_run(self.run_id, self.desk.account, KIND, self.plan.to_json(), state)
        self._progress(state)
        # logins in this process: 1, or 0 when the stored session was reused
        summary = Summary(
            self.run_id,
            self.plan,
            self.results,
            self.clock() - started,
            self.skew_ms,
            getattr(self.broker, "logins", 0),
            self.aborted,
        )
        log.info(
            "straddle %s %s: CE %s/%s, PE %s/%s placed in %.1f s",
            self.run_id,
            state,
            summary.leg(Leg.CE).placed,
            summary.leg(Leg.CE).planned,
            summary.leg(Leg.PE).placed,
            summary.leg(Leg.PE).planned,
            summary.elapsed_s,
        )
        return summary

    async def _wait_between_batches(self) -> bool:
        """The delay runs from a batch's replies to the next batch; True if aborted meanwhile."""
        delay = self.delay_s
        if not delay:
            return self.aborted
        self._progress(RunState.WAITING, time.monotonic() + delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._abort.wait(), delay)
        return self.aborted

    async def _send_batch(
        self, batch: Batch, todo: list[PlannedOrder], retry: dict[tuple[int, str, int], str]
    ) -> asyncio.Future[Any]:
        """Journal the batch, reserve its rate slots together, then put every leg on the wire
        in the same tick. Returns the in-flight sends."""
        fresh = [o for o in todo if o.key not in retry]
        metas: list[dict[str, Any] | None] = [
            {"run": self.run_id, "batch": o.batch, "leg": o.leg, "slice": o.slice} for o in fresh
        ]
        prepared = await self.desk.prepare(
            [self.plan.request(o) for o in fresh], feature="S", group=self.run_id, metas=metas
        )
        reqs: list[tuple[PlannedOrder, OrderRequest]] = list(zip(fresh, prepared, strict=True))
        reqs += [
            (o, replace(self.plan.request(o), tag=retry[o.key])) for o in todo if o.key in retry
        ]
        tags = [r.tag or "" for _, r in reqs]
        for o, req in reqs:
            self.results[o.key].tag = req.tag or ""
        if self.aborted:  # journaled but never sent: say so, and stop here
            await self.desk.journal.mark(tags, IntentState.ABORTED)
            return asyncio.ensure_future(asyncio.sleep(0))
        await self.broker.reserve_orders(len(reqs))  # slots held: this batch goes out whole
        await self.desk.journal.mark(tags, IntentState.SENT)
        t0 = self.clock()
        legs = asyncio.gather(*(self._send_leg(o, req) for o, req in reqs))

        def done(_: asyncio.Future[Any]) -> None:
            times = [self._sent_at[t] for t in tags if t in self._sent_at]
            if len(times) > 1:
                self.skew_ms[batch.number] = (max(times) - min(times)) * 1000
            self._adapt_delay(self.clock() - t0)

        legs.add_done_callback(done)
        return legs

    async def _send_leg(self, o: PlannedOrder, req: OrderRequest) -> None:
        result = self.results[o.key]
        try:
            outcome: OrderOutcome = await self.desk.send(req, marked=True)
        except (BrokerError, LookupFailed) as exc:
            result.status, result.error = OrderStatus.UNKNOWN, str(exc)
        else:
            result.order_id, result.status, result.error = (
                outcome.order_id,
                outcome.status,
                outcome.error,
            )
        self._publish_leg(result, result.error)
        if result.order_id is not None:  # its fills, as the order feed or a book read sees them
            handle = self.desk.live.track(result.order_id, result.tag)
            handle.on_update(functools.partial(self._on_leg_order, o.key))
            self._on_leg_order(o.key, handle)  # a fill that landed with the reply

    def _publish_leg(self, r: LegResult, detail: str) -> None:
        self._publish(
            LegProgress(
                self.run_id,
                r.order.batch,
                r.order.leg,
                r.order.slice,
                r.order.qty,
                r.status,
                r.order_id,
                detail,
                r.filled,
                r.avg_price if r.filled else None,
            )
        )

    def _on_leg_order(self, key: tuple[int, str, int], handle: OrderHandle) -> None:
        """A leg's order changed at the broker: a fill is shown when it happens, not at the
        end of the run."""
        r, order = self.results[key], handle.order
        if order is None or order.order_id != r.order_id:
            return
        if (order.status, order.filled_qty) == (r.status, r.filled):
            return
        r.status, r.filled, r.avg_price = order.status, order.filled_qty, order.avg_price
        if order.status is OrderStatus.REJECTED:
            r.error = order.reject_reason
        self._publish_leg(r, f"@ {r.avg_price}" if r.filled else r.error)

    def _adapt_delay(self, batch_s: float) -> None:
        """Optional "dynamic delay": widen when the broker slows down, shrink back after."""
        base = self.plan.spec.delay_s
        if not self.plan.spec.dynamic_delay or not base:
            return
        stats = getattr(self.broker, "stats", None)
        throttled = bool(stats and getattr(stats, "rate_limited", 0))
        current = self.delay_s or base
        if throttled or batch_s > 2.0:
            self.delay_s = min(current * 1.5, base * 4)
        else:
            self.delay_s = max(base, current / 1.5)

    async def _adopt(self, intents: list[Intent]) -> dict[tuple[int, str, int], str]:
        """Resume: what each journaled leg became. Placed legs keep their order; legs never on
        the wire are sent; legs that were on the wire are looked up by tag once they can no
        longer land, and believed only if the order matches the leg; only legs proven absent
        are sent again (with their own tag, or a new one after a collision). Rejected, failed
        and aborted legs stay as they were (Retry sends them, on the trader's word)."""
        retry: dict[tuple[int, str, int], str] = {}
        legs = [(i, self._key(i)) for i in intents]
        legs = [(i, k) for i, k in legs if k in self.results]
        if not legs:
            return retry
        await self._wait_out_in_flight([i for i, _ in legs])
        if self.aborted:  # nothing will be sent: leave the journal as it was
            return retry
        book = await self.desk.book()
        by_id = {o.order_id: o for o in book}
        journal = self.desk.journal
        for intent, key in legs:
            result = self.results[key]
            result.tag = intent.tag
            result.settled = intent.state not in (
                IntentState.NEW,
                IntentState.SENT,
                IntentState.UNKNOWN,
                IntentState.ABSENT,
            )
            if intent.state == IntentState.PLACED and intent.order_id:
                order = by_id.get(intent.order_id)
                result.order_id = intent.order_id
                result.status = order.status if order else OrderStatus.OPEN
            elif intent.state in (
                IntentState.REJECTED,
                IntentState.FAILED,
                IntentState.ABORTED,
                IntentState.EXPIRED,
            ):
                result.status, result.error = OrderStatus.REJECTED, intent.detail or intent.state
            elif intent.state == IntentState.NEW:  # journaled, never on the wire
                retry[key] = intent.tag
            else:
                found = find_tag(book, intent.tag, intent.request)
                if found.order is not None:
                    result.settled = True
                    result.order_id, result.status = found.order.order_id, found.order.status
                    state = (
                        IntentState.REJECTED
                        if found.order.status is OrderStatus.REJECTED
                        else IntentState.PLACED
                    )
                    await journal.update(intent.tag, state, order_id=found.order.order_id)
                elif found.collision is not None:
                    log.error(
                        "straddle %s: %s", self.run_id, collision_text(intent.tag, found.collision)
                    )
                    retry[key] = await journal.retag(intent.tag)
                else:
                    await journal.update(
                        intent.tag, IntentState.ABSENT, detail="not at the broker on resume"
                    )
                    retry[key] = intent.tag
        return retry

    @staticmethod
    def _key(intent: Intent) -> tuple[int, str, int]:
        meta = intent.meta or {}
        return (int(meta.get("batch", 0)), str(meta.get("leg", "")), int(meta.get("slice", 0)))

    async def _wait_out_in_flight(self, intents: list[Intent]) -> None:
        """A leg a dead process had on the wire may still land: look only once it cannot."""
        sent = [i.updated for i in intents if i.state in (IntentState.SENT, IntentState.UNKNOWN)]
        wait = max(sent, default=0.0) + self.broker.in_flight_s - time.time()
        if wait <= 0:
            return
        log.info("straddle %s: waiting %.0f s for legs that were on the wire", self.run_id, wait)
        self._progress(RunState.SETTLING, time.monotonic() + wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._abort.wait(), wait)

    async def _collect_fills(self) -> None:
        """Every placed leg's final word, from its self-updating handle: market legs fill within
        moments (waited for, up to FILL_WAIT_S); limit legs are reported as they stand."""
        live = self.desk.live
        handles = {
            key: live.track(r.order_id, r.tag) for key, r in self.results.items() if r.order_id
        }
        try:
            await live.refresh()
        except BrokerError as exc:
            log.warning("straddle %s: order book unreadable: %s", self.run_id, exc)
            return
        if self.plan.spec.order_type is not OrderType.LIMIT:
            seen = [
                h for h in handles.values() if h.order is not None
            ]  # absent: nothing to wait for
            await live.settle(seen, FILL_WAIT_S)
        for key, handle in handles.items():
            r, order = self.results[key], handle.order
            if order is not None:
                r.status, r.filled, r.avg_price = order.status, order.filled_qty, order.avg_price
                if order.status is OrderStatus.REJECTED:
                    r.error = order.reject_reason
        for r in self.results.values():  # every leg's final word, for the trader
            if r.tag:
                self._publish_leg(r, f"@ {r.avg_price}" if r.filled else r.error)

    # --------------------------------------------------------------------------- imbalance
    async def retry_missing(self, batch: int) -> list[OrderOutcome]:
        """Send again the legs of a batch that did not go through (reconciled by tag first)."""
        outcomes = []
        for r in [r for r in self.results.values() if r.order.batch == batch and not r.placed]:
            if r.tag:
                found = await self.desk.find_by_tag(r.tag)
                if found is not None and found.status is not OrderStatus.REJECTED:
                    r.order_id, r.status = found.order_id, found.status
                    continue
            [req] = await self.desk.prepare(
                [self.plan.request(r.order)],
                feature="S",
                group=self.run_id,
                metas=[
                    {
                        "run": self.run_id,
                        "batch": r.order.batch,
                        "leg": r.order.leg,
                        "slice": r.order.slice,
                        "retry": True,
                    }
                ],
            )
            outcome = await self.desk.send(req)
            r.tag, r.order_id, r.status, r.error = (
                req.tag or "",
                outcome.order_id,
                outcome.status,
                outcome.error,
            )
            outcomes.append(outcome)
        await self._collect_fills()
        return outcomes

    async def flatten(self, batch: int) -> list[OrderOutcome]:
        """Close what one leg filled beyond the other in a batch, at market."""
        legs = {
            k: [r for r in self.results.values() if r.order.batch == batch and r.order.leg == k]
            for k in LEGS
        }
        qty = {k: sum(r.filled for r in rs) for k, rs in legs.items()}
        extra_leg = Leg.CE if qty[Leg.CE] > qty[Leg.PE] else Leg.PE
        extra = abs(qty[Leg.CE] - qty[Leg.PE])
        if not extra:
            return []
        inst = self.plan.instrument(extra_leg)
        side = Side.BUY if self.plan.spec.side is Side.SELL else Side.SELL
        reqs = [
            OrderRequest(inst, side, q, OrderType.MARKET, None, self.plan.spec.product)
            for q in inst.order_slices(extra)
        ]
        return list(
            await asyncio.gather(
                *(self.desk.place(r, feature="X", group=self.run_id) for r in reqs)
            )
        )


class RunRefused(Exception):
    """The run cannot be resumed here; one line for the trader."""


class EarlierDayRun(RunRefused):
    """A run from an earlier trading day: never resent automatically (today's book cannot
    speak for yesterday's orders); the trader sees what is there and plans afresh."""

    def __init__(self, run: Run) -> None:
        super().__init__(
            f"straddle run {run.id} is from {run.day}; it is not resent (today's order book"
            " cannot tell what it placed). Make a fresh plan for what is left."
        )
        self.run = run


async def unfinished_runs(desk: OrderDesk) -> list[Run]:
    return await desk.journal.runs(desk.account, KIND, ("running",))


async def resume_run(
    run: Run, desk: OrderDesk, store: InstrumentStore, hub: EventHub | None = None
) -> tuple[StraddleRun, list[Intent]]:
    """A crashed run, rebuilt from its journal, owned by this process from here on;
    execute(resume=intents) finishes it, release() gives it up.

    Raises OwnedElsewhere while another process drives it, RunRefused when it is no longer
    running, EarlierDayRun when it was planned on another day.
    """
    owner = desk.journal.owner(f"run-{run.id}", f"straddle run {run.id}")
    owner.acquire()
    try:
        current = await desk.journal.run(run.id)  # the owner may have finished it meanwhile
        if current is None or current.state != "running":
            state = current.state if current else "gone"
            raise RunRefused(f"straddle run {run.id} is {state}; nothing to resume")
        if current.day != today_ist().isoformat():
            raise EarlierDayRun(current)
        plan = StraddlePlan.from_json(current.plan, store)
        if plan.call is None or plan.put is None:
            raise RunRefused("the run's contracts are not in today's instrument file")
        intents = [i for i in await desk.journal.by_group(run.id) if i.meta]
        await _refuse_if_journal_is_behind(run.id, plan, desk)
        return StraddleRun(plan, desk, hub=hub, run_id=run.id, owner=owner), intents
    except BaseException:
        owner.release()
        raise


async def _refuse_if_journal_is_behind(run_id: str, plan: StraddlePlan, desk: OrderDesk) -> None:
    """A journal restored from a backup (or copied) may not know legs this run placed after
    the copy was taken; finishing it would send them again. Straddle orders of ours in the
    run's contracts today that no journaled intent knows mean exactly that: refuse."""
    day = today_ist()
    known = {i.tag for i in await desk.journal.by_feature(desk.account, "S", day)}
    contracts = {plan.instrument(leg).trading_symbol for leg in LEGS}
    prefix = f"S{day:%y%m%d}{desk.journal.install_id}"
    strangers = [
        o
        for o in await desk.book()
        if o.trading_symbol in contracts and o.tag.startswith(prefix) and o.tag not in known
    ]
    if strangers:
        raise RunRefused(
            f"straddle run {run_id}: the broker has {len(strangers)} straddle orders of ours in"
            " its contracts that this journal does not know (a restored or copied journal?);"
            " not resumed: check positions and make a fresh plan for what is left"
        )


async def earlier_day_report(
    run: Run, desk: OrderDesk, store: InstrumentStore, *, expire: bool
) -> dict[str, Any]:
    """What an earlier day's run planned and placed, and what the broker holds today in its
    contracts; `expire` retires it so it is not offered again."""
    intents = [i for i in await desk.journal.by_group(run.id) if i.meta]
    planned: dict[str, int] = {}
    for _, _, orders in run.plan.get("batches", []):
        for leg, _, qty, _ in orders:
            planned[leg] = planned.get(leg, 0) + int(qty)
    placed: dict[str, int] = {}
    for i in intents:
        if i.state == IntentState.PLACED:
            leg = str((i.meta or {}).get("leg", ""))
            placed[leg] = placed.get(leg, 0) + int(i.request.get("qty", 0))
    symbols = {
        leg: inst.trading_symbol
        for leg, key in (("CE", run.plan.get("call")), ("PE", run.plan.get("put")))
        if key and (inst := store.by_key.get(key)) is not None
    }
    positions, book = await asyncio.gather(desk.broker.positions(), desk.book())
    today_net = {
        leg: sum(p.net_qty for p in positions if p.trading_symbol == sym)
        for leg, sym in symbols.items()
    }
    working = [
        o.order_id for o in book if o.trading_symbol in symbols.values() and o.status.working
    ]
    if expire:
        await desk.journal.save_run(run.id, run.account, KIND, run.plan, "expired")
    return {
        "run_id": run.id,
        "day": run.day,
        "contracts": symbols,
        "planned_qty": planned,
        "placed_qty_then": placed,
        "net_qty_today": today_net,
        "open_orders_today": working,
        "expired": expire,
    }
