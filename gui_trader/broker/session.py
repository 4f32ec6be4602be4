"""One session per account: logged in once, reused, renewed exactly once when it goes stale."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import filelock

from gui_trader.broker.base import BrokerError
from gui_trader.broker.redact import register_secret
from gui_trader.core.clock import IST, next_midnight_ist

log = logging.getLogger(__name__)
EXPIRY_MARGIN_S = 60.0
LOGIN_LOCK_TIMEOUT_S = 60.0  # a login is two requests; a holder this slow is stuck


class LoginBusy(BrokerError):
    """Another process held this account's login lock past the bounded wait."""


@dataclass(frozen=True)
class SessionToken:
    token: str
    sid: str
    base_url: str
    expires_at: float  # epoch seconds
    ucc: str = ""
    data_center: str = ""
    feed_url: str = ""  # validate's optional feedUrl / rtUrl (fallbacks for feed discovery)
    rt_url: str = ""

    def __post_init__(self) -> None:
        register_secret(self.token)
        register_secret(self.sid)

    def valid(self, now: float | None = None) -> bool:
        return (now or time.time()) < self.expires_at - EXPIRY_MARGIN_S

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionToken:
        return cls(
            **{
                k: data[k]
                for k in (
                    "token",
                    "sid",
                    "base_url",
                    "expires_at",
                    "ucc",
                    "data_center",
                    "feed_url",
                    "rt_url",
                )
                if k in data
            }
        )

    def __repr__(self) -> str:
        return f"SessionToken(ucc={self.ucc!r}, base_url={self.base_url!r}, token=***)"


def token_expiry(token: str) -> float:
    """Read `exp` from the JWT payload (unverified); fall back to the next midnight IST."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(data["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return next_midnight_ist().timestamp()


class SessionStore(Protocol):
    def load(self) -> SessionToken | None: ...
    def save(self, token: SessionToken) -> None: ...
    def clear(self) -> None: ...


class MemorySessionStore:
    """Paper mode: the in-process exchange's session dies with the process anyway."""

    def __init__(self) -> None:
        self.token: SessionToken | None = None

    def load(self) -> SessionToken | None:
        return self.token

    def save(self, token: SessionToken) -> None:
        self.token = token

    def clear(self) -> None:
        self.token = None


class LoginLock:
    """One login at a time per account across processes: an OS file lock (flock), waited for in a
    worker thread so the loop never blocks. A killed holder's lock dies with it; the file stays,
    so a late waiter locks the same inode as the holder instead of a fresh one."""

    def __init__(self, path: Path, timeout_s: float = LOGIN_LOCK_TIMEOUT_S) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._lock = filelock.FileLock(
            path,
            timeout=timeout_s,
            thread_local=False,  # acquired in one worker thread, released in another
            fallback_to_soft=False,  # a marker file would outlive a killed holder
            preserve_lock_file=True,
        )

    async def __aenter__(self) -> LoginLock:
        stop = threading.Event()
        waiter = asyncio.ensure_future(asyncio.to_thread(self._acquire, stop))
        try:
            await asyncio.shield(waiter)
        except asyncio.CancelledError:
            stop.set()  # the thread gives up; if it won meanwhile, it lets go at once
            waiter.add_done_callback(self._release_if_held)
            raise
        except filelock.Timeout:
            raise LoginBusy(
                f"another process has been logging in to this account for over "
                f"{self.timeout_s:g} s ({self.path.name}); try again, or end that process"
            ) from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._lock.release)

    def _acquire(self, stop: threading.Event) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire(cancel_check=stop.is_set)

    def _release_if_held(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.cancelled() and waiter.exception() is None:
            self._lock.release()


def _fresher(stored: SessionToken | None, stale: SessionToken | None) -> bool:
    """A valid stored session other than the one we found stale: another process's login."""
    if stored is None or not stored.valid():
        return False
    return stale is None or stored.token != stale.token


class Session:
    """Single-flight: however many calls find the session stale, one login runs. In one process
    an asyncio lock makes the callers wait for it; across processes (`lock_path`) a file lock
    does, and a waiter that finds another process's new session in the store adopts it."""

    def __init__(
        self,
        login: Callable[[], Awaitable[SessionToken]],
        store: SessionStore,
        lock_path: Path | None = None,
        *,
        lock_timeout_s: float = LOGIN_LOCK_TIMEOUT_S,
    ) -> None:
        self._login = login
        self.store = store
        self.lock_path = lock_path  # a file lock around login, shared by every process
        self.lock_timeout_s = lock_timeout_s
        self.current: SessionToken | None = None
        self.logins = 0
        self._loaded = False
        self._lock = asyncio.Lock()
        self.listeners: list[Callable[[SessionToken | None], None]] = []

    async def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            stored = await asyncio.to_thread(self.store.load)
            if stored is not None and stored.valid():
                self.current = stored
                until = datetime.fromtimestamp(stored.expires_at, IST)
                log.info(
                    "reusing the stored session (valid until %s IST)",
                    until.strftime("%Y-%m-%d %H:%M"),
                )

    async def get(self) -> SessionToken:
        cur = self.current
        if cur is not None and cur.valid():
            return cur
        async with self._lock:
            await self._load()
            if self.current is None or not self.current.valid():
                await self._relogin(self.current)
            assert self.current is not None
            return self.current

    async def renew(self, stale: SessionToken) -> SessionToken:
        """Called by every request that met a stale session; only the first one logs in."""
        async with self._lock:
            if self.current is not None and self.current is not stale and self.current.valid():
                return self.current
            log.warning("session expired or revoked; logging in again")
            await self._relogin(stale)
            assert self.current is not None
            return self.current

    async def _relogin(self, stale: SessionToken | None) -> None:
        self.current = None
        if self.lock_path is None:
            await self._login_and_save()
            return
        async with LoginLock(self.lock_path, self.lock_timeout_s):
            stored = await asyncio.to_thread(self.store.load)
            if _fresher(stored, stale):
                log.info("another process logged in meanwhile; using its session")
                self.current = stored
                self._notify()
                return
            await self._login_and_save()

    async def _login_and_save(self) -> None:
        token = await self._login()
        self.logins += 1
        self.current = token
        await asyncio.to_thread(self.store.save, token)
        self._notify()

    async def adopt(self, token: SessionToken) -> None:
        """A session obtained outside `get` (login with a typed TOTP code)."""
        async with self._lock:
            self._loaded = True
            self.current = token
            self.logins += 1
            await asyncio.to_thread(self.store.save, token)
            self._notify()

    async def logout(self) -> None:
        async with self._lock:
            self.current = None
            self._loaded = True
            await asyncio.to_thread(self.store.clear)
            self._notify()

    def _notify(self) -> None:
        for listener in self.listeners:
            listener(self.current)
