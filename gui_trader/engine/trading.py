"""The live trading state behind the window: books polled and diffed, quotes batched, actions.

Self-updating in the ib_async sense: the engine keeps the latest orders, positions, holdings,
funds and quotes and publishes only what changed, as immutable events on the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gui_trader.broker.base import Ambiguous, BrokerError, LoginFailed, Rejected, Unreachable
from gui_trader.core.clock import IST, now_ist, nse_open
from gui_trader.core.instrument import Instrument
from gui_trader.core.market_data import Candle, Quote
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
from gui_trader.core.portfolio import Funds, Holding, MarginCheck, Position
from gui_trader.engine.account import AccountContext
from gui_trader.engine.account_risk import AccountRisk
from gui_trader.engine.events import (
    EventHub,
    FundsUpdated,
    HoldingsUpdated,
    Metrics,
    Notice,
    OrderUpdated,
    PositionsUpdated,
    QuotesUpdated,
    SessionState,
)
from gui_trader.engine.journal import Intent, Run
from gui_trader.engine.order_checks import check_order
from gui_trader.engine.order_guards import (
    EXIT_FEATURES,
    GuardSettings,
    Verdict,
    guard_order,
    guard_straddle,
)
from gui_trader.engine.portfolio import PortfolioView, portfolio
from gui_trader.engine.protection import Protector
from gui_trader.engine.protection_rules import BadProtection, Protection, StopAt, Trail
from gui_trader.market.instruments import InstrumentStore

if TYPE_CHECKING:
    from gui_trader.engine.feed_link import FeedLink, Follow
    from gui_trader.engine.monitor import Monitor
    from gui_trader.engine.straddle import StraddleRun, Summary
    from gui_trader.engine.straddle_guard import StraddleGuard, StraddleStops
    from gui_trader.engine.straddle_plan import StraddlePlan, StraddleSpec

log = logging.getLogger(__name__)
SLOW_EVERY = 5  # holdings and funds change rarely: every 5th poll


def explain(exc: BaseException) -> str:
    """A broker failure in words a trader acts on."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, LoginFailed):
        if "totp" in low:
            return "Wrong TOTP code: check the phone's clock, or the TOTP secret you stored."
        if "mpin" in low:
            return "Wrong MPIN."
        return f"Login refused: {text.removeprefix('login refused: ')}"
    if "1037" in low or ("ip" in low and "session" in low):
        return "This session was created from another IP: log in again from this machine."
    if isinstance(exc, Unreachable):
        return "The broker cannot be reached: check the connection. Nothing was sent."
    if "keyring" in low:
        return text
    return text or type(exc).__name__


class LagMonitor:
    """How late the event loop wakes up: the number the trader feels as a frozen window."""

    def __init__(self, period_s: float = 0.05, window: int = 1200) -> None:
        self.period = period_s
        self.samples: deque[float] = deque(maxlen=window)

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.period)
            self.samples.append(max(0.0, time.perf_counter() - start - self.period) * 1000)

    def percentiles(self) -> tuple[float, float]:
        if len(self.samples) < 2:
            return 0.0, 0.0
        data = sorted(self.samples)
        return statistics.median(data), data[min(len(data) - 1, int(len(data) * 0.99))]


def _quote_sig(q: Quote) -> tuple[object, ...]:
    """What a trader sees change (a tick with a new time and the same prices is not news)."""
    return (q.ltp, q.prev_close, q.bid, q.ask, q.bid_qty, q.ask_qty, q.bids, q.asks, q.volume)


def _order_sig(o: Order) -> tuple[object, ...]:
    return (o.status, o.filled_qty, o.qty, o.price, o.avg_price, o.reject_reason, o.trigger_price)


class TradingEngine:
    def __init__(
        self,
        ctx: AccountContext,
        hub: EventHub,
        *,
        poll_s: float = 1.0,
        watchlist: Iterable[str] = (),
    ) -> None:
        self.ctx = ctx
        self.hub = hub
        self.poll_s = poll_s
        self.watch: list[str] = list(watchlist)  # symbols as the trader typed them
        self.instruments: InstrumentStore | None = None
        self.orders: dict[str, Order] = {}
        self.positions: tuple[Position, ...] = ()
        self.holdings: tuple[Holding, ...] = ()
        self.quotes: dict[str, Quote] = {}
        self.funds: Funds | None = None
        self.extra_keys: set[str] = set()  # instruments a panel watches (straddle legs)
        self.depth_key: str | None = None  # the ticket's symbol: its 5-level book is watched
        self.lag = LagMonitor()
        self.ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._refresh_lock = asyncio.Lock()
        self._polls = 0
        self._baseline = True
        # The live feeds, with polling as reconciliation and fallback (`[feeds] enabled`).
        self.feeds_enabled = ctx.live_feeds
        self.feed: FeedLink | None = None
        self.protector = Protector(self)  # stops, targets, trails: driven once started
        # Kill switch, daily MTM limits, square-off time; armed by start() (the CLI's
        # one-shot engines never square off on their own).
        self.risk = AccountRisk(self)

    @property
    def mode(self) -> str:
        return self.ctx.mode

    @property
    def account(self) -> str:
        return self.ctx.account

    def _state(self, state: str, detail: str = "", trading: bool = False) -> None:
        until = self.ctx.broker.telemetry().session_expires
        expires = datetime.fromtimestamp(until, IST) if until else None
        self.hub.publish(SessionState(self.mode, self.ctx.account, state, expires, detail, trading))

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> bool:
        """Log in, load instruments, reconcile the journal with the book, then enable trading."""
        self._tasks.append(asyncio.create_task(self.lag.run(), name="loop-lag"))
        self._state("connecting")
        try:
            await self.ctx.broker.login()
            self.instruments = await self.ctx.instruments()
            await self.ctx.desk.reconcile()
            await self.refresh(full=True)
            await self.risk.start()
        except (BrokerError, LookupError, OSError) as exc:
            log.error("cannot start: %s", explain(exc))
            self._state("error", explain(exc))
            return False
        self._baseline = False
        try:
            await self.protector.start()
        except (BrokerError, OSError) as exc:  # the window still opens; the log says why
            log.error("protections not resumed: %s", explain(exc))
        self._state("ready", trading=True)
        self.ready.set()
        if self.feeds_enabled:
            from gui_trader.engine.feed_link import FeedLink

            self.feed = FeedLink(self)
            self.feed.start()
        self._tasks.append(asyncio.create_task(self._poll(), name="poll"))
        self._tasks.append(asyncio.create_task(self._metrics(), name="metrics"))
        self._tasks.append(asyncio.create_task(self.risk.watch(), name="risk"))
        return True

    async def stop(self, *, close: bool = True) -> None:
        """Stop watching and polling; `close=False` leaves the account's context open for
        its owner (the CLI closes what it opened)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.protector.stop()
        await self.risk.close()
        if self.feed is not None:
            await self.feed.close()
            self.feed = None
        self._state("closed")
        if close:
            await self.ctx.close()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if self.feed is not None and not self.feed.poll_due():
                continue  # the order feed is live: the books come to us
            try:
                await self.refresh(full=self._polls % SLOW_EVERY == 0)
            except BrokerError as exc:
                log.warning("refresh failed: %s", explain(exc))

    async def _metrics(self) -> None:
        while True:
            t = self.ctx.broker.telemetry()
            p50, p99 = self.lag.percentiles()
            self.hub.publish(
                Metrics(t.rtt_ms, p50, p99, t.order_headroom, t.orders_per_second, t.logins)
            )
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ state
    def keys(self) -> list[str]:
        keys = [p.key for p in self.positions]
        keys += [h.key for h in self.holdings]
        store = self.instruments
        if store is not None:
            for sym in self.watch:
                with contextlib.suppress(LookupError):
                    keys.append(store.resolve(sym).key)
        keys += sorted(self.extra_keys)
        if self.depth_key is not None:
            keys.append(self.depth_key)
        return list(dict.fromkeys(keys))

    def watch_depth(self, symbol: str | None) -> Instrument | None:
        """Follow this symbol's 5-level book (the ticket's symbol); None stops."""
        inst = None
        if symbol:
            with contextlib.suppress(LookupError):
                inst = self.instrument(symbol)
        self.depth_key = inst.key if inst is not None else None
        if self.feed is not None:
            self.feed.sync(depth=[self.depth_key] if self.depth_key else [])
        return inst

    def follow(
        self,
        instruments: Iterable[Instrument] = (),
        on_state: Callable[[str, str, int], None] | None = None,
    ) -> Follow:
        """A headless stream of ticks for `instruments` and of every order update (use as
        `async with engine.follow(...) as f:` and read `f.queue`); the order book is read
        each time the order feed (re)connects."""
        from gui_trader.engine.feed_link import Follow

        return Follow(self, {i.key: i.trading_symbol for i in instruments}, on_state=on_state)

    def watched(self) -> dict[str, str]:
        """Every instrument the trader looks at, key -> symbol (the feed's subscriptions)."""
        names = {p.key: p.trading_symbol for p in self.positions}
        names |= {h.key: h.trading_symbol for h in self.holdings}
        store = self.instruments
        out: dict[str, str] = {}
        for key in self.keys():
            symbol = names.get(key)
            if symbol is None and store is not None and key in store.by_key:
                symbol = store.by_key[key].trading_symbol
            out[key] = symbol or key
        return out

    async def refresh(self, full: bool = False) -> None:
        # One at a time: a caller that just placed an order must see a book read after it.
        async with self._refresh_lock:
            self._polls += 1
            b = self.ctx.broker
            if full:
                orders, positions, holdings, funds = await asyncio.gather(
                    b.orders(), b.positions(), b.holdings(), b.limits()
                )
                self._apply_holdings(tuple(holdings))
                if funds != self.funds:
                    self.funds = funds
                    self.hub.publish(FundsUpdated(funds))
            else:
                orders, positions = await asyncio.gather(b.orders(), b.positions())
            self._apply_orders(orders)
            self._apply_positions(tuple(positions))
            feed = self.feed
            if feed is not None:
                feed.last_full = time.monotonic()
                feed.sync()  # positions and holdings may have changed what is watched
            keys = self.keys()
            if keys and (feed is None or not feed.market_live):
                self._apply_quotes(await b.quotes(keys))

    async def _show_result(self) -> None:
        """Read the book after an action so the window shows it at once. Best effort: the action
        has happened whatever this read says, and a one-shot caller (the CLI, which never
        starts the engine) does not pay for it."""
        if not self.ready.is_set():
            return
        try:
            await self.refresh()
        except BrokerError as exc:
            log.warning("refresh after the action failed: %s", explain(exc))

    def _apply_orders(self, orders: list[Order]) -> None:
        self.ctx.desk.live.apply(orders)  # the handles of our orders (straddle legs, sells)
        for o in orders:
            old = self.orders.get(o.order_id)
            if old is not None and _order_sig(old) == _order_sig(o):
                continue
            self.orders[o.order_id] = o
            self.hub.publish(OrderUpdated(o, external=not self.ctx.journal.owns(o.tag)))
            if self._baseline or (old is not None and old.status == o.status):
                continue
            if o.status is OrderStatus.COMPLETE:
                log.info(
                    "filled: %s %s %s @ %s (order %s)",
                    o.side.label,
                    o.filled_qty,
                    o.trading_symbol,
                    o.avg_price,
                    o.order_id,
                )
                self.hub.publish(
                    Notice(
                        "fill",
                        f"Filled: {o.side.label} {o.trading_symbol}",
                        f"{o.filled_qty} @ {o.avg_price}",
                        o.avg_price,
                    )
                )
            elif o.status is OrderStatus.REJECTED:
                log.warning(
                    "rejected by the broker: %s %s %s: %s (order %s)",
                    o.side.label,
                    o.qty,
                    o.trading_symbol,
                    o.reject_reason,
                    o.order_id,
                )
                self.hub.publish(
                    Notice(
                        "reject",
                        f"Rejected: {o.side.label} {o.trading_symbol}",
                        o.reject_reason or "no reason given",
                    )
                )

    def _apply_positions(self, positions: tuple[Position, ...]) -> None:
        if positions != self.positions:
            self.positions = positions
            self.hub.publish(PositionsUpdated(positions))
            self.protector.on_positions(positions)
            self.risk.check()

    def _apply_holdings(self, holdings: tuple[Holding, ...]) -> None:
        if holdings != self.holdings:
            self.holdings = holdings
            self.hub.publish(HoldingsUpdated(holdings))

    def _apply_quotes(self, quotes: list[Quote]) -> None:
        changed = []
        for q in quotes:
            old = self.quotes.get(q.key)
            if old is None or _quote_sig(old) != _quote_sig(q):
                self.quotes[q.key] = q
                changed.append(q)
        if changed:
            if not self.risk.running:  # a square-off under way closes these positions itself
                self.protector.on_quotes(changed)  # stops first: before anything is drawn
            self.hub.publish(QuotesUpdated(tuple(changed)))
            self.risk.check()

    # ------------------------------------------------------------------ watchlist
    def add_watch(self, symbol: str) -> Instrument:
        if self.instruments is None:
            raise LookupError("instruments are not loaded yet")
        inst = self.instruments.resolve(symbol)
        if inst.trading_symbol not in self.watch:
            self.watch.append(inst.trading_symbol)
        return inst

    def remove_watch(self, symbol: str) -> None:
        if symbol in self.watch:
            self.watch.remove(symbol)

    # ------------------------------------------------------------------ actions
    def instrument(self, text: str) -> Instrument:
        if self.instruments is None:
            raise LookupError("instruments are not loaded yet")
        return self.instruments.resolve(text)

    def request(
        self,
        symbol: str,
        side: Side,
        qty: int,
        price: Decimal | None = None,
        product: Product | None = None,
    ) -> OrderRequest:
        inst = self.instrument(symbol)
        product = product or default_product(inst)
        kind = OrderType.LIMIT if price is not None else OrderType.MARKET
        return OrderRequest(inst, side, qty, kind, price, product)

    async def margin_for(self, req: OrderRequest, timeout_s: float = 2.0) -> MarginCheck | str:
        """The broker's margin for an order about to be confirmed, or why it is not known
        (a confirmation never waits longer than ``timeout_s`` for it)."""
        try:
            return await asyncio.wait_for(self.ctx.broker.margin(req), timeout_s)
        except TimeoutError:
            return f"the broker did not answer within {timeout_s:.0f} s"
        except Exception as exc:  # a confirmation shows why, it never fails on it
            return explain(exc)

    @property
    def guards(self) -> GuardSettings:
        return self.ctx.guards

    def guard_verdict(self, req: OrderRequest, feature: str = "O") -> Verdict:
        """The fat-finger guards (order_guards) on the last price this engine holds."""
        quote = self.quotes.get(req.instrument.key)
        ltp = quote.ltp if quote is not None and quote.ltp > 0 else None
        return guard_order(req, self.guards, ltp=ltp, exit=feature in EXIT_FEATURES)

    def _live_price(self, key: str) -> bool:
        """The last price of this instrument comes from a live market feed (a round trip to
        read it again would only delay the order)."""
        q = self.quotes.get(key)
        feed = self.feed
        return (
            q is not None
            and q.ltp > 0
            and feed is not None
            and feed.market_live
            and key in feed.subscribed()
        )

    async def check_guards(self, req: OrderRequest, feature: str = "O") -> Verdict:
        """The guards on a fresh last price (an exit needs none: it is never held back; nor
        does an order refused whatever the price, e.g. on its quantity)."""
        exit = feature in EXIT_FEATURES
        held = guard_order(req, self.guards, ltp=None, exit=exit)
        if not exit and held.refusal is None:
            if self._live_price(req.instrument.key):
                return self.guard_verdict(req, feature)  # the feed keeps it current: no trip
            try:
                await self.read_quotes([req.instrument])
            except BrokerError as exc:  # judged on the price held, or none (then it asks)
                log.warning("no fresh price for the order guards: %s", explain(exc))
            return self.guard_verdict(req, feature)
        return held

    async def place(
        self, req: OrderRequest, feature: str = "O", *, confirmed: bool = True
    ) -> OrderOutcome:
        """`confirmed`: the trader confirmed this very order (the window asks before it calls);
        False refuses above the soft thresholds too (the CLI without --yes). Above a hard limit
        it is refused either way, before anything is journaled or sent."""
        check_order(req)  # the exchange's rules first: their message is the more useful one
        (await self.check_guards(req, feature)).enforce(confirmed=confirmed)
        outcome = await self.ctx.desk.place(req, feature=feature)
        what = f"{req.side.label} {req.instrument.trading_symbol}"
        if outcome.status is OrderStatus.UNKNOWN:  # it may exist: never say "not placed"
            self.hub.publish(Notice("reject", f"Outcome unknown: {what}", outcome.error))
        elif not outcome.ok:
            self.hub.publish(Notice("reject", f"Not placed: {what}", outcome.error))
        await self._show_result()
        return outcome

    async def cancel(self, order_ids: Iterable[str]) -> list[Order | BaseException | None]:
        results = await asyncio.gather(
            *(self.ctx.desk.cancel(i) for i in order_ids), return_exceptions=True
        )
        await self._show_result()
        return list(results)

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.working]

    async def cancel_all_open(self) -> list[Order | BaseException | None]:
        return await self.cancel([o.order_id for o in self.open_orders()])

    async def modify(
        self,
        order_id: str,
        *,
        price: Decimal | None = None,
        qty: int | None = None,
        trigger: Decimal | None = None,
        order_type: OrderType | None = None,
    ) -> Order:
        """Price, quantity, trigger or type of a working order, judged like a new one first."""
        order = self.orders[order_id]
        inst = self.instruments.by_token(order.segment, order.token) if self.instruments else None
        kind = order_type or OrderType(order.order_type or "L")
        if inst is not None:
            req = OrderRequest(
                inst,
                order.side,
                qty if qty is not None else order.qty,
                kind,
                None
                if kind in (OrderType.MARKET, OrderType.STOP_MARKET)
                else price
                if price is not None
                else order.price,
                Product(order.product),
                trigger_price=(trigger if trigger is not None else order.trigger_price)
                if kind in (OrderType.STOP, OrderType.STOP_MARKET)
                else None,
            )
            check_order(req)
            feature = order.tag[:1] if self.ctx.journal.owns(order.tag) else "O"
            (await self.check_guards(req, feature)).enforce(confirmed=True)
        try:
            result = await self.ctx.desk.modify(
                order,
                price=price,
                qty=qty,
                trigger=trigger,
                order_type=order_type.value if order_type is not None else None,
            )
        except (Rejected, Ambiguous) as exc:
            self.hub.publish(Notice("reject", f"Modify failed: {order.trading_symbol}", str(exc)))
            raise
        finally:
            await self._show_result()
        return result

    def exit_plan(self, position: Position) -> list[OrderRequest]:
        """Market orders that flatten a position, sliced at the freeze quantity."""
        if self.instruments is None or position.net_qty == 0:
            return []
        inst = self.instruments.by_token(position.segment, position.token)
        if inst is None:
            raise LookupError(f"{position.trading_symbol} is not in today's instrument file")
        side = Side.SELL if position.net_qty > 0 else Side.BUY
        return [
            OrderRequest(inst, side, q, OrderType.MARKET, None, Product(position.product))
            for q in inst.order_slices(abs(position.net_qty))
        ]

    async def exit_position(self, position: Position) -> list[OrderOutcome]:
        plan = self.exit_plan(position)
        outcomes = await asyncio.gather(*(self.ctx.desk.place(r, feature="X") for r in plan))
        await self._show_result()
        return list(outcomes)

    # ------------------------------------------------------------------ one-off reads
    # What a script asks once (the CLI): read now, folded into the engine's state as well.
    async def read_quotes(self, instruments: Iterable[Instrument]) -> dict[str, Quote]:
        quotes = await self.ctx.broker.quotes([i.key for i in instruments])
        self._apply_quotes(quotes)
        return {q.key: q for q in quotes}

    async def read_orders(self) -> list[Order]:
        orders = await self.ctx.broker.orders()
        self._apply_orders(orders)
        return orders

    async def read_order(self, order_id: str) -> Order | None:
        return next((o for o in await self.read_orders() if o.order_id == order_id), None)

    async def read_portfolio(
        self, *, positions: bool = True, holdings: bool = True
    ) -> PortfolioView:
        return await portfolio(self.ctx.broker, positions=positions, holdings=holdings)

    async def read_funds(self) -> Funds:
        self.funds = await self.ctx.broker.limits()
        return self.funds

    async def cancel_order(self, order_id: str) -> Order | None:
        """One cancel through the desk (safe to repeat); the order as it stands after."""
        return await self.ctx.desk.cancel(order_id)

    async def reconcile(self) -> list[dict[str, Any]]:
        """Settle intents a crashed process left open before acting (see OrderDesk.reconcile)."""
        return await self.ctx.desk.reconcile()

    # ------------------------------------------------------------------ session
    @property
    def logins(self) -> int:
        """Logins this process made (0: the stored session was reused)."""
        return self.ctx.broker.telemetry().logins

    async def login(self, totp: str | None = None) -> None:
        """Reuse the session, or log in afresh with today's TOTP code."""
        await self.ctx.broker.login(totp)
        self._state("ready", trading=self.ready.is_set())

    async def logout(self) -> None:
        await self.ctx.broker.logout()
        self._state("logged out")

    async def candles(
        self, inst: Instrument, *, daily: bool, start: date, end: date
    ) -> list[Candle]:
        return await self.ctx.broker.candles(inst.key, "D" if daily else "1min", start, end)

    # ------------------------------------------------------------------ straddles
    @property
    def holidays(self) -> frozenset[date]:
        """Exchange holidays (config.toml): the window's market clock reads them here."""
        return self.ctx.holidays

    def market_open(self, now: datetime | None = None) -> bool:
        """Paper is open whenever the app runs; live follows NSE hours and config holidays."""
        return self.ctx.always_open or nse_open(now or now_ist(), self.ctx.holidays)

    async def store(self) -> InstrumentStore:
        if self.instruments is None:
            self.instruments = await self.ctx.instruments()
        return self.instruments

    async def prepare_straddle(self, spec: StraddleSpec) -> StraddlePlan:
        """GuardRefused above the trader's lots limit, before any price is read or plan built
        (a soft threshold is the caller's to ask: firing is a separate, confirmed step)."""
        from gui_trader.engine.straddle_plan import prepare_plan

        guard_straddle(spec, self.guards).enforce(confirmed=True)
        await self.ctx.desk.gate("S")  # a blocked account: refused before a plan is built
        return await prepare_plan(
            spec,
            self.ctx.broker,
            await self.store(),
            today=now_ist().date(),
            market_open=self.market_open(),
            orders_per_second=self.ctx.broker.telemetry().orders_per_second,
        )

    def straddle_run(self, plan: StraddlePlan) -> StraddleRun:
        from gui_trader.engine.straddle import StraddleRun

        return StraddleRun(plan, self.ctx.desk, hub=self.hub)

    async def unfinished_straddles(self) -> list[Run]:
        from gui_trader.engine.straddle import unfinished_runs

        return await unfinished_runs(self.ctx.desk)

    async def resume_straddle(self, record: Run) -> tuple[StraddleRun, list[Intent]]:
        """Owned by this process from here on (see straddle.resume_run for what it refuses)."""
        from gui_trader.engine.straddle import resume_run

        return await resume_run(record, self.ctx.desk, await self.store(), self.hub)

    async def earlier_day_report(self, record: Run, *, expire: bool) -> dict[str, Any]:
        from gui_trader.engine.straddle import earlier_day_report

        return await earlier_day_report(record, self.ctx.desk, await self.store(), expire=expire)

    async def abandon_straddle(self, run: StraddleRun) -> None:
        """The trader declined to finish an interrupted run: it is not offered again."""
        from gui_trader.engine.straddle import KIND

        run.release()
        plan = run.plan.to_json()
        await self.ctx.journal.save_run(run.run_id, self.ctx.account, KIND, plan, "abandoned")

    # ------------------------------------------------------------------ protections
    def held(self, inst: Instrument) -> tuple[int, str]:
        """Net units held in this instrument and the product to exit them in: an intraday
        (MIS/NRML) position if there is one, else delivery holdings plus today's CNC net (a
        holding sold today shows as a negative position beside the unchanged holding)."""
        cnc = Product.CNC.value
        mine = [p for p in self.positions if p.key == inst.key and p.net_qty != 0]
        intraday = next((p for p in mine if p.product != cnc), None)
        if intraday is not None:  # an MIS / NRML position is the one a trader means
            return intraday.net_qty, intraday.product
        delivery = sum(h.qty for h in self.holdings if h.key == inst.key)
        return delivery + sum(p.net_qty for p in mine), cnc

    async def protect(
        self,
        symbol: str,
        *,
        sl: Decimal | None = None,
        target: Decimal | None = None,
        trail: Trail | None = None,
        stop_at: StopAt = StopAt.ENGINE,
        qty: int | None = None,
        entry: OrderOutcome | None = None,
    ) -> Protection:
        """A stop/target/trail on an open position (or on what `entry` will fill): checked,
        written to the journal, armed when this process drives the account's protections."""
        inst = self.instrument(symbol)
        if await self.protector.protected_in_journal(inst.key) or self.protector.for_key(inst.key):
            raise BadProtection(
                f"{inst.trading_symbol} is already protected (`gui-trader protect"
                f" {inst.trading_symbol} --remove` first)"
            )
        quotes = await self.read_quotes([inst])
        ltp = quotes[inst.key].ltp if inst.key in quotes else Decimal(0)
        if entry is not None:
            if entry.order_id is None or not entry.ok:
                raise BadProtection("the entry order was not placed: nothing to protect")
            long = entry.request.side is Side.BUY
            units, product = entry.request.qty, entry.request.product.value
            entry_order: str | None = entry.order_id
        else:
            if not self.ready.is_set():
                await self.refresh(full=True)
            held, product = self.held(inst)
            if held == 0:
                raise BadProtection(f"no open position in {inst.trading_symbol} to protect")
            long, units, entry_order = held > 0, abs(held), None
        if qty is not None:
            if qty % inst.lot_size or not 0 < qty <= units:
                raise BadProtection(
                    f"qty {qty}: whole lots of {inst.lot_size}, at most the {units} held"
                )
            units = qty
        p = self.protector.new(
            inst,
            long=long,
            qty=units,
            product=product,
            sl=sl,
            target=target,
            trail=trail,
            stop_at=stop_at,
            ltp=ltp,
            entry_order=entry_order,
        )
        return await self.protector.add(p)

    async def guard_straddle(self, summary: Summary, stops: StraddleStops) -> StraddleGuard:
        """Combined/leg stops and lock-and-trail on what a straddle run filled (see
        straddle_guard.py); nothing to guard when no leg filled."""
        from gui_trader.engine.straddle_plan import Leg

        plan = summary.plan
        legs = []
        for kind, inst in ((Leg.CE, plan.call), (Leg.PE, plan.put)):
            leg = summary.leg(kind)
            if inst is not None and leg.qty_filled > 0:
                legs.append((inst, leg.qty_filled, leg.avg_price))
        if not legs:
            raise BadProtection("no leg of the straddle filled: nothing to guard")
        guards = self.protector.straddles
        g = guards.new(
            summary.run_id,
            legs,
            short=plan.spec.side is Side.SELL,
            product=plan.spec.product.value,
            stops=stops,
        )
        return await guards.add(g)

    async def change_protection(
        self,
        symbol: str,
        *,
        sl: Decimal | None,
        target: Decimal | None,
        trail: Trail | None,
    ) -> Protection:
        """New levels for the symbol's protection (its resting orders follow)."""
        inst = self.instrument(symbol)
        p = self.protector.for_key(inst.key)
        if p is None:
            raise BadProtection(f"{inst.trading_symbol} has no protection to change")
        if not self.protector.driving:
            raise BadProtection(
                "another gui-trader process drives the protections: change them there"
            )
        quotes = await self.read_quotes([inst])
        ltp = quotes[inst.key].ltp if inst.key in quotes else Decimal(0)
        return await self.protector.change(p, sl=sl, target=target, trail=trail, ltp=ltp)

    async def unprotect(self, symbol: str) -> Protection:
        """End a protection: its resting orders cancelled; the position stays as it is."""
        inst = self.instrument(symbol)
        p = self.protector.for_key(inst.key)
        if p is None:
            raise BadProtection(f"{inst.trading_symbol} has no protection to remove")
        await self.protector.remove(p)
        return p

    # ------------------------------------------------------------------ the EMA9 monitor
    async def monitor(
        self,
        *,
        interval_s: float,
        max_below_entry_pct: Decimal,
        dry_run: bool,
        symbols: frozenset[str] | None = None,
        include_positions: bool = False,
    ) -> Monitor:
        """The one place a monitor is built: settings (holidays from config.toml included)."""
        from gui_trader.engine.monitor import Monitor, MonitorSettings

        settings = MonitorSettings(
            interval_s, max_below_entry_pct, dry_run, symbols, include_positions, self.ctx.holidays
        )
        return Monitor(
            self.ctx.broker,
            self.ctx.desk,
            self.ctx.journal,
            await self.store(),
            self.ctx.account,
            settings,
            hub=self.hub,
            paper=self.ctx.always_open,
        )

    async def monitor_forecast(
        self,
        *,
        interval_s: float,
        max_below_entry_pct: Decimal,
        symbols: frozenset[str] | None = None,
        include_positions: bool = False,
    ) -> Monitor | str:
        """What a monitor's first cycle would do, from a dry run that publishes and sends
        nothing; or why that could not be told."""
        from gui_trader.engine.order_desk import LookupFailed

        preview = await self.monitor(
            interval_s=interval_s,
            max_below_entry_pct=max_below_entry_pct,
            dry_run=True,
            symbols=symbols,
            include_positions=include_positions,
        )
        preview.hub = None  # its rows are a forecast, not the monitor's state
        try:
            await preview.cycle()
        except (BrokerError, LookupFailed) as exc:
            return explain(exc)
        return preview
