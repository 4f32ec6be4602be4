"""The Monitor dock's controller: starts and stops the EMA9 monitor and keeps its pane in
step with the MonitorRow and MonitorState events (the monitor follows its own orders)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING

from gui_trader.engine.events import MonitorRow, MonitorState

if TYPE_CHECKING:
    from gui_trader.engine.monitor import Monitor
    from gui_trader.gui.main_window import MainWindow


class MonitorController:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.monitor: Monitor | None = None
        self.starting = False
        self.model = window.monitor_model
        self.pane = window.monitor_pane
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
        if not dry and not w.confirm(
            "Start the EMA9 monitor",
            "Place a limit sell at EMA9 for every holding and "
            f"lower it on each new low, on {engine.mode}?",
        ):
            return
        self.starting = True  # one monitor: a second click waits for this one
        pane.set_running(True, "starting…")
        w.docks["monitor"].raise_()

        async def go() -> None:
            try:
                self.monitor = monitor = await engine.monitor(
                    interval_s=float(pane.interval.value()),
                    max_below_entry_pct=Decimal(str(pane.max_below.value())),
                    dry_run=dry,
                    include_positions=pane.positions.isChecked(),
                )
                await monitor.run(skip_wait=engine.mode == "PAPER")
            finally:
                self.monitor = None
                self.starting = False
                pane.set_running(False, "stopped")

        w.spawn(go(), "monitor")

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()

    def _on_state(self, s: MonitorState) -> None:
        text = "dry run · " if s.dry_run else ""
        if s.running and s.next_cycle_at:
            text += f"next cycle in {max(0.0, s.next_cycle_at - time.monotonic()):.0f} s"
        else:
            text += "running" if s.running else "stopped"
        if s.detail:
            text += f" · {s.detail}"
        self.pane.set_running(s.running or self.monitor is not None, text)
