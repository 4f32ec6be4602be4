"""The event hub: the engine publishes immutable events; the window and the CLI drain them.

Publishing never blocks and never drops: each subscriber has its own deque (appends are
thread-safe, so the journal thread and log handlers may publish too). The window drains its
queue once per frame, so a burst of 500 updates costs one repaint.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order, OrderStatus
from gui_trader.core.portfolio import Funds, Holding, Position

if TYPE_CHECKING:
    from gui_trader.engine.straddle_plan import Leg


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    order: Order
    external: bool  # not placed by this app (no journal intent with its tag)


@dataclass(frozen=True, slots=True)
class PositionsUpdated:
    positions: tuple[Position, ...]


@dataclass(frozen=True, slots=True)
class HoldingsUpdated:
    holdings: tuple[Holding, ...]


@dataclass(frozen=True, slots=True)
class QuotesUpdated:
    quotes: tuple[Quote, ...]


@dataclass(frozen=True, slots=True)
class FundsUpdated:
    funds: Funds


@dataclass(frozen=True, slots=True)
class SessionState:
    mode: str  # PAPER / LIVE
    account: str
    state: str  # connecting / ready / expired / error / closed
    expires_at: datetime | None = None
    detail: str = ""
    trading_enabled: bool = False


@dataclass(frozen=True, slots=True)
class FeedState:
    """What drives the window now: "feed live", "polling", or "reconnecting (n)"."""

    market: str  # off / live / reconnecting
    orders: str
    failures: int = 0  # consecutive failed connects of the worse feed

    @property
    def summary(self) -> str:
        if self.market == "live" and self.orders == "live":
            return "feed live"
        if "reconnecting" in (self.market, self.orders) and self.failures <= 3:
            return f"reconnecting ({self.failures})"
        return "polling"


@dataclass(frozen=True, slots=True)
class Metrics:
    rtt_ms: float
    loop_lag_p50_ms: float
    loop_lag_p99_ms: float
    orders_free: float
    orders_per_second: float
    logins: int


@dataclass(frozen=True, slots=True)
class LogRecord:
    level: str
    time: datetime
    source: str
    message: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the trader must see even when the window is in the background."""

    kind: str  # fill / reject / error
    title: str
    text: str
    amount: Decimal | None = None


class EventHub:
    def __init__(self) -> None:
        self._queues: list[deque[Event]] = []

    def subscribe(self) -> deque[Event]:
        q: deque[Event] = deque()
        self._queues.append(q)
        return q

    def unsubscribe(self, q: deque[Event]) -> None:
        if q in self._queues:
            self._queues.remove(q)

    def publish(self, event: Event) -> None:
        for q in self._queues:
            q.append(event)


class HubLogHandler(logging.Handler):
    """Log records become events for the Log pane (the file handler keeps its own copy)."""

    def __init__(self, hub: EventHub, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record) if self.formatter else record.getMessage()
            self.hub.publish(
                LogRecord(
                    record.levelname,
                    datetime.fromtimestamp(record.created),
                    record.name.removeprefix("gui_trader."),
                    message,
                )
            )
        except Exception:
            self.handleError(record)


@dataclass(frozen=True, slots=True)
class LegProgress:
    """One straddle leg order landed, filled (or failed): the trader sees each as it lands."""

    run_id: str
    batch: int
    leg: Leg
    slice: int
    qty: int
    status: OrderStatus
    order_id: str | None
    detail: str = ""
    filled: int = 0  # units filled so far (a fill is published as it lands, not at the end)
    avg_price: Decimal | None = None  # of what filled


class RunState(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"  # the delay between batches
    SETTLING = "settling"  # a resume waits out legs a dead process had on the wire
    DONE = "done"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class RunProgress:
    run_id: str
    batches_done: int
    batches: int
    state: RunState
    next_batch_at: float | None = None  # monotonic time the next batch goes out


class MonitorAction(StrEnum):
    """What the monitor did for a symbol in its last cycle."""

    NONE = ""
    PLACED = "placed"
    MODIFIED = "modified"
    ADOPTED = "adopted"  # an open sell of ours was already there
    FILLED = "filled"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    WAITING = "waiting"  # a sell whose outcome is unknown: nothing more until it is found


@dataclass(frozen=True, slots=True)
class MonitorRow:
    """One managed symbol after a monitor cycle (a snapshot: the pane shows it as is)."""

    symbol: str
    qty: int
    entry: Decimal
    ltp: Decimal | None
    ema9: float | None
    lowest_ema9: float | None
    order_price: Decimal | None
    order_status: OrderStatus | None
    order_id: str | None
    action: MonitorAction
    reason: str
    at: datetime | None
    pnl: Decimal | None
    dry_run: bool = False
    moves: tuple[tuple[str, str], ...] = ()  # (time, price) of each move of the sell order
    closed: bool = False  # sold: the monitor manages the symbol no more


@dataclass(frozen=True, slots=True)
class MonitorState:
    running: bool
    dry_run: bool
    interval_s: float
    next_cycle_at: float | None = None  # monotonic
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProtectionView:
    """One position's stop, target and trail as the window shows them."""

    key: str  # the instrument key
    symbol: str
    long: bool
    qty: int
    sl: Decimal | None
    target: Decimal | None
    trail: str  # "" / "20" / "1.5%"
    stop_at: str  # engine / broker
    state: str


@dataclass(frozen=True, slots=True)
class ProtectionsChanged:
    """Every open protection of the account, after any change (trail moves included)."""

    account: str
    items: tuple[ProtectionView, ...]


Event = (
    OrderUpdated
    | PositionsUpdated
    | HoldingsUpdated
    | QuotesUpdated
    | FundsUpdated
    | SessionState
    | Metrics
    | FeedState
    | LogRecord
    | Notice
    | LegProgress
    | RunProgress
    | MonitorRow
    | MonitorState
    | ProtectionsChanged
)
