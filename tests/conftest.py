from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from gui_trader.sim.link import stop_service
from gui_trader.sim.paper_files import ADDR, CLOCK_ENV, IDLE_ENV
from gui_trader.sim.serve import ServerThread, start
from tests.support.keyrings import MemoryKeyring

# Paper services started by a test run on a fixed clock (09:25 IST at their start, whatever the
# hour CI runs) and leave soon if a test's teardown never reaches them.
os.environ.setdefault(CLOCK_ENV, "09:25")
os.environ.setdefault(IDLE_ENV, "60")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data folder and an isolated in-memory keyring; the paper
    services its data folders started are stopped after it."""
    root = tmp_path / "home"
    monkeypatch.setenv("GUI_TRADER_HOME", str(root))
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield root
    keyring.set_keyring(previous)
    for addr in tmp_path.rglob(ADDR):
        stop_service(addr.parent)


@pytest.fixture
def memory_keyring(home: Path) -> MemoryKeyring:
    backend = keyring.get_keyring()
    assert isinstance(backend, MemoryKeyring)
    return backend


@pytest.fixture
def loopback() -> Iterator[ServerThread]:
    """The simulator over a real 127.0.0.1 socket (uvicorn in a thread)."""
    with start() as server:
        yield server


@pytest.fixture(params=["asgi", "loopback"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
