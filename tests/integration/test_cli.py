"""The headless contract: one line on bad input and nothing on the wire; JSON; secrets stay in
the keyring; paper by default."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from gui_trader.cli import main
from gui_trader.config import Paths
from gui_trader.sim.exchange import SimUser
from gui_trader.sim.serve import start
from tests.support.keyrings import MemoryKeyring


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def journal_rows(home: Path) -> int:
    path = home / "journal.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM intents").fetchone()[0])


def paper_orders(home: Path) -> int:
    """Orders in the data folder's paper book, as the paper service committed them."""
    path = home / "paper" / "exchange.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


@pytest.mark.parametrize(
    "args",
    [
        ["buy", "NOPE", "--qty", "1"],
        ["buy", "RELIANCE", "--qty", "0"],
        ["buy", "RELIANCE", "--qty", "-5"],
        ["buy", "RELIANCE", "--qty", "abc"],
        ["buy", "RELIANCE", "--qty", "1.5"],
        ["buy", "RELIANCE", "--qty", "1", "--price", "1o0"],
        ["buy", "RELIANCE", "--qty", "1", "--price", "1000.03"],
        ["buy", "RELIANCE", "--qty", "1", "--price", "-1000"],
        ["buy", "RELIANCE", "--qty", "1", "--price", "nan"],
        ["sell", "NIFTY", "--qty", "75"],  # an index is not tradable
        ["buy", "RELIANCE", "--qty", "1", "--product", "XYZ"],
        ["cancel", "not-a-number"],
    ],
)
def test_bad_input_is_refused_with_nothing_sent(
    capsys: pytest.CaptureFixture[str], home: Path, args: list[str]
) -> None:
    code, out, err = run(capsys, *args, "--json")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("gui-trader: ")
    assert json.loads(out)["ok"] is False  # exactly one JSON document
    assert journal_rows(home) == 0
    assert paper_orders(home) == 0


def test_fo_lot_and_freeze_are_checked(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    from gui_trader.core.clock import today_ist
    from gui_trader.sim.universe import option_symbol, weekly_expiries

    code, out, _ = run(capsys, "quote", "NIFTY", "--json")
    assert code == 0
    expiry = weekly_expiries(today_ist())[0]
    ce = option_symbol(expiry, 25900, "CE")
    code, _, err = run(capsys, "sell", ce, "--qty", "10")
    assert code == 2 and "lot size 75" in err
    code, _, err = run(capsys, "sell", ce, "--qty", "1875")
    assert code == 2 and "freeze limit" in err
    assert journal_rows(home) == 0 and paper_orders(home) == 0
    code, out, err = run(capsys, "sell", ce, "--qty", "150", "--json")
    assert code == 0, err
    assert json.loads(out)["order"]["qty"] == 150


def test_paper_by_default_and_state_persists(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "buy", "--json", "INFY", "--qty", "3")  # --json after the command
    assert code == 0
    placed = json.loads(out)
    assert placed["mode"] == "PAPER" and placed["status"] == "complete"
    assert placed["tag"].startswith("O") and len(placed["tag"]) <= 20
    code, out, _ = run(capsys, "--json", "positions")
    rows = json.loads(out)["positions"]
    assert [(r["symbol"], r["net_qty"]) for r in rows] == [("INFY-EQ", 3)]
    code, out, _ = run(capsys, "holdings", "--json")
    assert len(json.loads(out)["holdings"]) == 6  # the demo portfolio


def test_rms_rejection_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sell", "HDFCBANK", "--qty", "5", "--json")  # not held
    assert code == 1
    assert "Insufficient holdings" in json.loads(out)["reason"]
    assert "not placed" in err


def test_limit_order_rests_and_cancels(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "buy", "RELIANCE", "--qty", "1", "--price", "1300.00", "--json")
    assert code == 0
    order_id = json.loads(out)["order_id"]
    assert json.loads(out)["status"] == "open"
    code, out, _ = run(capsys, "cancel", order_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "cancelled"
    code, _, err = run(capsys, "cancel", order_id)
    assert code == 1 and "already cancelled" in err


SECRET_USER = SimUser(
    ucc="ZX9Q1",
    mobile="+919812345670",
    consumer_key="ck-7f3a9b2e51d04c88",
    mpin="730418",
    totp_secret="KRSXG5CTMVRXEZLUKN2XAZLSOQZDGNBV",
)


def test_no_secret_on_disk_or_in_output(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUI_TRADER_CONSUMER_KEY", SECRET_USER.consumer_key)
    monkeypatch.setenv("GUI_TRADER_MPIN", SECRET_USER.mpin)
    monkeypatch.setenv("GUI_TRADER_TOTP_SECRET", SECRET_USER.totp_secret)
    with start(users=[SECRET_USER]) as st:
        outputs = []
        for args in (
            [
                "account",
                "add",
                "main",
                "--mobile",
                SECRET_USER.mobile,
                "--ucc",
                SECRET_USER.ucc,
                "--from-env",
                "--login-url",
                st.url,
                "-v",
            ],
            ["buy", "RELIANCE", "--qty", "2", "-v", "--json"],
            ["orders", "-v"],
            ["login", "-v"],
            ["positions", "--json", "-v"],
        ):
            code, out, err = run(capsys, *args)
            assert code == 0, err
            outputs.append(out + err)
        st.app.exchange.revoke()  # force a re-login: its log lines must be clean too
        code, out, err = run(capsys, "orders", "-v")
        assert code == 0
        outputs.append(out + err)
    [session_key] = [k for k in memory_keyring.items if k[1].endswith(":main:ZX9Q1:session")]
    session = json.loads(memory_keyring.items[session_key])
    secrets = [
        SECRET_USER.consumer_key,
        SECRET_USER.mpin,
        SECRET_USER.totp_secret,
        session["token"],
        session["sid"],
    ]
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "gui_trader.log" for p in files)
    assert any(p.name == "config.toml" for p in files)
    for p in files:
        blob = p.read_bytes()
        for s in secrets:
            assert s.encode() not in blob, f"{s[:4]}... found in {p.name}"
    for text in outputs:
        for s in secrets:
            assert s not in text
    scope = Paths(home).keyring_scope  # keyed by data folder, account and UCC
    assert {k for _, k in memory_keyring.items} == {
        f"{scope}:main:ZX9Q1:{field}"
        for field in ("consumer_key", "mpin", "totp_secret", "session")
    }


def test_no_keyring_backend_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.setenv("GUI_TRADER_CONSUMER_KEY", "k" * 12)
    monkeypatch.setenv("GUI_TRADER_MPIN", "123456")
    monkeypatch.setenv("GUI_TRADER_TOTP_SECRET", "JBSWY3DPEHPK3PXP")
    code, _, err = run(
        capsys, "account", "add", "main", "--mobile", "+919999999999", "--ucc", "AB1", "--from-env"
    )
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "No OS keyring" in err and "gnome-keyring" in err
    assert not (home / "config.toml").exists()
    # paper mode still works without any keyring
    code, _, err = run(capsys, "quote", "RELIANCE")
    assert code == 0, err


def test_non_tty_add_never_prompts(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "account", "add", "main", "--mobile", "+919999999999", "--ucc", "AB1"
    )
    assert code == 2 and "--from-env" in err


def test_pnl_splits_booked_from_open_exactly_and_writes_csv(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    fills = []
    for side, qty in (("buy", "10"), ("sell", "4")):
        code, out, _ = run(capsys, side, "INFY", "--qty", qty, "--product", "MIS", "--json")
        assert code == 0
        fills.append(Decimal(json.loads(out)["order"]["avg_price"]))
    csv = home / "pnl.csv"
    code, out, _ = run(capsys, "pnl", "--json", "--csv", str(csv))
    assert code == 0
    report = json.loads(out)
    [row] = report["positions"]
    bought, sold = fills
    assert Decimal(row["realized"]) == 4 * (sold - bought)  # independent: 4 matched units
    assert Decimal(row["total"]) == 4 * sold - 10 * bought + 6 * Decimal(row["ltp"])
    assert Decimal(row["open"]) == Decimal(row["total"]) - Decimal(row["realized"])
    assert [p["product"] for p in report["by_product"]] == ["MIS"]
    assert Decimal(report["total"]["total"]) == Decimal(row["total"])
    assert csv.read_text().splitlines()[0].startswith("symbol,market,product,net_qty")
    code, _, err = run(capsys, "pnl", "--csv", str(home / "no-such-dir" / "x.csv"))
    assert code == 2 and "existing folder" in err
