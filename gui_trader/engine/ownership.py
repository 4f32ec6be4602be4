"""One owner per run: an OS file lock that a second process cannot take while the first lives,
and that the kernel releases the moment its holder dies (kill -9 included), so a resume can
start at once after a crash and never beside a run that is still going."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

import filelock

from gui_trader.core.clock import IST


class OwnedElsewhere(Exception):
    """Another live process drives this run; the message is one line for the trader."""


class RunOwner:
    """`with journal.owner("run-S...", "straddle run S..."):` -- refuses at once if taken."""

    def __init__(self, folder: Path, name: str, what: str) -> None:
        self.folder = folder
        self.name = name
        self.what = what
        self._lock: filelock.BaseFileLock | None = None

    @property
    def path(self) -> Path:
        return self.folder / f"{self.name}.lock"

    @property
    def info_path(self) -> Path:
        return self.folder / f"{self.name}.owner"

    def acquire(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(
            self.path,
            timeout=0,
            thread_local=False,
            is_singleton=False,
            fallback_to_soft=False,
            preserve_lock_file=True,  # unlinking a flock file races with the next taker
        )
        try:
            lock.acquire(blocking=False)
        except filelock.Timeout:
            raise OwnedElsewhere(f"{self.what} is being driven by {self._holder()}") from None
        self._lock = lock
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        tmp = self.info_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        tmp.replace(self.info_path)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def _holder(self) -> str:
        try:
            info = json.loads(self.info_path.read_text(encoding="utf-8"))
            since = datetime.fromtimestamp(float(info["since"]), IST).strftime("%H:%M:%S")
            return f"another process (pid {int(info['pid'])}, since {since} IST); wait for it"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process; wait for it to finish"

    def __enter__(self) -> RunOwner:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
