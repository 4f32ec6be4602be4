"""Fire a trading signal at every eligible account: signals one after another, the accounts of
one signal in parallel (the daily-scan seed, with its "future optimizations" built in).

Per account and signal, in the seed's order: eligibility (enabled, session usable, under its
max open positions), duplicate prevention (it already holds, or has a working order in, the
symbol), sizing (floor(amount x leverage / price), down to whole lots, or the signal's qty),
then the order through the account's own exactly-once desk (its own tag), then the record.

What keeps requests of one signal together: every account's state is read once per run (all
accounts at once) and kept current from what the run itself places, and intents are journaled
(and marked sent) for every account before the first send; the sends are then started in one
go, highest priority tier first, under a global concurrency cap and each account's own order
rate (its client's limiter). Nothing awaits per account between the first and the last send.

Retry once, only what is safe: the desk resends an ambiguous failure only after the broker's
book proved the tag absent (so a 5xx before the order existed is resent, one that created it
is found), and a 429 (refused, nothing placed) is sent once more with the same tag, so the
broker's duplicate-tag rule also stands between a retry and a second order. A definite
rejection and an unknown outcome are never resent.

Circuit breaker: when more than half of the accounts a signal was sent to failed (after the
retry), the remaining signals are not sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from gui_trader.broker.base import BrokerError
from gui_trader.core.account_settings import FanoutSettings
from gui_trader.core.clock import today_ist
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import (
    OrderOutcome,
    OrderRequest,
    OrderStatus,
    Product,
    Side,
    default_product,
)
from gui_trader.engine.order_checks import InvalidOrder, check_order
from gui_trader.engine.order_desk import block_message, request_record
from gui_trader.engine.order_guards import guard_order
from gui_trader.engine.ownership import OwnedElsewhere, RunOwner
from gui_trader.engine.trading import TradingEngine, explain

log = logging.getLogger(__name__)

FEATURE = "F"  # the tag prefix of fan-out orders
DEFAULT_CONCURRENCY = 32
SENDS_WITH_RETRY = 2  # the first send and one retry
BREAKER_SHARE = 0.5  # more than this share of failures stops the remaining signals

PLANNED, PLACED, SKIPPED, FAILED = "planned", "placed", "skipped", "failed"


@dataclass(frozen=True)
class Signal:
    """One trading signal: buy or sell this symbol (LIMIT at `price`, else MARKET)."""

    symbol: str
    side: Side
    price: Decimal | None = None
    product: Product | None = None
    qty: int | None = None  # units for every account instead of sizing by amount


@dataclass(frozen=True)
class Member:
    """One account taking part in the run, with its fan-out settings."""

    engine: TradingEngine
    settings: FanoutSettings
    unusable: str | None = None  # why its session cannot trade (it is skipped)

    @property
    def name(self) -> str:
        return self.engine.account


@dataclass
class AccountResult:
    account: str
    status: str  # planned | placed | skipped | failed
    reason: str = ""
    qty: int = 0
    order_id: str | None = None
    tag: str | None = None
    attempts: int = 0
    priority: int = 0
    unknown: bool = False  # the order may exist: check the book for the tag
    exit: bool = False  # it closes what the account holds (no new position)
    sent_ns: int | None = None  # perf_counter_ns when its first request left

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "status": self.status,
            "reason": self.reason,
            "qty": self.qty,
            "order_id": self.order_id,
            "tag": self.tag,
            "attempts": self.attempts,
            "exit": self.exit,
        }


@dataclass
class SignalResult:
    signal: Signal
    accounts: list[AccountResult]
    elapsed_s: float = 0.0
    spread_ms: float = 0.0  # first to last request of this signal leaving this process
    sent: bool = False

    @property
    def attempted(self) -> list[AccountResult]:
        return [a for a in self.accounts if a.attempts > 0]

    def failure_share(self) -> float:
        tried = self.attempted
        if not tried:
            return 0.0
        return sum(a.status == FAILED for a in tried) / len(tried)

    def to_json(self) -> dict[str, Any]:
        s = self.signal
        return {
            "symbol": s.symbol,
            "side": s.side.label.lower(),
            "price": str(s.price) if s.price is not None else None,
            "product": s.product.value if s.product else None,
            "elapsed_s": round(self.elapsed_s, 4),
            "spread_ms": round(self.spread_ms, 3),
            "accounts": [a.to_json() for a in self.accounts],
        }


@dataclass
class Breaker:
    tripped: bool = False
    signal: str | None = None
    failed: int = 0
    attempted: int = 0
    not_sent: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "tripped": self.tripped,
            "signal": self.signal,
            "failed": self.failed,
            "attempted": self.attempted,
            "not_sent": self.not_sent,
        }


@dataclass
class FanoutReport:
    signals: list[SignalResult]
    breaker: Breaker
    sent: bool  # False: a plan, nothing was sent
    notified: dict[str, bool] = field(default_factory=dict)

    def totals(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for sig in self.signals:
            for a in sig.accounts:
                row = out.setdefault(
                    a.account,
                    {"placed": 0, "skipped": 0, "failed": 0, "planned": 0, "notified": False},
                )
                row[a.status] += 1
        for name, row in out.items():
            row["notified"] = self.notified.get(name, False)
            if self.sent:
                row.pop("planned")
        return out

    @property
    def ok(self) -> bool:
        """Every eligible account's order placed (or planned), and the breaker never tripped."""
        return not self.breaker.tripped and all(
            a.status != FAILED for s in self.signals for a in s.accounts
        )

    @property
    def unknown(self) -> bool:
        return any(a.unknown for s in self.signals for a in s.accounts)

    def to_json(self) -> dict[str, Any]:
        return {
            "signals": [s.to_json() for s in self.signals],
            "accounts": self.totals(),
            "circuit_breaker": self.breaker.to_json(),
            "sent": self.sent,
        }


@dataclass
class AccountBook:
    """What one account holds for this run: read once, then kept current from our own sends."""

    long: dict[str, tuple[int, Product]] = field(default_factory=dict)  # symbol -> qty, product
    short: dict[str, tuple[int, Product]] = field(default_factory=dict)
    working: set[str] = field(default_factory=set)  # a working order at the broker
    this_run: set[str] = field(default_factory=set)  # symbols this run sent an order for
    open_positions: int = 0
    error: str | None = None


def _product(text: str, default: Product) -> Product:
    try:
        return Product(text.upper())
    except ValueError:
        return default


async def read_book(engine: TradingEngine) -> AccountBook:
    b = engine.ctx.broker
    try:
        orders, all_positions, holdings = await asyncio.gather(
            b.orders(), b.positions(), b.holdings()
        )
    except (BrokerError, OSError) as exc:
        return AccountBook(error=f"book unreadable: {explain(exc)}")
    book = AccountBook()
    for p in all_positions:
        side = book.long if p.net_qty > 0 else book.short if p.net_qty < 0 else None
        if side is not None:
            qty, _ = side.get(p.trading_symbol, (0, Product.NRML))
            side[p.trading_symbol] = (qty + abs(p.net_qty), _product(p.product, Product.NRML))
    for h in holdings:
        if h.sellable_qty > 0 and h.trading_symbol not in book.long:
            book.long[h.trading_symbol] = (h.sellable_qty, Product.CNC)
    book.working = {o.trading_symbol for o in orders if o.status.working}
    open_symbols = {p.trading_symbol for p in all_positions if p.net_qty != 0}
    book.open_positions = len(open_symbols | book.working)
    return book


def size(settings: FanoutSettings, price: Decimal, lot: int) -> int:
    """floor(amount x leverage / price), down to whole lots."""
    if price <= 0:
        return 0
    units = int((settings.amount * settings.leverage / price).to_integral_value(ROUND_FLOOR))
    return units // lot * lot


class Fanout:
    """One run: signals in order, each to every member at once (see the module's doc)."""

    def __init__(
        self,
        members: Sequence[Member],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        amount: Decimal | None = None,
    ) -> None:
        # Highest priority first; the order accounts were given breaks ties.
        self.members = sorted(members, key=lambda m: -m.settings.priority)
        self.cap = asyncio.Semaphore(concurrency)
        self.amount = amount  # one amount for every account instead of its own
        self.books: dict[str, AccountBook] = {}
        self.run_id = f"fanout-{uuid.uuid4().hex[:12]}"

    def resolve(self, signals: Iterable[Signal]) -> list[tuple[Signal, Instrument]]:
        """Every signal's instrument, before anything is sent (LookupError names the bad one)."""
        engine = next((m.engine for m in self.members if m.engine.instruments is not None), None)
        if engine is None:
            raise LookupError("no account could load the instrument files")
        return [(s, engine.instrument(s.symbol)) for s in signals]

    async def prepare(self) -> None:
        """Every usable member's book, all at once (once per run)."""
        usable = [m for m in self.members if m.unusable is None]
        books = await asyncio.gather(*(read_book(m.engine) for m in usable))
        self.books = {m.name: b for m, b in zip(usable, books, strict=True)}

    async def prices(self, resolved: Sequence[tuple[Signal, Instrument]]) -> dict[str, Decimal]:
        """Last prices for sizing the signals that carry neither a price nor a qty: one quotes
        read for the whole run (by the first account that can), before the first signal."""
        wanted = {i.key: i for s, i in resolved if s.price is None and s.qty is None}
        if not wanted:
            return {}
        for m in self.members:
            if m.unusable is None and self.books.get(m.name, AccountBook()).error is None:
                try:
                    quotes = await m.engine.read_quotes(wanted.values())
                except BrokerError:
                    continue
                return {k: q.ltp for k, q in quotes.items() if q.ltp > 0}
        return {}

    def plan_one(
        self, m: Member, signal: Signal, inst: Instrument, price: Decimal | None
    ) -> tuple[AccountResult, OrderRequest | None]:
        """One account's order for a signal, or why none. A signal against what the account
        holds (a sell of a long, a buy of a short) is an exit: the held quantity (at most the
        signal's qty), in the position's product, not counted against max positions. A signal
        in the direction it already holds is a duplicate and skipped, as is any symbol with a
        working order."""
        r = AccountResult(m.name, SKIPPED, priority=m.settings.priority)
        s = m.settings
        book = self.books.get(m.name)
        symbol = inst.trading_symbol
        if not s.enabled:
            r.reason = "disabled"
            return r, None
        if m.unusable is not None:
            r.reason = m.unusable
            return r, None
        if book is None or book.error is not None:
            r.status, r.reason = FAILED, (book.error or "" if book else "book not read")
            return r, None
        same, other = (
            (book.long, book.short) if signal.side is Side.BUY else (book.short, book.long)
        )
        if symbol in book.this_run:
            r.reason = f"this run already sent an order for {symbol}"
            return r, None
        if symbol in book.working:
            r.reason = f"has an open order in {symbol}"
            return r, None
        if symbol in same:
            r.reason = f"already holds {symbol}"
            return r, None
        product = signal.product
        if symbol in other:  # an exit
            held, held_product = other[symbol]
            product = product or held_product
            qty = held if signal.qty is None else min(held, signal.qty)
            qty = qty // inst.lot_size * inst.lot_size
            why = f"holds {held} {symbol}, less than one lot ({inst.lot_size})"
        elif book.open_positions >= s.max_positions:
            r.reason = f"max open positions reached ({book.open_positions}/{s.max_positions})"
            return r, None
        elif signal.side is Side.SELL and (product or default_product(inst)) is Product.CNC:
            r.reason = f"holds no {symbol} to sell (a short entry needs --product MIS or NRML)"
            return r, None
        elif signal.qty is not None:
            qty = signal.qty // inst.lot_size * inst.lot_size
            why = f"qty {signal.qty} is less than one lot ({inst.lot_size})"
        elif price is None:
            qty, why = 0, f"no price for {symbol} to size the order (give --price or --qty)"
        else:
            amount = self.amount if self.amount is not None else s.amount
            sized = FanoutSettings(amount=amount, leverage=s.leverage)
            qty = size(sized, price, inst.lot_size)
            why = f"{amount} x {s.leverage} at {price} is less than one lot ({inst.lot_size})"
        if qty <= 0:
            r.reason = why
            return r, None
        r.qty = qty
        req = m.engine.request(symbol, signal.side, qty, signal.price, product)
        try:
            check_order(req)
        except InvalidOrder as exc:
            r.status, r.reason = FAILED, str(exc)
            return r, None
        # The trader's hard [guards] limits (a signal cannot ask; an exit is never held back).
        ltp = price if signal.price is None else None
        guard = guard_order(req, m.engine.guards, ltp=ltp, exit=symbol in other)
        if guard.refusal is not None:
            r.status, r.reason = FAILED, guard.refusal
            return r, None
        r.status = PLANNED
        r.exit = symbol in other
        return r, req

    def record(self, r: AccountResult, symbol: str) -> None:
        """A later signal of this run on the symbol skips the account; an entry also takes one
        of the account's open positions."""
        book = self.books.get(r.account)
        if book is not None:
            book.this_run.add(symbol)
            if not r.exit:
                book.open_positions += 1

    async def plan(self, signals: Sequence[Signal]) -> FanoutReport:
        """What each account would do: nothing is sent."""
        resolved = self.resolve(signals)
        await self.prepare()
        ltp = await self.prices(resolved)
        results = []
        for signal, inst in resolved:
            price = signal.price or ltp.get(inst.key)
            rows = []
            for m in self.members:
                r, _ = self.plan_one(m, signal, inst, price)
                if r.status == PLANNED:
                    self.record(r, inst.trading_symbol)
                rows.append(r)
            results.append(SignalResult(signal, rows))
        return FanoutReport(results, Breaker(), sent=False)

    async def fire(self, signals: Sequence[Signal]) -> FanoutReport:
        """Send, holding each account's signal-run lock: two runs at once (two windows, a
        script and the webhook) would both read a book without the symbol and both buy; the
        second finds the account taken and skips it, saying by whom."""
        owners = self._own()
        try:
            return await self._fire(signals)
        finally:
            for owner in owners:
                owner.release()

    def _own(self) -> list[RunOwner]:
        held: list[RunOwner] = []
        for i, m in enumerate(self.members):
            if m.unusable is not None:
                continue
            owner = m.engine.ctx.journal.owner(f"signal-{m.name}", f"account {m.name}")
            try:
                owner.acquire()
            except OwnedElsewhere as exc:
                self.members[i] = replace(m, unusable=f"another signal run: {exc}")
                continue
            held.append(owner)
        return held

    async def _fire(self, signals: Sequence[Signal]) -> FanoutReport:
        resolved = self.resolve(signals)  # every symbol known before the first send
        await self.prepare()
        ltp = await self.prices(resolved)
        breaker = Breaker()
        results: list[SignalResult] = []
        for i, (signal, inst) in enumerate(resolved):
            result = await self.fire_one(signal, inst, signal.price or ltp.get(inst.key))
            results.append(result)
            share = result.failure_share()
            if share > BREAKER_SHARE:
                tried = result.attempted
                breaker = Breaker(
                    True,
                    signal.symbol,
                    sum(a.status == FAILED for a in tried),
                    len(tried),
                    [s.symbol for s, _ in resolved[i + 1 :]],
                )
                log.error(
                    "CIRCUIT BREAKER: %d of %d accounts failed on %s; not sending %s",
                    breaker.failed,
                    breaker.attempted,
                    signal.symbol,
                    ", ".join(breaker.not_sent) or "anything more",
                )
                break
        return FanoutReport(results, breaker, sent=True)

    async def fire_one(
        self, signal: Signal, inst: Instrument, price: Decimal | None
    ) -> SignalResult:
        started = time.perf_counter()
        rows: list[AccountResult] = []
        sends: list[tuple[Member, AccountResult, OrderRequest]] = []
        for m in self.members:
            r, req = self.plan_one(m, signal, inst, price)
            rows.append(r)
            if req is not None:
                sends.append((m, r, req))
        ready = await self._journal(sends)
        # One go: tasks start in priority order and reach the wire in that order.
        await asyncio.gather(*(self._send(m, r, req) for m, r, req in ready))
        for _, r, _ in ready:
            if r.status == PLACED or r.unknown:
                self.record(r, inst.trading_symbol)
        stamps = [r.sent_ns for _, r, _ in ready if r.sent_ns is not None]
        spread = (max(stamps) - min(stamps)) / 1e6 if stamps else 0.0
        elapsed = time.perf_counter() - started
        placed = sum(r.status == PLACED for r in rows)
        skipped = sum(r.status == SKIPPED for r in rows)
        failed = sum(r.status == FAILED for r in rows)
        log.info(
            "%s %s: %d placed, %d skipped, %d failed in %.2f s (spread %.1f ms)",
            signal.side.label,
            signal.symbol,
            placed,
            skipped,
            failed,
            elapsed,
            spread,
        )
        return SignalResult(signal, rows, elapsed, spread, sent=bool(ready))

    async def _journal(
        self, sends: list[tuple[Member, AccountResult, OrderRequest]]
    ) -> list[tuple[Member, AccountResult, OrderRequest]]:
        """Every intent of the signal journaled (and marked sent) before the first request
        leaves: one trip per journal file (the accounts of a data folder share one)."""
        by_file: dict[object, list[tuple[Member, AccountResult, OrderRequest]]] = {}
        for item in sends:
            journal = item[0].engine.ctx.journal
            by_file.setdefault(getattr(journal, "path", id(journal)), []).append(item)
        ready: list[tuple[Member, AccountResult, OrderRequest]] = []
        for items in by_file.values():
            journal = items[0][0].engine.ctx.journal
            # The block check every order passes, for all of them in one trip (the sends
            # then skip it: 50 reads queued on one journal thread spread them 40 ms apart).
            blocked = await journal.blocked([m.name for m, _, _ in items], today_ist())
            for m, r, _ in items:
                if m.name in blocked:
                    r.status, r.reason = FAILED, block_message(m.name, blocked[m.name])
            items = [item for item in items if item[0].name not in blocked]
            if not items:
                continue
            rows = [(m.name, request_record(req)) for m, _, req in items]
            try:
                tags = await journal.new_intents_sent(FEATURE, rows, self.run_id)
            except Exception as exc:  # nothing of these was sent
                for _, r, _ in items:
                    r.status, r.reason = FAILED, f"not journaled, not sent: {exc}"
                continue
            for (m, r, req), tag in zip(items, tags, strict=True):
                r.tag = tag
                ready.append((m, r, replace(req, tag=tag)))
        return ready

    async def _send(self, m: Member, r: AccountResult, req: OrderRequest) -> None:
        """One account's order: never raises (its errors are its own)."""
        desk = m.engine.ctx.desk
        try:
            async with self.cap:
                r.sent_ns = time.perf_counter_ns()
                # At most one resend, same tag: after a 429 (nothing placed), or after an
                # ambiguous failure once the book proved the tag absent.
                outcome = await desk.send(
                    req,
                    marked=True,
                    max_sends=SENDS_WITH_RETRY,
                    resend_refused=True,
                    gated=True,  # checked for the whole signal in `_journal`
                )
        except Exception as exc:  # one account's failure never touches another
            log.exception("%s: fan-out order failed", m.name)
            r.status, r.reason, r.unknown = FAILED, f"unexpected error: {exc}", True
            r.attempts = max(r.attempts, 1)
            return
        _apply(r, outcome)


def _apply(r: AccountResult, outcome: OrderOutcome) -> None:
    r.attempts = outcome.attempts
    r.tag = outcome.tag
    r.order_id = outcome.order_id
    if outcome.status is OrderStatus.UNKNOWN:
        r.status, r.unknown = FAILED, True
        r.reason = f"outcome unknown: {outcome.error} (check the book for tag {outcome.tag})"
    elif outcome.ok and outcome.status is not OrderStatus.REJECTED:
        r.status, r.reason = PLACED, ""
    else:
        r.status = FAILED
        r.reason = outcome.error or "rejected"
