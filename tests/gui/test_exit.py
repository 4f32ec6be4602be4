"""Quit, SIGTERM and Ctrl-C all end the window through the same orderly shutdown: exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_window_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    env = {
        **os.environ,
        "GUI_TRADER_HOME": str(tmp_path / "home"),
        "GUI_TRADER_STARTUP_PROBE": "1",  # prints when the window is shown and the engine ready
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "--paper"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("engine ready"):
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
