"""Opening a new journal from several processes at once migrates it once, never twice."""

from __future__ import annotations

import threading
from pathlib import Path

from gui_trader.engine.journal import Journal


def test_journals_opened_at_once_on_a_new_file_all_open(tmp_path: Path) -> None:
    """Each opener has its own connection, as separate processes do; a barrier lines them
    up on the schema check (two fan-out traders failed on "duplicate column name: meta")."""
    for attempt in range(5):
        path = tmp_path / f"journal-{attempt}.sqlite3"
        openers = [Journal(path) for _ in range(6)]
        start = threading.Barrier(len(openers))
        errors: list[BaseException] = []

        def go(
            journal: Journal, start: threading.Barrier = start, errors: list[BaseException] = errors
        ) -> None:
            start.wait()
            try:
                journal._open()
            except BaseException as exc:
                errors.append(exc)
            if journal._db is not None:
                journal._db.close()  # in its own thread, as SQLite wants

        threads = [threading.Thread(target=go, args=(j,)) for j in openers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert len({j.install_id for j in openers}) == 1  # one journal, one install id
