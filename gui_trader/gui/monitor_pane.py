"""The Monitor pane: the EMA9 monitor's rows, and start / stop / dry run / interval."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
)

from gui_trader.gui.models import SortProxy
from gui_trader.gui.monitor_model import REASON, MonitorModel
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
        self.interval.setPrefix("every ")
        self.interval.setSuffix(" s")
        self.interval.setToolTip("how often the monitor reads prices and moves its sells")
        self.max_below = QDoubleSpinBox()
        self.max_below.setRange(0, 100)
        self.max_below.setValue(5.0)
        self.max_below.setPrefix("skip < entry − ")
        self.max_below.setSuffix(" %")
        self.max_below.setToolTip("no sell for a symbol whose EMA9 is this far below its entry")
        self.positions = QCheckBox("positions too")
        self.positions.setToolTip("manage open long positions as well as holdings")
        self.state = QLabel("stopped")
        # a long state ("waiting for the open · …") must never widen the pane past the dock
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.state.setMinimumWidth(60)
        bar = QHBoxLayout()
        bar.setContentsMargins(2, 2, 2, 2)
        for w in (
            self.start,
            self.stop,
            self.dry_run,
            self.interval,
            self.max_below,
            self.positions,
        ):
            bar.addWidget(w)
        bar.addWidget(self.state, 1)
        super().__init__(model, SortProxy(), "monitor", actions=actions, bar=bar, stretch=REASON)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(36)
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Stretch)
        self._fitted = False
        model.rowsInserted.connect(self._fit_columns)
        model.dataChanged.connect(self._fit_columns)

    def _fit_columns(self) -> None:
        """Every column but Reason as wide as its content, so Action, P&L and Reason stay in
        view without scrolling sideways: fitted to the first rows, then only widened (a P&L
        that appears later is never elided, a width the trader chose is not undone)."""
        header = self.table.horizontalHeader()
        for column in range(self.model.columnCount()):
            if column == REASON:
                continue
            need = max(self.table.sizeHintForColumn(column), header.sectionSizeHint(column))
            if not self._fitted or need > header.sectionSize(column):
                header.resizeSection(column, need)
        self._fitted = self.model.rowCount() > 0

    def set_running(self, running: bool, text: str) -> None:
        self.start.setEnabled(not running)
        self.stop.setEnabled(running)
        for w in (self.dry_run, self.interval, self.max_below, self.positions):
            w.setEnabled(not running)
        self.state.setText(text)
        self.state.setToolTip(text)
