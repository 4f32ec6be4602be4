from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from gui_trader.sim.serve import ServerThread, start
from tests.support.keyrings import MemoryKeyring


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data folder and an isolated in-memory keyring."""
    root = tmp_path / "home"
    monkeypatch.setenv("GUI_TRADER_HOME", str(root))
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield root
    keyring.set_keyring(previous)


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
