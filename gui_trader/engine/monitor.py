"""The EMA9 sell monitor: a limit sell at today's EMA9 for every held stock, lowered with one
modify whenever EMA9 makes a new low, never raised; fills close the position with P&L.

The seed system recomputed EMA9 every 60 s in 10 worker threads, one quote call per symbol.
Here one cycle is: quotes for every managed symbol in chunks of 50 (fetched together), the order
book and the holdings, all at once (about one round trip); EMA9 updated in O(1) per symbol from
yesterday's value (computed once a day from >= 60 daily closes and persisted); then every
modify or place at once, paced only by the account's order rate.

Prices: a sell is placed at EMA9 rounded *up* to the tick, so it never sells below the EMA9 it
follows; "a new low beyond one tick" means the rounded-up target is at least one tick below the
working order's price.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from gui_trader.broker.base import Broker, BrokerError
from gui_trader.core.clock import IST, MARKET_CLOSE, MARKET_OPEN, now_ist, nse_open
from gui_trader.core.instrument import Instrument, instrument_key
from gui_trader.core.order import Order, OrderRequest, OrderStatus, OrderType, Product, Side
from gui_trader.engine.events import EventHub, MonitorAction, MonitorRow, MonitorState
from gui_trader.engine.journal import OPEN_STATES, IntentState, Journal
from gui_trader.engine.live_orders import OrderHandle
from gui_trader.engine.order_desk import LookupFailed, OrderDesk, find_tag
from gui_trader.market.ema import ALPHA, MIN_CLOSES, ema, ema_today
from gui_trader.market.instruments import InstrumentStore

log = logging.getLogger(__name__)
HISTORY_DAYS = 140  # calendar days of daily closes fetched once a day (>= 60 sessions)
MAX_FAILURES = 3
MAX_BACKOFF_S = 600.0
CENT = Decimal("0.01")


@dataclass
class MonitorSettings:
    interval_s: float = 60.0
    max_below_entry_pct: Decimal = Decimal(5)
    dry_run: bool = False
    symbols: frozenset[str] | None = None  # None = every holding (and position, if included)
    include_positions: bool = False
    holidays: frozenset[date] = frozenset()


@dataclass
class Managed:
    """One symbol the monitor manages; everything here is persisted in the journal."""

    symbol: str
    segment: str
    token: str
    qty: int
    entry: str  # average price (Decimal as text)
    product: str = "CNC"
    ema_yesterday: float | None = None
    lowest: float | None = None
    ema_now: float | None = None
    ltp: str | None = None
    order_id: str | None = None
    order_price: str | None = None
    order_status: str = ""
    action: MonitorAction = MonitorAction.NONE
    reason: str = ""
    at: str | None = None
    filled_qty: int = 0
    fill_price: str | None = None
    pnl: str | None = None
    closed: bool = False
    failures: int = 0
    moves: list[tuple[str, str]] = field(default_factory=list)  # (time, price) of the order
    pending_tag: str | None = None  # a sell whose outcome is unknown: no other until settled

    @property
    def key(self) -> str:
        return instrument_key(self.segment, self.token)

    @property
    def entry_price(self) -> Decimal:
        return Decimal(self.entry)

    def row(self, dry_run: bool) -> MonitorRow:
        return MonitorRow(
            self.symbol,
            self.qty,
            self.entry_price,
            Decimal(self.ltp) if self.ltp else None,
            self.ema_now,
            self.lowest,
            Decimal(self.order_price) if self.order_price else None,
            _status(self.order_status),
            self.order_id,
            self.action,
            self.reason,
            datetime.fromisoformat(self.at) if self.at else None,
            Decimal(self.pnl) if self.pnl else None,
            dry_run,
            tuple(self.moves),
            self.closed,
        )

    def report(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "action": self.action.value,
            "reason": self.reason,
            "qty": self.qty,
            "entry": self.entry,
            "ltp": self.ltp,
            "ema9": round(self.ema_now, 4) if self.ema_now else None,
            "lowest_ema9": round(self.lowest, 4) if self.lowest else None,
            "order_price": self.order_price,
            "order_id": self.order_id,
            "order_status": self.order_status,
            "pnl": self.pnl,
        }


def _status(text: str) -> OrderStatus | None:
    try:
        return OrderStatus(text) if text else None
    except ValueError:
        return OrderStatus.UNKNOWN


class MonitorStopped(Exception):
    """Stop was pressed while the monitor settled the last run's orders."""


def sell_price(value: float, inst: Instrument) -> Decimal:
    """EMA9 rounded up to the tick: the sell never goes below the EMA9 it follows."""
    return inst.round_price(Decimal(repr(value)), "up")


class Monitor:
    def __init__(
        self,
        broker: Broker,
        desk: OrderDesk,
        journal: Journal,
        store: InstrumentStore,
        account: str,
        settings: MonitorSettings | None = None,
        *,
        hub: EventHub | None = None,
        paper: bool = False,
        now: Callable[[], datetime] = now_ist,
    ) -> None:
        self.broker = broker
        self.desk = desk
        self.journal = journal
        self.store = store
        self.account = account
        self.settings = settings or MonitorSettings()
        self.hub = hub
        self.paper = paper
        self.now = now
        self.rows: dict[str, Managed] = {}
        self.day = now().date()
        self._loaded = False
        self._stop = asyncio.Event()
        self.failures = 0
        self.last_cycle_s = 0.0
        self._in_cycle = False
        self._watched: set[str] = set()  # order ids whose handles report to us

    # ------------------------------------------------------------------ state
    async def load(self) -> None:
        if self._loaded:
            return
        saved = await self.journal.load_monitor(self.account, self.day)
        for sym, data in saved.items():
            data = dict(data)
            data["moves"] = [tuple(m) for m in data.get("moves", [])]
            data["action"] = MonitorAction(data.get("action", ""))
            self.rows[sym] = Managed(**data)
        if not self.settings.dry_run:
            await self._settle_own_intents()
        self._loaded = True
        if saved:
            log.info("monitor: continuing today's state for %d symbols", len(saved))

    async def _settle_own_intents(self) -> None:
        """Every sell the monitor made today, as the broker has it, becomes its symbol's order
        again: a run killed mid-place (the sell on the wire, or placed but not yet saved) must
        not leave a symbol looking order-less, or it would be sold twice. Sells that were on
        the wire are looked up by tag once they can no longer land."""
        intents = await self.journal.by_feature(self.account, "M", self.day)
        if not intents:
            return
        pending = [i for i in intents if i.state in OPEN_STATES]
        sent = [i.updated for i in pending if i.state != IntentState.NEW]
        wait = max(sent, default=0.0) + self.broker.in_flight_s - time.time()
        if wait > 0:
            log.info("monitor: waiting %.0f s for sells a previous run had on the wire", wait)
            self._state(True, time.monotonic() + wait, "settling orders from the last run")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            if self._stop.is_set():
                raise MonitorStopped
        book = await self.desk.book()
        by_id = {o.order_id: o for o in book}
        latest: dict[str, Order] = {}  # symbol -> the newest sell the broker holds
        for intent in intents:  # oldest first
            order = by_id.get(intent.order_id or "") if intent.state == IntentState.PLACED else None
            if intent.state in OPEN_STATES:
                order = find_tag(book, intent.tag, intent.request).order
                if order is not None:
                    await self.journal.update(
                        intent.tag, IntentState.PLACED, order_id=order.order_id
                    )
                    log.info("monitor: sell %s found at the broker", intent.tag)
                else:
                    detail = (
                        "never sent" if intent.state == IntentState.NEW else "not at the broker"
                    )
                    await self.journal.update(intent.tag, IntentState.ABSENT, detail=detail)
            if order is not None and order.status is not OrderStatus.REJECTED:
                latest[str(intent.request["symbol"])] = order
        for symbol, order in latest.items():
            m = self.rows.get(symbol)
            if m is not None and not m.closed and m.order_id != order.order_id:
                log.info("monitor: %s follows its sell %s again", symbol, order.order_id)
                m.order_id, m.order_price = order.order_id, str(order.price)
                m.order_status, m.pending_tag = order.status.value, None

    async def save(self) -> None:
        await self.journal.save_monitor(
            self.account, self.day, {s: asdict(m) for s, m in self.rows.items()}
        )

    def _publish(self) -> None:
        if self.hub is not None:
            for m in self.rows.values():
                self.hub.publish(m.row(self.settings.dry_run))

    # ------------------------------------------------------------------ one cycle
    async def cycle(self) -> list[dict[str, Any]]:
        """Quotes, book and holdings together; EMA9 updated; orders placed or lowered at once."""
        self._in_cycle = True  # the cycle follows its orders itself, from its own book read
        try:
            return await self._cycle()
        finally:
            self._in_cycle = False
            for m in self.rows.values():
                self._watch(m)
                self._catch_up(m)

    def _watch(self, m: Managed) -> None:
        """Between cycles the symbol's sell follows its handle: a fill the engine sees (its book
        poll, the order feed) closes the position and books P&L at once, not a cycle later."""
        if m.closed or m.order_id is None or self.settings.dry_run or m.order_id in self._watched:
            return
        self._watched.add(m.order_id)
        self.desk.live.track(m.order_id).on_update(functools.partial(self._on_order, m.symbol))

    def _catch_up(self, m: Managed) -> None:
        """A sell that filled (or ended) while the cycle ran: the order feed's word reached its
        handle then, when the cycle ignored it, and no later update will come. Without this
        the row says "placed" until the next cycle, an interval later."""
        handle = self.desk.live.get(m.order_id) if m.order_id and not m.closed else None
        order = handle.order if handle is not None else None
        if handle is None or order is None or self.settings.dry_run:
            return
        if order.status.terminal or order.filled_qty > m.filled_qty:
            self._on_order(m.symbol, handle)

    def _on_order(self, symbol: str, handle: OrderHandle) -> None:
        m = self.rows.get(symbol)
        if self._in_cycle or m is None or m.closed or m.order_id != handle.order_id:
            return
        self._follow_order(m, handle.order)
        if self.hub is not None:
            self.hub.publish(m.row(self.settings.dry_run))

    async def _cycle(self) -> list[dict[str, Any]]:
        started = time.perf_counter()
        await self.load()
        # The symbols managed so far are known: their quotes travel with the books (one round
        # trip); only symbols discovered in this cycle's holdings need another quotes call.
        known = [m.key for m in self.rows.values() if not m.closed]
        holdings, positions, book, first_quotes = await asyncio.gather(
            self.broker.holdings(),
            self.broker.positions() if self.settings.include_positions else _nothing(),
            self.broker.orders(),
            self.broker.quotes(known) if known else _nothing(),
        )
        self.desk.live.apply(book)
        by_id = {o.order_id: o for o in book}
        self._discover(holdings, positions)
        active = [m for m in self.rows.values() if not m.closed]
        quotes = {q.key: q.ltp for q in first_quotes}
        new_keys = [m.key for m in active if m.key not in quotes]
        _, extra = await asyncio.gather(
            self._history([m for m in active if m.ema_yesterday is None]),
            self.broker.quotes(new_keys) if new_keys else _nothing(),
        )
        quotes.update({q.key: q.ltp for q in extra})
        stamp = self.now().isoformat(timespec="seconds")
        await self._settle_pending([m for m in active if m.pending_tag], book)
        work: list[Any] = []
        for m in active:
            m.action, m.reason = MonitorAction.UNCHANGED, ""
            inst = self.store.by_token(m.segment, m.token)
            if inst is None:
                m.action, m.reason = MonitorAction.SKIPPED, "not in today's instrument file"
                continue
            self._follow_order(m, by_id.get(m.order_id or ""))
            if m.closed:
                continue
            if m.pending_tag:
                m.action = MonitorAction.WAITING
                m.reason = f"sell {m.pending_tag}: outcome unknown, looking for it in the book"
                continue
            ltp = quotes.get(inst.key)
            if ltp is None or m.ema_yesterday is None:
                m.action = MonitorAction.SKIPPED
                m.reason = m.reason or (
                    "no quote this cycle" if ltp is None else "not enough daily history for EMA9"
                )
                continue
            m.ltp = str(ltp)
            m.ema_now = ema_today(m.ema_yesterday, float(ltp))
            m.lowest = m.ema_now if m.lowest is None else min(m.lowest, m.ema_now)
            work.append(self._decide(m, inst, book, stamp))
        results = await asyncio.gather(*(w for w in work if w is not None), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r
        self.last_cycle_s = time.perf_counter() - started
        if not self.settings.dry_run:  # a dry run shows; it leaves no trace to continue from
            await self.save()
        self._publish()
        return [m.report() for m in self.rows.values()]

    async def _settle_pending(self, rows: list[Managed], book: list[Order]) -> None:
        """A sell whose outcome was unknown: found by tag (and matching) it is the symbol's
        order; proven absent once it can no longer land, the symbol may get a new one."""
        if not rows:
            return
        intents = {i.tag: i for i in await self.journal.by_feature(self.account, "M", self.day)}
        for m in rows:
            intent = intents.get(m.pending_tag or "")
            if intent is None:  # not in today's journal: nothing left to wait for
                m.pending_tag = None
                continue
            found = find_tag(book, intent.tag, intent.request)
            if found.order is not None:
                m.order_id, m.order_price = found.order.order_id, str(found.order.price)
                m.order_status = found.order.status.value
                await self.journal.update(
                    intent.tag, IntentState.PLACED, order_id=found.order.order_id
                )
                m.pending_tag = None
            elif time.time() > intent.updated + self.broker.in_flight_s:
                await self.journal.update(
                    intent.tag, IntentState.ABSENT, detail="not at the broker"
                )
                m.pending_tag = None

    def _discover(self, holdings: list[Any], positions: list[Any]) -> None:
        wanted = self.settings.symbols
        seen = set()
        for h in holdings:
            inst = self.store.by_token(h.segment, h.token)
            symbol = inst.trading_symbol if inst else h.trading_symbol
            if wanted is not None and symbol not in wanted and h.symbol not in wanted:
                continue
            seen.add(symbol)
            m = self.rows.get(symbol)
            if m is None:
                self.rows[symbol] = Managed(
                    symbol,
                    h.segment,
                    h.token,
                    h.sellable_qty,
                    str(h.avg_price.quantize(CENT)),
                    "CNC",
                )
            elif not m.closed:
                m.qty = max(h.sellable_qty, m.qty - m.filled_qty) if m.order_id else h.sellable_qty
        for p in positions:
            if p.net_qty <= 0 or p.trading_symbol in seen:
                continue
            if wanted is not None and p.trading_symbol not in wanted:
                continue
            if p.trading_symbol not in self.rows:
                self.rows[p.trading_symbol] = Managed(
                    p.trading_symbol, p.segment, p.token, p.net_qty, str(p.avg_price), p.product
                )

    async def _history(self, rows: list[Managed]) -> None:
        """Yesterday's EMA9 from >= 60 daily closes: once a day per symbol, then persisted."""
        if not rows:
            return
        end = self.day - timedelta(days=1)
        start = self.day - timedelta(days=HISTORY_DAYS)

        async def one(m: Managed) -> None:
            try:
                candles = await self.broker.candles(m.key, "D", start, end)
            except BrokerError as exc:
                m.reason = f"history unavailable: {exc}"
                return
            closes = [float(c.close) for c in candles if c.time.date() < self.day]
            if len(closes) < MIN_CLOSES:
                m.reason = f"only {len(closes)} daily closes (EMA9 needs {MIN_CLOSES})"
                return
            m.ema_yesterday = ema(closes)

        await asyncio.gather(*(one(m) for m in rows))

    def _follow_order(self, m: Managed, order: Order | None) -> None:
        """Fills and state of the working order, as the broker's book shows them."""
        if order is None:
            if m.order_id and not self.settings.dry_run:
                m.order_status = OrderStatus.UNKNOWN.value
                m.reason = f"sell {m.order_id} is not in the broker's book"
            return
        m.order_status = order.status.value
        m.order_price = str(order.price)
        if order.filled_qty > m.filled_qty:
            m.filled_qty = order.filled_qty
            m.fill_price = str(order.avg_price)
        if order.status is OrderStatus.COMPLETE:
            pnl = (order.avg_price - m.entry_price) * order.filled_qty
            m.pnl = str(pnl.quantize(CENT))
            m.closed = True
            m.action, m.reason = (
                MonitorAction.FILLED,
                f"sold {order.filled_qty} @ {order.avg_price}",
            )
            log.info(
                "monitor: %s sold %d @ %s, P&L %s",
                m.symbol,
                order.filled_qty,
                order.avg_price,
                m.pnl,
            )
        elif order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            m.action = (
                MonitorAction.SKIPPED
                if order.status is OrderStatus.REJECTED
                else MonitorAction.UNCHANGED
            )
            m.reason = f"order {order.status.value}" + (
                f": {order.reject_reason}" if order.reject_reason else ""
            )
            if order.filled_qty:
                m.qty = max(m.qty - order.filled_qty, 0)
            m.order_id = None
            m.failures += order.status is OrderStatus.REJECTED
        elif order.status is OrderStatus.PARTIALLY_FILLED:
            m.reason = f"{order.filled_qty} of {order.qty} sold; the rest keeps working"

    def _decide(self, m: Managed, inst: Instrument, book: list[Order], stamp: str) -> Any:
        assert m.lowest is not None
        target = sell_price(m.lowest, inst)
        floor = m.entry_price * (1 - self.settings.max_below_entry_pct / 100)
        dry = self.settings.dry_run
        if m.order_id is None:
            if m.failures >= MAX_FAILURES:
                m.action, m.reason = (
                    MonitorAction.SKIPPED,
                    f"{m.failures} rejected orders: left alone",
                )
                return None
            if target < floor:
                m.action = MonitorAction.SKIPPED
                m.reason = (
                    f"EMA9 {target} is {((1 - target / m.entry_price) * 100):.1f}% below "
                    f"entry {m.entry} (limit {self.settings.max_below_entry_pct}%)"
                )
                return None
            existing = next(
                (
                    o
                    for o in book
                    if o.trading_symbol == m.symbol and o.side is Side.SELL and o.status.working
                ),
                None,
            )
            if existing is not None:
                m.order_id, m.order_price = existing.order_id, str(existing.price)
                m.order_status = existing.status.value
                m.action, m.reason, m.at = (
                    MonitorAction.ADOPTED,
                    "an open sell order was already there",
                    stamp,
                )
                return (
                    self._lower(m, inst, existing, target, stamp)
                    if target <= existing.price - inst.tick_size
                    else None
                )
            if m.qty <= 0:
                m.action, m.reason = MonitorAction.SKIPPED, "nothing sellable"
                return None
            m.action, m.at = MonitorAction.PLACED, stamp
            m.reason = f"limit sell at EMA9 {m.lowest:.2f} -> {target}"
            if dry:
                m.reason = "dry run: would place " + m.reason
                m.order_price = str(target)
                return None
            return self._place(m, inst, target, stamp)
        current = Decimal(m.order_price) if m.order_price else None
        if current is not None and target <= current - inst.tick_size:
            order = next((o for o in book if o.order_id == m.order_id), None)
            if order is None or not order.status.working:
                return None
            return self._lower(m, inst, order, target, stamp)
        if m.action is MonitorAction.UNCHANGED:
            m.reason = (
                "EMA9 made no new low" if current is not None and target >= current else m.reason
            )
        return None

    async def _place(self, m: Managed, inst: Instrument, price: Decimal, stamp: str) -> None:
        req = OrderRequest(inst, Side.SELL, m.qty, OrderType.LIMIT, price, Product(m.product))
        try:
            outcome = await self.desk.place(req, feature="M")
        except (BrokerError, ValueError) as exc:
            m.action, m.reason, m.failures = (
                MonitorAction.SKIPPED,
                f"not placed: {exc}",
                m.failures + 1,
            )
            return
        if outcome.ok:
            m.order_id, m.order_price, m.order_status = outcome.order_id, str(price), "open"
            m.moves.append((stamp, str(price)))
        elif outcome.status is OrderStatus.UNKNOWN:  # it may exist: no second sell until known
            m.pending_tag = outcome.tag
            m.action, m.reason = MonitorAction.WAITING, f"outcome unknown: {outcome.error}"
        else:
            m.action, m.reason = MonitorAction.SKIPPED, f"not placed: {outcome.error}"
            m.failures += 1

    async def _lower(
        self, m: Managed, inst: Instrument, order: Order, price: Decimal, stamp: str
    ) -> None:
        old = m.order_price
        m.action, m.at = MonitorAction.MODIFIED, stamp
        m.reason = f"EMA9 new low {m.lowest:.2f}: {old} -> {price}"
        if self.settings.dry_run:
            m.reason = "dry run: would lower " + m.reason
            return
        try:
            await self.desk.modify(order, price=price)
        except BrokerError as exc:
            m.action, m.reason = MonitorAction.UNCHANGED, f"modify failed: {exc}"
            return
        m.order_price = str(price)
        m.moves.append((stamp, str(price)))

    def fills_at_once(self) -> list[str]:
        """After a cycle (a dry run before the first start): the symbols whose sell that cycle
        places or lowers at or under the last price. A limit sell there is marketable: it fills
        at once, near the LTP, instead of resting at EMA9."""
        out = []
        for m in self.rows.values():
            if m.action not in (MonitorAction.PLACED, MonitorAction.MODIFIED):
                continue
            inst = self.store.by_token(m.segment, m.token)
            if inst is None or m.lowest is None or m.ltp is None:
                continue
            if Decimal(m.ltp) >= sell_price(m.lowest, inst):
                out.append(m.symbol)
        return out

    # ------------------------------------------------------------------ the day
    def stop(self) -> None:
        self._stop.set()

    def _state(self, running: bool, next_at: float | None = None, detail: str = "") -> None:
        if self.hub is not None:
            self.hub.publish(
                MonitorState(
                    running, self.settings.dry_run, self.settings.interval_s, next_at, detail
                )
            )

    async def wait_for_open(self) -> bool:
        """Live: sleep until 09:15 IST (False if today's session is over or a holiday)."""
        if self.paper:
            return True
        now = self.now()
        if now.weekday() >= 5 or now.date() in self.settings.holidays:
            return False
        opening = datetime.combine(now.date(), MARKET_OPEN, IST)
        if now < opening:
            self._state(
                False, time.monotonic() + (opening - now).total_seconds(), "waiting for the open"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), (opening - now).total_seconds())
        return not self._stop.is_set() and nse_open(self.now(), self.settings.holidays)

    def _market_over(self) -> bool:
        if self.paper:
            return False
        now = self.now()
        return now.time() >= MARKET_CLOSE or not nse_open(now, self.settings.holidays)

    async def run(self, *, skip_wait: bool = False, once: bool = False) -> list[dict[str, Any]]:
        """Cycle until the close (or once); failures back off, and say so.

        A monitor that sends orders owns its account's monitor for as long as it runs:
        a second one, in any process, refuses with OwnedElsewhere.
        """
        if self.settings.dry_run:
            return await self._run(skip_wait=skip_wait, once=once)
        with self.journal.owner(f"monitor-{self.account}", f"the EMA9 monitor of {self.account}"):
            return await self._run(skip_wait=skip_wait, once=once)

    async def _run(self, *, skip_wait: bool, once: bool) -> list[dict[str, Any]]:
        if not skip_wait and not await self.wait_for_open():
            self._state(False, None, "market closed")
            return [m.report() for m in self.rows.values()]
        report: list[dict[str, Any]] = []
        while not self._stop.is_set():
            try:
                report = await self.cycle()
                self.failures = 0
            except MonitorStopped:
                break
            except (BrokerError, LookupFailed) as exc:
                self.failures += 1
                log.warning("monitor cycle failed (%d in a row): %s", self.failures, exc)
            if once or (not skip_wait and self._market_over()):
                break
            interval = min(self.settings.interval_s * 2**self.failures, MAX_BACKOFF_S)
            if self.failures:
                log.warning("monitor: backing off, next cycle in %.0f s", interval)
            self._state(
                True,
                time.monotonic() + interval,
                f"backing off after {self.failures} failures" if self.failures else "",
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
        self._state(False)
        return report


async def _nothing() -> list[Any]:
    return []


__all__ = ["ALPHA", "Managed", "Monitor", "MonitorSettings", "sell_price"]
