"""`gui-trader sim`: one JSON document a foreign client can log in with, N accounts, a busy port in
one line before any banner, and an exchange on the real IST clock."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gui_trader.broker.neo import NeoClient
from gui_trader.broker.session import MemorySessionStore
from gui_trader.broker.vault import Credentials
from gui_trader.core.clock import now_ist
from gui_trader.core.order import OrderRequest, Side
from gui_trader.market.instruments import load_instruments

ROOT = Path(__file__).resolve().parents[2]


def sim(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "GUI_TRADER_PAPER_CLOCK"}
    return subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "sim", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], dict[str, object]]]:
    proc = sim("--port", "0", "--accounts", "3", "--json")
    assert proc.stdout is not None
    doc = json.loads(proc.stdout.readline())
    yield proc, doc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_json_names_the_url_and_every_account(
    served: tuple[subprocess.Popen[str], dict[str, object]],
) -> None:
    _, doc = served
    accounts = doc["accounts"]
    assert isinstance(accounts, list) and len(accounts) == 3
    keys = {"ucc", "mobile", "consumer_key", "mpin", "totp_secret"}
    assert all(keys <= set(a) for a in accounts)
    assert len({a["ucc"] for a in accounts}) == 3
    assert str(doc["url"]).startswith("http://127.0.0.1:")


def test_each_account_trades_its_own_book_on_the_ist_clock(
    served: tuple[subprocess.Popen[str], dict[str, object]], tmp_path: Path
) -> None:
    _, doc = served
    accounts = doc["accounts"]
    assert isinstance(accounts, list)

    def client(a: dict[str, str]) -> NeoClient:
        creds = Credentials(a["consumer_key"], a["mobile"], a["ucc"], a["mpin"], a["totp_secret"])
        return NeoClient(a["ucc"], creds, MemorySessionStore(), login_url=str(doc["url"]))

    async def trade() -> None:
        buyer, other = client(accounts[1]), client(accounts[2])
        try:
            await asyncio.gather(buyer.login(), other.login())
            store = await load_instruments(buyer, tmp_path / "cache")
            sbin = store.resolve("SBIN")
            await buyer.place(OrderRequest(sbin, Side.BUY, 1, tag="T1"))
            (order,) = await buyer.orders()
            assert order.time is not None  # one clock: the exchange stamps IST now
            assert abs(order.time - now_ist()) < timedelta(minutes=1)
            assert await other.orders() == []  # its own book
        finally:
            await asyncio.gather(buyer.close(), other.close())

    asyncio.run(trade())


def test_a_busy_port_fails_in_one_line_before_any_banner() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = sim("--port", str(port), "--json")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and f"port {port}" in err
