"""packaging/build makes a folder bundle that starts on its own: `--version`, and the window
(paper mode, its paper service started from the bundle itself) opened offscreen and quit.

Slow (a few minutes) and only where PyInstaller is installed (`pip install -e '.[bundle]'`):
CI's test extra does not carry it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gui_trader.cli.version import app_version
from gui_trader.sim.link import stop_service

REPO = Path(__file__).resolve().parents[2]
EXE = "gui-trader.exe" if sys.platform == "win32" else "gui-trader"
BUNDLE = REPO / "dist" / "gui-trader" / EXE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        importlib.util.find_spec("PyInstaller") is None,
        reason="PyInstaller not installed (pip install -e '.[bundle]')",
    ),
]


def test_the_bundle_builds_and_starts(tmp_path: Path) -> None:
    build = subprocess.run(
        ["bash", str(REPO / "packaging" / "build")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert BUNDLE.is_file()

    # nothing from the checkout or the venv: the bundle alone
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    version = subprocess.run(
        [str(BUNDLE), "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"gui-trader {app_version()}\n"

    home = tmp_path / "home"
    env |= {
        "GUI_TRADER_HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "GUI_TRADER_STARTUP_PROBE": "quit",  # File -> Quit once the engine is ready
        "GUI_TRADER_PAPER_IDLE_S": "30",  # the paper service leaves soon even if a stop fails
    }
    try:
        window = subprocess.run(
            [str(BUNDLE), "--paper"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    finally:
        stop_service(home / "paper")  # the paper service the window started
    assert window.returncode == 0, window.stderr
    lines = window.stdout.splitlines()
    assert any(line.startswith("window shown after ") for line in lines), window.stdout
    assert any(line.startswith("engine ready after ") for line in lines), window.stdout
    assert "Traceback" not in window.stderr
