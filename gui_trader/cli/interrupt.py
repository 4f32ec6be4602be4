"""The one Ctrl-C / SIGTERM helper for long commands (straddle, monitor)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator


class Interrupted:
    """Which signal stopped the job, if any: a straddle cut short exits 128 + it (130 for
    Ctrl-C) after its summary, so a script can tell "aborted" from "refused"."""

    signal: int | None = None

    @property
    def exit_status(self) -> int | None:
        return None if self.signal is None else 128 + self.signal


@contextlib.contextmanager
def on_interrupt(stop: Callable[[], None]) -> Iterator[Interrupted]:
    """Ctrl-C and SIGTERM ask a long job to stop in order (abort a straddle, stop a monitor)
    instead of killing it; it then reports what it did."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    seen = Interrupted()

    def heard(sig: int) -> None:
        if seen.signal is None:
            seen.signal = sig
        stop()

    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, heard, sig)
    try:
        yield seen
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
