"""Per-account pacing: wait for a slot instead of failing, and honour Retry-After for everyone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket (rate per second, burst = rate) shared by every call of one account.

    Each caller reserves the next free slot and sleeps until it, so a burst of 200 orders at
    10/s is spread evenly over 20 s and nobody gets a 429 from us. `clock` is the monotonic
    time source in seconds (injectable, so tests drive time instead of sleeping).
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate, 1.0))
        self._tat = 0.0  # theoretical arrival time of the next request (GCRA)
        self._paused_until = 0.0
        self.waited = 0.0
        self._clock = clock

    def _now(self) -> float:
        return self._clock()

    def reserve(self) -> float:
        """Claim a slot; returns how long to wait for it."""
        now = self._now()
        interval = 1.0 / self.rate
        tat = max(self._tat, now, self._paused_until)
        self._tat = tat + interval
        allowance = (self.burst - 1) * interval
        start = max(tat - allowance, now, self._paused_until)
        return max(0.0, start - now)

    async def acquire_many(self, n: int) -> None:
        """n slots that are used together: wait once, for the last of them."""
        wait = max((self.reserve() for _ in range(n)), default=0.0)
        if wait > 0:
            self.waited += wait
            await asyncio.sleep(wait)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self.waited += wait
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """The broker said Retry-After: nobody on this account sends before then."""
        self._paused_until = max(self._paused_until, self._now() + seconds)

    def headroom(self) -> float:
        """Slots free right now, 0..burst (for the status bar)."""
        now = self._now()
        if now < self._paused_until:
            return 0.0
        used = max(0.0, self._tat - now) * self.rate
        return max(0.0, self.burst - used)
