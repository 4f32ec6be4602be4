"""The straddle panel: choose from the live chain, Arm to see the plan, Fire deliberately,
watch every leg land, Abort at once."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Coroutine
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui_trader.core.limits import MAX_BUFFER_PCT, MAX_LOTS
from gui_trader.core.order import OrderStatus, OrderType, Product, Side
from gui_trader.engine.events import LegProgress, QuotesUpdated, RunProgress, RunState
from gui_trader.engine.order_guards import guard_straddle, rupees, straddle_value
from gui_trader.engine.straddle import Summary
from gui_trader.engine.straddle_plan import Leg, StraddlePlan, StraddleSpec
from gui_trader.market.instruments import atm_index

if TYPE_CHECKING:
    from gui_trader.engine.straddle import StraddleRun
    from gui_trader.engine.trading import TradingEngine

GREEN, RED, AMBER = QColor("#2e9d4f"), QColor("#d83b3b"), QColor("#d98b00")
Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]


def _item(text: str, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class StraddlePanel(QWidget):
    def __init__(self, spawn: Spawn, confirm: Callable[[str, str], bool]) -> None:
        super().__init__()
        self.spawn = spawn
        self.confirm = confirm
        self.engine: TradingEngine | None = None
        self.plan: StraddlePlan | None = None
        self.run: StraddleRun | None = None
        self.summary: Summary | None = None
        self.premium: list[tuple[float, float]] = []
        self.chart: Any = None
        self._cells: dict[tuple[int, int], dict[int, str]] = {}
        self._chart_t0 = time.monotonic()

        # --- what to trade
        self.underlying = QComboBox()
        self.expiry = QComboBox()
        self.mode = QComboBox()
        self.mode.addItems(["ATM", "Strike", "Call / Put strikes"])
        self.steps = QSpinBox()
        self.steps.setRange(0, 20)
        self.steps.setPrefix("ATM ± ")
        self.steps.setSuffix(" steps")
        self.call_strike = QComboBox()
        self.put_strike = QComboBox()
        self.chain = QTableWidget(0, 3)
        self.chain.setHorizontalHeaderLabels(["CE LTP", "Strike", "PE LTP"])
        self.chain.verticalHeader().setVisible(False)
        self.chain.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.chain.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.chain.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.chain.verticalHeader().setDefaultSectionSize(20)
        self.chain.setMaximumHeight(190)
        self.chain.cellClicked.connect(self._chain_clicked)
        # --- how much and how fast
        self.side = QComboBox()
        self.side.addItem("Sell (open)", Side.SELL)
        self.side.addItem("Buy back (exit)", Side.BUY)
        self.lots = QSpinBox()
        self.lots.setRange(1, MAX_LOTS)  # the engine's bounds; [guards] may refuse lower
        self.lots.setValue(167)
        self.batch = QSpinBox()
        self.batch.setRange(1, MAX_LOTS)
        self.batch.setValue(20)
        self.delay = QDoubleSpinBox()
        self.delay.setRange(0, 600)
        self.delay.setValue(20)
        self.delay.setSuffix(" s")
        self.paced = QCheckBox("paced (rate limit)")
        self.paced.toggled.connect(lambda on: self.delay.setEnabled(not on))
        self.product = QComboBox()
        self.product.addItems(["NRML", "MIS"])
        self.kind = QComboBox()
        self.kind.addItems(["MKT", "LIMIT"])
        self.buffer = QDoubleSpinBox()
        self.buffer.setRange(0, float(MAX_BUFFER_PCT))  # what `--buffer-pct` and the plan take
        self.buffer.setValue(1.0)
        self.buffer.setSuffix(" %")

        form = QGridLayout()
        form.addWidget(QLabel("Underlying"), 0, 0)
        form.addWidget(self.underlying, 0, 1)
        form.addWidget(QLabel("Expiry"), 0, 2)
        form.addWidget(self.expiry, 0, 3)
        form.addWidget(QLabel("Strikes"), 1, 0)
        form.addWidget(self.mode, 1, 1)
        form.addWidget(self.steps, 1, 2, 1, 2)
        form.addWidget(QLabel("CE"), 2, 0)
        form.addWidget(self.call_strike, 2, 1)
        form.addWidget(QLabel("PE"), 2, 2)
        form.addWidget(self.put_strike, 2, 3)
        form.addWidget(QLabel("Side"), 3, 0)
        form.addWidget(self.side, 3, 1)
        form.addWidget(QLabel("Product"), 3, 2)
        form.addWidget(self.product, 3, 3)
        form.addWidget(QLabel("Lots"), 4, 0)
        form.addWidget(self.lots, 4, 1)
        form.addWidget(QLabel("Lots / batch"), 4, 2)
        form.addWidget(self.batch, 4, 3)
        form.addWidget(QLabel("Delay"), 5, 0)
        form.addWidget(self.delay, 5, 1)
        form.addWidget(self.paced, 5, 2, 1, 2)
        form.addWidget(QLabel("Order"), 6, 0)
        form.addWidget(self.kind, 6, 1)
        form.addWidget(QLabel("Buffer"), 6, 2)
        form.addWidget(self.buffer, 6, 3)

        self.arm = QPushButton("ARM")
        self.fire = QPushButton("FIRE")
        self.abort = QPushButton("ABORT  (Esc)")
        self.arm.setStyleSheet("QPushButton { font-weight: bold; padding: 6px; }")
        self.fire.setStyleSheet(
            "QPushButton { background: #c62828; color: white; font-weight: "
            "bold; padding: 6px } QPushButton:disabled { background: "
            "#8a7a7a; color: #ddd }"
        )
        self.abort.setStyleSheet(
            "QPushButton { background: #ef6c00; color: white; font-weight:"
            " bold; padding: 6px } QPushButton:disabled { background: "
            "#a89a8a; color: #ddd }"
        )
        self.fire.setEnabled(False)
        self.abort.setEnabled(False)
        self.abort.setShortcut(Qt.Key.Key_Escape)
        self.arm.clicked.connect(self.arm_plan)
        self.fire.clicked.connect(self.fire_plan)
        self.abort.clicked.connect(self.abort_run)
        buttons = QHBoxLayout()
        for b in (self.arm, self.fire, self.abort):
            buttons.addWidget(b)

        self.plan_text = QLabel("Arm to see the plan: batches, quantities, margin, time.")
        self.plan_text.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m batches")
        self.progress.setValue(0)
        self.batches = QTableWidget(0, 4)
        self.batches.setHorizontalHeaderLabels(["Batch", "Lots", "CE", "PE"])
        self.batches.verticalHeader().setVisible(False)
        self.batches.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.batches.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.batches.verticalHeader().setDefaultSectionSize(20)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.retry = QPushButton("Retry missing legs")
        self.flatten = QPushButton("Flatten filled leg")
        self.retry.clicked.connect(lambda: self._fix("retry"))
        self.flatten.clicked.connect(lambda: self._fix("flatten"))
        fixes = QHBoxLayout()
        fixes.addWidget(self.retry)
        fixes.addWidget(self.flatten)
        self.fix_box = QWidget()
        self.fix_box.setLayout(fixes)
        self.fix_box.hide()
        self.chart_box = QGroupBox("Combined premium (CE + PE)")
        self.chart_layout = QVBoxLayout(self.chart_box)
        self.chart_box.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.chain)
        layout.addLayout(buttons)
        layout.addWidget(self.plan_text)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        layout.addWidget(self.fix_box)
        layout.addWidget(self.batches, 1)
        layout.addWidget(self.chart_box)
        self.underlying.currentTextChanged.connect(lambda _: self._fill_expiries())
        self.expiry.currentIndexChanged.connect(lambda _: self._fill_chain())
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()

    # ------------------------------------------------------------------ engine
    def attach(self, engine: TradingEngine | None) -> None:
        self.engine = engine
        self.plan = None
        self.fire.setEnabled(False)
        self.underlying.clear()
        if engine is None or engine.instruments is None:
            return
        names = sorted({i.name for i in engine.instruments.all if i.is_option})
        self.underlying.addItems(names)
        if "NIFTY" in names:
            self.underlying.setCurrentText("NIFTY")
        self._fill_expiries()

    def _fill_expiries(self) -> None:
        self.expiry.clear()
        if self.engine is None or self.engine.instruments is None:
            return
        for e in self.engine.instruments.expiries(self.underlying.currentText()):
            self.expiry.addItem(e.isoformat(), e)

    def _expiry(self) -> date | None:
        value = self.expiry.currentData()
        return value if isinstance(value, date) else None

    def _fill_chain(self) -> None:
        self._atm_scrolled = False
        engine, expiry = self.engine, self._expiry()
        self.chain.setRowCount(0)
        self.call_strike.clear()
        self.put_strike.clear()
        if engine is None or engine.instruments is None or expiry is None:
            return
        rows = engine.instruments.chain(self.underlying.currentText(), expiry)
        engine.extra_keys = {i.key for r in rows for i in (r.call, r.put) if i is not None}
        self.chain.setRowCount(len(rows))
        for n, r in enumerate(rows):
            self.chain.setItem(n, 0, _item("…", True))
            strike = _item(f"{r.strike:g}")
            strike.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.chain.setItem(n, 1, strike)
            self.chain.setItem(n, 2, _item("…", True))
            self.call_strike.addItem(f"{r.strike:g}", r.strike)
            self.put_strike.addItem(f"{r.strike:g}", r.strike)
        self._paint_chain()
        if self.engine is not None:
            self.spawn(self.engine.refresh(), "chain prices")

    def _paint_chain(self) -> None:
        """LTPs in the chain; the ATM row highlighted."""
        engine, expiry = self.engine, self._expiry()
        if engine is None or engine.instruments is None or expiry is None:
            return
        rows = engine.instruments.chain(self.underlying.currentText(), expiry)
        spot_q = (
            engine.quotes.get("nse_cm|Nifty 50")
            if self.underlying.currentText() == "NIFTY"
            else None
        )
        atm = None
        if spot_q is not None and rows:
            atm = atm_index([r.strike for r in rows], spot_q.ltp)
        bold = QFont()
        bold.setBold(True)
        for n, r in enumerate(rows[: self.chain.rowCount()]):
            for col, inst in ((0, r.call), (2, r.put)):
                q = engine.quotes.get(inst.key) if inst else None
                item = self.chain.item(n, col)
                if item is not None:
                    item.setText(f"{q.ltp:,.2f}" if q else "…")
            brush = QBrush(QColor(255, 193, 7, 70)) if n == atm else QBrush()
            for col in range(3):
                item = self.chain.item(n, col)
                if item is not None:
                    item.setBackground(brush)
                    item.setFont(bold if n == atm else QFont())
        centre = self.chain.item(atm, 1) if atm is not None else None
        if (
            centre is not None
            and self.mode.currentIndex() == 0
            and not self._atm_scrolled
            and self.chain.isVisible()
        ):  # a hidden view cannot scroll
            self.chain.scrollToItem(centre, QAbstractItemView.ScrollHint.PositionAtCenter)
            self._atm_scrolled = True

    _atm_scrolled = False

    def _chain_clicked(self, row: int, _col: int) -> None:
        strike = self.call_strike.itemData(row)
        if self.mode.currentIndex() == 0:
            self.mode.setCurrentIndex(1)
        self.call_strike.setCurrentIndex(row)
        self.put_strike.setCurrentIndex(row)
        self.plan_text.setText(f"strike {strike:g} picked from the chain: Arm to see the plan")

    def _mode_changed(self) -> None:
        mode = self.mode.currentIndex()
        self.steps.setEnabled(mode == 0)
        self.call_strike.setEnabled(mode != 0)
        self.put_strike.setEnabled(mode == 2)
        if mode == 1:
            self.put_strike.setCurrentIndex(self.call_strike.currentIndex())

    def spec(self) -> StraddleSpec:
        expiry = self._expiry()
        if expiry is None:
            raise ValueError("pick an expiry")
        mode = self.mode.currentIndex()
        call = self.call_strike.currentData()
        put = call if mode == 1 else self.put_strike.currentData()
        return StraddleSpec(
            underlying=self.underlying.currentText(),
            expiry=expiry,
            lots=self.lots.value(),
            batch_lots=self.batch.value(),
            call_strike=None if mode == 0 else Decimal(call),
            put_strike=None if mode == 0 else Decimal(put),
            atm_steps=self.steps.value() if mode == 0 else None,
            side=Side(self.side.currentData()),
            delay_s=None if self.paced.isChecked() else self.delay.value(),
            product=Product(self.product.currentText()),
            order_type=OrderType.MARKET if self.kind.currentText() == "MKT" else OrderType.LIMIT,
            buffer_pct=Decimal(str(self.buffer.value())),
        )

    # ------------------------------------------------------------------ arm / fire / abort
    def arm_plan(self) -> None:
        if self.engine is None or self.engine.instruments is None:
            return
        try:
            spec = self.spec()
        except ValueError as exc:
            self.plan_text.setText(str(exc))
            return
        self.fire.setEnabled(False)
        refusal = guard_straddle(spec, self.engine.guards).refusal
        if refusal is not None:  # the trader's own limit: nothing is read, planned or sent
            self.plan = None
            self.plan_text.setText(f"<span style='color:#d83b3b'>✖ {html.escape(refusal)}</span>")
            return
        self.plan_text.setText("arming: spot, option prices and margin…")
        self.spawn(self._arm(spec), "arm")

    async def _arm(self, spec: StraddleSpec) -> None:
        engine = self.engine
        assert engine is not None
        self.show_plan(await engine.prepare_straddle(spec))

    def show_plan(self, plan: StraddlePlan) -> None:
        self.plan = plan
        s = plan.spec
        lines = [
            f"<b>{s.side.label} {plan.call.trading_symbol if plan.call else '?'} + "
            f"{plan.put.trading_symbol if plan.put else '?'}</b>",
            f"{s.lots} lots × {plan.lot_size} = {plan.qty_per_leg:,} per leg, "
            f"{len(plan.batches)} batches, "
            + ("paced" if s.delay_s is None else f"{s.delay_s:g} s apart")
            + f", about {plan.expected_s:.1f} s",
        ]
        if plan.margin_required is not None:
            lines.append(
                f"margin ₹{plan.margin_required:,.2f} of ₹"
                f"{plan.margin_available or 0:,.2f} available"
            )
        if plan.problems:
            lines += [f"<span style='color:#d83b3b'>✖ {p}</span>" for p in plan.problems]
        self.plan_text.setText("<br>".join(lines))
        self._cells = {}
        self.batches.setRowCount(len(plan.batches))
        for n, b in enumerate(plan.batches):
            ce = "+".join(f"{o.qty}" for o in b.orders if o.leg == "CE")
            pe = "+".join(f"{o.qty}" for o in b.orders if o.leg == "PE")
            for col, text in enumerate(
                (str(b.number), str(b.lots), f"{ce} · planned", f"{pe} · planned")
            ):
                self.batches.setItem(n, col, _item(text, col < 2))
        self.progress.setMaximum(max(len(plan.batches), 1))
        self.progress.setValue(0)
        self.fire.setEnabled(plan.ok)
        self.fire.setText(f"FIRE {len(plan.batches)} batches" if plan.ok else "FIRE")
        self.result.setText("")
        self.fix_box.hide()
        if plan.call and plan.put and self.engine is not None:
            self.engine.extra_keys |= {plan.call.key, plan.put.key}
            self.premium.clear()
            self._chart_t0 = time.monotonic()
            self._ensure_chart()

    def fire_plan(self) -> None:
        plan, engine = self.plan, self.engine
        if plan is None or engine is None or not plan.ok:
            return
        large = guard_straddle(plan.spec, engine.guards)  # above a soft [guards] threshold
        value = straddle_value(plan)
        text = (
            f"{plan.spec.side.label} {plan.qty_per_leg:,} each of "
            f"{plan.call.trading_symbol if plan.call else ''} and "
            f"{plan.put.trading_symbol if plan.put else ''} in {len(plan.batches)} batches "
            f"on {engine.mode}"
            + (f", premium about Rs {rupees(value)}" if value is not None else "")
            + "?"
            + "".join(f"\n\nLarge: {w}." for w in large.warnings)
        )
        title = "Fire LARGE straddle" if large.warnings else "Fire straddle"
        if not self.confirm(title, text):  # the deliberate second action
            return
        self.run = engine.straddle_run(plan)
        self.fire.setEnabled(False)
        self.arm.setEnabled(False)
        self.abort.setEnabled(True)
        self.spawn(self._execute(self.run), "straddle")

    async def _execute(self, run: StraddleRun) -> None:
        try:
            self.summary = await run.execute()
        finally:
            self.abort.setEnabled(False)
            self.arm.setEnabled(True)
        self.show_summary(self.summary)
        if self.engine is not None:
            await self.engine.refresh()

    def abort_run(self) -> None:
        if self.run is not None:
            self.run.abort()
            self.result.setText("<b style='color:#ef6c00'>ABORTING: nothing more will be sent</b>")

    def show_summary(self, summary: Summary) -> None:
        d = summary.to_json()
        ce, pe = d["legs"]["CE"], d["legs"]["PE"]
        head = "ABORTED · " if d["aborted"] else ""
        text = (
            f"<b>{head}Call {ce['placed']}/{ce['planned']} · Put {pe['placed']}/"
            f"{pe['planned']}</b> · filled {ce['filled']} + {pe['filled']} · failed "
            f"{ce['failed']} + {pe['failed']}<br>avg CE {ce['avg_price']} PE "
            f"{pe['avg_price']} · combined {d['combined_premium']} · "
            f"{d['elapsed_s']:.1f} s · max leg skew {d['skew_ms_max']} ms · logins "
            f"{d['logins']}"
        )
        if d["imbalances"]:
            batches = ", ".join(str(i["batch"]) for i in d["imbalances"])
            text += (
                f"<br><span style='color:#d83b3b; font-size:14px'><b>LEG IMBALANCE in "
                f"batch {batches}</b></span>"
            )
            self.fix_box.show()
        else:
            self.fix_box.hide()
        self.result.setText(text)

    def _fix(self, how: str) -> None:
        run, summary = self.run, self.summary
        if run is None or summary is None:
            return
        batches = [i["batch"] for i in summary.imbalances()]
        what = "send the missing legs again" if how == "retry" else "close the extra leg"
        if not batches or not self.confirm(
            "Leg imbalance", f"{what} for batch {', '.join(map(str, batches))}?"
        ):
            return

        async def go() -> None:
            for b in batches:
                await (run.retry_missing(b) if how == "retry" else run.flatten(b))
            self.summary = Summary(
                run.run_id,
                run.plan,
                run.results,
                summary.elapsed_s,
                run.skew_ms,
                summary.logins,
                summary.aborted,
            )
            self.show_summary(self.summary)

        self.spawn(go(), how)

    # ------------------------------------------------------------------ events
    def on_leg(self, e: LegProgress) -> None:
        if self.run is None or e.run_id != self.run.run_id:
            return
        row = e.batch - 1
        col = 2 if e.leg is Leg.CE else 3
        ok = e.order_id is not None and e.status not in (OrderStatus.REJECTED, OrderStatus.UNKNOWN)
        words = {OrderStatus.COMPLETE: "filled", OrderStatus.OPEN: "placed"}.get(
            e.status, e.status.value
        )
        text = f"{e.qty} · {words}" + (f" {e.detail}" if e.detail else "")
        slices = self._cells.setdefault((row, col), {})
        slices[e.slice] = text  # a leg above the freeze quantity has several orders
        item = _item(" | ".join(slices[k] for k in sorted(slices)))
        item.setForeground(GREEN if ok else RED)
        item.setToolTip(f"order {e.order_id}" if e.order_id else e.detail)
        self.batches.setItem(row, col, item)

    def on_run(self, e: RunProgress) -> None:
        if self.run is None or e.run_id != self.run.run_id:
            return
        self.progress.setMaximum(max(e.batches, 1))
        self.progress.setValue(e.batches_done)
        if e.state is RunState.WAITING and e.next_batch_at:
            wait = max(0.0, e.next_batch_at - time.monotonic())
            self.progress.setFormat(f"%v / %m batches · next in {wait:.0f} s")
        else:
            self.progress.setFormat(f"%v / %m batches · {e.state.value}")

    def on_quotes(self, e: QuotesUpdated) -> None:
        engine = self.engine
        if engine is None:
            return
        self._paint_chain()
        plan = self.plan
        if plan is None or plan.call is None or plan.put is None:
            return
        ce, pe = engine.quotes.get(plan.call.key), engine.quotes.get(plan.put.key)
        if ce is None or pe is None:
            return
        self.premium.append((time.monotonic() - self._chart_t0, float(ce.ltp + pe.ltp)))
        if self.chart is not None:
            xs, ys = zip(*self.premium, strict=True)
            self.chart.setData(list(xs), list(ys))

    def _ensure_chart(self) -> None:
        if self.chart is not None:
            self.chart_box.show()
            return
        import pyqtgraph as pg

        plot = pg.PlotWidget()
        plot.setBackground(None)
        plot.setLabel("left", "CE + PE")
        plot.setLabel("bottom", "seconds since armed")
        plot.setMinimumHeight(150)
        self.chart = plot.plot(pen=pg.mkPen("#1e88e5", width=2))
        self.chart_layout.addWidget(plot)
        self.chart_box.show()


__all__ = ["StraddlePanel"]
