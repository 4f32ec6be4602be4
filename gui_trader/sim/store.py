"""The paper exchange on disk: one SQLite file per data folder, written before every reply.

Only the paper service (sim/service.py) opens it, under its lock, so SQLite sees one writer. What a
reply acknowledged is committed first (WAL, synchronous=NORMAL: it survives a killed process; a
power cut may lose the last moments, as a broker's would not, but this is paper). Rows are written
as they change, so a burst of orders costs a few row writes each, not a rewrite of the whole book.

The same day continues where it stopped (numbering, orders, fills, sessions); a later day starts
with yesterday's CNC buys settled into holdings (sim/snapshot.py `settle`).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gui_trader.sim import snapshot
from gui_trader.sim.auth import SimUser
from gui_trader.sim.state import TERMINAL, Book, SimHolding

if TYPE_CHECKING:
    from gui_trader.sim.exchange import Exchange

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (ucc TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS books (ucc TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (no TEXT PRIMARY KEY, ucc TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fills (fill_id TEXT PRIMARY KEY, ucc TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (ucc TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (ucc, tag));
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL
);
"""


class PaperStore:
    """Loads an exchange's state and writes what changed since the last flush."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        # What the file holds already, so a flush writes only the difference.
        self._book_rows: dict[str, str] = {}
        self._fills: dict[str, int] = {}
        self._tags: dict[str, set[str]] = {}
        self._filled: dict[str, int] = {}  # working orders' filled quantity as last written
        self._meta: dict[str, str] = {}
        self._sessions: dict[str, str] = {}

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- users
    def users(self) -> list[SimUser]:
        rows = self.db.execute("SELECT body FROM users ORDER BY ucc").fetchall()
        return [SimUser(**json.loads(body)) for (body,) in rows]

    def add_user(self, user: SimUser) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO users (ucc, body) VALUES (?, ?)",
            (user.ucc, json.dumps(asdict(user))),
        )

    # ---------------------------------------------------------------- load
    def empty(self) -> bool:
        return int(self.db.execute("SELECT COUNT(*) FROM meta").fetchone()[0]) == 0

    def load(self, ex: Exchange) -> None:
        """Continue the stored paper day in `ex`, or settle an earlier day into holdings."""
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            return
        same_day = meta.get("today") == ex.today.isoformat()
        if same_day:
            ex.order_seq = itertools.count(int(meta["order_seq"]))
            ex.fill_seq = itertools.count(int(meta["fill_seq"]))
        for ucc, body in self.db.execute("SELECT ucc, body FROM books").fetchall():
            ex.books[ucc] = self._book(ucc, json.loads(body), same_day)
        if same_day:
            self._load_sessions(ex)
            return
        # A new day: yesterday's orders, fills and sessions are gone; write the settled books.
        with self._transaction():
            for table in ("orders", "fills", "tags", "sessions", "books", "meta"):
                self.db.execute(f"DELETE FROM {table}")
        self._book_rows.clear()
        self.flush(ex)

    def _book(self, ucc: str, row: dict[str, Any], same_day: bool) -> Book:
        book = Book(cash=Decimal(row["cash"]))
        for k, (qty, avg, sold) in row["holdings"].items():
            book.holdings[k] = SimHolding(int(qty), Decimal(avg), int(sold))
        fills = [
            snapshot.fill_from(json.loads(b))
            for (b,) in self.db.execute(
                "SELECT body FROM fills WHERE ucc = ? ORDER BY fill_id", (ucc,)
            )
        ]
        if not same_day:
            snapshot.settle(book, fills)
            return book
        for (b,) in self.db.execute("SELECT body FROM orders WHERE ucc = ? ORDER BY no", (ucc,)):
            o = snapshot.order_from(json.loads(b))
            book.orders[o.no] = o
        book.working = {o.no for o in book.orders.values() if o.status not in TERMINAL}
        book.fills = fills
        for f in fills:
            book.count_fill(f)
        book.tags = {t for (t,) in self.db.execute("SELECT tag FROM tags WHERE ucc = ?", (ucc,))}
        self._fills[ucc] = len(fills)
        self._tags[ucc] = set(book.tags)
        self._filled.update({no: book.orders[no].filled for no in book.working})
        self._book_rows[ucc] = json.dumps(_book_row(book))
        return book

    def _load_sessions(self, ex: Exchange) -> None:
        sessions = ex.sessions
        for token, kind, body in self.db.execute("SELECT token, kind, body FROM sessions"):
            # trade rows are [ucc, sid, expires_at]; rows of earlier versions lack the expiry
            sessions.restore(kind, token, json.loads(body))
            self._sessions[f"{kind}:{token}"] = body

    # ---------------------------------------------------------------- write
    def flush(self, ex: Exchange) -> None:
        """Write what changed since the last flush, in one transaction."""
        with self._transaction():
            self._flush_meta(ex)
            for ucc, book in ex.books.items():
                self._flush_book(ucc, book)
            self._flush_sessions(ex)

    def _flush_meta(self, ex: Exchange) -> None:
        meta = {
            "today": ex.today.isoformat(),
            "order_seq": str(snapshot.peek(ex.order_seq)),
            "fill_seq": str(snapshot.peek(ex.fill_seq)),
        }
        changed = [(k, v) for k, v in meta.items() if self._meta.get(k) != v]
        if changed:
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", changed)
            self._meta.update(changed)

    def _flush_book(self, ucc: str, book: Book) -> None:
        # Partial fills change a working order without a status change: catch them by quantity.
        dirty = set(book.dirty)
        dirty.update(no for no in book.working if self._filled.get(no) != book.orders[no].filled)
        if dirty:
            self.db.executemany(
                "INSERT OR REPLACE INTO orders (no, ucc, body) VALUES (?, ?, ?)",
                [(no, ucc, json.dumps(snapshot.order_dict(book.orders[no]))) for no in dirty],
            )
            for no in dirty:
                if no in book.working:
                    self._filled[no] = book.orders[no].filled
                else:
                    self._filled.pop(no, None)
            book.dirty.clear()
        saved = self._fills.get(ucc, 0)
        if len(book.fills) > saved:
            self.db.executemany(
                "INSERT OR REPLACE INTO fills (fill_id, ucc, body) VALUES (?, ?, ?)",
                [(f.fill_id, ucc, json.dumps(snapshot.fill_dict(f))) for f in book.fills[saved:]],
            )
            self._fills[ucc] = len(book.fills)
        known = self._tags.setdefault(ucc, set())
        if len(book.tags) != len(known):
            new = book.tags - known
            self.db.executemany(
                "INSERT OR IGNORE INTO tags (ucc, tag) VALUES (?, ?)", [(ucc, t) for t in new]
            )
            known.update(new)
        row = json.dumps(_book_row(book))
        if self._book_rows.get(ucc) != row:
            self.db.execute("INSERT OR REPLACE INTO books (ucc, body) VALUES (?, ?)", (ucc, row))
            self._book_rows[ucc] = row

    def _flush_sessions(self, ex: Exchange) -> None:
        now: dict[str, str] = {}
        for kind, table in (("view", ex.sessions.view), ("trade", ex.sessions.trade)):
            for token, value in table.items():
                now[f"{kind}:{token}"] = json.dumps(list(value))
        if now == self._sessions:
            return
        for key in self._sessions.keys() - now.keys():
            kind, token = key.split(":", 1)
            self.db.execute("DELETE FROM sessions WHERE token = ? AND kind = ?", (token, kind))
        self.db.executemany(
            "INSERT OR REPLACE INTO sessions (token, kind, body) VALUES (?, ?, ?)",
            [
                (key.split(":", 1)[1], key.split(":", 1)[0], body)
                for key, body in now.items()
                if self._sessions.get(key) != body
            ],
        )
        self._sessions = now

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


def _book_row(book: Book) -> dict[str, Any]:
    return {
        "cash": str(book.cash),
        "holdings": {k: [h.qty, str(h.avg), h.sold] for k, h in book.holdings.items()},
    }


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
