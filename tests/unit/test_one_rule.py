"""One copy of each rule: freeze slicing, batches and exits share `chunks`; one ATM."""

from __future__ import annotations

from decimal import Decimal

from gui_trader.core.instrument import Instrument, chunks
from gui_trader.market.instruments import atm_index


def test_one_rule_for_slicing_and_atm() -> None:
    assert chunks(167, 20) == [20] * 8 + [7]
    assert chunks(5, 0) == [5] and chunks(0, 10) == []
    nifty = Instrument("nse_fo", "1", "X", "NIFTY", "OPTIDX", lot_size=75, freeze_qty=1800)
    assert nifty.order_slices(2250) == [1800, 450]
    strikes = [Decimal(s) for s in ("100", "150", "200")]
    assert atm_index(strikes, Decimal("125")) == 0  # a tie goes to the lower strike
    assert atm_index(strikes, Decimal("176")) == 2
