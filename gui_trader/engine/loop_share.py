"""Orders share the event loop with the window: a burst's steps take turns.

A burst of orders (100 gathered `place` calls, or their replies arriving together, or a group
commit of the journal waking them all) makes many order steps ready in the same loop pass; run
back to back they held the loop for 40-60 ms, and the window's timers and paints waited behind
them. Each order step now asks for a turn first: the steps of one loop pass run until `SLICE_S`
has gone by since its first one (whatever else ran in between counts too: it held the loop as
well), and the rest wait for a later pass, in the order they asked, so the timers, sockets and
paints that fell due go in between. Alone, an order never waits: the first step of a pass
always runs.

What never waits its turn: exits (the kill switch, risk exits, position exits, the monitor's
sells: taking risk off goes first), and batch legs already marked sent before the wire (a
straddle's CALL and PUT, a fan-out's accounts leave together, as they were journaled). The
trade-off is the burst's own length: with the window busy, a paced 100-order burst took 1.1-1.4x
as long in `bench_window` (its CPU is the same, spread over more passes).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable

# How long the order steps of one loop pass may run together before the rest wait for the next
# pass. Half a frame: with a frame's own work (a drain and a paint) the loop answers within
# two frames (33 ms) while a burst goes out.
SLICE_S = 0.008


class LoopShare:
    """The turns of one event loop (every account's orders share it)."""

    def __init__(
        self, slice_s: float = SLICE_S, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.slice_s, self.clock = slice_s, clock
        self._began = 0.0  # when the open turn's first step ran
        self._open = False  # a turn is open: its end is scheduled for the next pass
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._let = 0  # steps let through in the open turn
        self._full = False  # a step found the open turn's slice used up
        self._wake = 1  # how many waiters the last turn's end woke
        self.waits = 0  # steps that waited for a later pass (for tests and benchmarks)

    async def turn(self) -> None:
        """Return at once while this pass's order steps are within the slice; otherwise wait
        for a later pass (first come, first served). Cancellation leaves no trace."""
        loop = asyncio.get_running_loop()
        first = True
        while True:
            if not self._open:
                self._open, self._began, self._let, self._full = True, self.clock(), 1, False
                loop.call_soon(self._end_turn)
                return
            full = self.clock() - self._began >= self.slice_s
            if full or (first and self._waiting):
                self._full = self._full or full
                waiter: asyncio.Future[None] = loop.create_future()
                if first:
                    self._waiting.append(waiter)
                    self.waits += 1
                else:  # woken, but the pass filled up again: first in line for the next one
                    self._waiting.appendleft(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if not waiter.done():
                        self._waiting.remove(waiter)
                    raise
                first = False
                continue
            self._let += 1
            return

    def _end_turn(self) -> None:
        """The next pass: the turn is over. Wake the waiters the next turn should hold (they
        run in the pass after this one, each checking the slice again): as many as this turn
        let through if its slice filled up, else twice as many as last time (waking them all
        would have each one that does not fit ask again, every pass)."""
        self._open = False
        self._wake = max(1, self._let if self._full else 2 * self._wake)
        woken = 0
        while self._waiting and woken < self._wake:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                woken += 1


_shares: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopShare] = (
    weakref.WeakKeyDictionary()
)


def loop_share() -> LoopShare:
    """The running loop's turns."""
    loop = asyncio.get_running_loop()
    share = _shares.get(loop)
    if share is None:
        share = _shares[loop] = LoopShare()
    return share


async def turn() -> None:
    """Wait for this order step's turn on the running loop (see the module's docstring)."""
    await loop_share().turn()
