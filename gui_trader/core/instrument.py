"""An instrument as the scrip master describes it; the single source of lot, tick and freeze."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from gui_trader.core.money import on_tick, round_to_tick

ORDER_SEGMENTS = frozenset({"nse_cm", "bse_cm", "nse_fo", "bse_fo", "mcx_fo"})


def instrument_key(segment: str, token: str) -> str:
    """The `seg|token` form quotes, feeds and books use: the one place it is spelled."""
    return f"{segment}|{token}"


@dataclass(frozen=True, slots=True)
class Instrument:
    segment: str  # nse_cm, nse_fo, ...
    token: str  # pSymbol: the exchange token used by quotes and margin
    trading_symbol: str  # pTrdSymbol: the only symbol ever sent as `ts`
    name: str  # pSymbolName: the underlying or company name
    instrument_type: str = ""  # OPTIDX, FUTIDX, OPTSTK, ... ; "" for cash; INDEX for indices
    option_type: str = ""  # CE / PE; "" otherwise
    strike: Decimal | None = None
    expiry: date | None = None
    lot_size: int = 1
    tick_size: Decimal = Decimal("0.05")
    freeze_qty: int = 0  # 0 = no freeze limit known
    precision: int = 2
    series: str = ""
    low_band: Decimal | None = None
    high_band: Decimal | None = None

    @property
    def key(self) -> str:
        return instrument_key(self.segment, self.token)

    @property
    def tradable(self) -> bool:
        return self.segment in ORDER_SEGMENTS and self.instrument_type != "INDEX"

    @property
    def is_option(self) -> bool:
        return self.option_type in ("CE", "PE")

    def order_slices(self, qty: int) -> list[int]:
        """A quantity as orders at or below the freeze limit, each whole lots."""
        return chunks(qty, self.max_order_qty)

    @property
    def max_order_qty(self) -> int:
        """Largest whole-lot quantity one order may carry (below the exchange freeze)."""
        if self.freeze_qty <= 0:
            return 0
        return (self.freeze_qty // self.lot_size) * self.lot_size

    def price_on_tick(self, price: Decimal) -> bool:
        return on_tick(price, self.tick_size)

    def round_price(self, price: Decimal, mode: str = "nearest") -> Decimal:
        return round_to_tick(price, self.tick_size, mode)

    def __str__(self) -> str:
        return self.trading_symbol


def chunks(total: int, cap: int) -> list[int]:
    """`total` as parts of at most `cap`, largest first (cap <= 0: one part). The one rule for
    freeze slicing, straddle batches and exits: 167 at 20 -> eight of 20 and one of 7."""
    if cap <= 0 or total <= cap:
        return [total] if total > 0 else []
    full, rest = divmod(total, cap)
    return [cap] * full + ([rest] if rest else [])
