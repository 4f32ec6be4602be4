"""The documented ranges of every number a trader can type, in one place.

The CLI grammar, the pre-wire order checks and the straddle planner all read these, so a value
the README promises is accepted everywhere and anything outside is refused before it costs
money or hangs a run. Plain constants only: this module imports nothing from the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final

# Orders (buy / sell): units per order and rupees per unit.
MAX_QTY: Final = 10_000_000
MAX_PRICE: Final = Decimal("10000000")

# Straddles: lots per run, batches per run, orders per plan (legs x batches x freeze splits).
MAX_LOTS: Final = 10_000
MAX_BATCHES: Final = 1_000
MAX_PLAN_ORDERS: Final = 5_000
MAX_DELAY_S: Final = 3_600  # between batches; longer looks like a typo and would seem to hang
MAX_BUFFER_PCT: Final = Decimal(20)  # a LIMIT leg's distance from LTP; more is a market order
MAX_STEPS: Final = 50  # strikes away from ATM, either side
MAX_STRIKE: Final = Decimal("1000000")

# Fat-finger guards (`[guards]` in config.toml): the range each of a trader's own limits may take.
MAX_GUARD_VALUE: Final = Decimal(10_000_000_000)  # rupees per order: 1,000 crore
MAX_GUARD_PCT: Final = Decimal(100)  # a limit price's distance from the last price

# The EMA9 sell monitor.
MIN_MONITOR_INTERVAL_S: Final = 1
MAX_MONITOR_INTERVAL_S: Final = 3_600
MAX_BELOW_ENTRY_PCT: Final = Decimal(100)

# The paper exchange.
MIN_PORT: Final = 1
MAX_PORT: Final = 65_535
MAX_LATENCY_MS: Final = 60_000  # also the bound for --jitter-ms
MAX_SEED: Final = 2**32 - 1
MAX_SIM_ACCOUNTS: Final = 100  # `gui-trader sim --accounts`
MAX_FOLLOW_S: Final = 86_400  # `--follow --duration`: a day

TOTP_DIGITS: Final = 6

# Signal fan-out (`gui-trader account set`, `gui-trader signal`).
MIN_AMOUNT: Final = Decimal(1)  # rupees of margin per signal and account
MAX_AMOUNT: Final = Decimal(1_000_000_000)
MIN_LEVERAGE: Final = Decimal("0.01")
MAX_LEVERAGE: Final = Decimal(100)
MAX_OPEN_POSITIONS: Final = 1_000
MAX_PRIORITY: Final = 1_000
MAX_GROUPS: Final = 32
MAX_NOTIFY_URLS: Final = 8
MAX_SIGNALS: Final = 500  # rows of a signals file
MAX_FANOUT_ACCOUNTS: Final = 500
MAX_FANOUT_CONCURRENCY: Final = 256

CASH_PRODUCTS: Final[tuple[str, ...]] = ("CNC", "MIS", "MTF")
DERIVATIVE_PRODUCTS: Final[tuple[str, ...]] = ("NRML", "MIS")

# Which products exist in which segment; order matters (it is the order messages list them).
PRODUCTS_BY_SEGMENT: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "nse_cm": CASH_PRODUCTS,
        "bse_cm": CASH_PRODUCTS,
        "nse_fo": DERIVATIVE_PRODUCTS,
        "bse_fo": DERIVATIVE_PRODUCTS,
        "mcx_fo": DERIVATIVE_PRODUCTS,
        "cde_fo": DERIVATIVE_PRODUCTS,
    }
)
