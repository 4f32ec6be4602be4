"""Where a data folder's paper service lives: names shared by the service and its clients, kept
apart so a client learns them without importing the simulator."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

PAPER_URL = "http://paper.sim"  # the base URL clients use; the link maps it to the live port
PAPER_HOST = "paper.sim"
LOCK, ADDR, DB, LOG = "exchange.lock", "exchange.addr", "exchange.sqlite3", "exchange.log"
SPAWN_LOCK = "spawn.lock"
IDLE_S = 900.0  # a window polls every second, so only an unused service ever idles this long
IDLE_ENV = "GUI_TRADER_PAPER_IDLE_S"
CLOCK_ENV = "GUI_TRADER_PAPER_CLOCK"  # tests: "HH:MM" IST to start the service's clock at

ALWAYS_OPEN = "always"
# What the service speaks; a client finding a service of another revision (the app was updated
# while the old one still ran) replaces it. Bump it when the service's protocol changes.
REVISION = 2  # 2: the live feeds


def market_rules(session: bool, holidays: Iterable[date] = ()) -> str:
    """The paper market's hours as one word for the service's command line and address file:
    `always`, or `session:` and the holidays (NSE hours, after-market orders)."""
    if not session:
        return ALWAYS_OPEN
    return "session:" + ",".join(sorted({d.isoformat() for d in holidays}))


def parse_market_rules(text: str) -> tuple[bool, frozenset[date]]:
    if text == ALWAYS_OPEN:
        return False, frozenset()
    kind, _, days = text.partition(":")
    if kind != "session":
        raise ValueError(f"unknown paper market rules {text!r}")
    return True, frozenset(date.fromisoformat(d) for d in days.split(",") if d)
