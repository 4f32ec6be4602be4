"""Account-level risk: the kill switch, the daily MTM loss and profit limits, the intraday
square-off time, and the block that refuses new orders afterwards (the desk enforces it).

The decisions are pure functions (mtm, decide, what to cancel, what to flatten) so they test
without a broker; AccountRisk, one per TradingEngine, takes the actions through the
exactly-once desk. A square-off runs under the account's run-owner lock (two processes never
flatten one account at once), once at a time in a process, and an automatic one once a day
(claimed in the journal). Run again after a crash it settles the earlier run's exits by tag
and flattens only what is still open, so nothing is exited twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gui_trader.core.clock import IST, now_ist
from gui_trader.core.instrument import Instrument
from gui_trader.core.market_data import Quote
from gui_trader.core.order import (
    Order,
    OrderOutcome,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
)
from gui_trader.core.portfolio import Position
from gui_trader.core.risk_limits import RiskLimits
from gui_trader.engine.events import Notice
from gui_trader.engine.journal import Intent, IntentState, RiskDay
from gui_trader.engine.order_desk import LookupFailed, find_tag
from gui_trader.engine.order_guards import EXIT_FEATURES
from gui_trader.engine.ownership import OwnedElsewhere
from gui_trader.engine.protection_rules import PState

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine

__all__ = [
    "EXIT_FEATURES",
    "KILL_FEATURE",
    "RISK_FEATURE",
    "AccountRisk",
    "RiskSnapshot",
    "SquareOff",
    "Trigger",
    "decide",
    "mtm",
    "to_cancel",
    "to_flatten",
]

log = logging.getLogger(__name__)

KILL_FEATURE = "K"  # the kill switch's orders (tag prefix)
RISK_FEATURE = "R"  # exits an MTM limit or the square-off time made
REFRESH_S = 1.0  # how often the window's engine re-reads the day's block and the limits
SETTLE_S = 10.0  # at most this long for the exits' fills before saying what is left
FINAL = ("cancelled", "complete", "rejected")  # a cancel that ended the order, one way or another


class Trigger(StrEnum):
    KILL = "kill"
    MAX_LOSS = "max-loss"
    MAX_PROFIT = "max-profit"
    SQUARE_OFF = "square-off"

    @property
    def headline(self) -> str:
        return {
            Trigger.KILL: "KILL SWITCH",
            Trigger.MAX_LOSS: "MAX LOSS",
            Trigger.MAX_PROFIT: "PROFIT TARGET",
            Trigger.SQUARE_OFF: "SQUARE-OFF TIME",
        }[self]


# ------------------------------------------------------------------ pure decisions
def mtm(positions: Iterable[Position], quotes: Mapping[str, Quote]) -> Decimal:
    """Realised + unrealised P&L of today's positions at the latest prices (a quote's LTP,
    else the broker's own last price on the position)."""
    total = Decimal(0)
    for p in positions:
        q = quotes.get(p.key)
        total += p.pnl(q.ltp if q is not None and q.ltp > 0 else None)
    return total


def decide(
    value: Decimal,
    limits: RiskLimits,
    now: datetime,
    fired: frozenset[str] = frozenset(),
    *,
    blocked: bool = False,
) -> Trigger | None:
    """Which automatic exit is due now, if any. Each runs once a day (`fired`); an account
    already blocked has nothing an MTM limit could stop, but its MIS still squares off."""
    if not blocked:
        if (
            limits.max_loss is not None
            and value <= -limits.max_loss
            and Trigger.MAX_LOSS not in fired
        ):
            return Trigger.MAX_LOSS
        if (
            limits.max_profit is not None
            and value >= limits.max_profit
            and Trigger.MAX_PROFIT not in fired
        ):
            return Trigger.MAX_PROFIT
    if (
        limits.square_off is not None
        and now.astimezone(IST).time() >= limits.square_off
        and Trigger.SQUARE_OFF not in fired
    ):
        return Trigger.SQUARE_OFF
    return None


def in_scope(product: str, mis_only: bool) -> bool:
    return not mis_only or product == Product.MIS.value


def to_cancel(orders: Iterable[Order], mis_only: bool) -> list[Order]:
    """The working orders a square-off cancels (the time square-off: intraday ones only)."""
    return [o for o in orders if o.status.working and in_scope(o.product, mis_only)]


def _signed(request: Mapping[str, Any]) -> int:
    qty = int(request["qty"])
    return qty if request["side"] == Side.BUY.value else -qty


def to_flatten(
    positions: Iterable[Position], in_flight: Iterable[Mapping[str, Any]], mis_only: bool
) -> list[tuple[Position, int]]:
    """(position, net quantity still to close) for every open position in scope, less what
    exits still in flight from an earlier run (journaled requests) would close if they land:
    those are never sent again."""
    covered: dict[tuple[str, str, str], int] = {}
    for r in in_flight:
        key = (str(r["segment"]), str(r["token"]), str(r["product"]))
        covered[key] = covered.get(key, 0) + _signed(r)
    out: list[tuple[Position, int]] = []
    for p in positions:
        if p.net_qty == 0 or not in_scope(p.product, mis_only):
            continue
        left = p.net_qty + covered.get((p.segment, p.token, p.product), 0)
        if left != 0 and (left > 0) == (p.net_qty > 0):
            out.append((p, left))
    return out


def exit_requests(inst: Instrument, net_qty: int, product: str) -> list[OrderRequest]:
    """Market orders that close `net_qty`, sliced at the freeze quantity."""
    side = Side.SELL if net_qty > 0 else Side.BUY
    return [
        OrderRequest(inst, side, q, OrderType.MARKET, None, Product(product))
        for q in inst.order_slices(abs(net_qty))
    ]


def rupees(value: Decimal) -> str:
    return f"{value:+,.0f}"


def limit_reason(trigger: Trigger, value: Decimal, limits: RiskLimits, now: datetime) -> str:
    at = now.astimezone(IST)
    if trigger is Trigger.MAX_LOSS:
        return f"max loss: MTM {rupees(value)} reached -{limits.max_loss:,} at {at:%H:%M} IST"
    if trigger is Trigger.MAX_PROFIT:
        return (
            f"profit target: MTM {rupees(value)} reached +{limits.max_profit:,} at {at:%H:%M} IST"
        )
    return f"square-off time {at:%H:%M} IST"


# ------------------------------------------------------------------ reports
@dataclass
class OrderLine:
    """One order a square-off cancelled or placed (or, planned, would)."""

    order_id: str | None
    tag: str
    status: str
    symbol: str
    side: str
    qty: int
    product: str
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "tag": self.tag,
            "status": self.status,
            "symbol": self.symbol,
            "side": self.side,
            "qty": self.qty,
            "product": self.product,
            **({"error": self.error} if self.error else {}),
        }


def _order_line(o: Order, status: str | None = None) -> OrderLine:
    return OrderLine(
        o.order_id,
        o.tag,
        status or o.status.value,
        o.trading_symbol,
        o.side.label,
        o.qty,
        o.product,
        o.reject_reason,
    )


def _outcome_line(out: OrderOutcome) -> OrderLine:
    r = out.request
    return OrderLine(
        out.order_id,
        out.tag,
        out.status.value if out.order_id or out.status is OrderStatus.UNKNOWN else "rejected",
        r.instrument.trading_symbol,
        r.side.label,
        r.qty,
        r.product.value,
        out.error,
    )


@dataclass
class SquareOff:
    """What a kill or an automatic exit did on one account (or, not sent, would do)."""

    account: str
    trigger: Trigger
    sent: bool
    blocked: str = ""  # the block in force afterwards ("" none)
    cancelled: list[OrderLine] = field(default_factory=list)
    placed: list[OrderLine] = field(default_factory=list)
    positions_left: list[dict[str, Any]] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)  # tags an earlier run may still land
    error: str = ""
    busy: bool = False  # another process drives this account's square-off

    @property
    def unknown(self) -> bool:
        lines = self.placed + self.cancelled
        return any(line.status == OrderStatus.UNKNOWN.value for line in lines)

    @property
    def ok(self) -> bool:
        if not self.sent:
            return not self.error
        return not (
            self.error
            or self.busy
            or self.positions_left
            or self.in_flight
            or any(line.order_id is None for line in self.placed)
            or any(line.status == "rejected" for line in self.placed)
            or any(line.status not in FINAL for line in self.cancelled)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "trigger": self.trigger.value,
            "sent": self.sent,
            "ok": self.ok,
            "blocked": self.blocked or None,
            "cancelled": [c.to_json() for c in self.cancelled],
            "placed": [p.to_json() for p in self.placed],
            "positions_left": self.positions_left,
            "in_flight": self.in_flight,
            **({"error": self.error} if self.error else {}),
        }

    def summary(self) -> str:
        if self.error:
            return self.error
        done = self.sent
        text = ", ".join(
            [
                _count(len(self.cancelled), "order") + (" cancelled" if done else " to cancel"),
                _count(len(self.placed), "exit order") + ("" if done else " to place"),
                _count(len(self.positions_left), "position") + (" left" if done else " open"),
            ]
        )
        return text + (" · BLOCKED" if self.blocked else "")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"


def _position_row(p: Position) -> dict[str, Any]:
    return {"symbol": p.trading_symbol, "product": p.product, "net_qty": p.net_qty}


@dataclass(frozen=True)
class RiskSnapshot:
    """What the status bar's risk strip shows."""

    account: str
    mtm: Decimal
    limits: RiskLimits
    blocked: bool
    reason: str
    running: bool  # a square-off is under way in this process


# ------------------------------------------------------------------ actions
class AccountRisk:
    """One account's kill switch, MTM limits and square-off time (owned by its engine)."""

    def __init__(self, engine: TradingEngine, *, clock: Callable[[], datetime] = now_ist) -> None:
        self.engine = engine
        self.clock = clock
        self.limits = RiskLimits()
        self.today: RiskDay | None = None
        self.armed = False  # automatic exits: only in an engine that runs (the window)
        self._lock = asyncio.Lock()
        self._auto: asyncio.Task[None] | None = None

    @property
    def account(self) -> str:
        return self.engine.account

    @property
    def blocked(self) -> bool:
        return self.today is not None and self.today.blocked

    @property
    def running(self) -> bool:
        return self._lock.locked() or (self._auto is not None and not self._auto.done())

    def snapshot(self) -> RiskSnapshot:
        today = self.today
        return RiskSnapshot(
            self.account,
            mtm(self.engine.positions, self.engine.quotes),
            self.limits,
            self.blocked,
            today.reason if today is not None and today.blocked else "",
            self.running,
        )

    # -------------------------------------------------------------- life cycle
    async def refresh(self) -> None:
        """The limits from config.toml (read in a thread) and the day's block and fired exits
        from the journal (another process may have blocked or reset the account)."""
        ctx = self.engine.ctx
        try:
            self.limits = await asyncio.to_thread(ctx.risk_limits)
        except (ValueError, OSError) as exc:
            log.warning("%s: risk limits not changed: %s", self.account, exc)
        self.today = await ctx.journal.risk_day(self.account, self.clock().astimezone(IST).date())

    async def start(self) -> None:
        """Arm the automatic exits (the engine has its first books)."""
        await self.refresh()
        self.armed = True
        if self.blocked and any(p.net_qty for p in self.engine.positions):
            log.warning(
                "%s is blocked for today (%s) but still has open positions: KILL flattens them",
                self.account,
                self.today.reason if self.today else "",
            )
        self.check()

    async def watch(self) -> None:
        """The engine's task: a block or reset from another process, a `risk set`, and the
        square-off time even when no tick arrives."""
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception as exc:  # a journal hiccup must not end the watch
                log.warning("%s: risk state not read: %s", self.account, exc)
                continue
            self.check()

    async def wait_idle(self) -> None:
        """Until the automatic exit under way (if any) has finished (callers bound it)."""
        task = self._auto
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        async with self._lock:
            pass

    async def close(self) -> None:
        self.armed = False
        task = self._auto
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -------------------------------------------------------------- the hook
    def check(self) -> Trigger | None:
        """On every quote and position update: cheap (a sum over today's positions), and an
        automatic exit is started at most once at a time."""
        if not self.armed or self.running:
            return None
        limits = self.limits
        if limits.empty:
            return None
        value = (
            mtm(self.engine.positions, self.engine.quotes)
            if limits.max_loss is not None or limits.max_profit is not None
            else Decimal(0)
        )
        today = self.today
        fired = today.fired if today is not None else frozenset()
        now = self.clock()
        trigger = decide(value, limits, now, fired, blocked=self.blocked)
        if trigger is None:
            return None
        self._auto = asyncio.get_running_loop().create_task(
            self._fire(trigger, value, now), name=f"risk-{trigger}-{self.account}"
        )
        return trigger

    async def _fire(self, trigger: Trigger, value: Decimal, now: datetime) -> None:
        """Claim today's exit (once, whichever process), then square off: everything and
        block for an MTM limit, intraday (MIS) only for the square-off time."""
        journal = self.engine.ctx.journal
        reason = limit_reason(trigger, value, self.limits, now)
        block = None if trigger is Trigger.SQUARE_OFF else (trigger.value, reason)
        day = now.astimezone(IST).date()
        claimed = await journal.claim_exit(self.account, day, trigger.value, block)
        self.today = await journal.risk_day(self.account, day)
        if not claimed:
            return
        log.warning("%s: %s: squaring off (%s)", self.account, trigger.headline, reason)
        self.engine.hub.publish(Notice("reject", f"{trigger.headline}: {self.account}", reason))
        try:
            report = await self.square_off(
                trigger, feature=RISK_FEATURE, mis_only=trigger is Trigger.SQUARE_OFF
            )
        except Exception as exc:  # said loudly; the block (if any) stays
            log.exception("%s: %s square-off failed", self.account, trigger.headline)
            self.engine.hub.publish(
                Notice("reject", f"{trigger.headline} failed: {self.account}", str(exc))
            )
            return
        self._announce(report)

    def _announce(self, report: SquareOff) -> None:
        text = report.summary()
        if report.ok:
            log.warning("%s: %s done: %s", self.account, report.trigger.headline, text)
        else:
            log.error("%s: %s incomplete: %s", self.account, report.trigger.headline, text)
        title = f"{report.trigger.headline} {'done' if report.ok else 'INCOMPLETE'}"
        self.engine.hub.publish(Notice("risk" if report.ok else "reject", title, text))

    # -------------------------------------------------------------- commands
    async def kill(self, *, send: bool, source: str = "cli") -> SquareOff:
        """Cancel every open order and flatten every position, then block new orders for the
        day. Not `send`: what it would do, nothing sent and nothing blocked."""
        if not send:
            return await self.plan(Trigger.KILL)
        at = self.clock().astimezone(IST)
        block = (Trigger.KILL.value, f"kill switch ({source}) at {at:%H:%M:%S} IST")
        report = await self.square_off(Trigger.KILL, feature=KILL_FEATURE, block=block)
        if self.armed:
            self._announce(report)
        return report

    async def reset(self) -> RiskDay | None:
        """Allow orders again today; the day as it was before."""
        journal = self.engine.ctx.journal
        before = await journal.unblock_trading(self.account, self.clock().astimezone(IST).date())
        self.today = await journal.risk_day(self.account, self.clock().astimezone(IST).date())
        return before

    async def plan(self, trigger: Trigger, *, mis_only: bool = False) -> SquareOff:
        """What a square-off would cancel and place now (read-only)."""
        report = SquareOff(self.account, trigger, sent=False)
        b = self.engine.ctx.broker
        store = await self.engine.store()
        orders, positions = await asyncio.gather(b.orders(), b.positions())
        self.today = await self.engine.ctx.journal.risk_day(
            self.account, self.clock().astimezone(IST).date()
        )
        report.blocked = self.today.reason if self.today and self.today.blocked else ""
        report.cancelled = [_order_line(o, "would cancel") for o in to_cancel(orders, mis_only)]
        for p, qty in to_flatten(positions, (), mis_only):
            inst = store.by_token(p.segment, p.token)
            if inst is None:
                report.error = f"{p.trading_symbol} is not in today's instrument file"
                continue
            report.placed += [
                OrderLine(
                    None,
                    "",
                    "would place",
                    r.instrument.trading_symbol,
                    r.side.label,
                    r.qty,
                    r.product.value,
                )
                for r in exit_requests(inst, qty, p.product)
            ]
        report.positions_left = [
            _position_row(p) for p in positions if p.net_qty and in_scope(p.product, mis_only)
        ]
        return report

    async def square_off(
        self,
        trigger: Trigger,
        *,
        feature: str,
        mis_only: bool = False,
        block: tuple[str, str] | None = None,
    ) -> SquareOff:
        """Block (if asked) first, then, as this account's only square-off anywhere: settle
        an earlier run's exits by tag, cancel working orders, flatten what is still open."""
        journal = self.engine.ctx.journal
        day = self.clock().astimezone(IST).date()
        report = SquareOff(self.account, trigger, sent=True)
        if block is not None:  # before anything else: nothing new gets in from here on
            self.today = await journal.block_trading(self.account, day, *block)
        async with self._lock:
            owner = journal.owner(f"risk-{self.account}", f"the square-off of {self.account}")
            try:
                owner.acquire()
            except OwnedElsewhere as exc:
                report.busy, report.error = True, str(exc)
                report.blocked = self.today.reason if self.today and self.today.blocked else ""
                return report
            try:
                await self._flatten(report, feature, mis_only)
            except LookupFailed as exc:
                report.error = f"{exc}; nothing more was sent"
            finally:
                owner.release()
        self.today = await journal.risk_day(self.account, day)
        report.blocked = self.today.reason if self.today and self.today.blocked else ""
        return report

    async def _flatten(self, report: SquareOff, feature: str, mis_only: bool) -> None:
        desk = self.engine.ctx.desk
        await self.engine.store()
        # This process's protective stops stand still meanwhile (the engine skips their
        # ticks while a square-off runs); an action of theirs already in flight ends first.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.engine.protector.idle(), SETTLE_S)
        book = await desk.book()
        if await self._end_protections(mis_only):  # their resting orders were cancelled
            working = {o.order_id: o for o in to_cancel(book, mis_only)}
            book = await desk.book()
            still = {o.order_id for o in to_cancel(book, mis_only)}
            now = {o.order_id: o for o in book}
            report.cancelled += [
                _order_line(now.get(i, o)) for i, o in working.items() if i not in still
            ]
        in_flight = await self._settle_exits(book)
        await self._cancel(report, book, mis_only)
        await self._exit(report, feature, mis_only, in_flight)
        if in_flight:  # wait until they can no longer land, then close what they did not
            last = max(i.updated for i in in_flight)
            wait = last + self.engine.ctx.broker.in_flight_s - time.time()
            log.info(
                "%s: waiting %.0f s for exits an earlier run had on the wire",
                self.account,
                max(wait, 0),
            )
            await asyncio.sleep(max(0.0, min(wait, self.engine.ctx.broker.in_flight_s)))
            book = await desk.book()
            in_flight = await self._settle_exits(book)
            await self._cancel(report, book, mis_only)  # one that landed meanwhile, resting
            await self._exit(report, feature, mis_only, in_flight)
        report.in_flight = [i.tag for i in in_flight]
        handles = [desk.live.track(p.order_id, p.tag) for p in report.placed if p.order_id]
        await desk.live.settle(handles, SETTLE_S)
        for line in report.placed:
            handle = desk.live.get(line.order_id) if line.order_id else None
            if handle is not None and handle.order is not None:
                line.status = handle.status.value
                line.error = handle.reason or line.error
        positions = tuple(await self.engine.ctx.broker.positions())
        self.engine._apply_positions(positions)
        report.positions_left = [
            _position_row(p) for p in positions if p.net_qty and in_scope(p.product, mis_only)
        ]

    async def _end_protections(self, mis_only: bool) -> int:
        """Stops and targets on what is being closed end first (marked done in the journal,
        so a process driving them lets go too): no protective exit races the square-off, and
        their resting orders are cancelled with the rest."""
        protector = self.engine.protector
        if not protector.driving:
            await protector.start(drive=False)  # only reads them
        ended = 0
        for p in protector.open():
            if not in_scope(p.product, mis_only):
                continue
            try:
                await protector.remove(p)
                ended += 1
            except Exception as exc:  # its orders are cancelled below all the same
                log.warning("%s: protection of %s not ended: %s", self.account, p.symbol, exc)
        for g in list(protector.straddles.items.values()):  # a straddle's guard too
            if g.state is PState.DONE or not in_scope(g.product, mis_only):
                continue
            g.state, g.reason = PState.DONE, "ended by the square-off"
            await protector.straddles.save(g)
        return ended

    async def _cancel(self, report: SquareOff, book: list[Order], mis_only: bool) -> None:
        """Every working order in scope, at once; each cancel's final word in the report."""
        desk = self.engine.ctx.desk
        cancels = to_cancel(book, mis_only)
        results = await asyncio.gather(
            *(desk.cancel(o.order_id) for o in cancels), return_exceptions=True
        )
        for o, res in zip(cancels, results, strict=True):
            if isinstance(res, Order):
                report.cancelled.append(_order_line(res))
            else:
                line = _order_line(o, "unknown")
                line.error = str(res) if isinstance(res, BaseException) else "not in the book"
                report.cancelled.append(line)

    async def _exit(
        self, report: SquareOff, feature: str, mis_only: bool, in_flight: list[Intent]
    ) -> None:
        """Exit orders for what the broker's positions still hold, less exits in flight."""
        desk, store = self.engine.ctx.desk, await self.engine.store()
        positions = tuple(await self.engine.ctx.broker.positions())
        self.engine._apply_positions(positions)
        reqs: list[OrderRequest] = []
        for p, qty in to_flatten(positions, [i.request for i in in_flight], mis_only):
            inst = store.by_token(p.segment, p.token)
            if inst is None:
                report.error = f"{p.trading_symbol} is not in today's instrument file"
                continue
            reqs += exit_requests(inst, qty, p.product)
        group = f"{feature}-{self.account}-{math.floor(time.time())}"
        outcomes = await asyncio.gather(
            *(desk.place(r, feature=feature, group=group) for r in reqs), return_exceptions=True
        )
        for req, out in zip(reqs, outcomes, strict=True):
            if isinstance(out, OrderOutcome):
                report.placed.append(_outcome_line(out))
            else:
                report.placed.append(
                    OrderLine(
                        None,
                        "",
                        "rejected",
                        req.instrument.trading_symbol,
                        req.side.label,
                        req.qty,
                        req.product.value,
                        str(out),
                    )
                )

    async def _settle_exits(self, book: list[Order]) -> list[Intent]:
        """Today's kill and risk exits a dead run left open: found by tag -> placed; never
        sent, or past the time a request can land -> absent; else still in flight (returned:
        never sent again, and what they would close is not closed twice)."""
        journal = self.engine.ctx.journal
        day = self.clock().astimezone(IST).date().isoformat()
        limit = self.engine.ctx.broker.in_flight_s
        in_flight: list[Intent] = []
        for i in await journal.unresolved(self.account):
            if i.feature not in (KILL_FEATURE, RISK_FEATURE) or i.day != day:
                continue
            found = find_tag(book, i.tag, i.request)
            if found.order is not None:
                await journal.update(i.tag, IntentState.PLACED, order_id=found.order.order_id)
                log.info("%s: exit %s found at the broker; not sent again", self.account, i.tag)
            elif i.state == IntentState.NEW or time.time() >= i.updated + limit:
                detail = "never sent" if i.state == IntentState.NEW else "not at the broker"
                await journal.update(i.tag, IntentState.ABSENT, detail=detail)
            else:
                in_flight.append(i)
        return in_flight
