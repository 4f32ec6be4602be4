"""`quote --follow` and `orders --follow`: one JSON object per line from the live feeds, until
`--duration` or SIGTERM, exit 0; bad durations refused before anything starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gui_trader.cli import main

ROOT = Path(__file__).resolve().parents[2]


def gui_trader(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GUI_TRADER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "gui_trader", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_quote_follow_prints_feed_ticks_until_the_duration(home: Path) -> None:
    proc = gui_trader(home, "quote", "SBIN", "NIFTY", "--follow", "--duration", "4", "--json")
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["symbol"] for r in rows} == {"SBIN-EQ", "NIFTY 50"}, rows
    fed = [r for r in rows if r["source"] == "feed"]
    assert fed, "no tick came from the feed"
    sbin = [r for r in fed if r["symbol"] == "SBIN-EQ"]
    assert all(float(r["bid"]) <= float(r["ltp"]) <= float(r["ask"]) for r in sbin)
    assert all(set(r) == {"symbol", "ltp", "bid", "ask", "ts", "source"} for r in rows)


def test_orders_follow_shows_an_order_through_to_complete_and_ends_on_sigterm(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["orders", "--json"]) == 0  # the paper service is up before the stream starts
    capsys.readouterr()
    proc = gui_trader(home, "orders", "--follow", "--json")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while "orders feed live" not in (said := proc.stderr.readline()):
            assert said, "the stream ended before its feed was live"
        assert main(["buy", "SBIN", "--qty", "2", "--json"]) == 0
        placed = json.loads(capsys.readouterr().out)
        seen: list[dict[str, object]] = []
        while not any(r["status"] == "complete" for r in seen):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            row = json.loads(line)
            if row["order_id"] == placed["order_id"]:
                seen.append(row)
        assert {r["tag"] for r in seen} == {placed["tag"]}
        assert seen[-1]["filled_qty"] == 2 and seen[-1]["symbol"] == "SBIN-EQ"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("duration", ["0", "-1", "nan", "inf", "1e9", "abc"])
def test_a_bad_duration_is_refused(capsys: pytest.CaptureFixture[str], duration: str) -> None:
    assert main(["quote", "SBIN", "--follow", "--duration", duration]) == 2
    assert "--duration" in capsys.readouterr().err
