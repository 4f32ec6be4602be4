"""Write-ahead journal of order intents and outcomes (SQLite, WAL), so a crash never loses or
repeats an order: the intent and its tag are on disk before the request is on the wire.

All SQLite work runs on one dedicated worker thread; the event loop only awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from gui_trader.core.clock import IST, today_ist
from gui_trader.engine.ownership import RunOwner


class IntentState(StrEnum):
    """What the journal knows of one order intent (NautilusTrader's order states, smaller)."""

    NEW = "new"  # journaled, never on the wire
    SENT = "sent"  # on the wire (or about to be): may land
    PLACED = "placed"  # the broker has it (order id known)
    REJECTED = "rejected"  # refused in a way the reference defines, or rejected in the book
    FAILED = "failed"  # not placed: refused session, or proven absent after every send
    UNKNOWN = "unknown"  # may exist: look it up before anything else
    ABSENT = "absent"  # proven not at the broker (resume/reconcile); may be sent again
    ABORTED = "aborted"  # journaled, then the run was aborted before it was sent
    EXPIRED = "expired"  # from an earlier trading day: today's book cannot speak for it


_S = IntentState
# Which state may follow which; a write outside this table is a bug, refused loudly.
TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    _S.NEW: frozenset({_S.NEW, _S.SENT, _S.ABORTED, _S.ABSENT, _S.EXPIRED}),
    _S.SENT: frozenset(
        {_S.SENT, _S.PLACED, _S.REJECTED, _S.FAILED, _S.UNKNOWN, _S.ABSENT, _S.EXPIRED, _S.NEW}
    ),
    _S.UNKNOWN: frozenset(
        {_S.UNKNOWN, _S.PLACED, _S.REJECTED, _S.ABSENT, _S.EXPIRED, _S.NEW, _S.SENT}
    ),
    _S.ABSENT: frozenset({_S.ABSENT, _S.SENT, _S.NEW, _S.PLACED, _S.EXPIRED}),
    _S.PLACED: frozenset({_S.PLACED, _S.REJECTED}),
    _S.REJECTED: frozenset({_S.REJECTED}),
    _S.FAILED: frozenset({_S.FAILED}),
    _S.ABORTED: frozenset({_S.ABORTED}),
    _S.EXPIRED: frozenset({_S.EXPIRED}),
}
OPEN_STATES = (IntentState.NEW, IntentState.SENT, IntentState.UNKNOWN)


class IllegalTransition(RuntimeError):
    """A state change the table forbids: a bug in the caller, never silently written."""


_B36 = string.digits + string.ascii_uppercase
EPOCH_CHARS = 4
TAG_LENGTH = 1 + 6 + 2 + EPOCH_CHARS + 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT UNIQUE,
    account TEXT NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    feature TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    order_id TEXT,
    detail TEXT,
    group_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    plan TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    day TEXT
);
CREATE TABLE IF NOT EXISTS monitor (
    account TEXT NOT NULL,
    day TEXT NOT NULL,
    symbol TEXT NOT NULL,
    state TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (account, day, symbol)
);
CREATE TABLE IF NOT EXISTS protections (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_open ON intents (account, state);
CREATE INDEX IF NOT EXISTS intents_group ON intents (group_id);
"""

# One row per account and trading day: whether new orders are blocked (kill switch, an MTM
# limit) and which automatic exits already ran (each runs once a day, whichever process runs it).
RISK_SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_day (
    account TEXT NOT NULL,
    day TEXT NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    since REAL NOT NULL DEFAULT 0,
    fired TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL,
    PRIMARY KEY (account, day)
);
"""


@dataclass(frozen=True)
class RiskDay:
    """An account's risk state for one trading day, as every process on the folder sees it."""

    account: str
    day: str
    blocked: bool = False
    kind: str = ""  # what blocked it: kill / max-loss / max-profit
    reason: str = ""  # one line for the trader
    since: float = 0.0  # epoch s of the block
    fired: frozenset[str] = frozenset()  # automatic exits that ran today (max-loss, ...)


def _ist_day(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, IST).date().isoformat()


def b36(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out.rjust(width, "0")


@dataclass(frozen=True)
class Intent:
    id: int
    tag: str
    account: str
    day: str
    kind: str
    feature: str
    request: dict[str, Any]
    state: IntentState
    order_id: str | None
    detail: str | None
    group_id: str | None
    attempts: int
    meta: dict[str, Any] | None = None
    updated: float = 0.0  # when its state last changed (epoch s): a "sent" one may be in flight


@dataclass(frozen=True)
class Run:
    id: str
    account: str
    kind: str
    plan: dict[str, Any]
    state: str
    day: str = ""  # the trading day it was planned for (IST)


_Write = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(done: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if done.cancelled():
        return
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)


def _wal(db: sqlite3.Connection, wait_s: float = 10.0) -> None:
    """WAL mode. Switching a new file to it does not wait on SQLite's busy timeout: with
    several processes opening a new journal at once, one got "database is locked" here.
    Retried on the journal thread (never the loop) for as long as the busy timeout."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._db: sqlite3.Connection | None = None
        # Per-order writes waiting for the journal thread (see _write): one transaction each
        # time the thread gets to them.
        self._writes: list[_Write] = []
        self._writes_lock = threading.Lock()
        self._users = 1  # close() closes the connection when the last user lets go
        self.install_id = ""
        # Fresh for every opening: a journal restored from a backup, or copied to another
        # machine, re-uses row ids, and this keeps its new tags apart from the ones it made before.
        self.epoch = "".join(secrets.choice(_B36) for _ in range(EPOCH_CHARS))

    def owns(self, tag: str) -> bool:
        """Was this tag made by this installation's journal? (feature, yymmdd, install id, ...)"""
        return (
            len(tag) == TAG_LENGTH
            and tag[1:7].isdigit()
            and tag[7:9] == self.install_id
            and self.install_id != ""
        )

    def owner(self, name: str, what: str) -> RunOwner:
        """The OS lock that makes one process the only driver of a run (see ownership.py)."""
        return RunOwner(self.path.parent / "locks", name, what)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _write(self, body: Callable[[], Any]) -> Any:
        """A write (no transaction of its own) that shares one with the writes queued beside it.

        Group commit: a burst's orders each journal an intent and mark it sent; one by one that
        was ~0.35 ms of journal thread per write, 200 of them ahead of the burst's last send.
        The caller still gets its answer only after its transaction committed (journaled before
        sent), and a write that fails rolls back alone (a savepoint) and raises to its caller.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        with self._writes_lock:
            self._writes.append((body, done, loop))
            first = len(self._writes) == 1
        if first:
            try:
                self._pool.submit(self._write_batch)
            except RuntimeError:  # closed: no write of this batch will ever run
                with self._writes_lock:
                    stranded, self._writes = self._writes, []
                for _, other, other_loop in stranded:
                    if other is not done:
                        other_loop.call_soon_threadsafe(
                            _settle, other, False, RuntimeError("closed")
                        )
                raise
        return await done

    def _write_batch(self) -> None:
        with self._writes_lock:
            batch, self._writes = self._writes, []
        outcomes: list[tuple[bool, Any]] = []
        db = self._db
        try:
            if db is None:
                raise sqlite3.ProgrammingError("the journal is closed")
            db.execute("BEGIN IMMEDIATE")
            try:
                for body, _, _ in batch:
                    db.execute("SAVEPOINT one_write")
                    try:
                        value = body()
                    except Exception as exc:
                        db.execute("ROLLBACK TO one_write")
                        db.execute("RELEASE one_write")
                        outcomes.append((False, exc))
                    else:
                        db.execute("RELEASE one_write")
                        outcomes.append((True, value))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except BaseException as exc:  # nothing of the batch was written
            outcomes = [(False, exc)] * len(batch)
        for (ok, value), (_, done, loop) in zip(outcomes, batch, strict=True):
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(_settle, done, ok, value)

    # ------------------------------------------------------------- thread side
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        _wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        db.executescript(RISK_SCHEMA)
        # Two processes opening a new journal at once both saw the old columns and both
        # altered the table ("duplicate column name"): migrate under the write lock, checking
        # again inside it.
        db.execute("BEGIN IMMEDIATE")
        try:
            columns = {r[1] for r in db.execute("PRAGMA table_info(intents)")}
            if "meta" not in columns:  # journals from before intents carried metadata
                db.execute("ALTER TABLE intents ADD COLUMN meta TEXT")
            if "day" not in {r[1] for r in db.execute("PRAGMA table_info(runs)")}:
                db.execute("ALTER TABLE runs ADD COLUMN day TEXT")
            row = db.execute("SELECT value FROM meta WHERE key='install'").fetchone()
            if row is None:
                install = "".join(secrets.choice(_B36) for _ in range(2))
                db.execute("INSERT OR IGNORE INTO meta VALUES ('install', ?)", (install,))
                row = db.execute("SELECT value FROM meta WHERE key='install'").fetchone()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self.install_id = str(row[0])
        self._db = db

    def _new_many(
        self,
        account: str,
        kind: str,
        feature: str,
        requests: list[dict[str, Any]],
        group: str | None,
        day: date,
        metas: list[dict[str, Any] | None],
    ) -> list[str]:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            tags = [
                self._insert(account, kind, feature, request, group, day, meta)
                for request, meta in zip(requests, metas, strict=True)
            ]
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return tags

    def _insert(
        self,
        account: str,
        kind: str,
        feature: str,
        request: dict[str, Any],
        group: str | None,
        day: date,
        meta: dict[str, Any] | None,
    ) -> str:
        """One new intent, inside the caller's transaction."""
        db = self._db
        assert db is not None
        now = time.time()
        cur = db.execute(
            "INSERT INTO intents (account, day, kind, feature, request, state, group_id,"
            " meta, created, updated) VALUES (?, ?, ?, ?, ?, 'new', ?, ?, ?, ?)",
            (
                account,
                day.isoformat(),
                kind,
                feature,
                json.dumps(request),
                group,
                json.dumps(meta) if meta is not None else None,
                now,
                now,
            ),
        )
        rowid = int(cur.lastrowid or 0)
        tag = self._tag(feature, day, rowid)
        db.execute("UPDATE intents SET tag=? WHERE id=?", (tag, rowid))
        return tag

    def _tag(self, feature: str, day: date, rowid: int) -> str:
        """Feature letter + yymmdd + install id + this opening's random epoch + row id: 18
        characters (the broker allows 20), unique per account for good, even for a journal
        restored from a backup or copied, and a human reading the book can tell its origin."""
        return f"{feature}{day:%y%m%d}{self.install_id}{self.epoch}{b36(rowid, 5)}"

    def _retag(self, old: str) -> str:
        """A collision: the broker has this tag on another order. The intent gets a new tag
        (another random epoch), and the old one is remembered in its detail."""
        db = self._db
        assert db is not None
        row = db.execute("SELECT id, feature, day FROM intents WHERE tag=?", (old,)).fetchone()
        if row is None:
            raise KeyError(old)
        self.epoch = "".join(secrets.choice(_B36) for _ in range(EPOCH_CHARS))
        tag = self._tag(row[1], date.fromisoformat(row[2]), int(row[0]))
        db.execute(
            "UPDATE intents SET tag=?, state='new', detail=?, updated=? WHERE id=?",
            (tag, f"tag {old} collided with another order; new tag", time.time(), row[0]),
        )
        return tag

    def _check(self, tags: list[str], state: IntentState) -> None:
        """Inside the writing transaction: every tag may move to `state`."""
        assert self._db is not None
        for tag in tags:
            row = self._db.execute("SELECT state FROM intents WHERE tag=?", (tag,)).fetchone()
            if row is not None and state not in TRANSITIONS[IntentState(row[0])]:
                raise IllegalTransition(f"intent {tag}: {row[0]} -> {state} is not allowed")

    def _update_many(self, tags: list[str], state: IntentState) -> None:
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._set_many(tags, state)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _set_many(self, tags: list[str], state: IntentState) -> None:
        """Inside the caller's transaction."""
        assert self._db is not None
        self._check(tags, state)
        self._db.executemany(
            "UPDATE intents SET state=?, attempts=attempts+1, updated=? WHERE tag=?",
            [(IntentState(state).value, time.time(), t) for t in tags],
        )

    def _save_run(
        self, run_id: str, account: str, kind: str, plan: dict[str, Any], state: str
    ) -> None:
        assert self._db is not None
        now = time.time()
        self._db.execute(
            "INSERT INTO runs (id, account, kind, plan, state, created, updated, day)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
            " state=excluded.state, updated=excluded.updated",
            (run_id, account, kind, json.dumps(plan), state, now, now, today_ist().isoformat()),
        )

    def _runs(self, account: str, kind: str, states: tuple[str, ...]) -> list[Run]:
        assert self._db is not None
        marks = ",".join("?" * len(states))
        rows = self._db.execute(
            f"SELECT id, account, kind, plan, state, day, created FROM runs WHERE account=?"
            f" AND kind=? AND state IN ({marks}) ORDER BY created",
            (account, kind, *states),
        ).fetchall()
        return [Run(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5] or _ist_day(r[6])) for r in rows]

    def _run_record(self, run_id: str) -> Run | None:
        assert self._db is not None
        r = self._db.execute(
            "SELECT id, account, kind, plan, state, day, created FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        return Run(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5] or _ist_day(r[6])) if r else None

    def _set(
        self, tag: str, state: IntentState, order_id: str | None, detail: str | None, bump: bool
    ) -> None:
        """Inside the caller's transaction."""
        assert self._db is not None
        self._check([tag], state)
        self._db.execute(
            "UPDATE intents SET state=?, order_id=COALESCE(?, order_id), detail=?,"
            " attempts=attempts+?, updated=? WHERE tag=?",
            (IntentState(state).value, order_id, detail, 1 if bump else 0, time.time(), tag),
        )

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Intent]:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT id, tag, account, day, kind, feature, request, state, order_id, detail,"
            f" group_id, attempts, meta, updated FROM intents WHERE {where} ORDER BY id",
            args,
        ).fetchall()
        return [
            Intent(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                json.loads(r[6]),
                IntentState(r[7]),
                r[8],
                r[9],
                r[10],
                r[11],
                json.loads(r[12]) if r[12] else None,
                float(r[13]),
            )
            for r in rows
        ]

    # ------------------------------------------------------------- loop side
    async def open(self) -> Journal:
        await self._run(self._open)
        return self

    async def new_intent(
        self,
        account: str,
        kind: str,
        feature: str,
        request: dict[str, Any],
        group: str | None = None,
        day: date | None = None,
    ) -> str:
        on = day or today_ist()
        return str(
            await self._write(
                lambda: self._insert(account, kind, feature, request, group, on, None)
            )
        )

    async def new_intents(
        self,
        account: str,
        kind: str,
        feature: str,
        requests: list[dict[str, Any]],
        group: str | None,
        metas: list[dict[str, Any] | None],
        day: date | None = None,
    ) -> list[str]:
        """Several intents in one transaction (one trip to the journal thread)."""
        return list(
            await self._run(
                self._new_many, account, kind, feature, requests, group, day or today_ist(), metas
            )
        )

    async def new_intents_sent(
        self, feature: str, rows: list[tuple[str, dict[str, Any]]], group: str | None
    ) -> list[str]:
        """One intent per (account, request), already marked sent, in one trip to the journal
        thread: a fan-out journals every account's order before the first one leaves."""

        def write() -> list[str]:
            day = today_ist()
            db = self._db
            assert db is not None
            db.execute("BEGIN IMMEDIATE")
            try:
                tags = [
                    self._insert(account, "place", feature, request, group, day, None)
                    for account, request in rows
                ]
                self._set_many(tags, IntentState.SENT)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return tags

        return list(await self._run(write))

    async def mark(self, tags: list[str], state: IntentState) -> None:
        await self._run(self._update_many, tags, state)

    async def save_run(
        self, run_id: str, account: str, kind: str, plan: dict[str, Any], state: str
    ) -> None:
        await self._run(self._save_run, run_id, account, kind, plan, state)

    async def runs(
        self, account: str, kind: str, states: tuple[str, ...] = ("running",)
    ) -> list[Run]:
        return list(await self._run(self._runs, account, kind, states))

    async def run(self, run_id: str) -> Run | None:
        """The run as it is on disk now (another process may have finished it meanwhile)."""
        found = await self._run(self._run_record, run_id)
        return found if isinstance(found, Run) else None

    async def retag(self, tag: str) -> str:
        return str(await self._run(self._retag, tag))

    async def save_monitor(self, account: str, day: date, rows: dict[str, dict[str, Any]]) -> None:
        """The monitor's per-symbol state (lowest EMA9, its order): a restart continues."""

        def write() -> None:
            assert self._db is not None
            now = time.time()
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO monitor (account, day, symbol, state, updated) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(account, day, symbol) DO UPDATE SET state=excluded.state,"
                " updated=excluded.updated",
                [
                    (account, day.isoformat(), sym, json.dumps(row), now)
                    for sym, row in rows.items()
                ],
            )
            self._db.execute("COMMIT")

        await self._run(write)

    async def save_protection(
        self, pid: str, account: str, state: str, data: dict[str, Any]
    ) -> None:
        """A position's stop/target/trail and its orders: a restart neither forgets a stop nor
        exits twice (the exit's own intent is in `intents`, its tag here)."""

        def write() -> None:
            assert self._db is not None
            self._db.execute(
                "INSERT INTO protections (id, account, state, data, updated) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET state=excluded.state, data=excluded.data,"
                " updated=excluded.updated",
                (pid, account, state, json.dumps(data), time.time()),
            )

        await self._run(write)

    async def load_protections(
        self, account: str, states: tuple[str, ...], since: float = 0.0
    ) -> list[dict[str, Any]]:
        """The account's protections in these states, changed after `since` (epoch s)."""

        def read() -> list[dict[str, Any]]:
            assert self._db is not None
            marks = ",".join("?" * len(states))
            rows = self._db.execute(
                f"SELECT data, updated FROM protections WHERE account=? AND state IN ({marks})"
                " AND updated > ? ORDER BY updated",
                (account, *states, since),
            ).fetchall()
            return [json.loads(r[0]) | {"_updated": r[1]} for r in rows]

        return list(await self._run(read))

    async def protection_state(self, pid: str) -> str | None:
        """A protection's (or straddle guard's) state as the journal has it now: another
        process (a kill, a removal) may have ended it since this one last looked."""

        def read() -> str | None:
            assert self._db is not None
            row = self._db.execute("SELECT state FROM protections WHERE id=?", (pid,)).fetchone()
            return str(row[0]) if row is not None else None

        state: str | None = await self._run(read)
        return state

    async def load_monitor(self, account: str, day: date) -> dict[str, dict[str, Any]]:
        def read() -> dict[str, dict[str, Any]]:
            assert self._db is not None
            rows = self._db.execute(
                "SELECT symbol, state FROM monitor WHERE account=? AND day=?",
                (account, day.isoformat()),
            ).fetchall()
            return {r[0]: json.loads(r[1]) for r in rows}

        return dict(await self._run(read))

    async def update(
        self,
        tag: str,
        state: IntentState,
        *,
        order_id: str | None = None,
        detail: str | None = None,
        bump: bool = False,
    ) -> None:
        await self._write(lambda: self._set(tag, state, order_id, detail, bump))

    async def unresolved(self, account: str, idle_s: float = 0.0) -> list[Intent]:
        """Intents still open; `idle_s` skips ones touched recently (another process may be
        sending them right now)."""
        if idle_s:
            return list(
                await self._run(
                    self._select,
                    "account=? AND state IN (?, ?, ?) AND updated < ?",
                    (account, *OPEN_STATES, time.time() - idle_s),
                )
            )
        return list(
            await self._run(
                self._select, "account=? AND state IN (?, ?, ?)", (account, *OPEN_STATES)
            )
        )

    async def by_tag(self, tag: str) -> Intent | None:
        found = await self._run(self._select, "tag=?", (tag,))
        return found[0] if found else None

    async def by_feature(self, account: str, feature: str, day: date) -> list[Intent]:
        return list(
            await self._run(
                self._select,
                "account=? AND feature=? AND day=?",
                (account, feature, day.isoformat()),
            )
        )

    async def by_group(self, group: str) -> list[Intent]:
        return list(await self._run(self._select, "group_id=?", (group,)))

    async def all(self) -> list[Intent]:
        return list(await self._run(self._select, "1=1", ()))

    # ------------------------------------------------------------- risk_day
    def _risk_row(self, account: str, day: str) -> RiskDay | None:
        assert self._db is not None
        r = self._db.execute(
            "SELECT blocked, kind, reason, since, fired FROM risk_day WHERE account=? AND day=?",
            (account, day),
        ).fetchone()
        if r is None:
            return None
        fired = frozenset(f for f in str(r[4]).split(",") if f)
        return RiskDay(account, day, bool(r[0]), str(r[1]), str(r[2]), float(r[3]), fired)

    def _risk_write(
        self,
        account: str,
        day: str,
        *,
        block: tuple[str, str] | None = None,
        unblock: bool = False,
        fire: str | None = None,
    ) -> tuple[RiskDay | None, RiskDay | None]:
        """One transaction: (the row before, the row after). A block keeps the first reason
        of the day until a reset; `fire` claims an automatic exit: if the day has it already,
        nothing is written (the block with it neither, so a reset stands)."""
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            before = self._risk_row(account, day)
            if fire is not None and before is not None and fire in before.fired:
                db.execute("ROLLBACK")  # claimed already: nothing changes (a reset stands)
                return before, before
            now = time.time()
            row = before or RiskDay(account, day)
            blocked, kind, reason, since = row.blocked, row.kind, row.reason, row.since
            if block is not None and not blocked:
                blocked, (kind, reason), since = True, block, now
            if unblock:
                blocked = False
            fired = row.fired | ({fire} if fire else set())
            db.execute(
                "INSERT INTO risk_day (account, day, blocked, kind, reason, since, fired, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(account, day) DO UPDATE SET"
                " blocked=excluded.blocked, kind=excluded.kind, reason=excluded.reason,"
                " since=excluded.since, fired=excluded.fired, updated=excluded.updated",
                (account, day, int(blocked), kind, reason, since, ",".join(sorted(fired)), now),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return before, self._risk_row(account, day)

    async def blocked(self, accounts: list[str], day: date) -> dict[str, str]:
        """Which of these accounts are blocked for the day, with the reason: one trip for a
        fan-out's accounts (its sends then skip the per-order gate read)."""

        def read() -> dict[str, str]:
            out = {}
            for account in accounts:
                row = self._risk_row(account, day.isoformat())
                if row is not None and row.blocked:
                    out[account] = row.reason
            return out

        return dict(await self._run(read))

    async def risk_day(self, account: str, day: date) -> RiskDay | None:
        """Today's block and fired exits for the account (None: nothing happened today)."""
        found = await self._run(self._risk_row, account, day.isoformat())
        return found if isinstance(found, RiskDay) else None

    async def block_trading(self, account: str, day: date, kind: str, reason: str) -> RiskDay:
        """Refuse new orders (exits excepted) on the account for the day; idempotent."""
        _, after = await self._run(
            lambda: self._risk_write(account, day.isoformat(), block=(kind, reason))
        )
        assert isinstance(after, RiskDay)
        return after

    async def claim_exit(
        self, account: str, day: date, trigger: str, block: tuple[str, str] | None
    ) -> bool:
        """Claim today's automatic exit `trigger` (and block, if given) in one transaction:
        True for exactly one caller, whichever process; False if it already ran today."""
        before, _ = await self._run(
            lambda: self._risk_write(account, day.isoformat(), block=block, fire=trigger)
        )
        return before is None or trigger not in before.fired

    async def unblock_trading(self, account: str, day: date) -> RiskDay | None:
        """Allow orders again (`gui-trader risk reset`); the exits that ran stay recorded, so
        an MTM limit the trader overrode does not fire again today. The row as it was."""
        before, _ = await self._run(
            lambda: self._risk_write(account, day.isoformat(), unblock=True)
        )
        return before if isinstance(before, RiskDay) else None

    def share(self) -> Journal:
        """One more user of this open journal (the accounts of a fleet share one connection
        and one writer thread: 50 connections writing one file at once queue on SQLite's
        lock and its busy-wait sleeps, which cost a signal ~0.15 s)."""
        self._users += 1
        return self

    async def close(self) -> None:
        self._users -= 1
        if self._users > 0:
            return

        def _close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._run(_close)
        self._pool.shutdown(wait=True)
