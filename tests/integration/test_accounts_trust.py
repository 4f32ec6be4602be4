"""Which account an order goes to, and who may hold its secrets: `account add` logs in afresh and
keeps nothing unless that login succeeds; data folders never share an account; unsafe keyrings
are refused in one line; one login per account however many processes find the session stale."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, ClassVar

import filelock
import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from gui_trader.accounts import BadAccountInput, NewAccount
from gui_trader.app import login_lock_path
from gui_trader.broker.session import LoginBusy, MemorySessionStore, Session, SessionToken
from gui_trader.broker.vault import KeyringUnavailable, VaultKey, check_keyring
from gui_trader.cli import main
from gui_trader.config import Config, Paths
from gui_trader.sim.exchange import PAPER_USER, SimUser
from gui_trader.sim.serve import ServerThread, start
from gui_trader.sim.server import SimServer
from tests.support.keyrings import FileKeyring, MemoryKeyring

ALICE = SimUser(
    ucc="AL1CE",
    mobile="+919800000011",
    consumer_key="ck-alice-5d2e8f1a9c",
    mpin="482913",
    totp_secret="JBSWY3DPEHPK3PXPALICE234567ABCD",
)
BOB = SimUser(
    ucc="B0B22",
    mobile="+919800000022",
    consumer_key="ck-bob-7a3c1e9f20",
    mpin="5917",
    totp_secret="KRSXG5CTMVRXEZLUBOBBOB234567XYZ",
)
ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def use_secrets(monkeypatch: pytest.MonkeyPatch, user: SimUser, **override: str) -> None:
    values = {
        "consumer_key": user.consumer_key,
        "mpin": user.mpin,
        "totp_secret": user.totp_secret,
        **override,
    }
    for field, value in values.items():
        monkeypatch.setenv(f"GUI_TRADER_{field.upper()}", value)


def add_args(user: SimUser, url: str, *extra: str, name: str = "main") -> list[str]:
    return [
        "account",
        "add",
        name,
        "--mobile",
        user.mobile,
        "--ucc",
        user.ucc,
        "--from-env",
        "--login-url",
        url,
        *extra,
    ]


def add(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    user: SimUser,
    url: str,
    *extra: str,
    **override: str,
) -> tuple[int, str, str]:
    use_secrets(monkeypatch, user, **override)
    return run(capsys, *add_args(user, url, *extra))


def books(server: ServerThread) -> dict[str, int]:
    """Orders placed per UCC at the simulator (demo holdings are not orders)."""
    return {ucc: len(book.orders) for ucc, book in server.app.exchange.books.items()}


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------ 1. account add
def test_add_on_an_existing_name_is_refused_without_replace(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with start(users=[ALICE, BOB]) as st:
        code, _, err = add(capsys, monkeypatch, ALICE, st.url)
        assert code == 0, err
        keyring_before = dict(memory_keyring.items)
        config_before = (home / "config.toml").read_text()

        code, _, err = add(capsys, monkeypatch, BOB, st.url)
        assert code == 2
        assert one_line(err) == "gui-trader: account main exists; use --replace to change it"
        assert st.app.exchange.stats["logins"] == 1  # nothing sent
        assert memory_keyring.items == keyring_before
        assert (home / "config.toml").read_text() == config_before


def test_replace_logs_in_afresh_and_orders_follow_the_new_account(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with start(users=[ALICE, BOB]) as st:
        assert add(capsys, monkeypatch, ALICE, st.url)[0] == 0
        code, out, err = add(capsys, monkeypatch, BOB, st.url, "--replace")
        assert code == 0, err
        assert "logged in as B0B22" in out and "replaced" in out
        assert st.app.exchange.stats["logins"] == 2  # a login with the new secrets

        code, _, err = run(capsys, "buy", "RELIANCE", "--qty", "1", "--json")
        assert code == 0, err
        assert books(st).get("B0B22") == 1 and books(st).get("AL1CE", 0) == 0
    scope = Paths(home).keyring_scope
    assert {k for _, k in memory_keyring.items} == {  # the old UCC's entries are gone
        f"{scope}:main:B0B22:{f}" for f in ("consumer_key", "mpin", "totp_secret", "session")
    }
    assert Config.load(home / "config.toml").accounts["main"].ucc == "B0B22"


def test_replace_never_reuses_the_stored_session(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same UCC, another server: the stored session is valid, and still not used to verify."""
    with start(users=[ALICE]) as old, start(users=[ALICE]) as new:
        assert add(capsys, monkeypatch, ALICE, old.url)[0] == 0
        code, out, err = add(capsys, monkeypatch, ALICE, new.url, "--replace")
        assert code == 0, err
        assert new.app.exchange.stats["logins"] == 1 and f"at {new.url}" in out
        code, _, err = run(capsys, "buy", "RELIANCE", "--qty", "1", "--json")
        assert code == 0, err
        assert old.app.exchange.stats["placed"] == 0
        assert new.app.exchange.stats["placed"] == 1


@pytest.mark.parametrize(
    "wrong",
    [
        {"mpin": "111111"},
        {"consumer_key": "ck-wrong-000000"},
        {"totp_secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
    ],
    ids=["mpin", "consumer_key", "totp"],
)
def test_wrong_secrets_change_nothing(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    wrong: dict[str, str],
) -> None:
    with start(users=[ALICE]) as st:
        assert add(capsys, monkeypatch, ALICE, st.url)[0] == 0
        keyring_before = dict(memory_keyring.items)
        config_before = (home / "config.toml").read_text()

        code, _, err = add(capsys, monkeypatch, ALICE, st.url, "--replace", **wrong)
        assert code == 1
        assert "login refused" in one_line(err)
        assert memory_keyring.items == keyring_before  # old secrets and session stay
        assert (home / "config.toml").read_text() == config_before

        code, _, err = run(capsys, "buy", "RELIANCE", "--qty", "1", "--json")
        assert code == 0, err
        assert st.app.exchange.stats["validates"] == 1  # the old session still trades
        assert books(st) == {"AL1CE": 1}


def test_add_account_refuses_an_existing_name_for_the_window_too(home: Path) -> None:
    from gui_trader.accounts import add_account
    from gui_trader.config import AccountConfig

    config = Config.load(home / "config.toml")
    config.accounts["main"] = AccountConfig("main", ALICE.mobile, ALICE.ucc, "http://x")
    config.save()
    new = NewAccount(
        "main", BOB.mobile, BOB.ucc, BOB.consumer_key, BOB.mpin, BOB.totp_secret, "http://x"
    )
    with pytest.raises(BadAccountInput, match="account main exists; use --replace"):
        asyncio.run(add_account(Paths(home), new))


# ------------------------------------------------------------------ 2. data folders
def test_two_data_folders_with_the_same_account_name_trade_apart(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folders = {ALICE.ucc: tmp_path / "desk-a", BOB.ucc: tmp_path / "desk-b"}
    with start(users=[ALICE, BOB]) as st:
        for user in (ALICE, BOB):
            monkeypatch.setenv("GUI_TRADER_HOME", str(folders[user.ucc]))
            code, _, err = add(capsys, monkeypatch, user, st.url)
            assert code == 0, err
        for user, qty in ((ALICE, "1"), (BOB, "2"), (ALICE, "3")):
            monkeypatch.setenv("GUI_TRADER_HOME", str(folders[user.ucc]))
            code, _, err = run(capsys, "buy", "RELIANCE", "--qty", qty, "--json")
            assert code == 0, err
        exchange = st.app.exchange
        qty_by_ucc = {
            ucc: sorted(o.qty for o in book.orders.values()) for ucc, book in exchange.books.items()
        }
        assert qty_by_ucc == {ALICE.ucc: [1, 3], BOB.ucc: [2]}
        assert exchange.stats["logins"] == 2  # each folder's own session, reused


# ------------------------------------------------------------------ 3. keyrings
class _Recording(MemoryKeyring):
    """Stores in memory, so a test can prove nothing was stored."""


class PlaintextKeyring(_Recording):
    """Named like keyring's old plaintext file backend."""


class AltEncryptedKeyring(_Recording):
    """Stands for keyrings.alt's files (not installed here): only its module name matters."""


AltEncryptedKeyring.__module__ = "keyrings.alt.file"


class UnsafeChain(ChainerBackend):
    backends: ClassVar[list[KeyringBackend]] = [PlaintextKeyring(), AltEncryptedKeyring()]


class SafeChain(ChainerBackend):
    backends: ClassVar[list[KeyringBackend]] = [MemoryKeyring(), PlaintextKeyring()]


UNSAFE: dict[str, Callable[[], KeyringBackend]] = {
    "null": keyring.backends.null.Keyring,
    "fail": keyring.backends.fail.Keyring,
    "keyrings.alt": AltEncryptedKeyring,
    "plaintext": PlaintextKeyring,
    "chain of unsafe": UnsafeChain,
}


def stored(backend: KeyringBackend) -> Any:
    if isinstance(backend, ChainerBackend):
        return [stored(b) for b in backend.backends]
    return getattr(backend, "items", {})


@pytest.mark.parametrize("kind", list(UNSAFE))
def test_unsafe_keyrings_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    loopback: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    backend = UNSAFE[kind]()
    keyring.set_keyring(backend)
    with pytest.raises(KeyringUnavailable) as refused:
        check_keyring()
    assert "\n" not in str(refused.value)

    code, _, err = add(capsys, monkeypatch, PAPER_USER, loopback.url)
    assert code == 1
    assert "No OS keyring" in one_line(err) and "gnome-keyring" in err
    assert stored(backend) in ({}, [{}, {}])
    assert loopback.app.exchange.stats["logins"] == 0
    assert not (home / "config.toml").exists()


def test_a_configured_backend_that_cannot_be_imported_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # detect again, from the env
    with pytest.raises(KeyringUnavailable, match="cannot be loaded"):
        check_keyring()
    use_secrets(monkeypatch, ALICE)
    code, _, err = run(capsys, *add_args(ALICE, "http://127.0.0.1:9"))
    assert code == 1
    line = one_line(err)
    assert "No OS keyring" in line and "cannot be loaded" in line
    assert "Traceback" not in err and not (home / "config.toml").exists()


@pytest.mark.parametrize("backend", [MemoryKeyring, FileKeyring, SafeChain])
def test_the_test_keyrings_and_a_safe_chain_stay_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: Callable[[], KeyringBackend]
) -> None:
    monkeypatch.setenv("TEST_KEYRING_FILE", str(tmp_path / "k.json"))
    keyring.set_keyring(backend())
    check_keyring()


# ------------------------------------------------------------------ 4. one login
def gate_logins(server: SimServer, stale_reads: int) -> None:
    """Hold every login at the simulator until `stale_reads` order-book reads have arrived: each
    process has met the stale session before any login can finish (a barrier, not a sleep)."""
    inner = server.app
    seen = 0
    ready: asyncio.Event | None = None

    async def gated(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        nonlocal seen, ready
        ready = ready or asyncio.Event()
        path = scope.get("path", "")
        if path == "/quick/user/orders":
            seen += 1
            if seen >= stale_reads:
                ready.set()
        elif path.startswith("/login/"):
            # Let it through after 30 s: the count of logins then fails the test, not a hang.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 30)
        await inner(scope, receive, send)

    server.app = gated  # type: ignore[assignment]


def test_processes_on_a_stale_session_log_in_once(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    processes = 4
    keyring_file = tmp_path / "keyring.json"
    monkeypatch.setenv("TEST_KEYRING_FILE", str(keyring_file))
    keyring.set_keyring(FileKeyring())
    with start(users=[ALICE]) as st:
        assert add(capsys, monkeypatch, ALICE, st.url)[0] == 0
        assert st.app.exchange.revoke() == 1  # every process will find the stored session stale
        gate_logins(st.app, processes)
        env = {
            **os.environ,
            "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
            "PYTHONPATH": str(ROOT),
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "gui_trader", "orders", "--login-url", st.url, "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        results = [(p.wait(timeout=90), *p.communicate()) for p in procs]
        assert st.app.exchange.stats["logins"] == 2  # `account add`, then exactly one re-login
        assert st.app.exchange.stats["validates"] == 2
        for code, out, err in results:
            assert code == 0, err
            assert json.loads(out)["mode"] == "LIVE"
    assert login_lock_path(
        Paths(home), VaultKey(Paths(home).keyring_scope, "main", "AL1CE")
    ).exists()


def token(name: str) -> SessionToken:
    return SessionToken(f"tok-{name}-0123456789", f"sid-{name}-0123456789", "http://x", 4e9)


def counting_login(tokens: list[str]) -> Callable[[], Awaitable[SessionToken]]:
    async def login() -> SessionToken:
        tokens.append(f"fresh{len(tokens)}")
        await asyncio.sleep(0)
        return token(tokens[-1])

    return login


@pytest.mark.asyncio
async def test_two_sessions_sharing_a_store_and_lock_log_in_once(tmp_path: Path) -> None:
    """Two processes' sessions, in one: the waiter finds the winner's session and adopts it."""
    store = MemorySessionStore()
    stale = token("stale")
    store.save(stale)
    logins: list[str] = []
    lock = tmp_path / "locks" / "login-main-AL1CE.lock"
    sessions = [Session(counting_login(logins), store, lock) for _ in range(2)]
    renewed = await asyncio.gather(*(s.renew(stale) for s in sessions))
    assert len(logins) == 1
    assert renewed[0] == renewed[1] == store.load()
    assert sum(s.logins for s in sessions) == 1
    assert lock.exists()  # kept, so every waiter locks the same file


@pytest.mark.asyncio
async def test_a_held_login_lock_is_a_bounded_clear_error(tmp_path: Path) -> None:
    lock = tmp_path / "login.lock"
    logins: list[str] = []
    session = Session(counting_login(logins), MemorySessionStore(), lock, lock_timeout_s=0.2)
    held = filelock.FileLock(lock, thread_local=False)
    held.acquire()
    try:
        with pytest.raises(LoginBusy, match="another process has been logging in"):
            await session.get()
    finally:
        held.release()
    assert logins == []
    assert (await session.get()).token.startswith("tok-fresh0")


@pytest.mark.asyncio
async def test_a_cancelled_wait_leaves_the_lock_free(tmp_path: Path) -> None:
    lock = tmp_path / "login.lock"
    session = Session(counting_login([]), MemorySessionStore(), lock)
    held = filelock.FileLock(lock, thread_local=False)
    held.acquire()
    waiter = asyncio.ensure_future(session.get())
    await asyncio.sleep(0)
    waiter.cancel()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    probe = filelock.FileLock(lock, timeout=5, thread_local=False)
    await asyncio.to_thread(probe.acquire)  # times out if the cancelled waiter kept it
    await asyncio.to_thread(probe.release)


# ------------------------------------------------------------------ 6. ASCII digits
@pytest.mark.parametrize("mpin", ["１２３４", "12３4", "١٢٣٤", "12²4"])
def test_an_mpin_of_other_digits_is_refused(
    capsys: pytest.CaptureFixture[str],
    home: Path,
    memory_keyring: MemoryKeyring,
    loopback: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    mpin: str,
) -> None:

    with pytest.raises(BadAccountInput, match="MPIN"):
        NewAccount("main", "+919999999999", "AB1", "ck", mpin, "JBSWY3DPEHPK3PXP").checked()
    code, _, err = add(capsys, monkeypatch, PAPER_USER, loopback.url, mpin=mpin)
    assert code == 2 and "MPIN must be 4-6 digits" in one_line(err)
    assert memory_keyring.items == {}
    assert loopback.app.exchange.stats["logins"] == 0
