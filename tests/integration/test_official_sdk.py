"""Kotak's official SDK (kotakneoapi 3.0.9) against `gui-trader sim`: every call passes.

The SDK lives in a virtualenv of its own (it pins pandas/numpy ranges the app must not inherit),
cached across runs at ~/.cache/gui_trader-test/sdk-3.0.9 (GUI_TRADER_SDK_VENV overrides) and
built under a file lock, so parallel runs neither race nor build it twice. Without the package
index (offline) the test is skipped, saying why. tests/support/sdk_driver.py runs inside that
venv and prints one JSON result per call.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from gui_trader.sim.market_data import QUOTE_TYPES

SDK = "kotakneoapi==3.0.9"
VENV = Path(
    os.environ.get("GUI_TRADER_SDK_VENV", Path.home() / ".cache" / "gui_trader-test" / "sdk-3.0.9")
)
DRIVER = Path(__file__).resolve().parents[1] / "support" / "sdk_driver.py"
INSTALL_TIMEOUT_S = 600
# Every call the issue names: login, each order call, reports, portfolio, quotes of every type,
# margin, scrip master, logout (and the market-data routes the reference lists).
CALLS = {
    "totp_login",
    "totp_validate",
    "scrip_master",
    "scrip_master_nse_cm",
    "search_scrip",
    *(f"quotes_{kind}" for kind in QUOTE_TYPES),  # the driver's own list must match
    "place_order",
    "order_report",
    "order_report_by_id",
    "order_history",
    "modify_order",
    "cancel_order",
    "place_market_order",
    "place_option_sale",
    "trade_report",
    "positions",
    "holdings",
    "limits",
    "margin_required",
    "expiries",
    "option_chain",
    "historical_data",
    "whatsmyip",
    "logout",
}


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def sdk_python() -> Path:
    """The SDK venv's interpreter, built once (under a lock) or skip if it cannot be built."""
    ready = VENV / ".ready"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(VENV) + ".lock", timeout=INSTALL_TIMEOUT_S + 60):
        if ready.exists():
            return _python(VENV)
        shutil.rmtree(VENV, ignore_errors=True)  # a half-built venv of an interrupted run
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            pip = [str(_python(VENV)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run(
                [*pip, SDK, "pyotp"],
                check=True,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            shutil.rmtree(VENV, ignore_errors=True)
            detail = getattr(exc, "stderr", None) or str(exc)
            tail = str(detail).strip().splitlines()[-1:] or [""]
            pytest.skip(f"cannot install {SDK} into {VENV} (offline?): {tail[0][:300]}")
        ready.write_text(SDK + "\n", encoding="utf-8")
    return _python(VENV)


def _first_line(proc: subprocess.Popen[str], within_s: float) -> str:
    """The banner line, with a deadline (a process that never prints must not hang the test)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=within_s):
            raise AssertionError(f"`gui-trader sim` printed nothing in {within_s} s")
    return proc.stdout.readline()


@pytest.fixture
def sim() -> Iterator[dict[str, Any]]:
    """`gui-trader sim --port 0 --json` in its own process; stopped with SIGTERM, exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "sim", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = json.loads(_first_line(proc, 60))
        yield banner
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
    assert code == 0


def run_driver(
    driver: Path, sim: dict[str, Any], tmp_path: Path, expected: set[str], timeout: float
) -> int:
    """Run a driver in the SDK's venv against `sim`; every step must pass. The step count."""
    python = sdk_python()
    account = {
        k: sim["accounts"][0][k] for k in ("ucc", "mobile", "consumer_key", "mpin", "totp_secret")
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy") and k != "PYTHONPATH"
    }
    # its caches and logs in the test's folder, never the user's
    env |= {
        "HOME": str(tmp_path),
        "NEO_SCRIP_CACHE_DIR": str(tmp_path / "scrip-cache"),
        "NEO_HOLDINGS_CACHE_DIR": str(tmp_path / "holdings-cache"),
        "NEO_LOG_FILE_ENABLED": "false",
    }
    run = subprocess.run(
        [str(python), str(driver), sim["url"], json.dumps(account)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=env,
    )
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    failed = [r for r in results if not r["ok"]]
    assert not failed, "\n".join(f"{r['call']}: {r['detail']}" for r in failed) + run.stderr[-2000:]
    assert {r["call"] for r in results} == expected, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.returncode == 0
    return len(results)


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)
def test_the_official_sdk_passes_every_call(sim: dict[str, Any], tmp_path: Path) -> None:
    started = time.monotonic()
    n = run_driver(DRIVER, sim, tmp_path, CALLS, timeout=300)
    print(f"official SDK: {n} of {n} calls pass in {time.monotonic() - started:.1f} s")
