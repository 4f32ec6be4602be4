"""Progress of long commands on stderr, driven by the engine's events (never by polling it).

On a terminal: one status line with a bar, redrawn in place (a countdown ticks once a second);
log lines print above it. Anywhere else (a pipe, a file, CI): plain lines, one per step that
matters (a batch sent, a monitor cycle, a signal fired), no control characters. stdout is never
touched, so `--json` stays one document.

Hand-written: neither rich nor tqdm is a dependency, and a countdown to the next batch is not
what either one draws by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from gui_trader.core.order import OrderStatus
from gui_trader.engine.events import (
    Event,
    EventHub,
    LegProgress,
    MonitorAction,
    MonitorRow,
    MonitorState,
    RunProgress,
    RunState,
)

__all__ = [
    "FanoutProgress",
    "MonitorProgress",
    "Renderer",
    "StraddleProgress",
    "TapHub",
    "plural",
]

log = logging.getLogger(__name__)
Listener = Callable[[Event], None]
TICK_S = 1.0  # how often a terminal's countdown is redrawn
BAR_CELLS = 20


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 batch`, `3 batches`: the trader reads counts, not `1 batches`."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def seconds_left(at: float | None, now: float | None = None) -> str:
    """A countdown as a trader reads it: `18 s`, `2 min 05 s`, `1 h 04 min`."""
    if at is None:
        return ""
    # Rounded up: a wait of 20 s reads "20 s" when it starts, and "0 s" only when it is over.
    left = max(0, math.ceil(at - (time.monotonic() if now is None else now) - 0.001))
    if left < 60:
        return f"{left} s"
    if left < 3600:
        return f"{left // 60} min {left % 60:02d} s"
    return f"{left // 3600} h {left % 3600 // 60:02d} min"


class TapHub(EventHub):
    """The engine's hub, with listeners called as each event is published: the CLI has no
    window loop draining a queue, so it hears events at once instead of polling for them."""

    def __init__(self) -> None:
        super().__init__()
        self._listeners: list[Listener] = []

    def publish(self, event: Event) -> None:
        super().publish(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a drawing bug must never stop a trade
                log.debug("progress listener failed; progress off", exc_info=True)
                self._listeners.remove(listener)

    @contextlib.contextmanager
    def listening(self, listener: Listener) -> Iterator[None]:
        self._listeners.append(listener)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)


class Renderer:
    """Where progress is drawn: a redrawn status line on a terminal, plain lines otherwise."""

    def __init__(self, stream: IO[str] | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty and os.environ.get("TERM") != "dumb"
        encoding = (getattr(self.stream, "encoding", None) or "").lower()
        self.fancy = self.tty and "utf" in encoding
        self.sep = " · " if self.fancy else " | "
        self._status = ""  # the status line on screen (terminal only)

    def width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        return max(20, columns - 1) if columns > 0 else 99  # 0: a terminal that never said

    def bar(self, done: float, total: float) -> str:
        share = 0.0 if total <= 0 else min(1.0, max(0.0, done / total))
        full = round(share * BAR_CELLS)
        if self.fancy:
            return "▕" + "█" * full + "░" * (BAR_CELLS - full) + "▏"
        return "[" + "#" * full + "-" * (BAR_CELLS - full) + "]"

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or a broken pipe: progress is optional
            pass

    def status(self, text: str) -> None:
        """The one live line (terminal only): cut to the width so it never wraps."""
        if not self.tty:
            return
        text = text[: self.width()]
        if text != self._status:
            self._write("\r\x1b[2K" + text)
            self._status = text

    def line(self, text: str) -> None:
        """A line that stays: above the status line on a terminal, plain elsewhere."""
        if self.tty:
            status, self._status = self._status, ""
            self._write("\r\x1b[2K" + text + "\n")
            if status:
                self.status(status)
        else:
            self._write(text + "\n")

    def clear(self) -> None:
        if self.tty and self._status:
            self._write("\r\x1b[2K")
            self._status = ""

    @contextlib.contextmanager
    def owning_stderr_logs(self) -> Iterator[None]:
        """Log lines headed for this stream print above the status line, never through it."""
        handlers = [
            h
            for h in logging.getLogger().handlers
            if type(h) is logging.StreamHandler and h.stream is self.stream
        ]
        if not self.tty or not handlers:
            yield
            return
        proxy = _AboveStatus(self)
        for h in handlers:
            h.setStream(proxy)  # type: ignore[arg-type]
        try:
            yield
        finally:
            for h in handlers:
                h.setStream(self.stream)


class _AboveStatus:
    """A stream for the stderr log handler: it clears the status line, writes, redraws."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self.renderer.line(line)
        return len(text)

    def flush(self) -> None:
        pass


class _Ticking:
    """Redraws a terminal's status line once a second while something counts down."""

    def __init__(self, renderer: Renderer, draw: Callable[[], None]) -> None:
        self.renderer, self.draw = renderer, draw
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.draw()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        if self.renderer.tty:
            self._task = asyncio.get_running_loop().create_task(self._tick())
        try:
            with self.renderer.owning_stderr_logs():
                yield
        finally:
            if self._task is not None:
                self._task.cancel()
            self.renderer.clear()


class StraddleProgress:
    """A straddle run: batches sent, per leg the quantity sent and filled, the countdown to the
    next batch. Plain lines: one per batch sent and one at the end."""

    def __init__(self, run: Any, renderer: Renderer | None = None) -> None:
        self.r = renderer or Renderer()
        self.run_id: str = run.run_id
        plan = run.plan
        self.batches = len(plan.batches)
        self.delay_s: float | None = plan.spec.delay_s
        self.orders = {o.key: o for o in plan.orders}
        self.by_batch: dict[int, set[Any]] = {}
        for o in plan.orders:
            self.by_batch.setdefault(o.batch, set()).add(o.key)
        self.planned = {
            leg: sum(o.qty for o in plan.orders if o.leg == leg) for leg in ("CE", "PE")
        }
        self.status: dict[Any, OrderStatus] = {}
        self.batches_done = 0
        self.state = RunState.RUNNING
        self.next_at: float | None = None
        self.said: set[int] = set()
        self.ticking = _Ticking(self.r, self.draw)

    # ---------------------------------------------------------------- the numbers
    def leg(self, leg: str) -> tuple[int, int, int, int]:
        """(quantity sent, quantity filled, orders failed, orders unknown) of one leg so far."""
        sent = filled = failed = unknown = 0
        for key, status in self.status.items():
            if str(key[1]) != leg:
                continue
            qty = self.orders[key].qty if key in self.orders else 0
            if status is OrderStatus.UNKNOWN:  # may exist: neither sent nor failed for sure
                unknown += 1
            elif status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
                failed += 1
            else:
                sent += qty
                filled += qty if status is OrderStatus.COMPLETE else 0
        return sent, filled, failed, unknown

    def legs_text(self) -> str:
        parts = []
        for leg in ("CE", "PE"):
            sent, filled, failed, unknown = self.leg(leg)
            part = f"{leg} {sent:,}/{self.planned[leg]:,} sent, {filled:,} filled"
            part += f", {plural(failed, 'order')} failed" if failed else ""
            part += f", {plural(unknown, 'order')} unknown" if unknown else ""
            parts.append(part)
        return "; ".join(parts)

    def sent_batches(self) -> int:
        return max(
            self.batches_done,
            sum(all(k in self.status for k in keys) for keys in self.by_batch.values()),
        )

    # ---------------------------------------------------------------- events
    def __call__(self, event: Event) -> None:
        if isinstance(event, LegProgress) and event.run_id == self.run_id:
            self.status[(event.batch, event.leg, event.slice)] = event.status
            if self.delay_s is None:  # paced: no per-batch progress event, the legs say it
                keys = self.by_batch.get(event.batch, set())
                if keys and all(k in self.status for k in keys):
                    self.say_batch(event.batch)
        elif isinstance(event, RunProgress) and event.run_id == self.run_id:
            self.batches_done, self.state = event.batches_done, event.state
            waiting = event.state in (RunState.WAITING, RunState.SETTLING)
            self.next_at = event.next_batch_at if waiting else None
            if event.state is RunState.SETTLING and not self.r.tty:
                self.r.line(
                    f"straddle: legs that were on the wire are looked up by tag in "
                    f"{seconds_left(self.next_at)}; only those proven absent are sent"
                )
            elif event.state is RunState.WAITING or (
                event.state is RunState.RUNNING
                and (not self.delay_s or event.batches_done >= self.batches)
            ):
                self.say_batch(event.batches_done)
            elif event.state in (RunState.DONE, RunState.ABORTED):
                word = "aborted" if event.state is RunState.ABORTED else "done"
                self.r.clear()  # a terminal shows the summary next, on stdout
                if not self.r.tty:
                    self.r.line(
                        f"straddle {word}: {self.sent_batches()}/"
                        f"{plural(self.batches, 'batch', 'batches')} sent; {self.legs_text()}"
                    )
        self.draw()

    def say_batch(self, number: int) -> None:
        if number < 1 or number in self.said or self.r.tty:
            return
        self.said.add(number)
        wait = seconds_left(self.next_at)
        self.r.line(
            f"straddle: batch {number}/{self.batches} sent: {self.legs_text()}"
            + (f"; next batch in {wait}" if wait else "")
        )

    def draw(self) -> None:
        if not self.r.tty or self.state in (RunState.DONE, RunState.ABORTED):
            return
        done = sum(self.leg(leg)[0] for leg in ("CE", "PE"))
        wait = seconds_left(self.next_at)
        label = (
            "legs on the wire looked up in"
            if self.state is RunState.SETTLING
            else ("next batch in")
        )
        self.r.status(
            f"straddle {self.r.bar(done, sum(self.planned.values()))} "
            f"{self.sent_batches()}/{self.batches} batches{self.r.sep}{self.legs_text()}"
            + (f"{self.r.sep}{label} {wait}" if wait else "")
        )

    def running(self) -> contextlib.AbstractContextManager[None]:
        return self.ticking.running()


ACTION_WORDS = {
    MonitorAction.PLACED: "placed",
    MonitorAction.MODIFIED: "lowered",
    MonitorAction.ADOPTED: "adopted",
    MonitorAction.FILLED: "filled",
    MonitorAction.UNCHANGED: "unchanged",
    MonitorAction.SKIPPED: "skipped",
    MonitorAction.WAITING: "waiting",
}

DRY_WORDS = {"placed": "would place", "lowered": "would lower"}


class MonitorProgress:
    """Monitor cycles: what the last cycle did per action, and the countdown to the next one.
    Plain lines: one per cycle, one per wait (the open, settling, a back-off)."""

    def __init__(self, renderer: Renderer | None = None) -> None:
        self.r = renderer or Renderer()
        self.rows: dict[str, MonitorRow] = {}
        self.fresh = False  # rows arrived since the last cycle was told
        self.cycles = 0
        self.next_at: float | None = None
        self.detail = ""
        self.dry_run = False
        self.last_line = ""
        self.ticking = _Ticking(self.r, self.draw)

    def counts(self) -> str:
        tally: dict[str, int] = {}
        for row in self.rows.values():
            word = "sold" if row.closed else ACTION_WORDS.get(row.action, "")
            if row.dry_run and word in DRY_WORDS:
                word = DRY_WORDS[word]
            if word:
                tally[word] = tally.get(word, 0) + 1
        done = ", ".join(f"{n} {word}" for word, n in tally.items())
        return plural(len(self.rows), "symbol") + (f": {done}" if done else "")

    def __call__(self, event: Event) -> None:
        if isinstance(event, MonitorRow):
            self.rows[event.symbol] = event
            self.dry_run = event.dry_run
            self.fresh = True
        elif isinstance(event, MonitorState):
            self.dry_run = event.dry_run
            if self.fresh:  # a cycle ended: its rows came just before this state
                self.cycles += 1
                self.fresh = False
                self.next_at = event.next_cycle_at if event.running else None
                self.say(
                    f"monitor{' (dry run)' if self.dry_run else ''}: cycle {self.cycles}: "
                    f"{self.counts()}"
                    + (f"; next cycle in {seconds_left(self.next_at)}" if self.next_at else "")
                )
            else:
                self.next_at = event.next_cycle_at
                if event.detail:
                    wait = seconds_left(event.next_cycle_at)
                    self.say(f"monitor: {event.detail}" + (f" (in {wait})" if wait else ""))
            self.detail = event.detail
        self.draw()

    def say(self, text: str) -> None:
        if not self.r.tty and text != self.last_line:
            self.r.line(text)
        self.last_line = text

    def draw(self) -> None:
        if not self.r.tty:
            return
        head = f"monitor{' (dry run)' if self.dry_run else ''}"
        sep = self.r.sep
        if self.cycles:
            head += f"{sep}cycle {self.cycles}{sep}{self.counts()}"
        if self.detail:
            head += f"{sep}{self.detail}"
        wait = seconds_left(self.next_at)
        label = "next cycle in" if self.cycles else "starts in"
        self.r.status(head + (f"{sep}{label} {wait}" if wait else ""))

    def running(self) -> contextlib.AbstractContextManager[None]:
        return self.ticking.running()


class FanoutProgress(logging.Handler):
    """A fan-out run: each signal's result as the engine reports it (its per-signal log record,
    the event the window's Log pane shows), out of the signals asked for."""

    LOGGER = "gui_trader.engine.fanout"

    def __init__(self, signals: int, renderer: Renderer | None = None) -> None:
        super().__init__(logging.INFO)
        self.r = renderer or Renderer()
        self.total = signals
        self.done = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno != logging.INFO:
            return  # warnings and errors reach stderr through the log handler already
        try:
            message = record.getMessage()
        except Exception:
            return
        self.done += 1
        if self.r.tty:
            self.r.status(
                f"signal {self.r.bar(self.done, self.total)} {self.done}/{self.total}"
                f"{self.r.sep}{message}"
            )
        else:
            self.r.line(f"signal {self.done}/{self.total}: {message}")

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        source = logging.getLogger(self.LOGGER)
        source.addHandler(self)
        if self.r.tty:
            self.r.status(f"signal {self.r.bar(0, self.total)} 0/{self.total}{self.r.sep}sending")
        try:
            with self.r.owning_stderr_logs():
                yield
        finally:
            source.removeHandler(self)
            self.r.clear()
