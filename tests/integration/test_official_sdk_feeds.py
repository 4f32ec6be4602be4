"""Kotak's official SDK (kotakneoapi 3.0.9) on `gui-trader sim`'s live feeds: create_websocket()
and create_order_feed() find the feeds by the config service, log in, subscribe (two equities,
an index by name, depth), get the snapshot and updates at the REST quote's prices, get every
update of an order they place through `complete` with its tag and the position after it,
unsubscribe, ride out a server-side drop (reconnect, re-subscribe) and close.

The SDK venv is test_official_sdk.py's (skipped, saying why, when it cannot be installed);
tests/support/sdk_feed_driver.py runs in it and prints one JSON result per step.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_official_sdk as base

DRIVER = Path(__file__).resolve().parents[1] / "support" / "sdk_feed_driver.py"
STEPS = {
    "discovery",
    "sfeed_connect",
    "sfeed_subscribe_snapshot",
    "sfeed_update",
    "orderfeed_connect",
    "orderfeed_order_updates",
    "sfeed_unsubscribe",
    "server_drop_reconnect",
    "close",
}
sim = base.sim  # `gui-trader sim --port 0 --json`, stopped with SIGTERM: it must exit 0


@pytest.mark.timeout(base.INSTALL_TIMEOUT_S + 300)
def test_the_official_sdk_uses_the_live_feeds(sim: dict[str, Any], tmp_path: Path) -> None:
    started = time.monotonic()
    n = base.run_driver(DRIVER, sim, tmp_path, STEPS, timeout=240)
    print(f"official SDK feeds: {n} of {n} steps pass in {time.monotonic() - started:.1f} s")
