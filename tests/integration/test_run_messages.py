"""One message per account after `gui-trader signal --yes`, through Apprise to a loopback JSON
endpoint; a notifier that cannot be reached is reported and changes nothing about trading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gui_trader.cli import main
from tests.support.json_sink import closed_port, json_sink

SECRET = "tok3nS3cretValue42"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    code = main([*args, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def test_one_message_per_account_and_a_dead_notifier_changes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("p1", "p2"):
        assert main(["account", "add", name, "--paper"]) == 0
    dead = f"json://127.0.0.1:{closed_port()}/hook/{SECRET}"
    with json_sink() as sink:
        assert main(["account", "set", "p1", "--notify", f"{sink.url}/p1"]) == 0
        assert main(["account", "set", "p2", "--notify", dead]) == 0
        signals = home / "signals.csv"
        signals.write_text("BHARTIARTL,buy,,,2\nBHARTIARTL,buy,,,2\n")
        code, doc, err = run_json(
            capsys, "signal", "--file", str(signals), "--yes", "--notify", f"{sink.url}/all"
        )
        # The trading part decides the exit status: both accounts placed the first signal and
        # skipped the second (they hold it now), whatever the notifiers did.
        assert code == 0, doc
        placed = {a["account"]: a for a in doc["signals"][0]["accounts"]}
        assert {a["status"] for a in placed.values()} == {"placed"}
        assert {a["status"] for a in doc["signals"][1]["accounts"]} == {"skipped"}
        assert doc["accounts"]["p1"]["notified"] is True
        assert doc["accounts"]["p2"]["notified"] is False  # its own URL is dead
        mine = sink.at("/p1")
        assert len(mine) == 1  # one message for the whole run
        assert mine[0]["title"] == "gui-trader p1: 1 placed, 1 skipped, 0 failed"
        lines = mine[0]["message"].splitlines()
        assert len(lines) == 2
        assert lines[0].startswith(
            f"BUY BHARTIARTL: placed qty 2, order {placed['p1']['order_id']}"
        )
        assert lines[1].startswith(
            "BUY BHARTIARTL: skipped: this run already sent an order for BHARTIARTL-EQ"
        )
        everyone = sink.at("/all")
        assert sorted(m["title"].split(":")[0] for m in everyone) == [
            "gui-trader p1",
            "gui-trader p2",
        ]
        p2 = next(m for m in everyone if m["title"].startswith("gui-trader p2"))
        assert f"order {placed['p2']['order_id']}" in p2["message"]
    # Said, with the URL masked past its scheme; the token is in no output and no log.
    assert "p2: not notified via json://***" in err
    logs = "".join(p.read_text() for p in (home / "logs").glob("*.log*"))
    assert "gui-trader p1: 1 placed, 1 skipped, 0 failed" in logs  # the desktop's log line
    assert SECRET not in err + logs + json.dumps(doc)


def test_a_plan_notifies_nobody(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["account", "add", "p1", "--paper"]) == 0
    with json_sink() as sink:
        code, doc, _ = run_json(
            capsys, "signal", "TCS", "--side", "buy", "--qty", "1", "--notify", f"{sink.url}/x"
        )
        assert code == 0
        assert doc["accounts"]["p1"]["notified"] is False
        assert sink.posts == []


def test_notify_urls_are_checked_and_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signal", "TCS", "--side", "buy", "--notify", f"nonsense-{SECRET}"]) == 2
    err = capsys.readouterr().err
    assert "expected an Apprise URL" in err and SECRET not in err
    many = [arg for n in range(9) for arg in ("--notify", f"json://127.0.0.1/{n}")]
    assert main(["signal", "TCS", "--side", "buy", *many]) == 2
    assert "at most 8 --notify URLs" in capsys.readouterr().err


def test_notify_urls_live_in_the_keyring_not_in_config(
    home: Path, capsys: pytest.CaptureFixture[str], memory_keyring: Any
) -> None:
    """A notify URL may hold a bot's token: config.toml never has it; an older config.toml that
    still does has them moved on the next `account set`, none lost."""
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    from gui_trader.config import Config, Paths

    assert main(["account", "add", "p1", "--paper"]) == 0
    url = f"json://127.0.0.1:9/hook/{SECRET}"
    assert main(["account", "set", "p1", "--notify", url, "--amount", "15000"]) == 0
    config_path = Paths(home).config
    assert SECRET not in config_path.read_text()
    assert any(SECRET in v for v in memory_keyring.items.values())
    code, doc, _ = run_json(capsys, "account", "list")
    assert code == 0 and doc["accounts"][0]["notify"] == ["json://***"]
    # An older config.toml with the URL in it: used, then moved by the next `account set`.
    older = f"json://127.0.0.1:9/older/{SECRET}"
    text = config_path.read_text().replace(
        "enabled = true", f'enabled = true\nnotify = ["{older}"]'
    )
    config_path.write_text(text)
    assert Config.load(config_path).accounts["p1"].fanout.notify == (older,)
    assert main(["account", "set", "p1", "--amount", "20000"]) == 0
    assert SECRET not in config_path.read_text()
    assert any(older in v and url in v for v in memory_keyring.items.values())
    # No keyring: refused in one line, nothing saved.
    keyring.set_keyring(FailKeyring())
    before = config_path.read_text()
    capsys.readouterr()
    assert main(["account", "set", "p1", "--notify", url, "--amount", "30000"]) == 2
    err = capsys.readouterr().err
    assert "kept only in the keyring" in err and SECRET not in err
    assert config_path.read_text() == before
