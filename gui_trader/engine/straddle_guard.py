"""Stops on a straddle as one position: combined-premium stop and target, per-leg stops that
move the other leg's stop to cost when one leg stops out, and lock-and-trail on the combined
MTM. Exits buy back (or sell out) both legs together, freeze-sliced, through the exactly-once
desk; the guard lives in the journal like a position's protection, so a restart continues it.

Pure decisions (`decide`) are apart from the actions (`StraddleGuards`), which the account's
Protector drives (one process per account, the same lock)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gui_trader.core.instrument import Instrument
from gui_trader.core.market_data import Quote
from gui_trader.core.order import OrderRequest, OrderStatus, OrderType, Product, Side
from gui_trader.engine.events import Notice
from gui_trader.engine.journal import IntentState
from gui_trader.engine.protection_rules import FEATURE, PState

if TYPE_CHECKING:
    from gui_trader.engine.protection import Protector

log = logging.getLogger(__name__)

KIND = "straddle"
EXIT_WAIT_S = 10.0
# After an exit the broker refused outright (nothing of it can land), the guard is armed again
# and tries once more when a tick crosses its levels, but not sooner than this: a broker that
# keeps refusing is not asked on every tick (nor is the MTM trail followed in the meantime).
EXIT_RETRY_S = 5.0


@dataclass(frozen=True)
class StraddleStops:
    """What the trader asked for; every field optional, percents of the entry premium."""

    combined_sl_pct: Decimal | None = None
    combined_target_pct: Decimal | None = None
    leg_sl_pct: Decimal | None = None
    lock_at: Decimal | None = None  # rupees of combined MTM profit that arm the trail
    trail_by: Decimal | None = None  # rupees the MTM may fall back from its best once armed

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.combined_sl_pct,
                self.combined_target_pct,
                self.leg_sl_pct,
                self.lock_at,
            )
        )

    def to_json(self) -> dict[str, str | None]:
        return {k: (str(v) if v is not None else None) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StraddleStops:
        return cls(**{k: Decimal(v) if v is not None else None for k, v in d.items()})


@dataclass
class GuardLeg:
    key: str
    symbol: str
    qty: int  # units still open
    entry: Decimal  # average entry price
    sl: Decimal | None = None  # this leg's own stop (a price)
    exit_tags: list[str] = field(default_factory=list)
    exit_orders: list[str] = field(default_factory=list)
    exit_value: Decimal = Decimal(0)  # what closing it cost (filled qty x price)

    @property
    def open(self) -> bool:
        return self.qty > 0 and not self.exit_tags


@dataclass
class StraddleGuard:
    id: str
    account: str
    run_id: str
    short: bool  # a sold straddle (the usual): a rising premium is the loss
    product: str
    stops: StraddleStops
    legs: list[GuardLeg]
    state: PState = PState.ACTIVE
    peak_mtm: Decimal | None = None
    reason: str = ""
    triggered_at: float | None = None

    @property
    def entry_combined(self) -> Decimal:
        return sum((leg.entry for leg in self.legs), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "id": self.id,
            "account": self.account,
            "run_id": self.run_id,
            "short": self.short,
            "product": self.product,
            "stops": self.stops.to_json(),
            "legs": [
                {
                    "key": g.key,
                    "symbol": g.symbol,
                    "qty": g.qty,
                    "entry": str(g.entry),
                    "sl": str(g.sl) if g.sl is not None else None,
                    "exit_tags": g.exit_tags,
                    "exit_orders": g.exit_orders,
                    "exit_value": str(g.exit_value),
                }
                for g in self.legs
            ],
            "state": self.state.value,
            "peak_mtm": str(self.peak_mtm) if self.peak_mtm is not None else None,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StraddleGuard:
        legs = [
            GuardLeg(
                g["key"],
                g["symbol"],
                int(g["qty"]),
                Decimal(g["entry"]),
                Decimal(g["sl"]) if g.get("sl") else None,
                list(g.get("exit_tags", [])),
                list(g.get("exit_orders", [])),
                Decimal(g.get("exit_value", "0")),
            )
            for g in d["legs"]
        ]
        return cls(
            d["id"],
            d["account"],
            d["run_id"],
            bool(d["short"]),
            d["product"],
            StraddleStops.from_json(d["stops"]),
            legs,
            PState(d["state"]),
            Decimal(d["peak_mtm"]) if d.get("peak_mtm") else None,
            d.get("reason", ""),
        )


# ---------------------------------------------------------------------- pure decisions
def mtm(g: StraddleGuard, ltp: dict[str, Decimal]) -> Decimal:
    """Open legs at their last price: (entry - ltp) x qty for a short straddle."""
    total = Decimal(0)
    for leg in g.legs:
        if leg.qty > 0 and leg.key in ltp:
            diff = leg.entry - ltp[leg.key] if g.short else ltp[leg.key] - leg.entry
            total += diff * leg.qty
    return total


def leg_stop(entry: Decimal, pct: Decimal, short: bool) -> Decimal:
    return entry * (1 + pct / 100) if short else entry * (1 - pct / 100)


def decide(g: StraddleGuard, ltp: dict[str, Decimal]) -> tuple[list[int], str]:
    """Which legs (indices) to exit now, and why; ([], "") when nothing is due. Updates the
    MTM peak (the trail) and, when a leg stops out, the other leg's stop to its cost."""
    legs = [i for i, leg in enumerate(g.legs) if leg.open]
    if not legs or any(g.legs[i].key not in ltp for i in legs):
        return [], ""
    s = g.stops
    both_open = len(legs) == len(g.legs)
    if both_open:
        now = sum((ltp[g.legs[i].key] for i in legs), Decimal(0))
        entry = g.entry_combined
        loss = now > entry if g.short else now < entry
        move = abs(now - entry) / entry * 100 if entry else Decimal(0)
        if s.combined_sl_pct is not None and loss and move >= s.combined_sl_pct:
            return legs, f"combined premium {now} is {move:.1f}% against the entry {entry}"
        if s.combined_target_pct is not None and not loss and move >= s.combined_target_pct:
            return legs, f"combined premium {now} is {move:.1f}% in favour of the entry {entry}"
    if s.lock_at is not None:
        m = mtm(g, ltp)
        if m >= s.lock_at:
            g.peak_mtm = m if g.peak_mtm is None else max(g.peak_mtm, m)
        if g.peak_mtm is not None:
            floor = g.peak_mtm - (s.trail_by or Decimal(0))
            if m <= floor:
                return (
                    legs,
                    f"MTM {m:.2f} fell to the trailed floor {floor:.2f} (best {g.peak_mtm:.2f})",
                )
    for i in legs:
        leg = g.legs[i]
        if leg.sl is None:
            continue
        hit = ltp[leg.key] >= leg.sl if g.short else ltp[leg.key] <= leg.sl
        if hit:
            for j in legs:  # the other leg: its stop to cost
                if j != i:
                    other = g.legs[j]
                    tighter = other.sl is None or (
                        other.entry < other.sl if g.short else other.entry > other.sl
                    )
                    if tighter:
                        other.sl = other.entry
            return [i], f"{leg.symbol} stop {leg.sl:.2f} hit at {ltp[leg.key]}"
    return [], ""


# ---------------------------------------------------------------------- the actions
class StraddleGuards:
    """The account's straddle guards, driven by its Protector (same lock, same journal)."""

    def __init__(self, protector: Protector) -> None:
        self.p = protector
        self.items: dict[str, StraddleGuard] = {}
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.retry_s = EXIT_RETRY_S
        self._retry_at: dict[str, float] = {}  # guard id -> monotonic time it may exit again

    def new(
        self,
        run_id: str,
        legs: list[tuple[Instrument, int, Decimal]],
        *,
        short: bool,
        product: str,
        stops: StraddleStops,
    ) -> StraddleGuard:
        guard_legs = []
        for inst, qty, entry in legs:
            sl = None
            if stops.leg_sl_pct is not None:
                sl = leg_stop(entry, stops.leg_sl_pct, short)
            guard_legs.append(GuardLeg(inst.key, inst.trading_symbol, qty, entry, sl))
        return StraddleGuard(
            f"G{uuid.uuid4().hex[:11]}", self.p.account, run_id, short, product, stops, guard_legs
        )

    async def add(self, g: StraddleGuard) -> StraddleGuard:
        self.items[g.id] = g
        await self.save(g)
        self.p._changed()
        return g

    def load(self, row: dict[str, Any]) -> StraddleGuard | None:
        g = StraddleGuard.from_json(row)
        mine = self.items.get(g.id)
        if mine is not None:
            if g.state is PState.DONE and mine.state is not PState.DONE:
                mine.state, mine.reason = PState.DONE, g.reason
            return None
        if g.state is PState.DONE:
            return None
        self.items[g.id] = g
        return g

    async def resume(self, g: StraddleGuard) -> None:
        """After a restart: legs whose exit was written down are looked up by tag; a leg
        whose exit is proven absent is exited again (once)."""
        again: list[int] = []
        for i, leg in enumerate(g.legs):
            if leg.exit_tags and not leg.exit_orders:
                found = [await self.p.desk.settle_tag(t) for t in leg.exit_tags]
                leg.exit_orders = [o.order_id for o in found if o is not None]
                if not leg.exit_orders:
                    leg.exit_tags = []
                    again.append(i)
        await self.save(g)
        if g.state is PState.EXITING and again:
            await self._exit(g, again, g.reason or "resumed exit")
        elif g.state is PState.EXITING:
            await self._wait_exits(g)

    def on_quotes(self, quotes: Iterable[Quote], ltp_of: dict[str, Decimal]) -> None:
        if not self.items:
            return
        keys = {q.key for q in quotes}
        now = time.monotonic()
        for g in list(self.items.values()):
            if g.state is not PState.ACTIVE or g.id in self._busy:
                continue
            if not any(leg.key in keys for leg in g.legs) or now < self._retry_at.get(g.id, 0):
                continue
            legs, why = decide(g, ltp_of)
            if legs:
                g.triggered_at = time.perf_counter()
                if all(not leg.open or i in legs for i, leg in enumerate(g.legs)):
                    g.state = PState.EXITING
                g.reason = why
                self._spawn(g, self._exit(g, legs, why))

    def on_positions(self, net: dict[str, int]) -> None:
        """A leg no longer held (closed by hand, by a kill, by a square-off) is not exited
        again: its quantity follows the position down; both gone ends the guard."""
        for g in list(self.items.values()):
            if g.state is not PState.ACTIVE or g.id in self._busy:
                continue
            for leg in g.legs:
                if not leg.open:
                    continue
                held = -net.get(leg.key, 0) if g.short else net.get(leg.key, 0)
                leg.qty = max(0, min(leg.qty, held))
            if all(leg.qty == 0 for leg in g.legs):
                g.state, g.reason = PState.DONE, "the straddle's positions are closed"
                self._spawn(g, self.save(g))

    def _spawn(self, g: StraddleGuard, coro: Any) -> None:
        self._busy.add(g.id)

        async def run() -> None:
            try:
                await coro
            except Exception as exc:
                log.exception("straddle guard %s failed", g.id)
                self.p.engine.hub.publish(
                    Notice("reject", "Straddle stop", f"action failed: {exc}")
                )
            finally:
                self._busy.discard(g.id)
                self.p._changed()

        task = asyncio.create_task(run(), name=f"straddle-guard-{g.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _exit(self, g: StraddleGuard, legs: list[int], why: str) -> None:
        """Both legs (or the one) closed together: every slice prepared, written, then sent
        in one go."""
        if await self.p.journal.protection_state(g.id) == PState.DONE.value:
            g.state = PState.DONE  # ended elsewhere (a kill, a square-off): theirs to exit
            return
        log.warning("straddle %s: %s: exiting %s", g.run_id, why, [g.legs[i].symbol for i in legs])
        self.p.engine.hub.publish(Notice("risk", "Straddle stop", why))
        store = self.p.engine.instruments
        assert store is not None
        side = Side.BUY if g.short else Side.SELL
        net = {p.key: p.net_qty for p in self.p.engine.positions}
        reqs: list[tuple[int, OrderRequest]] = []
        for i in legs:
            leg = g.legs[i]
            inst = store.by_key[leg.key]
            held = -net.get(leg.key, 0) if g.short else net.get(leg.key, 0)
            leg.qty = max(0, min(leg.qty, held))  # never more than is still held
            for q in inst.order_slices(leg.qty) if leg.qty else []:
                reqs.append(
                    (i, OrderRequest(inst, side, q, OrderType.MARKET, None, Product(g.product)))
                )
        if not reqs:
            g.state, g.reason = PState.DONE, f"{why}: nothing left to exit"
            await self.save(g)
            return
        ready = await self.p.desk.prepare(
            [r for _, r in reqs], feature=FEATURE, group=g.id, metas=[None] * len(reqs)
        )
        for (i, _), r in zip(reqs, ready, strict=True):
            g.legs[i].exit_tags.append(r.tag or "")
        await self.save(g)  # written before anything is sent
        tags = [r.tag or "" for r in ready]
        await self.p.journal.mark(tags, IntentState.SENT)
        if g.triggered_at is not None:
            self.p.trigger_to_wire_ms.append((time.perf_counter() - g.triggered_at) * 1000)
        outcomes = await asyncio.gather(*(self.p.desk.send(r, marked=True) for r in ready))
        for (i, _), out in zip(reqs, outcomes, strict=True):
            if out.order_id is not None:
                g.legs[i].exit_orders.append(out.order_id)
        bad = [o for o in outcomes if not o.ok]
        if bad:
            self.p.engine.hub.publish(Notice("reject", "Straddle exit not placed", bad[0].error))
        if all(o.order_id is None and o.status is OrderStatus.REJECTED for o in outcomes):
            # Proven not placed (refused: nothing of it can still land). The legs are open
            # again and the guard armed: the next tick through its levels tries once more,
            # after `retry_s` (it stayed EXITING with nothing on the wire until a restart).
            sent = set(tags)
            for i in legs:
                g.legs[i].exit_tags = [t for t in g.legs[i].exit_tags if t not in sent]
            g.state, g.triggered_at = PState.ACTIVE, None
            self._retry_at[g.id] = time.monotonic() + self.retry_s
            await self.save(g)
            return
        await self.save(g)
        await self._wait_exits(g)

    async def _wait_exits(self, g: StraddleGuard) -> None:
        live = self.p.desk.live
        handles = [live.track(o) for leg in g.legs for o in leg.exit_orders]
        await live.settle(handles, timeout_s=EXIT_WAIT_S)
        for leg in g.legs:
            if leg.exit_orders and all(live.track(o).done for o in leg.exit_orders):
                filled = sum(live.track(o).filled_qty for o in leg.exit_orders)
                leg.exit_value = sum(
                    (live.track(o).avg_price * live.track(o).filled_qty for o in leg.exit_orders),
                    Decimal(0),
                )
                leg.qty = max(0, leg.qty - filled)
        if all(leg.qty == 0 for leg in g.legs):
            g.state = PState.DONE
        await self.save(g)
        if g.state is PState.DONE:
            self.p.engine.hub.publish(Notice("risk", "Straddle closed", g.reason))

    async def save(self, g: StraddleGuard) -> None:
        await self.p.journal.save_protection(g.id, g.account, g.state.value, g.to_json())

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
