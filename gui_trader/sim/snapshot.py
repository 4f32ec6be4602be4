"""Paper persistence: the exchange's state as JSON, restored on the next start.

The same day continues where it stopped (clock, numbering, orders); a later day starts afresh
with yesterday's CNC trades settled into holdings (T+1, simplified).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from gui_trader.sim.state import TERMINAL, Book, SimFill, SimHolding, SimOrder


class Persisted(Protocol):
    """What is saved of an exchange; a protocol so this module need not import the exchange."""

    today: date
    anchor: float
    order_seq: itertools.count[int]
    fill_seq: itertools.count[int]
    books: dict[str, Book]


def snapshot(ex: Persisted) -> dict[str, Any]:
    return {
        "version": 1,
        "today": ex.today.isoformat(),
        "anchor": ex.anchor,
        "order_seq": peek(ex.order_seq),
        "fill_seq": peek(ex.fill_seq),
        "books": {u: _book_dict(b) for u, b in ex.books.items()},
    }


def restore(ex: Persisted, state: dict[str, Any]) -> None:
    """Load `state` into `ex`; books are replaced one by one, as they are read."""
    same_day = state.get("today") == ex.today.isoformat()
    if same_day:
        ex.anchor = float(state["anchor"])
        ex.order_seq = itertools.count(int(state["order_seq"]))
        ex.fill_seq = itertools.count(int(state["fill_seq"]))
    for ucc, b in state.get("books", {}).items():
        ex.books[ucc] = _book_from(b, same_day)


def peek(counter: itertools.count[int]) -> int:
    """The counter's next value, without taking it."""
    return int(repr(counter)[6:-1])


def _book_dict(b: Book) -> dict[str, Any]:
    return {
        "cash": str(b.cash),
        "tags": sorted(b.tags),
        "orders": [order_dict(o) for o in b.orders.values()],
        "fills": [fill_dict(f) for f in b.fills],
        "holdings": {k: [h.qty, str(h.avg), h.sold] for k, h in b.holdings.items()},
    }


def _book_from(b: dict[str, Any], same_day: bool) -> Book:
    book = Book(cash=Decimal(b["cash"]))
    for k, (qty, avg, sold) in b["holdings"].items():
        book.holdings[k] = SimHolding(int(qty), Decimal(avg), int(sold))
    fills = [fill_from(f) for f in b["fills"]]
    if not same_day:
        settle(book, fills)
        return book
    book.tags = set(b["tags"])
    book.orders = {o["no"]: order_from(o) for o in b["orders"]}
    book.fills = fills
    book.working = {o.no for o in book.orders.values() if o.status not in TERMINAL}
    for f in fills:
        book.count_fill(f)
    return book


def order_dict(o: SimOrder) -> dict[str, Any]:
    d = asdict(o)
    for k in ("price", "trigger", "avg"):
        d[k] = str(d[k])
    d["created"] = o.created.isoformat()
    d["history"] = [[s, t.isoformat()] for s, t in o.history]
    return d


def order_from(d: dict[str, Any]) -> SimOrder:
    d = dict(d)
    for k in ("price", "trigger", "avg"):
        d[k] = Decimal(d[k])
    d["created"] = datetime.fromisoformat(d["created"])
    d["history"] = [(s, datetime.fromisoformat(t)) for s, t in d["history"]]
    return SimOrder(**d)


def fill_dict(f: SimFill) -> dict[str, Any]:
    d = asdict(f)
    d["price"], d["at"] = str(f.price), f.at.isoformat()
    return d


def fill_from(d: dict[str, Any]) -> SimFill:
    d = dict(d)
    d["price"], d["at"] = Decimal(d["price"]), datetime.fromisoformat(d["at"])
    return SimFill(**d)


def settle(book: Book, fills: list[SimFill]) -> None:
    """Overnight: CNC equity buys join holdings; sold quantity leaves them."""
    for held in book.holdings.values():
        held.qty -= held.sold
        held.sold = 0
    for f in fills:
        if f.seg != "nse_cm" or f.prod != "CNC" or f.side != "B":
            continue
        h = book.holdings.get(f.ts)
        if h is None:
            book.holdings[f.ts] = SimHolding(f.qty, f.price)
        else:
            total = h.avg * h.qty + f.price * f.qty
            h.qty += f.qty
            h.avg = (total / h.qty).quantize(Decimal("0.01"))
    for k in [k for k, h in book.holdings.items() if h.qty <= 0]:
        del book.holdings[k]
