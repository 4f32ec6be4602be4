"""Quotes are chunked by 50 and fetched concurrently; instrument files are parsed and cached."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gui_trader.market.instruments import load_instruments
from gui_trader.sim.serve import start
from tests.support.harness import client, in_process, in_process_client


@pytest.mark.asyncio
async def test_120_quotes_take_3_calls(transport_kind: str, tmp_path: Path) -> None:
    if transport_kind == "asgi":
        server = in_process()
        c = in_process_client(server)
        ctx = None
    else:
        ctx = start()
        st = ctx.__enter__()
        server, c = st.app, client(st.url)
    try:
        store = await load_instruments(c, tmp_path / "cache")
        keys = [i.key for i in store.all if i.is_option][:120]
        before = server.requests.get("quotes", 0)
        quotes = await c.quotes(keys)
        assert server.requests["quotes"] - before == 3
        assert {q.key for q in quotes} == set(keys)
        assert all(q.ltp > 0 for q in quotes)
    finally:
        await c.close()
        if ctx is not None:
            ctx.__exit__(None, None, None)


@pytest.mark.asyncio
async def test_instrument_files_are_cached_for_the_day(tmp_path: Path) -> None:
    server = in_process()
    c = in_process_client(server)
    try:
        first = await load_instruments(c, tmp_path / "cache")
        calls = dict(server.requests)
        second = await load_instruments(c, tmp_path / "cache")
    finally:
        await c.close()
    assert len(first) == len(second) > 200
    assert server.requests == calls  # no file-paths call, no download the second time
    # nse_cm came from nse_cm-v1.csv, not from the commodity file nse_com.csv
    reliance = first.resolve("RELIANCE")
    assert (reliance.segment, reliance.token, reliance.trading_symbol) == (
        "nse_cm",
        "2885",
        "RELIANCE-EQ",
    )
    assert sorted(p.name.split("_2")[0] for p in (tmp_path / "cache").glob("*.csv")) == [
        "nse_cm",
        "nse_fo",
    ]


@pytest.mark.asyncio
async def test_option_chain_from_the_file(tmp_path: Path) -> None:
    server = in_process()
    c = in_process_client(server)
    try:
        store = await load_instruments(c, tmp_path / "cache")
    finally:
        await c.close()
    expiries = store.expiries("NIFTY")
    assert len(expiries) == 2 and all(e.weekday() == 1 for e in expiries)
    chain = store.chain("NIFTY", expiries[0])
    assert len(chain) == 51
    row = chain[25]
    assert row.call is not None and row.put is not None
    assert row.call.strike == row.put.strike == Decimal(25900)
    assert row.call.lot_size == 75 and row.call.freeze_qty == 1800
    assert row.call.max_order_qty == 1800 and row.call.tick_size == Decimal("0.05")
    assert store.option("NIFTY", expiries[0], Decimal(25900), "PE") is row.put
    assert isinstance(expiries[0], date)
