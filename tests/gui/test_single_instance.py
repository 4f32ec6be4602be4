"""One window per data folder: a second start brings the first to the front and exits 0; CLI
commands work alongside; a window killed with -9 does not block the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui_trader.gui.single_instance import server_name

REPO = Path(__file__).resolve().parents[2]


def _env(home: Path, probe: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "GUI_TRADER_HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(REPO),
    }
    env.pop("GUI_TRADER_STARTUP_PROBE", None)
    if probe:
        env["GUI_TRADER_STARTUP_PROBE"] = probe
    return env


def _gui(home: Path, probe: str | None, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "--paper", *args],
        env=_env(home, probe),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(home: Path, probe: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gui_trader", "--paper", *args],
        env=_env(home, probe),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _wait_for(proc: subprocess.Popen[str], prefix: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return
    raise AssertionError(f"no {prefix!r} line; stderr: {proc.communicate()[1]}")


@pytest.fixture
def first(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The first window on tmp_path/home, its engine running."""
    proc = _gui(tmp_path / "home", "1")
    try:
        _wait_for(proc, "engine ready")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_a_second_window_brings_the_first_to_the_front(
    tmp_path: Path, first: subprocess.Popen[str]
) -> None:
    home = tmp_path / "home"
    second = _run(home, "exit")  # "exit": had it opened a window, it would say so and quit
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        f"gui_trader is already running for {home}: brought it to the front"
    ]
    log = (home / "logs" / "gui_trader.log").read_text()
    assert "bringing this window to the front" in log
    assert first.poll() is None  # the first window is still there

    cli = _run(home, None, "--json", "positions")  # headless commands are not windows
    assert cli.returncode == 0, cli.stderr
    assert '"mode": "PAPER"' in cli.stdout

    other = _run(tmp_path / "other", "exit")  # another data folder opens its own window
    assert other.returncode == 0, other.stderr
    assert other.stdout.startswith("window shown after ")

    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err


def test_a_killed_window_does_not_block_the_next(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = _gui(home, "1")
    try:
        _wait_for(proc, "window shown")  # listening from before the window opened
    finally:
        proc.kill()  # SIGKILL: no clean-up, the socket file stays behind on Unix
        proc.communicate()
    again = _run(home, "exit")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("window shown after "), again.stdout
    assert "already running" not in again.stdout


def test_the_name_is_per_folder_however_spelled(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert server_name(tmp_path / "a") == server_name(tmp_path / "link")
    assert server_name(tmp_path / "a") == server_name(tmp_path / "a" / ".." / "a")
    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")
    assert len(server_name(tmp_path / "a")) < 40  # Unix socket paths are short
