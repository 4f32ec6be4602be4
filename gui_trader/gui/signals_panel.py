"""The Signals panel: one signal for every account of a group. Plan shows what each account
would do (quantity, or why it is skipped) and sends nothing; Fire sends to all of them at once
and fills in every account's result, then the summary."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui_trader.core import limits as L
from gui_trader.core.order import Side
from gui_trader.gui import theme

if TYPE_CHECKING:
    from gui_trader.engine.fanout import FanoutReport, Signal

Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]
# (signals, group, fire, amount) -> the report; the window composes it (app.signal_run)
Runner = Callable[[Sequence["Signal"], str, bool, Decimal | None], Awaitable["FanoutReport"]]
COLOURS = {"placed": "profit", "failed": "loss", "skipped": "muted"}  # theme.colour names
COLUMNS = ["Account", "Status", "Qty", "Order", "Tries", "Reason"]


class SignalsPanel(QWidget):
    def __init__(
        self,
        spawn: Spawn,
        confirm: Callable[[str, str], bool],
        run: Runner,
        groups: Callable[[], list[str]],
    ) -> None:
        super().__init__()
        self.spawn, self.confirm, self.run, self.groups = spawn, confirm, run, groups
        self.report: FanoutReport | None = None
        self._planned: tuple[str, Side, str, Decimal | None, int | None] | None = None

        self.symbol = QLineEdit()
        self.symbol.setPlaceholderText("RELIANCE")
        self.side = QComboBox()
        self.side.addItem("Buy", Side.BUY)
        self.side.addItem("Sell", Side.SELL)
        self.group = QComboBox()
        self.amount = QLineEdit()
        self.amount.setPlaceholderText("each account's own")
        self.amount.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.qty = QSpinBox()
        self.qty.setRange(0, L.MAX_QTY)
        self.qty.setSpecialValueText("sized by amount")
        self.qty.setAlignment(Qt.AlignmentFlag.AlignRight)
        form = QFormLayout()
        form.addRow("Symbol", self.symbol)
        form.addRow("Side", self.side)
        form.addRow("Accounts", self.group)
        form.addRow("Amount ₹", self.amount)
        form.addRow("Quantity", self.qty)

        self.plan_button = QPushButton("Plan")
        self.fire_button = QPushButton("Fire")
        self.fire_button.setEnabled(False)
        self.fire_button.setStyleSheet(theme.button_style("sell"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.plan_button)
        buttons.addWidget(self.fire_button)

        self.grid = QTableWidget(0, len(COLUMNS))
        self.grid.setHorizontalHeaderLabels(COLUMNS)
        self.grid.verticalHeader().setVisible(False)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.grid.horizontalHeader()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel("Plan first: nothing is sent until Fire.")
        self.summary.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.summary)
        self.plan_button.clicked.connect(self.plan)
        self.fire_button.clicked.connect(self.fire)
        for w in (self.symbol, self.amount):
            w.textChanged.connect(self._stale)
        for c in (self.side, self.group):
            c.currentIndexChanged.connect(self._stale)
        self.qty.valueChanged.connect(self._stale)
        self.refresh_groups()

    def refresh_groups(self) -> None:
        current = self.group.currentText()
        self.group.clear()
        self.group.addItem("all enabled accounts", "all")
        for g in self.groups():
            self.group.addItem(f"group {g}", g)
        index = self.group.findText(current)
        if index >= 0:
            self.group.setCurrentIndex(index)

    # ------------------------------------------------------------------ input
    def _form(self) -> tuple[str, Side, str, Decimal | None, int | None]:
        symbol = self.symbol.text().strip()
        if not symbol or len(symbol) > 60 or not symbol.isprintable():
            raise ValueError("a symbol, e.g. RELIANCE")
        amount: Decimal | None = None
        text = self.amount.text().strip().replace(",", "")
        if text:
            try:
                amount = Decimal(text)
            except InvalidOperation:
                raise ValueError(f"amount {text[:20]!r} is not a number") from None
            if not amount.is_finite() or amount <= 0 or amount > L.MAX_AMOUNT:
                raise ValueError(f"amount must be above 0 and at most {L.MAX_AMOUNT:,}")
        qty = self.qty.value() or None
        return symbol, Side(self.side.currentData()), str(self.group.currentData()), amount, qty

    def _signals(self, form: tuple[str, Side, str, Decimal | None, int | None]) -> list[Signal]:
        from gui_trader.engine.fanout import Signal

        symbol, side, _group, _amount, qty = form
        return [Signal(symbol, side, None, None, qty)]

    def _stale(self) -> None:
        """Any change after a plan: the plan no longer describes what Fire would send."""
        if self._planned is not None:
            self._planned = None
            self.fire_button.setEnabled(False)
            self.summary.setText("Changed since the plan: Plan again before firing.")

    # ------------------------------------------------------------------ actions
    def plan(self) -> None:
        try:
            form = self._form()
        except ValueError as exc:
            self.summary.setText(f"Not planned: {exc}.")
            return
        self.plan_button.setEnabled(False)
        self.summary.setText("Planning: reading every account's book…")
        self.spawn(self._plan(form), "signal plan")

    async def _plan(self, form: tuple[str, Side, str, Decimal | None, int | None]) -> None:
        try:
            report = await self.run(self._signals(form), form[2], False, form[3])
        except Exception as exc:  # shown in the panel; the window's log has the rest
            self.summary.setText(f"Not planned: {str(exc).strip(chr(39)) or type(exc).__name__}")
            return
        finally:
            self.plan_button.setEnabled(True)
        self.show_report(report)
        rows = [a for s in report.signals for a in s.accounts]
        planned = [a for a in rows if a.status == "planned"]
        self._planned = form if planned else None
        self.fire_button.setEnabled(bool(planned))
        skipped = len(rows) - len(planned)
        self.summary.setText(
            (
                f"{len(planned)} of {len(rows)} accounts would send"
                + (f", {skipped} skipped (see why)" if skipped else "")
                + ". Nothing sent yet."
            )
            if planned
            else "No account would send anything (see why)."
        )

    def fire(self) -> None:
        form = self._planned
        if form is None:
            return
        symbol, side, group, _amount, _qty = form
        planned = [
            a
            for s in (self.report.signals if self.report else [])
            for a in s.accounts
            if a.status == "planned"
        ]
        text = f"{side.label} {symbol} on {len(planned)} account(s) ({group}), all at once?"
        if not self.confirm("Fire signal", text):
            return
        self.fire_button.setEnabled(False)
        self.plan_button.setEnabled(False)
        self._planned = None
        self.summary.setText("Firing…")
        self.spawn(self._fire(form), "signal fire")

    async def _fire(self, form: tuple[str, Side, str, Decimal | None, int | None]) -> None:
        try:
            report = await self.run(self._signals(form), form[2], True, form[3])
        except Exception as exc:
            self.summary.setText(f"Not fired: {str(exc).strip(chr(39)) or type(exc).__name__}")
            return
        finally:
            self.plan_button.setEnabled(True)
        self.show_report(report)
        totals = {"placed": 0, "skipped": 0, "failed": 0}
        for s in report.signals:
            for a in s.accounts:
                totals[a.status] = totals.get(a.status, 0) + 1
        spread = max((s.spread_ms for s in report.signals), default=0.0)
        text = (
            f"Placed {totals['placed']}, skipped {totals['skipped']}, failed {totals['failed']}"
            f" · spread {spread:.1f} ms"
        )
        if report.breaker.tripped:
            text += (
                f" · CIRCUIT BREAKER: {report.breaker.failed} of {report.breaker.attempted} failed"
            )
        self.summary.setText(text)

    def changeEvent(self, event: QEvent) -> None:
        """A theme switch: the Fire button and the status colours in this theme."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.fire_button.setStyleSheet(theme.button_style("sell"))
            for r in range(self.grid.rowCount()):
                item = self.grid.item(r, 1)
                status = item.text().split(" ")[0] if item is not None else ""
                if item is not None and status in COLOURS:
                    item.setForeground(theme.colour(COLOURS[status]))

    # ------------------------------------------------------------------ view
    def show_report(self, report: FanoutReport) -> None:
        self.report = report
        rows = [a for s in report.signals for a in s.accounts]
        self.grid.setRowCount(len(rows))
        for r, a in enumerate(rows):
            cells = [
                a.account,
                f"{a.status} (exit)" if a.exit else a.status,
                f"{a.qty:,}" if a.qty else "",
                a.order_id or "",
                str(a.attempts or ""),
                a.reason,
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (2, 4):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if c == 1 and a.status in COLOURS:
                    item.setForeground(theme.colour(COLOURS[a.status]))
                if c == len(cells) - 1:
                    item.setToolTip(text)
                self.grid.setItem(r, c, item)
