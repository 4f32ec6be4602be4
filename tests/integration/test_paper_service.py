"""One paper book per data folder: every process on it trades the same orders, numbers and funds,
and no process, the paper service included, loses anything when it is killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from gui_trader.app import open_context
from gui_trader.cli import main
from gui_trader.core.clock import today_ist
from gui_trader.core.order import Side
from gui_trader.engine.events import EventHub
from gui_trader.engine.trading import TradingEngine
from gui_trader.sim.link import serving_port, stop_service
from gui_trader.sim.paper_files import ADDR
from gui_trader.sim.state import PAPER_CASH

ROOT = Path(__file__).resolve().parents[2]


def trader(home: Path, count: int, symbol: str = "SBIN") -> subprocess.Popen[str]:
    env = {**os.environ, "GUI_TRADER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.paper_trader", str(count), symbol],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def book(home: Path) -> list[dict[str, object]]:
    """The orders as the paper service committed them (read straight from its file)."""
    with sqlite3.connect(home / "paper" / "exchange.sqlite3") as db:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM orders")]


def cash(home: Path) -> Decimal:
    with sqlite3.connect(home / "paper" / "exchange.sqlite3") as db:
        (body,) = db.execute("SELECT body FROM books WHERE ucc = 'PAPER1'").fetchone()
    return Decimal(json.loads(body)["cash"])


def fills_value(home: Path) -> Decimal:
    with sqlite3.connect(home / "paper" / "exchange.sqlite3") as db:
        fills = [json.loads(b) for (b,) in db.execute("SELECT body FROM fills")]
    return sum((Decimal(f["price"]) * f["qty"] for f in fills if f["side"] == "B"), Decimal(0))


def lines(proc: subprocess.Popen[str], timeout: float = 120) -> list[dict[str, object]]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return [json.loads(x) for x in out.splitlines()]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--json"])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("processes", [2, 5])
def test_processes_trading_at_once_share_one_book(home: Path, processes: int) -> None:
    procs = [trader(home, 4) for _ in range(processes)]
    placed = [line for p in procs for line in lines(p)]
    assert len(placed) == 4 * processes and all(x["ok"] for x in placed)
    orders = book(home)
    numbers = [str(o["no"]) for o in orders]
    assert sorted(numbers) == sorted(str(x["order_id"]) for x in placed)
    assert len(set(numbers)) == len(numbers)  # one numbering for every process
    assert len({o["tag"] for o in orders}) == len(orders)
    assert cash(home) == PAPER_CASH - fills_value(home)  # funds follow every fill, once


def test_a_trader_killed_mid_order_loses_nothing_it_was_told(home: Path) -> None:
    survivors = [trader(home, 6) for _ in range(4)]
    victim = trader(home, 50)
    assert victim.stdout is not None
    first = victim.stdout.readline()  # it is trading now: kill it between or inside orders
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    told = [json.loads(first)] + [line for p in survivors for line in lines(p)]
    in_book = {o["no"]: o for o in book(home)}
    assert all(str(x["order_id"]) in in_book for x in told)
    assert len(in_book) >= len(told)  # the victim's last order may have landed unreported
    assert cash(home) == PAPER_CASH - fills_value(home)


def test_the_window_and_a_command_see_each_others_orders(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported bug: a CLI buy made while the window was open vanished when it closed."""

    async def window_session() -> list[str]:
        engine = TradingEngine(await open_context(paper=True), EventHub())
        try:
            await engine.store()
            mine = await engine.place(engine.request("ITC", Side.BUY, 2))
            code, out = await asyncio.to_thread(cli, capsys, "buy", "SBIN", "--qty", "3")
            assert code == 0, out
            theirs = json.loads(out)["order_id"]
            seen = [o.order_id for o in await engine.read_orders()]
            assert {mine.order_id, theirs} <= set(seen)
            return [str(mine.order_id), str(theirs)]
        finally:
            await engine.ctx.close()

    both = asyncio.run(window_session())
    code, out = cli(capsys, "orders")
    assert code == 0
    assert {o["order_id"] for o in json.loads(out)["orders"]} >= set(both)
    assert len(set(both)) == 2


def test_a_killed_service_comes_back_with_everything_it_acknowledged(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, "buy", "SBIN", "--qty", "5")
    assert code == 0
    first = json.loads(out)["order_id"]
    pid = json.loads((home / "paper" / ADDR).read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    code, out = cli(capsys, "buy", "ITC", "--qty", "1")  # starts a new service
    assert code == 0, out
    second = json.loads(out)["order_id"]
    assert json.loads((home / "paper" / ADDR).read_text())["pid"] != pid
    code, out = cli(capsys, "orders")
    numbers = [o["order_id"] for o in json.loads(out)["orders"]]
    assert numbers.count(first) == 1 and numbers.count(second) == 1
    assert second > first  # the numbering continued, never reused
    code, out = cli(capsys, "positions")
    net = {p["symbol"]: p["net_qty"] for p in json.loads(out)["positions"]}
    assert net == {"SBIN-EQ": 5, "ITC-EQ": 1}


def test_the_service_leaves_when_asked_and_a_client_restarts_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "orders")[0] == 0
    folder = home / "paper"
    assert serving_port(folder) is not None
    assert stop_service(folder)
    assert serving_port(folder) is None and not (folder / ADDR).exists()
    assert cli(capsys, "orders")[0] == 0
    assert serving_port(folder) is not None


def test_a_restored_backup_never_reuses_an_order_number(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = home / "paper"
    assert cli(capsys, "buy", "SBIN", "--qty", "1")[0] == 0
    backup = home / "backup.sqlite3"
    with (
        sqlite3.connect(folder / "exchange.sqlite3") as src,
        sqlite3.connect(backup) as dst,
    ):
        src.backup(dst)
    code, out = cli(capsys, "buy", "ITC", "--qty", "1")
    after_backup = json.loads(out)["order_id"]
    assert stop_service(folder)
    for suffix in ("-wal", "-shm"):
        (folder / f"exchange.sqlite3{suffix}").unlink(missing_ok=True)
    backup.replace(folder / "exchange.sqlite3")  # the trader restores yesterday evening's copy
    code, out = cli(capsys, "buy", "TATASTEEL", "--qty", "1")
    assert code == 0, out
    assert json.loads(out)["order_id"] > after_backup  # the journal's ids stay unique


def test_market_hours_from_the_config_replace_the_service_and_keep_the_book(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[paper] session = true` with today a holiday: a regular order is refused before it
    fills anything, an after-market order waits for the open, and the day's book survives the
    change of service."""
    folder = home / "paper"
    code, out = cli(capsys, "buy", "SBIN", "--qty", "1")
    assert code == 0, out
    first = json.loads((folder / ADDR).read_text(encoding="utf-8"))
    assert first["market"] == "always"
    with (home / "config.toml").open("a", encoding="utf-8") as f:
        f.write(f'\n[paper]\nsession = true\n[market]\nholidays = ["{today_ist()}"]\n')
    code, out = cli(capsys, "buy", "ITC", "--qty", "1")
    assert code != 0 and "market is closed" in json.loads(out)["reason"]
    second = json.loads((folder / ADDR).read_text(encoding="utf-8"))
    assert second["pid"] != first["pid"] and second["market"] == f"session:{today_ist()}"
    code, out = cli(capsys, "buy", "ITC", "--qty", "1", "--amo")
    assert code == 0 and json.loads(out)["status"] == "open", out
    code, out = cli(capsys, "orders")
    rows = json.loads(out)["orders"]
    # The refused order never reached the book (a gateway refusal, as at the broker).
    assert [(r["symbol"], r["status"]) for r in rows] == [
        ("SBIN-EQ", "complete"),
        ("ITC-EQ", "open"),
    ]
