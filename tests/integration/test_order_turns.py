"""A burst's order steps take turns with the rest of the loop (engine/loop_share): with every
step made to wait for a later pass, the exactly-once promise holds under faults, and exits
never wait their turn."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

import pytest

from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, Side
from gui_trader.engine.journal import Journal
from gui_trader.engine.loop_share import loop_share
from gui_trader.engine.order_desk import OrderDesk
from tests.integration.test_exactly_once import check, fault_spec
from tests.support.harness import in_process, in_process_client

INFY = Instrument("nse_cm", "1594", "INFY-EQ", "INFY", tick_size=Decimal("0.05"))


@pytest.mark.asyncio
async def test_a_paced_burst_under_faults_places_each_order_once(tmp_path: Path) -> None:
    share = loop_share()
    share.slice_s = 0.0  # every step but the first of a pass waits for a later one
    journal = await Journal(tmp_path / "j.sqlite3").open()
    server = in_process()
    server.faults.update(fault_spec(random.Random(3)))
    c = in_process_client(server)
    try:
        desk = OrderDesk(c, journal, "paper")
        outcomes = await asyncio.gather(
            *(desk.place(OrderRequest(INFY, Side.BUY, 1)) for _ in range(30))
        )
        server.faults.update({"rates": {}})
        assert check(server.exchange, list(outcomes)) == (0, 0)  # no duplicate, none lost
        assert share.waits >= 29  # the burst really took turns
        assert sum(o.ok for o in outcomes) >= 25

        waited = share.waits
        exits = await asyncio.gather(
            *(desk.place(OrderRequest(INFY, Side.SELL, 1), feature="X") for _ in range(10))
        )
        assert all(o.ok for o in exits)
        assert share.waits == waited  # taking risk off never waits its turn
    finally:
        await c.close()
        await journal.close()
