"""One session per account: 1 login for a burst, reuse across processes, single-flight re-login."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gui_trader.broker.neo import NeoClient
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, Side
from gui_trader.sim.exchange import PAPER_USER
from gui_trader.sim.serve import start
from gui_trader.sim.server import SimServer
from tests.support.harness import client, in_process, in_process_client

RELIANCE = Instrument(
    "nse_cm", "2885", "RELIANCE-EQ", "RELIANCE", tick_size=__import__("decimal").Decimal("0.05")
)


@contextlib.asynccontextmanager
async def wired(kind: str) -> AsyncIterator[tuple[SimServer, NeoClient]]:
    if kind == "asgi":
        server = in_process()
        c = in_process_client(server)
        try:
            yield server, c
        finally:
            await c.close()
        return
    with start() as st:
        c = client(st.url)  # default transport: the one the app uses live
        try:
            yield st.app, c
        finally:
            await c.close()


@pytest.mark.asyncio
async def test_one_login_for_200_concurrent_orders(transport_kind: str) -> None:
    async with wired(transport_kind) as (server, c):
        ids = await asyncio.gather(
            *(c.place(OrderRequest(RELIANCE, Side.BUY, 1, tag=f"L{i}")) for i in range(200))
        )
        assert len(set(ids)) == 200
        assert c.logins == 1
        assert server.exchange.stats["logins"] == 1
        assert server.exchange.stats["placed"] == 200


@pytest.mark.asyncio
async def test_exactly_one_relogin_when_50_calls_meet_a_revoked_session(
    transport_kind: str,
) -> None:
    async with wired(transport_kind) as (server, c):
        await c.login()
        assert server.exchange.revoke() == 1
        reads = [c.orders() for _ in range(20)] + [c.positions() for _ in range(20)]
        places = [c.place(OrderRequest(RELIANCE, Side.BUY, 1, tag=f"R{i}")) for i in range(10)]
        results = await asyncio.gather(*reads, *places)
        assert len(results) == 50
        assert c.logins == 2  # the first login and exactly one re-login
        assert server.exchange.stats["validates"] == 2
        assert server.exchange.stats["placed"] == 10


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gui_trader", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_second_process_reuses_the_stored_session(tmp_path: Path) -> None:
    with start() as st:
        env = {
            **os.environ,
            "GUI_TRADER_HOME": str(tmp_path / "h"),
            "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
            "TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "GUI_TRADER_CONSUMER_KEY": PAPER_USER.consumer_key,
            "GUI_TRADER_MPIN": PAPER_USER.mpin,
            "GUI_TRADER_TOTP_SECRET": PAPER_USER.totp_secret,
        }
        added = _cli(
            [
                "account",
                "add",
                "main",
                "--mobile",
                PAPER_USER.mobile,
                "--ucc",
                PAPER_USER.ucc,
                "--from-env",
                "--login-url",
                st.url,
                "--json",
            ],
            env,
        )
        assert added.returncode == 0, added.stderr
        assert st.app.exchange.stats["logins"] == 1

        second = _cli(["orders", "--json"], env)  # the default account: live mode
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["mode"] == "LIVE"
        third = _cli(["--account", "main", "buy", "RELIANCE", "--qty", "1", "--json"], env)
        assert third.returncode == 0, third.stderr
        assert st.app.exchange.stats["logins"] == 1  # 0 logins in the later processes
        assert st.app.exchange.stats["placed"] == 1
        stats = httpx.get(f"{st.url}/_sim/stats").json()
        assert stats["logins"] == 1


@pytest.mark.asyncio
async def test_rate_limit_reply_is_honoured_and_the_order_placed_once() -> None:
    server = in_process()
    server.faults.update({"queue": ["rate_limit"], "retry_after_s": 0.01})
    c = in_process_client(server)
    try:
        order_id = await c.place(OrderRequest(RELIANCE, Side.BUY, 1, tag="RL1"))
    finally:
        await c.close()
    assert order_id
    assert c.stats.rate_limited == 1
    assert server.exchange.stats["placed"] == 1
    assert server.requests["place"] == 2
