"""The SFeed market feed (reference kotak-neo-feeds.md §2): JSON control frames in, JSON replies
and binary packet batches out.

A connection authenticates with the trade session's sid (1119 with the dividers, or 1118 and a
close with 1008), then subscribes, unsubscribes and asks for snapshots by `exchange|token`
(indices by name). A subscribe is acknowledged (1109 with the trading symbols) and followed by
one packet per instrument; the feed hub (sim/feeds.py) then pushes a full packet whenever an
instrument's picture changes. Everything is forgotten when the connection ends.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gui_trader.sim import feed_packets as fp
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.feed_socket import POLICY, FeedSocket
from gui_trader.sim.universe import Listing

log = logging.getLogger(__name__)
AUTH_OK = 1119
AUTH_FAILED = 1118
SUBSCRIBED = 1109
MAX_MESSAGE = 256 * 1024  # split packet batches larger than this over several messages
INDEX = fp.MSG_INDEX
# event -> (action, level)
EVENTS: dict[str, tuple[str, int]] = {}
for _name, _level in (
    ("Scrips", fp.TOUCH_LINE),
    ("ScripsLite", fp.MINI),
    ("Depth", fp.DEPTH),
    ("FullDepth", fp.FULL_DEPTH),
    ("Indices", INDEX),
):
    for _action in ("subscribe", "unsubscribe", "snapshot"):
        EVENTS[f"{_action}{_name}"] = (_action, _level)
del EVENTS["snapshotFullDepth"]
Sub = tuple[str, int]  # (listing key, level)


def batches(packets: list[bytes]) -> list[bytes]:
    """Packets joined into as few binary messages as MAX_MESSAGE allows."""
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for p in packets:
        if chunk and size + len(p) > MAX_MESSAGE:
            out.append(b"".join(chunk))
            chunk, size = [], 0
        chunk.append(p)
        size += len(p)
    if chunk:
        out.append(b"".join(chunk))
    return out


def session_of_sid(exchange: Exchange, sid: str) -> str | None:
    """The account whose live trade session has this sid, or None."""
    for token, (_ucc, s, _ends) in list(exchange.trade_sessions.items()):
        if s == sid and sid:
            try:
                return exchange.session_user(token, sid)
            except Exception:
                return None
    return None


class MarketConn:
    """One authenticated market-feed connection and its subscriptions."""

    def __init__(self, sock: FeedSocket, exchange: Exchange, ucc: str) -> None:
        self.sock, self.exchange, self.ucc = sock, exchange, ucc
        self.subs: dict[Sub, None] = {}  # ordered: packets go out in subscription order
        self.status = False  # subscribed to the market status (subscribeExchange)

    def resolve(self, item: str, level: int) -> Listing | None:
        """The listing behind `exchange|token` (an index: `exchange|name` or its number)."""
        seg, _, tok = item.partition("|")
        seg, tok = seg.strip(), tok.strip()
        universe = self.exchange.universe
        if level == INDEX:
            for x in universe.listings:
                if x.instrument_type != "INDEX" or x.segment != seg:
                    continue
                if x.token.lower() == tok.lower() or str(fp.index_token(x)) == tok:
                    return x
            return None
        listing = universe.by_key.get(f"{seg}|{tok}")
        if listing is None or listing.instrument_type == "INDEX" or not listing.token.isdigit():
            return None
        return listing

    def handle(self, frame: dict[str, Any]) -> None:
        event = str(frame.get("event", ""))
        if event in ("subscribeExchange", "unsubscribeExchange"):
            self.status = event == "subscribeExchange"
            if self.status:
                is_open = self.exchange.market_open()
                self.sock.put(b"".join(fp.market_status(s, is_open) for s in ("nse_cm", "nse_fo")))
            return
        spec = EVENTS.get(event)
        if spec is None:
            log.info("market feed: unknown event %r ignored", event)
            return
        action, level = spec
        items = [t.strip() for t in str(frame.get("inputtoken", "")).split(",") if t.strip()]
        found: list[tuple[str, Listing]] = []
        for item in items:
            x = self.resolve(item, level)
            if x is not None:
                found.append((item, x))
        if action == "unsubscribe":
            for _item, x in found:
                self.subs.pop((x.key, level), None)
            return
        if action == "subscribe":
            for _item, x in found:
                self.subs[(x.key, level)] = None
        symbols = {item: x.trading_symbol for item, x in found}
        ack = {"message_code": SUBSCRIBED, "message": "Subscribed", "trading_symbols": symbols}
        self.sock.put(json.dumps(ack))
        market = self.exchange.market
        packets = [fp.encode(x, market.picture(x), level, market) for _item, x in found]
        for message in batches(packets):
            self.sock.put(message)


async def authenticate(sock: FeedSocket, exchange: Exchange, first: str) -> str | None:
    """Check the auth frame: the account, or None after the refusal was sent."""
    try:
        frame = json.loads(first)
    except ValueError:
        frame = None
    ucc = None
    if isinstance(frame, dict):
        ucc = session_of_sid(exchange, str(frame.get("auth", "")))
    if ucc is None:
        why = "authentication failed: unknown or expired session"
        sock.put(json.dumps({"message_code": AUTH_FAILED, "message": why}))
        sock.close(POLICY, "authentication failed")
        return None
    sock.put(json.dumps(fp.auth_reply()))
    return ucc
