"""Where a data folder's paper service lives: names shared by the service and its clients, kept
apart so a client learns them without importing the simulator."""

from __future__ import annotations

PAPER_URL = "http://paper.sim"  # the base URL clients use; the link maps it to the live port
PAPER_HOST = "paper.sim"
LOCK, ADDR, DB, LOG = "exchange.lock", "exchange.addr", "exchange.sqlite3", "exchange.log"
SPAWN_LOCK = "spawn.lock"
IDLE_S = 900.0  # a window polls every second, so only an unused service ever idles this long
IDLE_ENV = "GUI_TRADER_PAPER_IDLE_S"
CLOCK_ENV = "GUI_TRADER_PAPER_CLOCK"  # tests: "HH:MM" IST to start the service's clock at
