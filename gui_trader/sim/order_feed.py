"""The order feed (HSI, `/realtime`; reference kotak-neo-feeds.md §4): the non-JSON `cn`
handshake, then every order state change of the account and a position after each fill.

The pushes are exactly the order's REST history: each connection remembers how many history
entries (and fills) of its account it has sent and pushes what was added since.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gui_trader.sim.errors import SessionInvalid
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.feed_socket import FeedSocket
from gui_trader.sim.state import TERMINAL, Book, SimOrder
from gui_trader.sim.universe import Listing
from gui_trader.sim.wire_rows import order_row, position_rows

CONNECTED = {"ak": "ok", "type": "cn", "task": "cn", "msg": "connected"}
AUTH_FAILED = {"ak": "nk", "type": "cn", "task": "cn", "msg": "Authentication Failed"}
# The reply to anything else, the legacy client's `{type:hb}` heartbeat included (OBS v2#74).
BAD_REQUEST = {
    "ak": "nk",
    "type": "failed to process request",
    "task": "nk",
    "msg": "invalid request format",
}


def parse_frame(text: str) -> dict[str, str]:
    """`{type:cn,Authorization:<token>,Sid:<sid>,src:WEB}` (no quotes) or the same as JSON."""
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    if not (text.startswith("{") and text.endswith("}")):
        return {}
    out: dict[str, str] = {}
    for part in text[1:-1].split(","):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip().strip("\"'")] = value.strip().strip("\"'")
    return out


def authenticate(exchange: Exchange, frame: dict[str, str]) -> str | None:
    """The account behind a `cn` frame's token and sid, or None."""
    if frame.get("type") != "cn":
        return None
    try:
        return exchange.session_user(frame.get("Authorization"), frame.get("Sid"))
    except SessionInvalid:
        return None


def feed_order_row(o: SimOrder, x: Listing, status: str, at: datetime, ucc: str) -> dict[str, Any]:
    """One order state as the feed pushes it: the book's row as it stood in that state."""
    row = order_row(o, x, status, at)
    filled = o.filled if status == "complete" else 0  # the simulator fills an order whole
    row.update(
        {
            "fldQty": filled,
            "unFldSz": 0 if status in TERMINAL else o.qty - filled,
            "cnlQty": o.qty - o.filled if status == "cancelled" else 0,
            "avgPrc": f"{o.avg:.2f}" if filled else "0.00",
            "reqId": f"{o.no}-{len(o.history)}",
            "usrId": ucc,
            "actId": ucc,
            "ordSrc": "ADMINCPPAPI_NEOTRADEAPI",
            "mfdBy": ucc,
            "ordGenTp": "--",
            "ordValDt": "NA",
            "symOrdId": "NA",
            "strategyCode": "NA",
            "it": x.instrument_type or "EQ",
            "brdLtQty": str(x.lot_size),
            "uSec": str(int(at.timestamp())),
        }
    )
    return row


Baseline = tuple[dict[str, int], int]  # history entries per order number, fills


def baseline(books: dict[str, Book]) -> dict[str, Baseline]:
    """Every account's history lengths and fill count now."""
    return {
        ucc: ({no: len(o.history) for no, o in book.orders.items()}, len(book.fills))
        for ucc, book in books.items()
    }


class OrderConn:
    """One authenticated order-feed connection and what it has been sent."""

    def __init__(self, sock: FeedSocket, ucc: str, since: Baseline | None) -> None:
        self.sock, self.ucc = sock, ucc
        # What the account held when the socket opened: pushes start from there, so an order
        # placed as soon as the client's connect() returned is pushed even if its request
        # overtakes the handshake frame (no replay of anything older).
        self.sent: dict[str, int] = dict(since[0]) if since else {}
        self.fills = since[1] if since else 0

    def pending(self, exchange: Exchange, book: Book) -> list[str]:
        """The messages for what changed since the last call, oldest first."""
        out: list[str] = []
        for no, o in book.orders.items():
            done = self.sent.get(no, 0)
            if len(o.history) <= done:
                continue
            x = exchange.universe.by_symbol[o.ts]
            for status, at in o.history[done:]:
                data = feed_order_row(o, x, status, at, self.ucc)
                out.append(json.dumps({"type": "order", "data": data}))
            self.sent[no] = len(o.history)
        self.fills = min(self.fills, len(book.fills))  # a book replaced (a new day)
        if len(book.fills) > self.fills:
            fresh = book.fills[self.fills :]
            self.fills = len(book.fills)
            now = position_rows(book, exchange.market, self.ucc)
            rows = {(r["trdSym"], r["prod"]): r for r in now}
            for f in fresh:
                row = rows.get((f.ts, f.prod))
                if row is not None:
                    data = {k: str(v) for k, v in row.items()}
                    out.append(json.dumps({"type": "position", "data": data}))
        return out
