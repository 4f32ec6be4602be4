"""The Monitor pane: the EMA9 monitor's rows, and start / stop / dry run / interval."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
)

from gui_trader.gui.models import SortProxy
from gui_trader.gui.monitor_model import MonitorModel
from gui_trader.gui.panes import Actions, TablePane


class MonitorPane(TablePane):
    """The EMA9 monitor: its rows, and start / stop / dry run / interval."""

    def __init__(self, model: MonitorModel, actions: Actions) -> None:
        self.start = QPushButton("Start monitor")
        self.stop = QPushButton("Stop")
        self.stop.setEnabled(False)
        self.dry_run = QCheckBox("dry run")
        self.dry_run.setToolTip("compute and show everything; send nothing")
        self.interval = QSpinBox()
        self.interval.setRange(5, 3600)
        self.interval.setValue(60)
        self.interval.setSuffix(" s")
        self.max_below = QDoubleSpinBox()
        self.max_below.setRange(0, 100)
        self.max_below.setValue(5.0)
        self.max_below.setSuffix(" % below entry: skip")
        self.positions = QCheckBox("include positions")
        self.state = QLabel("stopped")
        bar = QHBoxLayout()
        for w in (
            self.start,
            self.stop,
            self.dry_run,
            QLabel("every"),
            self.interval,
            self.max_below,
            self.positions,
        ):
            bar.addWidget(w)
        bar.addWidget(self.state, 1)
        super().__init__(model, SortProxy(), "monitor", actions=actions, bar=bar)

    def set_running(self, running: bool, text: str) -> None:
        self.start.setEnabled(not running)
        self.stop.setEnabled(running)
        for w in (self.dry_run, self.interval, self.max_below, self.positions):
            w.setEnabled(not running)
        self.state.setText(text)
