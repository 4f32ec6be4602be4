"""Every fat-finger guard refuses with one line and sends nothing, judged by the paper book
(the paper service's own order book, read over the wire); exits are never held back."""

from __future__ import annotations

import asyncio
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gui_trader.app import open_context
from gui_trader.cli import main
from gui_trader.core.clock import today_ist
from gui_trader.core.order import OrderRequest, OrderStatus, OrderType, Product, Side
from gui_trader.engine.events import EventHub
from gui_trader.engine.order_checks import InvalidOrder
from gui_trader.engine.order_guards import GuardRefused, NeedsConfirmation
from gui_trader.engine.trading import TradingEngine
from gui_trader.sim.universe import weekly_expiries


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def book(capsys: pytest.CaptureFixture[str], account: str | None = None) -> list[dict[str, Any]]:
    """The paper exchange's order book for the account, as the broker reports it."""
    who = ["--account", account] if account else []
    code, out, err = run(capsys, "orders", *who, "--json")
    assert code == 0, err
    return list(json.loads(out)["orders"])


def ltp(capsys: pytest.CaptureFixture[str], symbol: str) -> Decimal:
    code, out, err = run(capsys, "quote", symbol, "--json")
    assert code == 0, err
    return Decimal(json.loads(out)["quotes"][0]["ltp"])


def guards(home: Path, **table: object) -> None:
    """Write `[guards]` into config.toml (keeping the rest), as a trader would."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    text = path.read_text() if path.exists() else ""
    lines = [f"{k} = {json.dumps(v) if isinstance(v, str) else v}" for k, v in table.items()]
    path.write_text(text + "\n[guards]\n" + "\n".join(lines) + "\n")


def refused(code: int, err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("gui-trader: "), err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_the_five_million_share_sell_is_refused_at_once_with_nothing_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue's case, as a new user would try it."""
    code, out, err = run(capsys, "sell", "RELIANCE", "--qty", "5000000", "--json")
    line = refused(code, err, "SELL 5,000,000 RELIANCE-EQ", "[guards] max_order_qty")
    assert line.endswith("nothing sent")
    assert json.loads(out) == {"ok": False, "error": line.removeprefix("gui-trader: ")}
    code, _, err = run(capsys, "sell", "RELIANCE", "--qty", "5000000", "--yes")
    refused(code, err, "max_order_qty")  # --yes never lifts a hard limit
    assert book(capsys) == []


def test_the_billion_lot_straddle_and_one_above_the_lots_limit_are_refused(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    expiry = weekly_expiries(today_ist())[0].isoformat()
    straddle = ("straddle", "--expiry", expiry, "--atm", "--yes")
    code, _, err = run(capsys, *straddle, "--lots", "1000000000")
    refused(code, err, "--lots")
    code, _, err = run(capsys, *straddle, "--lots", "201")
    refused(code, err, "201 lots is above your limit of 200", "[guards] max_straddle_lots")
    guards(home, max_straddle_lots=10)
    code, _, err = run(capsys, *straddle, "--lots", "11", "--batch-lots", "1")
    refused(code, err, "11 lots is above your limit of 10", "nothing planned or sent")
    assert book(capsys) == []


def test_a_straddle_above_the_confirm_threshold_says_so_and_needs_yes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    expiry = weekly_expiries(today_ist())[0].isoformat()
    code, out, err = run(capsys, "straddle", "--expiry", expiry, "--atm", "--lots", "60")
    assert code == 0, err
    assert "large: 60 lots is above 50 ([guards] confirm_straddle_lots); premium about Rs" in out
    assert out.rstrip().endswith("nothing sent: add --yes to fire")
    code, out, _ = run(capsys, "straddle", "--expiry", expiry, "--atm", "--lots", "60", "--json")
    doc = json.loads(out)
    assert doc["sent"] is False and "confirm_straddle_lots" in doc["guard_warnings"][0]
    assert book(capsys) == []


def test_value_and_ltp_distance_limits_refuse_in_one_line(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    price = ltp(capsys, "RELIANCE")
    qty = math.ceil(Decimal(6_000_000) / price)  # 60 lakh at market
    code, _, err = run(capsys, "buy", "RELIANCE", "--qty", str(qty), "--product", "MIS")
    refused(code, err, "value Rs", "[guards] max_order_value", "nothing sent")
    guards(home, max_ltp_distance_pct=2, confirm_ltp_distance_pct=1)
    through = (price * Decimal("1.05")).quantize(Decimal(1))  # a buy 5 % above the LTP
    code, _, err = run(capsys, "buy", "RELIANCE", "--qty", "1", "--price", str(through), "--yes")
    refused(code, err, f"limit {through} is", "above the LTP", "[guards] max_ltp_distance_pct")
    code, _, err = run(capsys, "sell", "RELIANCE", "--qty", "1", "--price", str(through))
    assert code == 0, err  # a sell above the LTP rests: no fat finger
    [resting] = book(capsys)
    assert resting["status"] == "open" and resting["side"] == "SELL"


def test_a_limit_outside_the_exchange_band_is_refused(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    guards(home, max_ltp_distance_pct=100)  # the band, not the trader's limit, refuses
    far = (ltp(capsys, "INFY") * 2).quantize(Decimal(1))
    code, _, err = run(capsys, "buy", "INFY", "--qty", "1", "--price", str(far), "--yes")
    refused(code, err, "outside today's band")
    assert book(capsys) == []


def test_above_a_soft_threshold_the_cli_needs_yes(capsys: pytest.CaptureFixture[str]) -> None:
    qty = math.ceil(Decimal(1_200_000) / ltp(capsys, "SBIN"))  # about 12 lakh at market
    args = ("buy", "SBIN", "--qty", str(qty), "--product", "MIS")
    code, _, err = run(capsys, *args)
    line = refused(code, err, f"BUY {qty:,} SBIN-EQ at market, value about Rs", "10,00,000")
    assert line.endswith("nothing sent: add --yes to send it")
    assert book(capsys) == []
    code, out, err = run(capsys, *args, "--yes", "--json")
    assert code == 0, err
    [placed] = book(capsys)
    assert placed["order_id"] == json.loads(out)["order_id"] and placed["qty"] == qty


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"max_order_value": -1}, "config.toml [guards] max_order_value = -1: must be a number"),
        ({"max_order_qty": "lots"}, "config.toml [guards] max_order_qty = 'lots': must be"),
        ({"max_lots": 5}, "config.toml [guards] max_lots: unknown key"),
    ],
)
def test_a_bad_guards_setting_refuses_in_one_line_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], home: Path, table: dict[str, object], message: str
) -> None:
    guards(home, **table)
    code, _, err = run(capsys, "buy", "INFY", "--qty", "1")
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and message in lines[0], err
    assert not (home / "paper" / "exchange.sqlite3").exists()  # the exchange was never asked


def test_exits_are_never_held_back_by_quantity_or_value(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    code, _, err = run(capsys, "buy", "ITC", "--qty", "20", "--product", "MIS")
    assert code == 0, err
    guards(home, max_order_qty=10, confirm_order_qty=5, max_order_value=100_000)

    async def session() -> tuple[str | None, str]:
        engine = TradingEngine(await open_context(paper=True), EventHub())
        try:
            await engine.store()
            sell = engine.request("ITC", Side.SELL, 20, None, Product.MIS)
            with pytest.raises(GuardRefused, match="max_order_qty"):
                await engine.place(sell)  # an entry: refused
            with pytest.raises(NeedsConfirmation):
                await engine.place(engine.request("ITC", Side.BUY, 6), confirmed=False)
            inst = sell.instrument
            far = OrderRequest(inst, Side.SELL, 20, OrderType.LIMIT, Decimal(1), Product.MIS)
            with pytest.raises(InvalidOrder, match="band"):
                await engine.place(far, feature="R")  # an exit's limit still meets the band
            exit_ = await engine.place(sell, feature="R", confirmed=False)  # a risk exit
            return exit_.order_id, exit_.tag
        finally:
            await engine.ctx.close()

    order_id, tag = asyncio.run(session())
    orders = {o["order_id"]: o for o in book(capsys)}
    assert len(orders) == 2 and order_id in orders  # the buy, then the exit: nothing else
    assert tag.startswith("R") and orders[order_id]["status"] == OrderStatus.COMPLETE.value


def test_a_signal_above_a_limit_is_a_failed_row_and_its_exit_still_goes(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    assert main(["account", "add", "p1", "--paper"]) == 0
    signal = ("signal", "TCS", "--accounts", "p1", "--product", "MIS", "--yes", "--json")
    code, out, _ = run(capsys, *signal, "--side", "buy", "--qty", "3")
    assert code == 0, out
    guards(home, max_order_qty=2)
    code, out, _ = run(capsys, *signal[:1], "LT", *signal[2:], "--side", "buy", "--qty", "3")
    [row] = json.loads(out)["signals"][0]["accounts"]
    assert code != 0 and row["status"] == "failed" and row["order_id"] is None
    assert "[guards] max_order_qty" in row["reason"] and "\n" not in row["reason"]
    assert len(book(capsys, "p1")) == 1  # the first buy only
    code, out, _ = run(capsys, *signal, "--side", "sell", "--qty", "3")
    [row] = json.loads(out)["signals"][0]["accounts"]
    assert code == 0 and row["status"] == "placed" and row["exit"] is True, row
    assert len(book(capsys, "p1")) == 2
