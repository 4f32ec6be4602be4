"""The straddle panel: choose from the live chain, Arm to see the plan, Fire deliberately,
watch every leg land and fill, Abort at once.

It lives in a narrow right-hand dock: the setup (form and chain) folds away once a plan is
armed, so the plan, the live progress, the money (premium, breakevens) and the combined-premium
chart stay above the fold at 1366x768. Changing the setup after Arm disarms: what fires is
always what the plan shows."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Coroutine
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QResizeEvent, QShowEvent
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
    QLayout,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui_trader.core import display
from gui_trader.core.limits import MAX_BUFFER_PCT, MAX_LOTS
from gui_trader.core.order import OrderStatus, OrderType, Product, Side
from gui_trader.engine.events import LegProgress, QuotesUpdated, RunProgress, RunState
from gui_trader.engine.order_guards import guard_straddle, rupees, straddle_value
from gui_trader.engine.straddle import Summary
from gui_trader.engine.straddle_plan import Leg, StraddlePlan, StraddleSpec
from gui_trader.gui import theme
from gui_trader.gui.monitor_controller import countdown
from gui_trader.gui.straddle_figures import LegFills, breakevens
from gui_trader.market.instruments import INDICES, atm_index

if TYPE_CHECKING:
    from gui_trader.engine.straddle import StraddleRun
    from gui_trader.engine.trading import TradingEngine

Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]
KIND_ROLE = Qt.ItemDataRole.UserRole  # a batch cell's state: filled / working / failed
ACTIVE = (RunState.RUNNING, RunState.WAITING, RunState.SETTLING)
# a border makes Qt paint the style sheet's colour as is (without it Fusion lightens it)
WIDE_FORM_PX = 560  # from this width the setup takes three label/field pairs a row
Place = tuple[int, ...]  # (row, col) or (row, col, rows, cols) in the setup's grid
BUTTON_EXTRA = "padding: 6px; border: 1px solid palette(shadow); border-radius: 3px;"
CHART_POINTS = 3600  # the combined-premium curve keeps this many quotes (about 12 min)


def _item(text: str, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _strike(value: Decimal) -> str:
    """25,900 (or 25,912.50 for an odd strike)."""
    whole = value == value.to_integral_value()
    return display.amount(value, places=0) if whole else display.price(value)


def _leg_words(e: LegProgress) -> tuple[str, str]:
    """A leg order's cell text and its kind (for the colour)."""
    if e.status is OrderStatus.COMPLETE:
        return "filled", "filled"
    if e.status is OrderStatus.PARTIALLY_FILLED:
        return f"part {display.quantity(e.filled)}", "working"
    if e.status is OrderStatus.OPEN:
        return "placed", "working"
    failed = e.status in (OrderStatus.REJECTED, OrderStatus.UNKNOWN) or e.order_id is None
    return e.status.value, "failed" if failed else "working"


_NOT_SHOWN = object()  # a chain cell no quote was written in yet


class _Split(QSplitter):
    """The chart and the batches: they take what room is left, and ask for little.

    The panel sits in a scroll area that sizes it by its preferred height (its wrapped
    labels make that height-for-width); pyqtgraph asks for 480 px, which would push the
    chart below the fold. Asking for a modest height keeps everything in view."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), 160)


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
        self.chart: Any = None  # the combined-premium curve
        self.plot: Any = None
        self.entry_line: Any = None
        self.fills = LegFills()
        self.clock: Callable[[], float] = time.monotonic  # tests drive the countdown with it
        self.run_state: RunProgress | None = None
        self._cells: dict[tuple[int, int], dict[int, tuple[str, str]]] = {}
        self._chart_t0 = time.monotonic()
        self._refusal = ""

        # --- what to trade
        self.underlying = QComboBox()
        self.expiry = QComboBox()
        self.mode = QComboBox()
        self.mode.addItems(["ATM", "Strike", "Call / Put strikes"])
        self.steps = QSpinBox()
        self.steps.setRange(0, 20)
        self.steps.setPrefix("± ")
        self.steps.setSuffix(" steps")
        self.steps.setToolTip("CE at ATM + steps, PE at ATM − steps (0: a straddle)")
        self.atm_label = QLabel("ATM (resolved at Arm)")
        self.atm_label.setToolTip("the strike comes from the live spot when you Arm")
        self.call_strike = QComboBox()
        self.put_strike = QComboBox()
        self.ce_label, self.pe_label = QLabel("CE"), QLabel("PE")
        self.chain = QTableWidget(0, 3)
        self._bold_row: int | None = None  # the chain row highlighted as ATM
        self._chain_quotes: dict[tuple[int, int], object] = {}  # the quote each cell shows
        self.chain.setHorizontalHeaderLabels(["CE LTP", "Strike", "PE LTP"])
        self.chain.verticalHeader().setVisible(False)
        self.chain.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.chain.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.chain.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.chain.verticalHeader().setDefaultSectionSize(20)
        self.chain.setMinimumHeight(90)
        self.chain.setMaximumHeight(330)  # more strikes in view where the screen has room
        self.chain.setToolTip("click a row to trade that strike")
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
        self.batch.setToolTip("lots per batch: the CALL and the PUT of a batch leave together")
        self.delay = QDoubleSpinBox()
        self.delay.setRange(0, 600)
        self.delay.setValue(20)
        self.delay.setSuffix(" s")
        self.delay.setToolTip("from a batch's replies to the next batch")
        self.paced = QCheckBox("paced")
        self.paced.setToolTip("no fixed delay: batches go as fast as the order rate allows")
        self.paced.toggled.connect(lambda on: self.delay.setEnabled(not on))
        self.product = QComboBox()
        self.product.addItems(["NRML", "MIS"])
        self.kind = QComboBox()
        self.kind.addItems(["MKT", "LIMIT"])
        self.buffer = QDoubleSpinBox()
        self.buffer.setRange(0, float(MAX_BUFFER_PCT))  # what `--buffer-pct` and the plan take
        self.buffer.setValue(1.0)
        self.buffer.setSuffix(" %")
        self.buffer.setToolTip("LIMIT legs: how far through the LTP the limit price goes")
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

        form = QGridLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(4)
        self.form = form
        label = QLabel
        # Where each field goes: three label/field pairs a row when the column is wide, two
        # when it is narrow (the right column is ~360 px on a 1366 screen).
        self._places: list[tuple[QWidget, Place, Place]] = [
            (label("Underlying"), (0, 0), (0, 0)),
            (self.underlying, (0, 1), (0, 1)),
            (label("Expiry"), (0, 2), (0, 2)),
            (self.expiry, (0, 3, 1, 3), (0, 3)),
            (label("Strikes"), (1, 0), (1, 0)),
            (self.mode, (1, 1), (1, 1)),
            (self.steps, (1, 2, 1, 2), (1, 2, 1, 2)),  # ATM: steps and the live ATM strike
            (self.atm_label, (1, 4, 1, 2), (2, 0, 1, 4)),
            (self.ce_label, (1, 2), (1, 2)),  # a strike: the CE and PE strikes
            (self.call_strike, (1, 3), (1, 3)),
            (self.pe_label, (1, 4), (2, 2)),
            (self.put_strike, (1, 5), (2, 3)),
            (label("Side"), (2, 0), (3, 0)),
            (self.side, (2, 1), (3, 1)),
            (label("Product"), (2, 2), (3, 2)),
            (self.product, (2, 3), (3, 3)),
            (label("Order"), (2, 4), (4, 0)),
            (self.kind, (2, 5), (4, 1)),
            (label("Lots"), (3, 0), (4, 2)),
            (self.lots, (3, 1), (4, 3)),
            (label("Batch"), (3, 2), (5, 0)),
            (self.batch, (3, 3), (5, 1)),
            (label("Buffer"), (3, 4), (5, 2)),
            (self.buffer, (3, 5), (5, 3)),
            (label("Delay"), (4, 0), (6, 0)),
            (self.delay, (4, 1), (6, 1)),
            (self.paced, (4, 2, 1, 4), (6, 2, 1, 2)),
        ]
        for combo in (self.underlying, self.mode, self.side, self.product, self.kind, self.expiry):
            # sized by the column, not by the longest item ("Buy back (exit)")
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(6)
        self._wide: bool | None = None
        self._place_form(wide=False)
        self.setup = QWidget()
        setup_layout = QVBoxLayout(self.setup)
        setup_layout.setContentsMargins(0, 0, 0, 0)
        setup_layout.setSizeConstraint(QLayout.SizeConstraint.SetMinAndMaxSize)  # no gaps
        form_box = QWidget()  # the form keeps its height: spare room goes to the chain
        form_box.setLayout(form)
        form_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        setup_layout.addWidget(form_box)
        setup_layout.addWidget(self.chain, 1)

        # the setup folds away once armed; its summary stays in the toggle's text
        self.setup_toggle = QToolButton()
        self.setup_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setup_toggle.setAutoRaise(True)
        self.setup_toggle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setup_toggle.clicked.connect(lambda: self._show_setup(self.setup.isHidden()))

        self.arm = QPushButton("ARM")
        self.fire = QPushButton("FIRE")
        self.abort = QPushButton("ABORT  (Esc)")
        bold = QFont()
        bold.setBold(True)
        self.arm.setFont(bold)  # a font, not a style sheet: the palette keeps it themed
        self.arm.setToolTip("read spot, prices and margin, and show the plan (sends nothing)")
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
        self.progress.hide()  # nothing armed: no batches to count
        self.figures = QLabel("")
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figures.hide()
        self.timer = QTimer(self)  # the countdown to the next batch, once a second
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.tick)

        self.batches = QTableWidget(0, 4)
        self.batches.setHorizontalHeaderLabels(["Batch", "Lots", "CE", "PE"])
        self.batches.verticalHeader().setVisible(False)
        self.batches.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.batches.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for col in (0, 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.batches.verticalHeader().setDefaultSectionSize(20)
        self.batches.setMinimumHeight(70)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.hide()
        self.retry = QPushButton("Retry missing legs")
        self.flatten = QPushButton("Flatten filled leg")
        self.retry.clicked.connect(lambda: self._fix("retry"))
        self.flatten.clicked.connect(lambda: self._fix("flatten"))
        fixes = QHBoxLayout()
        fixes.setContentsMargins(0, 0, 0, 0)
        fixes.addWidget(self.retry)
        fixes.addWidget(self.flatten)
        self.fix_box = QWidget()
        self.fix_box.setLayout(fixes)
        self.fix_box.hide()
        self.chart_box = QGroupBox("Combined premium (CE + PE)")
        self.chart_layout = QVBoxLayout(self.chart_box)
        self.chart_layout.setContentsMargins(2, 2, 2, 2)
        self.chart_box.setMinimumHeight(130)
        self.chart_box.hide()
        # the chart above the batches; the trader can give either more room
        self.split = _Split(Qt.Orientation.Vertical)
        self.split.setChildrenCollapsible(False)
        self.split.addWidget(self.chart_box)
        self.split.addWidget(self.batches)
        self.split.setStretchFactor(0, 5)
        self.split.setStretchFactor(1, 4)
        self.split.hide()  # nothing armed: the chain has the room

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addWidget(self.setup_toggle)
        layout.addWidget(self.setup, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.plan_text)
        layout.addWidget(self.progress)
        layout.addWidget(self.figures)
        layout.addWidget(self.result)
        layout.addWidget(self.fix_box)
        layout.addWidget(self.split, 3)
        layout.addStretch()  # what the chain cannot use stays below, not between the rows
        self.underlying.currentTextChanged.connect(lambda _: self._fill_expiries())
        self.expiry.currentIndexChanged.connect(lambda _: self._fill_chain())
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.steps.valueChanged.connect(lambda _: self._show_atm())
        for signal in (
            self.underlying.currentIndexChanged,
            self.expiry.currentIndexChanged,
            self.mode.currentIndexChanged,
            self.steps.valueChanged,
            self.call_strike.currentIndexChanged,
            self.put_strike.currentIndexChanged,
            self.side.currentIndexChanged,
            self.lots.valueChanged,
            self.batch.valueChanged,
            self.delay.valueChanged,
            self.paced.toggled,
            self.product.currentIndexChanged,
            self.kind.currentIndexChanged,
            self.buffer.valueChanged,
        ):
            signal.connect(self._setup_changed)
        self._mode_changed()
        self._show_setup(True)
        self._restyle()

    # ------------------------------------------------------------------ look
    def _place_form(self, *, wide: bool) -> None:
        """Lay the setup out in three pairs a row (wide) or two (narrow), never scrolling."""
        if wide == self._wide:
            return
        self._wide = wide
        for widget, wide_at, narrow_at in self._places:
            row, col, *span = wide_at if wide else narrow_at
            rows, cols = span or (1, 1)
            self.form.addWidget(widget, row, col, rows, cols)
        # narrow: the right-hand fields (expiry, steps, product) get the larger share
        stretch = {1: 1, 3: 1, 5: 1} if wide else {1: 2, 3: 3}
        for col in range(6):
            self.form.setColumnStretch(col, stretch.get(col, 0))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._reflow()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        viewport = self.parentWidget()
        if viewport is not None:  # in a scroll area: its viewport's width is what there is
            viewport.removeEventFilter(self)
            viewport.installEventFilter(self)
        self._reflow()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.parentWidget():
            self._reflow()
        return False

    def _reflow(self) -> None:
        parent = self.parentWidget()
        width = parent.width() if parent is not None else self.width()
        self._place_form(wide=width >= WIDE_FORM_PX)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()

    def _restyle(self) -> None:
        """Colours from the theme now (never cached past a switch): buttons, cells, chart."""
        self._restyle_fire()
        abort = theme.button_style("abort", BUTTON_EXTRA)
        if self.abort.styleSheet() != abort:
            self.abort.setStyleSheet(abort)
        for row in range(self.batches.rowCount()):
            for col in (2, 3):
                item = self.batches.item(row, col)
                if item is not None:
                    self._colour_cell(item)
        if self.plan is not None:
            self._render_plan()
        elif self._refusal:
            self._render_refusal()
        if self.summary is not None:
            self.show_summary(self.summary)
        self._render_figures()
        self._style_chart()

    def _colour_cell(self, item: QTableWidgetItem) -> None:
        kind = item.data(KIND_ROLE)
        colour = {"filled": "profit", "failed": "loss"}.get(str(kind))
        item.setData(Qt.ItemDataRole.ForegroundRole, theme.colour(colour) if colour else None)

    def _style_chart(self) -> None:
        if self.plot is None:
            return
        import pyqtgraph as pg

        text = self.palette().color(self.foregroundRole())
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
        self.chart.setPen(pg.mkPen(theme.colour("accent"), width=2))
        if self.entry_line is not None:
            self.entry_line.setPen(
                pg.mkPen(theme.colour("order"), width=1, style=Qt.PenStyle.DashLine)
            )

    def _show_setup(self, on: bool) -> None:
        self.setup.setVisible(on)
        self.setup_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.setup_toggle.setText("Setup" if on else f"Setup: {self._setup_summary()}")

    def _setup_summary(self) -> str:
        strikes = "ATM" + (f" ± {self.steps.value()}" if self.steps.value() else "")
        if self.mode.currentIndex() == 1:
            strikes = self.call_strike.currentText()
        elif self.mode.currentIndex() == 2:
            strikes = f"{self.call_strike.currentText()} CE / {self.put_strike.currentText()} PE"
        pace = "paced" if self.paced.isChecked() else f"{self.delay.value():g} s"
        return (
            f"{self.underlying.currentText()} {self.expiry.currentText()} {strikes} · "
            f"{self.lots.value()} lots / {self.batch.value()} · {pace} · {self.kind.currentText()}"
        )

    # ------------------------------------------------------------------ engine
    def attach(self, engine: TradingEngine | None) -> None:
        self.engine = engine
        self.plan = None
        self.fire.setEnabled(False)
        self.progress.hide()
        self.figures.hide()
        self.split.hide()
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
            # "08 Dec Tue": short enough for the narrow column, the weekday a trader checks;
            # the year only when it is not this one (the full date is the tooltip)
            text = f"{e:%d %b %a}" if e.year == date.today().year else f"{e:%d %b %y}"
            self.expiry.addItem(text, e)
            self.expiry.setItemData(
                self.expiry.count() - 1, e.isoformat(), Qt.ItemDataRole.ToolTipRole
            )

    def _expiry(self) -> date | None:
        value = self.expiry.currentData()
        return value if isinstance(value, date) else None

    def _side(self) -> Side:
        value = self.side.currentData()
        return Side(value) if value else Side.SELL

    def _fill_chain(self) -> None:
        self._atm_scrolled = False
        self._bold_row = None  # new items: none highlighted yet
        self._chain_quotes.clear()  # ... and no price written in them
        engine, expiry = self.engine, self._expiry()
        self.chain.setRowCount(0)
        self.call_strike.clear()
        self.put_strike.clear()
        if engine is None or engine.instruments is None or expiry is None:
            self._show_atm()
            return
        rows = engine.instruments.chain(self.underlying.currentText(), expiry)
        engine.extra_keys = {i.key for r in rows for i in (r.call, r.put) if i is not None}
        spot = INDICES.get(self.underlying.currentText().upper())
        if spot is not None:
            engine.extra_keys.add(spot.key)
        self.chain.setRowCount(len(rows))
        for n, r in enumerate(rows):
            self.chain.setItem(n, 0, _item("…", True))
            strike = _item(_strike(r.strike))
            strike.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.chain.setItem(n, 1, strike)
            self.chain.setItem(n, 2, _item("…", True))
            self.call_strike.addItem(f"{r.strike:g}", r.strike)
            self.put_strike.addItem(f"{r.strike:g}", r.strike)
        self._paint_chain()
        if self.engine is not None:
            self.spawn(self.engine.refresh(), "chain prices")

    def _spot(self) -> Decimal | None:
        engine = self.engine
        index = INDICES.get(self.underlying.currentText().upper())
        if engine is None or index is None:
            return None
        quote = engine.quotes.get(index.key)
        return quote.ltp if quote is not None else None

    def _atm_row(self) -> int | None:
        """The chain row at the money now (from the live spot), or None without a spot."""
        engine, expiry, spot = self.engine, self._expiry(), self._spot()
        if engine is None or engine.instruments is None or expiry is None or spot is None:
            return None
        rows = engine.instruments.chain(self.underlying.currentText(), expiry)
        return atm_index([r.strike for r in rows], spot) if rows else None

    def _show_atm(self) -> None:
        """ATM mode names the strikes the live spot gives now; Arm fixes them."""
        atm = self._atm_row()
        steps = self.steps.value()
        strikes = [self.call_strike.itemData(i) for i in range(self.call_strike.count())]
        if atm is None or not strikes:
            self.atm_label.setText("ATM (resolved at Arm)")
            return
        ce, pe = atm + steps, atm - steps
        if not (pe >= 0 and ce < len(strikes)):
            self.atm_label.setText(f"ATM ± {steps} is off the chain")
        elif steps == 0:
            self.atm_label.setText(f"ATM {_strike(strikes[atm])} now")
        else:
            self.atm_label.setText(f"CE {_strike(strikes[ce])} · PE {_strike(strikes[pe])} now")

    def _highlight(self, row: int | None, on: bool) -> None:
        if row is None:
            return
        font = QFont()
        font.setBold(on)
        for col in range(3):
            item = self.chain.item(row, col)
            if item is not None:
                item.setBackground(QBrush(QColor(255, 193, 7, 70)) if on else QBrush())
                item.setFont(font)

    def _paint_chain(self) -> None:
        """LTPs in the chain; the ATM row highlighted."""
        engine, expiry = self.engine, self._expiry()
        if engine is None or engine.instruments is None or expiry is None:
            return
        rows = engine.instruments.chain(self.underlying.currentText(), expiry)
        atm = self._atm_row()
        # Only the cells whose quote is a new one are written, with the table's model quiet,
        # then one dataChanged: a chain of 100 strikes wrote ~50 cells a tick, each one
        # signalled on its own (2-7 ms a tick with the straddle pane open).
        shown, quotes, table = self._chain_quotes, engine.quotes, self.chain
        model = table.model()
        lo = hi = -1
        held = model.blockSignals(True)
        try:
            for n, r in enumerate(rows[: table.rowCount()]):
                for col, inst in ((0, r.call), (2, r.put)):
                    q = quotes.get(inst.key) if inst else None
                    if q is shown.get((n, col), _NOT_SHOWN):
                        continue
                    shown[n, col] = q
                    item = table.item(n, col)
                    text = display.price(q.ltp) if q else "…"
                    if item is not None and item.text() != text:
                        item.setText(text)
                        lo, hi = (n if lo < 0 else lo), n
        finally:
            model.blockSignals(held)
        if lo >= 0:
            model.dataChanged.emit(model.index(lo, 0), model.index(hi, 2))
        if atm != self._bold_row:  # the highlight moves only when the ATM row does
            self._highlight(self._bold_row, False)
            self._highlight(atm, True)
            self._bold_row = atm
        self._show_atm()
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
        widgets: tuple[QWidget, ...] = (self.steps, self.atm_label)
        for w in widgets:
            w.setVisible(mode == 0)
        widgets = (self.ce_label, self.call_strike)
        for w in widgets:
            w.setVisible(mode != 0)
        widgets = (self.pe_label, self.put_strike)
        for w in widgets:
            w.setVisible(mode == 2)
        self.call_strike.setEnabled(mode != 0)
        self.put_strike.setEnabled(mode == 2)
        self.ce_label.setText("Strike" if mode == 1 else "CE")
        if mode == 1:
            self.put_strike.setCurrentIndex(self.call_strike.currentIndex())
        self._show_atm()

    def _kind_changed(self) -> None:
        """A market leg has no limit price, so no buffer to put through the LTP."""
        self.buffer.setEnabled(self.kind.currentText() == "LIMIT")

    def _setup_changed(self) -> None:
        """What fires is what the plan shows: a change after Arm disarms."""
        self._restyle_fire()
        if self.run_active() or self.plan is None or not self.fire.isEnabled():
            return
        self.fire.setEnabled(False)
        self.fire.setText("FIRE")
        self.plan_text.setText(
            "The setup changed after Arm: <b>Arm again</b> to see the plan that will fire."
        )
        self.plan = None
        self.batches.setRowCount(0)
        for w in (self.progress, self.figures, self.split, self.result, self.fix_box):
            w.hide()

    def _restyle_fire(self) -> None:
        style = theme.button_style("buy" if self._side() is Side.BUY else "sell", BUTTON_EXTRA)
        if self.fire.styleSheet() != style:
            self.fire.setStyleSheet(style)

    def run_active(self) -> bool:
        return self.run_state is not None and self.run_state.state in ACTIVE

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
            side=self._side(),
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
        self._refusal = ""
        refusal = guard_straddle(spec, self.engine.guards).refusal
        if refusal is not None:  # the trader's own limit: nothing is read, planned or sent
            self.plan = None
            self._refusal = refusal
            self._render_refusal()
            return
        self.plan_text.setText("arming: spot, option prices and margin…")
        self.spawn(self._arm(spec), "arm")

    def _render_refusal(self) -> None:
        self.plan_text.setText(
            f"<span style='color:{theme.hex_colour('loss')}'>✖ {html.escape(self._refusal)}</span>"
        )

    async def _arm(self, spec: StraddleSpec) -> None:
        engine = self.engine
        assert engine is not None
        self.show_plan(await engine.prepare_straddle(spec))

    def _render_plan(self) -> None:
        plan = self.plan
        if plan is None:
            return
        s = plan.spec
        lines = [
            f"<b>{s.side.label} {plan.call.trading_symbol if plan.call else '?'} + "
            f"{plan.put.trading_symbol if plan.put else '?'}</b>",
            f"{s.lots} lots × {plan.lot_size} = {display.quantity(plan.qty_per_leg)} per leg, "
            f"{len(plan.batches)} batch{'es' * (len(plan.batches) != 1)}, "
            + ("paced" if s.delay_s is None else f"{s.delay_s:g} s apart")
            + f", about {plan.expected_s:.1f} s",
        ]
        if plan.margin_required is not None:
            lines.append(
                f"margin {display.rupees(plan.margin_required)} of "
                f"{display.rupees(plan.margin_available or 0)} available"
            )
        loss = theme.hex_colour("loss")
        lines += [f"<span style='color:{loss}'>✖ {html.escape(p)}</span>" for p in plan.problems]
        self.plan_text.setText("<br>".join(lines))

    def show_plan(self, plan: StraddlePlan) -> None:
        self.plan = plan
        self._render_plan()
        self._cells = {}
        self.fills.clear()
        self.summary = None
        self.run_state = None
        self.timer.stop()
        self.split.show()
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
        self.progress.setFormat("%v / %m batches · armed")
        self.progress.setVisible(plan.ok)
        self.fire.setEnabled(plan.ok)
        self.fire.setText(f"FIRE {len(plan.batches)} batches" if plan.ok else "FIRE")
        self.result.setText("")
        self.result.hide()
        self.fix_box.hide()
        if plan.ok:
            self._show_setup(False)  # armed: the plan, the money and the chart in view
        if plan.call and plan.put and self.engine is not None:
            self.engine.extra_keys |= {plan.call.key, plan.put.key}
            self.premium.clear()
            self._chart_t0 = time.monotonic()
            self._ensure_chart()
        self._render_figures()

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
            + (
                f", margin {display.rupees(plan.margin_required)}"
                if plan.margin_required is not None
                else ""
            )
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
        self._show_setup(False)
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
            self.result.setText(
                f"<b style='color:{theme.hex_colour('order')}'>ABORTING: nothing more will be "
                "sent</b>"
            )
            self.result.show()

    def show_summary(self, summary: Summary) -> None:
        d = summary.to_json()
        ce, pe = d["legs"]["CE"], d["legs"]["PE"]
        head = "ABORTED · " if d["aborted"] else ""
        text = (
            f"<b>{head}Call {ce['placed']}/{ce['planned']} · Put {pe['placed']}/"
            f"{pe['planned']}</b> · filled {ce['filled']} + {pe['filled']} · failed "
            f"{ce['failed']} + {pe['failed']}<br>avg CE {display.price(ce['avg_price'])} PE "
            f"{display.price(pe['avg_price'])} · {d['elapsed_s']:.1f} s · max leg skew "
            f"{d['skew_ms_max']} ms · logins {d['logins']}"
        )
        if d["imbalances"]:
            batches = ", ".join(str(i["batch"]) for i in d["imbalances"])
            text += (
                f"<br><span style='color:{theme.hex_colour('loss')}; font-size:14px'><b>LEG "
                f"IMBALANCE in batch {batches}</b></span>"
            )
            self.fix_box.show()
        else:
            self.fix_box.hide()
        self.result.setText(text)
        self.result.show()

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

    # ------------------------------------------------------------------ the money
    def _render_figures(self) -> None:
        """Premium and breakevens: from the fills once both legs have some, before that an
        estimate from the live LTPs of the armed plan."""
        plan = self.plan if self.plan is not None else (self.run.plan if self.run else None)
        if plan is None or plan.call is None or plan.put is None:
            self.figures.hide()
            return
        side = plan.spec.side
        per_unit = self.fills.per_unit
        if per_unit is not None:
            word = "collected" if side is Side.SELL else "paid"
            text = (
                f"<b>premium {word} {display.rupees(self.fills.total)}</b> · "
                f"{display.price(per_unit)} per unit"
            )
        else:
            estimate = self._ltp_premium(plan)
            if estimate is None:
                self.figures.hide()
                return
            per_unit = estimate
            text = (
                f"at the LTPs now: premium about {display.rupees(per_unit * plan.qty_per_leg)}"
                f" · {display.price(per_unit)} per unit"
            )
        if side is Side.SELL and plan.call.strike is not None and plan.put.strike is not None:
            low, high = breakevens(plan.call.strike, plan.put.strike, per_unit)
            text += f"<br>breakevens {display.price(low)} and {display.price(high)}"
        self.figures.setText(text)
        self.figures.show()
        if self.entry_line is not None and self.fills.per_unit is not None:
            self.entry_line.setValue(float(self.fills.per_unit))
            self.entry_line.show()

    def _ltp_premium(self, plan: StraddlePlan) -> Decimal | None:
        engine = self.engine
        if engine is None or plan.call is None or plan.put is None:
            return None
        ce, pe = engine.quotes.get(plan.call.key), engine.quotes.get(plan.put.key)
        if ce is None or pe is None:
            return None
        return ce.ltp + pe.ltp

    # ------------------------------------------------------------------ events
    def on_leg(self, e: LegProgress) -> None:
        if self.run is None or e.run_id != self.run.run_id:
            return
        row = e.batch - 1
        col = 2 if e.leg is Leg.CE else 3
        words, kind = _leg_words(e)
        text = f"{e.qty} · {words}" + (f" {e.detail}" if e.detail else "")
        slices = self._cells.setdefault((row, col), {})
        slices[e.slice] = (text, kind)  # a leg above the freeze quantity has several orders
        kinds = {k for _, k in slices.values()}
        item = _item(" | ".join(slices[k][0] for k in sorted(slices)))
        item.setData(
            KIND_ROLE,
            "failed" if "failed" in kinds else "filled" if kinds == {"filled"} else "working",
        )
        self._colour_cell(item)
        item.setToolTip(f"order {e.order_id}" if e.order_id else e.detail)
        self.batches.setItem(row, col, item)
        self.fills.apply(e)
        if e.filled:
            self._render_figures()

    def on_run(self, e: RunProgress) -> None:
        if self.run is None or e.run_id != self.run.run_id:
            return
        self.run_state = e
        self.progress.show()
        self.progress.setMaximum(max(e.batches, 1))
        self.progress.setValue(e.batches_done)
        if e.state in ACTIVE:  # a resumed run too: nothing else fires while it runs
            self._show_setup(False)
            self.fire.setEnabled(False)
            self.arm.setEnabled(False)
        else:
            self.arm.setEnabled(True)
        if e.next_batch_at is not None and e.state in ACTIVE:
            if not self.timer.isActive():
                self.timer.start()
        else:
            self.timer.stop()
        self.tick()

    def tick(self) -> None:
        """The progress line, its countdown recomputed from the next batch's time."""
        e = self.run_state
        if e is None:
            return
        if e.state in (RunState.WAITING, RunState.SETTLING) and e.next_batch_at is not None:
            left = countdown(e.next_batch_at - self.clock())
            what = "next batch" if e.state is RunState.WAITING else "settling"
            self.progress.setFormat(f"%v / %m batches · {what} in {left}")
        else:
            self.progress.setFormat(f"%v / %m batches · {e.state.value}")

    def on_quotes(self, e: QuotesUpdated) -> None:
        engine = self.engine
        if engine is None:
            return
        self._paint_chain()
        plan = self.plan if self.plan is not None else (self.run.plan if self.run else None)
        if plan is None or plan.call is None or plan.put is None:
            return
        combined = self._ltp_premium(plan)
        if combined is None:
            return
        self.premium.append((time.monotonic() - self._chart_t0, float(combined)))
        del self.premium[:-CHART_POINTS]
        if self.chart is not None:
            xs, ys = zip(*self.premium, strict=True)
            self.chart.setData(list(xs), list(ys))
        if self.fills.per_unit is None:
            self._render_figures()  # the estimate follows the LTPs until there are fills

    def _ensure_chart(self) -> None:
        if self.chart is not None:
            self.chart_box.show()
            return
        import pyqtgraph as pg

        plot = pg.PlotWidget()
        plot.setBackground(None)
        plot.setLabel("left", "CE + PE")
        plot.setLabel("bottom", "seconds since armed")
        plot.setMinimumHeight(110)
        self.plot = plot
        self.chart = plot.plot()
        self.entry_line = pg.InfiniteLine(angle=0, movable=False)
        self.entry_line.setToolTip("the premium per unit the fills got")
        self.entry_line.hide()
        plot.addItem(self.entry_line)
        self.chart_layout.addWidget(plot)
        self.chart_box.show()
        self._style_chart()


__all__ = ["StraddlePanel"]
