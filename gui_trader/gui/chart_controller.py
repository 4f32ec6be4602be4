"""The Chart dock's controller: which symbol is charted, its candles, live ticks and the
monitor's sell-order line (from the MonitorRow events, never the monitor's own rows)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui_trader.core.clock import now_ist
from gui_trader.core.market_data import Candle
from gui_trader.engine.events import MonitorRow, ProtectionView, QuotesUpdated
from gui_trader.market.ema import MIN_CLOSES, ema

if TYPE_CHECKING:
    from gui_trader.gui.main_window import MainWindow

TICK_MS = 250  # a few chart updates a second, whatever the tick rate
HISTORY_DAYS = 180  # calendar days of daily bars: ~120 closes, EMA9 needs MIN_CLOSES


def daily_ema_base(days: Sequence[Candle], today: date) -> float | None:
    """Yesterday's daily EMA9, as the monitor computes it (closes before today, at least
    MIN_CLOSES of them); None where the monitor would have no sell level either."""
    closes = [float(c.close) for c in days if c.time.date() < today]
    return ema(closes) if len(closes) >= MIN_CLOSES else None


def _warm_chart_imports() -> None:
    """pyqtgraph takes ~0.5 s to import: do it off the loop before a chart is first needed."""
    import pyqtgraph  # noqa: F401


class ChartController:
    def __init__(self, window: MainWindow, monitor_running: Callable[[], bool]) -> None:
        self.window = window
        self.monitor_running = monitor_running  # no monitor, no sell line
        self.chart: Any = None  # the ChartPane, built once pyqtgraph is imported
        self.symbol: str | None = None
        self.key: str | None = None
        self.ltp: float | None = None
        self.day_volume: int | None = None  # the charted symbol's cumulative volume today
        self.at: datetime | None = None  # the last quote's time (a new minute: a new bar)
        self.orders: dict[str, MonitorRow] = {}  # the latest monitor row per symbol
        self.guards: dict[str, ProtectionView] = {}  # instrument key -> its protection
        self._building = False
        self.box = QWidget()
        self.layout = QVBoxLayout(self.box)
        self.layout.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel("Chart: select a row in Positions, Holdings or Monitor")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.layout.addWidget(self.hint)
        window.register(MonitorRow, self._on_monitor_row)
        window.register(QuotesUpdated, self._on_quotes)

    async def build(self) -> None:
        """pyqtgraph is imported in a worker thread, then the chart is built a piece per loop
        turn (all at once it held the loop ~150-450 ms right after start) and joins its dock."""
        if self.chart is not None or self._building:
            return
        self._building = True
        await asyncio.to_thread(_warm_chart_imports)
        from gui_trader.gui.chart import ChartPane

        w = self.window
        # Parented (and hidden) from the start: a build cut short (the window closing) leaves
        # nothing for the garbage collector to destroy later on some other thread.
        pane = ChartPane(build=False)
        pane.setParent(self.box)
        pane.hide()
        try:
            for _ in pane.build_steps():
                await asyncio.sleep(0)
        except BaseException:
            pane.deleteLater()
            raise
        finally:
            self._building = False
        self.chart = pane
        self.chart.daily.toggled.connect(lambda _: self.rechart())
        self.chart.stop_line.sigPositionChangeFinished.connect(lambda _: self._dragged("sl"))
        self.chart.target_line.sigPositionChangeFinished.connect(lambda _: self._dragged("target"))
        self.hint.hide()
        self.layout.addWidget(self.chart)
        self.chart.show()
        self.timer = QTimer(w)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        for table in (w.positions.table, w.holdings.table, w.monitor_pane.table, w.watchlist.table):
            table.clicked.connect(lambda index, t=table: self._chart_from(t, index))
        if self.symbol is None and w.watch_model.rowCount():
            self.show_symbol(w.watch_model.rows()[0].symbol)  # something to read at once

    def _chart_from(self, table: Any, index: Any) -> None:
        self.show_symbol(str(table.model().index(index.row(), 0).data()))

    def show_symbol(self, symbol: str) -> None:
        engine = self.window.engine
        if engine is None or engine.instruments is None or self.chart is None:
            return
        try:
            inst = engine.instruments.resolve(symbol)
        except LookupError:
            return
        self.symbol, self.key = inst.trading_symbol, inst.key
        engine.extra_keys.add(inst.key)
        self.rechart()

    def rechart(self) -> None:
        if self.symbol is not None:
            self.window.spawn(self._load(self.symbol), "chart")

    async def _load(self, symbol: str) -> None:
        from datetime import timedelta

        from gui_trader.gui.chart import bars_from_candles

        engine = self.window.engine
        if engine is None or self.chart is None or engine.instruments is None:
            return
        inst = engine.instruments.resolve(symbol)
        today = now_ist().date()
        daily = self.chart.daily.isChecked()
        history = today - timedelta(days=HISTORY_DAYS)
        if daily:
            candles = await engine.candles(inst, daily=True, start=history, end=today)
            base = None
        else:  # the minute bars, and the daily closes the monitor's sell level comes from
            candles, days = await asyncio.gather(
                engine.candles(inst, daily=False, start=today, end=today),
                engine.candles(inst, daily=True, start=history, end=today),
            )
            base = daily_ema_base(days, today)
        if symbol != self.symbol:
            return  # the trader picked another one meanwhile
        self.day_volume = None
        self.chart.show_bars(symbol, bars_from_candles(candles), "D" if daily else "1min", base)
        self._show_order(symbol)
        self._show_guard()

    def _on_monitor_row(self, event: MonitorRow) -> None:
        self.orders[event.symbol] = event
        if event.symbol == self.symbol and self.chart is not None:
            self._show_order(event.symbol)

    def _show_order(self, symbol: str) -> None:
        if self.chart is None:
            return
        if not self.monitor_running():
            self.orders.clear()  # a stopped monitor's rows: a new one publishes its own
        row = self.orders.get(symbol)
        price: float | None = None
        moves: tuple[tuple[str, str], ...] = ()
        if row is not None:
            price = float(row.order_price) if row.order_price and not row.closed else None
            moves = row.moves
        self.chart.show_order(price, moves)

    def show_guards(self, items: tuple[ProtectionView, ...]) -> None:
        self.guards = {v.key: v for v in items}
        self._show_guard()

    def _show_guard(self) -> None:
        if self.chart is None:
            return
        g = self.guards.get(self.key or "")
        sl = float(g.sl) if g is not None and g.sl is not None else None
        target = float(g.target) if g is not None and g.target is not None else None
        self.chart.show_guard(sl, target)

    def _dragged(self, which: str) -> None:
        """A stop or target line dropped at a new price: on the tick, then to the engine,
        which checks it like a typed one (a refused move puts the line back)."""
        from decimal import Decimal

        from gui_trader.engine.protection_rules import Trail

        engine, g = self.window.engine, self.guards.get(self.key or "")
        if engine is None or g is None or self.chart is None or engine.instruments is None:
            return
        inst = engine.instruments.by_key.get(g.key)
        if inst is None:
            return
        line = self.chart.stop_line if which == "sl" else self.chart.target_line
        price = inst.round_price(Decimal(str(round(line.value(), 4))))
        sl = price if which == "sl" else g.sl
        target = price if which == "target" else g.target
        trail = Trail.parse(g.trail) if g.trail else None
        coro = engine.change_protection(g.symbol, sl=sl, target=target, trail=trail)
        self.window.spawn(self._moved(coro), "move protection")

    async def _moved(self, coro: Any) -> None:
        from gui_trader.engine.protection_rules import BadProtection

        try:
            await coro
        except BadProtection as exc:
            self.window.status.notify(f"not moved: {exc}", 6000)
            self._show_guard()  # back where it is

    def _on_quotes(self, event: QuotesUpdated) -> None:
        for q in event.quotes:
            if q.key == self.key:
                self.ltp = float(q.ltp)
                self.day_volume = q.volume or None
                self.at = q.time

    def _tick(self) -> None:
        if self.chart is not None and self.ltp is not None:
            at = self.at if self.at is not None else now_ist()
            self.chart.update_live(self.ltp, self.day_volume, at)
            self.ltp = None
