"""A live account on the simulator over loopback, as a trader's scripts would use it: the real
CLI in subprocesses (kill -9 included) or in process, a file keyring shared by every process,
and the server's own book to judge what the client reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import keyring

from gui_trader.config import AccountConfig, Config, Paths
from gui_trader.sim.exchange import PAPER_USER
from gui_trader.sim.serve import ServerThread, start
from tests.support.keyrings import FileKeyring

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "main"


class LiveRig:
    """One data folder with one live account `main` that trades on `server`."""

    def __init__(
        self,
        root: Path,
        server: ServerThread,
        *,
        deadline_s: float = 2.0,
        landing_s: float = 0.3,
        orders_per_second: float = 1000.0,
    ) -> None:
        self.root = root
        self.server = server
        self.home = root / "home"
        self.keyring_file = root / "keyring.json"
        self.env = {
            **os.environ,
            "GUI_TRADER_HOME": str(self.home),
            "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
            "TEST_KEYRING_FILE": str(self.keyring_file),
            "PYTHONPATH": str(REPO),
            "QT_QPA_PLATFORM": "offscreen",
        }
        self.env.pop("http_proxy", None)
        self.env.pop("HTTP_PROXY", None)
        self._write_account(deadline_s, landing_s, orders_per_second)

    def _write_account(self, deadline_s: float, landing_s: float, rate: float) -> None:
        from gui_trader.broker.vault import VaultKey, store_secrets

        paths = Paths(self.home).ensure()
        config = Config.load(paths.config)
        u = PAPER_USER
        config.accounts[ACCOUNT] = AccountConfig(ACCOUNT, u.mobile, u.ucc, self.server.url)
        config.default_account = ACCOUNT
        config.orders_per_second = config.requests_per_second = rate
        config.deadline_s, config.landing_s = deadline_s, landing_s
        config.extra["market"] = {"always_open": True}  # the simulator's market never closes
        config.save()
        with self.keyring():
            store_secrets(
                VaultKey(paths.keyring_scope, ACCOUNT, u.ucc),
                consumer_key=u.consumer_key,
                mpin=u.mpin,
                totp_secret=u.totp_secret,
            )

    @contextmanager
    def keyring(self) -> Iterator[None]:
        """This process uses the rig's file keyring (what the subprocesses use)."""
        previous = keyring.get_keyring()
        old = os.environ.get("TEST_KEYRING_FILE")
        os.environ["TEST_KEYRING_FILE"] = str(self.keyring_file)
        keyring.set_keyring(FileKeyring())
        try:
            yield
        finally:
            keyring.set_keyring(previous)
            if old is None:
                os.environ.pop("TEST_KEYRING_FILE", None)
            else:
                os.environ["TEST_KEYRING_FILE"] = old

    # ------------------------------------------------------------------ the CLI
    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gui_trader", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "gui_trader", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
        )

    def main(self, *args: str) -> int:
        """The CLI in this process (fast: no interpreter start), same data folder and keyring."""
        from gui_trader.cli import main

        old = os.environ.get("GUI_TRADER_HOME")
        os.environ["GUI_TRADER_HOME"] = str(self.home)
        try:
            with self.keyring():
                return main(list(args))
        finally:
            if old is None:
                os.environ.pop("GUI_TRADER_HOME", None)
            else:
                os.environ["GUI_TRADER_HOME"] = old

    # ------------------------------------------------------------------ the server's truth
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.server.url, timeout=10.0) as c:
            resp = c.request(method, path, json=body)
            resp.raise_for_status()
            return resp.json()

    def book(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "/_sim/book")["orders"])

    def faults(self, **spec: Any) -> None:
        self.admin("POST", "/_sim/faults", spec)

    def qty_by_symbol(self, *, side: str | None = None) -> Counter[str]:
        """Units ordered per trading symbol at the server (every order the server accepted)."""
        out: Counter[str] = Counter()
        for o in self.book():
            if side is None or o["tt"] == side:
                out[o["ts"]] += int(o["qty"])
        return out

    def duplicate_tags(self) -> list[str]:
        tags = Counter(o["tag"] for o in self.book() if o["tag"])
        return [t for t, n in tags.items() if n > 1]

    def journal_rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import sqlite3

        db = sqlite3.connect(self.home / "journal.sqlite3")
        try:
            return list(db.execute(sql, args).fetchall())
        finally:
            db.close()


def kill9(proc: subprocess.Popen[str]) -> None:
    """kill -9, then reap it (its pipes drained, so nothing is left behind)."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


def json_out(text: str) -> dict[str, Any]:
    return dict(json.loads(text))


def live_server(**kw: Any) -> ServerThread:
    """The simulator on loopback; by default it does NOT refuse duplicate tags, so a test can
    see every second order the client would have caused."""
    kw.setdefault("unique_tags", False)
    return start(**kw)


__all__: Sequence[str] = ["LiveRig", "json_out", "kill9", "live_server"]


def settle(server: ServerThread, timeout: float = 15.0) -> bool:
    """Wait, at most `timeout` seconds, until the simulator's late work (the "slow" fault's
    processing) has landed; False if it had not by then. The wait runs on the server's own loop."""
    import asyncio
    import concurrent.futures

    loop = server.loop
    if loop is None or loop.is_closed():
        return True
    future = asyncio.run_coroutine_threadsafe(server.app.idle(), loop)
    try:
        future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        return False
    return True


def sim_stats(rig: LiveRig) -> dict[str, Any]:
    """The simulator's counters: requests by route kind, faults injected by kind, orders placed."""
    return dict(rig.admin("GET", "/_sim/stats"))
