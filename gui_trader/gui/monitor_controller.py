"""The Monitor dock's controller: starts and stops the EMA9 monitor and keeps its pane in
step with the MonitorRow and MonitorState events (the monitor follows its own orders).

Before a monitor that sends orders starts, a dry run of its first cycle says what it will
do, above all how many sells fill at once: the sell is a limit at EMA9, and where the price is
already above EMA9 that limit is marketable, so it sells now rather than resting."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer

from gui_trader.core import display
from gui_trader.engine.events import MonitorAction, MonitorRow, MonitorState

if TYPE_CHECKING:
    from gui_trader.engine.monitor import Monitor
    from gui_trader.engine.trading import TradingEngine
    from gui_trader.gui.main_window import MainWindow


def countdown(seconds: float) -> str:
    """ "42 s", "4:05", "1:02:03": whole seconds, rounded up (0 only when it is due)."""
    whole = max(0, int(-(-seconds // 1)))
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _names(symbols: list[str], most: int = 6) -> str:
    shown = ", ".join(symbols[:most])
    return shown + (f" and {len(symbols) - most} more" if len(symbols) > most else "")


def first_start_text(preview: Monitor, mode: str) -> str:
    """What the first cycle will do, from a dry run of it: sells placed, lowered, skipped,
    and which of them fill at once."""
    rows = list(preview.rows.values())
    placing = [m for m in rows if m.action is MonitorAction.PLACED]
    lowering = [m for m in rows if m.action is MonitorAction.MODIFIED]
    skipped = [m for m in rows if m.action is MonitorAction.SKIPPED]
    following = [m for m in rows if m.order_id and m.action is not MonitorAction.MODIFIED]
    at_once = preview.fills_at_once()
    lines = [
        f"On {mode}: place {len(placing)} limit sell{'s' * (len(placing) != 1)} at EMA9"
        + (f", lower {len(lowering)}" if lowering else "")
        + (f", follow {len(following)} already working" if following else "")
        + "; each is lowered on a new EMA9 low, never raised."
    ]
    if at_once:
        worth = sum((Decimal(m.ltp or 0) * m.qty for m in rows if m.symbol in at_once), Decimal(0))
        lines.append(
            f"{len(at_once)} of them will FILL AT ONCE (about {display.rupees(worth)}): "
            f"{_names(at_once)} already trade{'s' * (len(at_once) == 1)} above EMA9, so the "
            "limit is marketable and sells now, near the last price."
        )
    elif placing or lowering:
        lines.append("None fills at once: every price is below its EMA9; the sells rest.")
    if skipped:
        lines.append(
            f"Skipped: {len(skipped)} ("
            + "; ".join(f"{m.symbol}: {m.reason}" for m in skipped[:3])
            + ("; …" if len(skipped) > 3 else "")
            + ")"
        )
    lines.append("Start the monitor?")
    return "\n\n".join(lines)


class MonitorController:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.monitor: Monitor | None = None
        self.starting = False
        self.model = window.monitor_model
        self.pane = window.monitor_pane
        self.clock: Callable[[], float] = time.monotonic  # tests drive the countdown with it
        self.state: MonitorState | None = None
        self.timer = QTimer(self.pane)  # "next cycle in …" counts down once a second
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.tick)
        self.pane.start.clicked.connect(self.start)
        self.pane.stop.clicked.connect(self.stop)
        window.register(MonitorRow, lambda e: self.model.upsert(e.symbol, e))
        window.register(MonitorState, self._on_state)

    def running(self) -> bool:
        return self.monitor is not None

    def start(self) -> None:
        w = self.window
        engine = w.engine
        if engine is None or engine.instruments is None or self.starting:
            return
        pane = self.pane
        dry = pane.dry_run.isChecked()
        settings: dict[str, Any] = {
            "interval_s": float(pane.interval.value()),
            "max_below_entry_pct": Decimal(str(pane.max_below.value())),
            "include_positions": pane.positions.isChecked(),
        }
        self.starting = True  # one monitor: a second click waits for this one
        self.state = None
        pane.set_running(True, "starting…" if dry else "checking what the first cycle does…")
        w.docks["monitor"].raise_()

        async def go() -> None:
            try:
                if not dry and not await w.ask(
                    "Start the EMA9 monitor", await self._question(engine, settings)
                ):
                    return
                self.monitor = monitor = await engine.monitor(dry_run=dry, **settings)
                await monitor.run(skip_wait=engine.mode == "PAPER")
            finally:
                self.monitor = None
                self.starting = False
                self.state = None
                self.timer.stop()
                pane.set_running(False, "stopped")

        w.spawn(go(), "monitor")

    async def _question(self, engine: TradingEngine, settings: dict[str, Any]) -> str:
        """A dry run of the first cycle (it publishes and sends nothing) says what will happen."""
        preview = await engine.monitor_forecast(**settings)
        if isinstance(preview, str):
            return (
                f"Place a limit sell at EMA9 for every holding on {engine.mode}? (What the "
                f"first cycle will do could not be checked: {preview}; a sell whose price is "
                "already above EMA9 fills at once.)"
            )
        return first_start_text(preview, engine.mode)

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()

    def _on_state(self, s: MonitorState) -> None:
        self.state = s
        if s.next_cycle_at is not None:
            if not self.timer.isActive():
                self.timer.start()
        else:
            self.timer.stop()
        self.tick()

    def tick(self) -> None:
        """The state line, its countdown recomputed from the next cycle's time."""
        s = self.state
        if s is None:
            return
        text = ""  # (a dry run: its box is ticked beside this)
        left = countdown(s.next_cycle_at - self.clock()) if s.next_cycle_at else ""
        if s.running and left:
            text += f"next cycle in {left}" + (f" · {s.detail}" if s.detail else "")
        else:
            text += s.detail or ("running" if s.running else "stopped")
            text += f" · {left}" if left else ""
        self.pane.set_running(s.running or self.monitor is not None, text)


__all__ = ["MonitorController", "countdown", "first_start_text"]
