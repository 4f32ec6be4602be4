"""Orders: what the trader asks for, and what the broker says became of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from gui_trader.core.instrument import Instrument


class Side(StrEnum):
    BUY = "B"
    SELL = "S"

    @property
    def label(self) -> str:
        return "BUY" if self is Side.BUY else "SELL"


class OrderType(StrEnum):
    LIMIT = "L"
    MARKET = "MKT"
    STOP = "SL"
    STOP_MARKET = "SL-M"


class Product(StrEnum):
    CNC = "CNC"
    NRML = "NRML"
    MIS = "MIS"
    MTF = "MTF"


class OrderStatus(StrEnum):
    """Our own states; the broker's many strings map onto these (see broker/neo_rows.py)."""

    NEW = "new"  # journaled, not yet on the wire
    SENT = "sent"  # on the wire, no answer yet
    OPEN = "open"  # accepted by the broker, working
    PARTIALLY_FILLED = "partially filled"
    COMPLETE = "complete"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # ambiguous outcome: may or may not exist at the broker

    @property
    def terminal(self) -> bool:
        return self in (OrderStatus.COMPLETE, OrderStatus.REJECTED, OrderStatus.CANCELLED)

    @property
    def working(self) -> bool:
        return self in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


def default_product(instrument: Instrument) -> Product:
    """Delivery for cash, carry-forward for F&O: what a trader means when they say nothing."""
    return Product.CNC if instrument.segment.endswith("_cm") else Product.NRML


@dataclass(frozen=True, slots=True)
class OrderRequest:
    instrument: Instrument
    side: Side
    qty: int  # units (shares; lots x lot size for F&O)
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None  # required for LIMIT / SL
    product: Product = Product.CNC
    validity: str = "DAY"
    trigger_price: Decimal | None = None
    tag: str | None = None  # the `ig` tag; set by the order desk from the journal
    amo: bool = False  # an after-market order: taken while the market is closed, for the open


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    trading_symbol: str
    segment: str
    token: str
    side: Side
    qty: int
    filled_qty: int
    status: OrderStatus
    order_type: str
    product: str
    price: Decimal
    avg_price: Decimal
    trigger_price: Decimal = Decimal(0)
    tag: str = ""
    reject_reason: str = ""
    raw_status: str = ""
    time: datetime | None = None
    validity: str = "DAY"

    @property
    def pending_qty(self) -> int:
        return 0 if self.status.terminal else max(self.qty - self.filled_qty, 0)


@dataclass(frozen=True, slots=True)
class Trade:
    order_id: str
    fill_id: str
    trading_symbol: str
    segment: str
    side: Side
    qty: int
    price: Decimal
    tag: str = ""
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What the order desk reports for one request: an order id, or why there is none."""

    tag: str
    request: OrderRequest
    order_id: str | None = None
    status: OrderStatus = OrderStatus.NEW
    error: str = ""
    attempts: int = 1
    notes: list[str] = field(default_factory=list)
    # Refused for now with nothing placed (HTTP 429): the same tag may be sent again.
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.order_id is not None
