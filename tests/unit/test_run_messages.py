"""The per-account message of a fan-out run, and its delivery's bounds."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal

from gui_trader.core.order import Side
from gui_trader.engine.fanout import (
    FAILED,
    PLACED,
    SKIPPED,
    AccountResult,
    Breaker,
    FanoutReport,
    Signal,
    SignalResult,
)
from gui_trader.engine.run_messages import AccountMessage, compose, deliver, mask_url


def report() -> FanoutReport:
    tcs = Signal("TCS", Side.BUY, Decimal("3000"))
    lt = Signal("LT", Side.SELL)
    return FanoutReport(
        [
            SignalResult(
                tcs,
                [
                    AccountResult("a", PLACED, qty=3, order_id="101", attempts=1),
                    AccountResult("b", FAILED, "rejected: no margin", qty=3, attempts=1),
                ],
            ),
            SignalResult(
                lt,
                [
                    AccountResult("a", SKIPPED, "disabled"),
                    AccountResult("b", PLACED, qty=5, order_id="202", attempts=2),
                ],
            ),
        ],
        Breaker(True, "LT", 1, 2, ["INFY"]),
        sent=True,
    )


def test_one_message_per_account_lists_its_orders() -> None:
    msgs = compose(report())
    assert set(msgs) == {"a", "b"}
    assert msgs["a"].title == "gui-trader a: 1 placed, 1 skipped, 0 failed"
    assert msgs["a"].lines[:2] == [
        "BUY TCS @ 3000: placed qty 3, order 101",
        "SELL LT: skipped: disabled",
    ]
    assert msgs["b"].lines[0] == "BUY TCS @ 3000 qty 3: failed: rejected: no margin"
    assert msgs["b"].lines[1] == "SELL LT: placed qty 5, order 202"
    assert msgs["b"].lines[2].startswith("CIRCUIT BREAKER: 1 of 2 accounts failed on LT")


def test_urls_are_masked_past_the_scheme() -> None:
    assert mask_url("tgram://123:SECRET/456") == "tgram://***"
    assert mask_url("no-scheme-SECRET") == "***"


def test_a_stuck_notifier_is_left_behind_within_the_bound() -> None:
    release = threading.Event()
    sent: list[str] = []

    def send(url: str, title: str, body: str) -> bool:
        if "stuck" in url:
            release.wait(30)
            return True
        if "broken" in url:
            raise ConnectionError("refused")
        sent.append(url)
        return True

    msgs = {n: AccountMessage(n, f"t {n}", ["x"]) for n in ("a", "b", "c", "d")}
    urls = {"a": ["json://ok/a"], "b": ["json://ok/b", "json://stuck/b"], "c": ["json://broken"]}
    started = time.monotonic()
    try:
        notified = asyncio.run(deliver(msgs, urls, bound_s=0.5, send=send))
    finally:
        release.set()
    assert time.monotonic() - started < 10
    assert notified == {"a": True, "b": False, "c": False}  # d has no URL: logged only
    assert sorted(sent) == ["json://ok/a", "json://ok/b"]
