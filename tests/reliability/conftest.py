from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gui_trader.sim.serve import ServerThread
from tests.reliability.rig import LiveRig, live_server


@pytest.fixture
def sim() -> Iterator[ServerThread]:
    with live_server() as server:
        yield server


@pytest.fixture
def rig(tmp_path: Path, sim: ServerThread) -> LiveRig:
    return LiveRig(tmp_path, sim)
