"""config.toml read and written as before, while importing gui_trader.config stays light: the
window's first frame reads it (issue 16), and the guards, the risk limits and the TOML writer
are loaded only when used."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import time
from decimal import Decimal
from pathlib import Path

import platformdirs
import pytest

from gui_trader.config import AccountConfig, Config, GuardSettings, Paths
from gui_trader.core import guard_settings
from gui_trader.core.risk_limits import RiskLimits
from gui_trader.engine import order_guards

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_config_loads_no_order_model() -> None:
    probe = (
        "import json, sys\n"
        "from gui_trader.config import Config, Paths\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    heavy = {
        "gui_trader.engine.order_guards",
        "gui_trader.core.order",
        "gui_trader.core.risk_limits",
        "tomli_w",
        "filelock",
    }
    assert sorted(loaded & heavy) == []


def test_the_guard_settings_are_one_class_wherever_imported() -> None:
    assert GuardSettings is guard_settings.GuardSettings is order_guards.GuardSettings


def test_a_config_comes_back_as_saved(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config = Config(path)
    config.accounts["main"] = AccountConfig("main", "9999999999", "UCC1", "https://x/login")
    config.default_account = "main"
    config.orders_per_second = 5.0
    config.guards = GuardSettings(max_order_qty=500, confirm_order_qty=100)
    config.set_risk("main", RiskLimits(Decimal(5000), None, time(15, 10)))
    config.extra["number_grouping"] = "international"
    config.save()

    again = Config.load(path)
    assert again.accounts == config.accounts
    assert again.default_account == "main"
    assert again.orders_per_second == 5.0
    assert again.guards == GuardSettings(max_order_qty=500, confirm_order_qty=100)
    assert again.risk("main") == RiskLimits(Decimal(5000), None, time(15, 10))
    assert again.risk("other").empty
    assert again.extra["number_grouping"] == "international"

    again.set_risk("main", RiskLimits())
    assert "risk" not in again.extra  # all off: the table is dropped


def test_bad_tables_are_still_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[guards]\nmax_order_qty = 0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[guards\] max_order_qty = 0"):
        Config.load(path)
    path.write_text('[risk.main]\nmax_loss = "lots"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[risk\.main\]"):
        Config.load(path).risk("main")
    config = Config(path, extra={"token": "x"})
    with pytest.raises(ValueError, match="secret field 'token'"):
        config.save()


def test_the_data_folder_without_gui_trader_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUI_TRADER_HOME", raising=False)
    expected = Path(platformdirs.user_data_dir("gui_trader", appauthor=False))
    assert Paths.resolve().root == expected


def test_gui_trader_home_puts_everything_under_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GUI_TRADER_HOME", str(tmp_path))
    paths = Paths.resolve()
    assert paths.root == tmp_path
    assert paths.config == tmp_path / "config.toml"
    assert len(paths.keyring_scope) == 12
