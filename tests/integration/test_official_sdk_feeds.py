"""Kotak's official SDK (kotakneoapi 3.0.9) on `gui-trader sim`'s live feeds: create_websocket()
and create_order_feed() find the feeds by the config service, log in, subscribe (two equities,
an index by name, depth), get the snapshot and updates at the REST quote's prices, get every
update of an order they place through `complete` with its tag and the position after it,
unsubscribe, ride out a server-side drop (reconnect, re-subscribe) and close.

The SDK venv is test_official_sdk.py's (skipped, saying why, when it cannot be installed);
tests/support/sdk_feed_driver.py runs in it and prints one JSON result per step.
"""

from __future__ import annotations

import json
import os
import subprocess
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
    python = base.sdk_python()
    account = {
        k: sim["accounts"][0][k] for k in ("ucc", "mobile", "consumer_key", "mpin", "totp_secret")
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy") and k != "PYTHONPATH"
    }
    env |= {
        "HOME": str(tmp_path),
        "NEO_SCRIP_CACHE_DIR": str(tmp_path / "scrip-cache"),
        "NEO_HOLDINGS_CACHE_DIR": str(tmp_path / "holdings-cache"),
        "NEO_LOG_FILE_ENABLED": "false",
    }
    started = time.monotonic()
    run = subprocess.run(
        [str(python), str(DRIVER), sim["url"], json.dumps(account)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    failed = [r for r in results if not r["ok"]]
    assert not failed, "\n".join(f"{r['call']}: {r['detail']}" for r in failed) + run.stderr[-2000:]
    assert {r["call"] for r in results} == STEPS, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.returncode == 0
    print(
        f"official SDK feeds: {len(results)} of {len(results)} steps pass in "
        f"{time.monotonic() - started:.1f} s"
    )
