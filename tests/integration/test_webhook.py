"""`gui-trader webhook`: alerts over loopback fire the same fan-out as `signal --yes`; a bad
token, bad JSON, bad fields or a large body are refused with the reason and send nothing."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gui_trader.cli import main
from gui_trader.cli.webhook import MAX_BODY_BYTES, Webhook, listen, uvicorn_config
from gui_trader.config import Paths

TOKEN = "a-webhook-token-for-tests-0123456789"


class Hook:
    def __init__(self, hook: Webhook, url: str) -> None:
        self.hook, self.url = hook, url

    def post(self, body: Any = None, *, raw: bytes | None = None, **kw: Any) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body).encode()
        return httpx.post(self.url, content=content, timeout=90.0, **kw)


@pytest.fixture
def webhook(home: Path) -> Iterator[Hook]:
    """Two paper accounts and the webhook on a loopback port, served in a thread."""
    for name in ("p1", "p2"):
        assert main(["account", "add", name, "--paper"]) == 0
    hook = Webhook(TOKEN, Paths.resolve(), answer_wait_s=60.0)
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(hook.app(), sock))

    def run() -> None:
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            runner.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name="webhook", daemon=True)
    thread.start()  # the socket already listens: requests wait for uvicorn to be up
    try:
        yield Hook(hook, f"http://127.0.0.1:{sock.getsockname()[1]}/")
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        assert not thread.is_alive()


def orders_of(account: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["orders", "--account", account, "--json"]) == 0
    return capsys.readouterr().out


ALERT = {"symbol": "BHARTIARTL", "side": "buy", "qty": 2}


def test_a_bad_token_is_refused_and_nothing_is_sent(
    webhook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in ({}, {"token": "wrong"}, {"token": TOKEN[:-1]}, {"token": 123}):
        r = webhook.post(ALERT | extra)
        assert r.status_code == 401, r.text
        assert r.json() == {"accepted": False, "error": "bad or missing token"}
    assert webhook.post(ALERT, headers={"X-Token": "nope"}).status_code == 401
    assert httpx.post(webhook.url + "?token=nope", json=ALERT).status_code == 401
    # Without the token, a broken body says nothing about itself either.
    assert webhook.post(raw=b"{not json").status_code == 401
    assert webhook.hook.accepted == 0
    assert "BHARTIARTL" not in orders_of("p1", capsys)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b'{"symbol": "TCS", "side": ', 400, "body is not JSON"),
        (b"[1, 2]", 422, "expected a JSON object"),
        (json.dumps({"symbol": "TCS", "side": "hold"}).encode(), 422, "side: must be buy or sell"),
        (json.dumps({"side": "buy"}).encode(), 422, "symbol: a non-empty string is needed"),
        (json.dumps(ALERT | {"price": "nan"}).encode(), 422, "price: must be above 0"),
        (json.dumps(ALERT | {"qty": 0}).encode(), 422, "qty: a whole number"),
        (json.dumps(ALERT | {"quantity": 5}).encode(), 422, "unknown field 'quantity'"),
        (json.dumps(ALERT | {"accounts": ["zz"]}).encode(), 422, "no account named 'zz'"),
        (json.dumps(ALERT | {"symbol": "NOSUCH"}).encode(), 422, "NOSUCH"),
        (b" " * (MAX_BODY_BYTES + 1), 413, "body larger than"),
    ],
)
def test_bad_alerts_are_refused_with_the_reason_and_nothing_is_sent(
    webhook: Hook, capsys: pytest.CaptureFixture[str], body: bytes, status: int, reason: str
) -> None:
    r = webhook.post(raw=body, headers={"X-Token": TOKEN})
    assert r.status_code == status, r.text
    assert r.json()["accepted"] is False
    assert reason in r.json()["error"]
    assert "BHARTIARTL" not in orders_of("p1", capsys)


def test_a_good_alert_places_orders_on_both_paper_accounts(
    webhook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    r = webhook.post(ALERT | {"token": TOKEN, "product": "cnc"})
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["accepted"] is True and doc["ok"] is True and doc["exit"] == 0
    rows = {a["account"]: a for a in doc["report"]["signals"][0]["accounts"]}
    assert set(rows) == {"p1", "p2"}
    assert {a["status"] for a in rows.values()} == {"placed"}
    assert {a["qty"] for a in rows.values()} == {2}
    for name, row in rows.items():
        assert row["order_id"] in orders_of(name, capsys)
    # The same alert again, token in the query: every account holds it now, nothing new.
    r = httpx.post(f"{webhook.url}?token={TOKEN}", json=ALERT, timeout=90.0)
    assert r.status_code == 202
    assert {a["status"] for a in r.json()["report"]["signals"][0]["accounts"]} == {"skipped"}
    assert webhook.hook.accepted == 2


def test_a_slow_run_answers_queued_and_its_outcome_is_asked_for_later(
    webhook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alert services give up after ~3 s: the answer does not wait for a long run; the outcome
    is at GET /alerts/<id>, behind the same token."""
    webhook.hook.answer_wait_s = 0.0
    r = webhook.post(ALERT | {"token": TOKEN})
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["accepted"] is True and first["queued"] is True
    assert first["at"] == f"/alerts/{first['id']}"
    # One worker, alerts in order: once a second alert is answered, the first is done.
    webhook.hook.answer_wait_s = 60.0
    second = webhook.post(ALERT | {"token": TOKEN}).json()
    assert {a["status"] for a in second["report"]["signals"][0]["accounts"]} == {"skipped"}
    status_url = webhook.url.rstrip("/") + first["at"]
    assert httpx.get(status_url, timeout=10).status_code == 401
    doc = httpx.get(status_url, headers={"X-Token": TOKEN}, timeout=10).json()
    assert doc["state"] == "done" and doc["ok"] is True
    assert {a["status"] for a in doc["report"]["signals"][0]["accounts"]} == {"placed"}
    missing = httpx.get(webhook.url + "alerts/nope", params={"token": TOKEN}, timeout=10)
    assert missing.status_code == 404


def test_it_will_not_start_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GUI_TRADER_WEBHOOK_TOKEN", raising=False)
    assert main(["webhook", "--port", "0"]) == 2
    assert "no secret token" in capsys.readouterr().err
    monkeypatch.setenv("SHORT_TOKEN", "short")
    assert main(["webhook", "--port", "0", "--token-env", "SHORT_TOKEN"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err


def test_sigterm_stops_it_with_exit_0(home: Path) -> None:
    env = os.environ | {
        "GUI_TRADER_HOME": str(home),
        "GUI_TRADER_WEBHOOK_TOKEN": TOKEN,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gui_trader", "webhook", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        banner = ""
        while not banner and time.monotonic() < deadline:
            if sel.select(timeout=deadline - time.monotonic()):
                banner = proc.stdout.readline()
                if not banner:
                    break  # it ended
        assert "webhook listening on http://127.0.0.1:" in banner, proc.stderr.read()
        url = banner.split()[3]
        assert httpx.post(url, json=ALERT, timeout=30.0).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
