"""The Chart pane: candles, EMA9, the sell order's line and its moves; daily or 1-minute.

Closed bars are painted once into a QPicture; a live tick repaints only the last bar and the
last EMA9 point, at most a few times a second. No grid, no antialiasing: on this machine each
costs about ten times a live update (STACK-NOTES), and a trader reads levels off the axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPicture
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QVBoxLayout, QWidget

from gui_trader.market.ema import ema, ema_series, ema_today

UP, DOWN = QColor("#2e9d4f"), QColor("#d83b3b")
EMA_PEN = pg.mkPen("#1e88e5", width=2)
ORDER_PEN = pg.mkPen("#ef6c00", width=2, style=Qt.PenStyle.DashLine)
STOP_PEN = pg.mkPen("#d83b3b", width=2, style=Qt.PenStyle.DashLine)
TARGET_PEN = pg.mkPen("#2e9d4f", width=2, style=Qt.PenStyle.DashLine)


@dataclass
class Bar:
    time: datetime
    open: float
    high: float
    low: float
    close: float


class CandlesItem(pg.GraphicsObject):  # type: ignore[misc]
    """Closed bars cached as a picture; the live bar drawn on its own."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = QPicture()
        self.live: tuple[int, Bar] | None = None
        self._bounds = QRectF()

    def set_bars(self, bars: Sequence[Bar]) -> None:
        self.prepareGeometryChange()
        self.closed = QPicture()
        painter = QPainter(self.closed)
        for i, bar in enumerate(bars[:-1]):
            self._draw(painter, i, bar)
        painter.end()
        lows = [b.low for b in bars] or [0.0]
        highs = [b.high for b in bars] or [1.0]
        self._bounds = QRectF(-1, min(lows), len(bars) + 1, max(highs) - min(lows) or 1.0)
        self.live = (len(bars) - 1, bars[-1]) if bars else None
        self.update()

    def set_live(self, bar: Bar) -> None:
        if self.live is None:
            return
        index = self.live[0]
        self.live = (index, bar)
        if bar.high > self._bounds.bottom() or bar.low < self._bounds.top():
            self.prepareGeometryChange()
            top = min(self._bounds.top(), bar.low)
            bottom = max(self._bounds.bottom(), bar.high)
            self._bounds = QRectF(self._bounds.left(), top, self._bounds.width(), bottom - top)
        self.update()

    @staticmethod
    def _draw(p: QPainter, i: int, bar: Bar) -> None:
        colour = UP if bar.close >= bar.open else DOWN
        p.setPen(QPen(colour, 0))
        p.drawLine(QPointF(i, bar.low), QPointF(i, bar.high))
        p.setBrush(colour)
        top, height = min(bar.open, bar.close), abs(bar.close - bar.open)
        p.drawRect(QRectF(i - 0.35, top, 0.7, height or 1e-9))

    def paint(self, p: QPainter, *args: object) -> None:
        p.drawPicture(0, 0, self.closed)
        if self.live is not None:
            self._draw(p, *self.live)

    def boundingRect(self) -> QRectF:
        return self._bounds


class TimeAxis(pg.AxisItem):  # type: ignore[misc]
    """Bars are plotted at 0, 1, 2, ...; the axis shows their dates (daily) or times."""

    def __init__(self, pane: ChartPane) -> None:
        super().__init__(orientation="bottom")
        self.pane = pane

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        bars, daily = self.pane.bars, self.pane.view == "D"
        out = []
        for v in values:
            i = round(v)
            if 0 <= i < len(bars):
                out.append(bars[i].time.strftime("%d %b" if daily else "%H:%M"))
            else:
                out.append("")
        return out


class ChartPane(QWidget):
    def __init__(self) -> None:
        super().__init__()
        pg.setConfigOptions(antialias=False)
        self.title = QLabel("Click a symbol in the Watchlist, Positions, Holdings or Monitor")
        self.title.setStyleSheet("font-weight: bold")
        self.daily = QRadioButton("Daily")
        self.minute = QRadioButton("1 minute")
        self.daily.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.daily)
        group.addButton(self.minute)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.daily)
        bar.addWidget(self.minute)
        self.view = "D"
        self.plot = pg.PlotWidget(axisItems={"bottom": TimeAxis(self)})
        self.plot.setBackground(None)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.candles = CandlesItem()
        self.ema_line = self.plot.plot(pen=EMA_PEN, name="EMA9")
        self.moves = self.plot.plot(
            pen=pg.mkPen("#ef6c00", width=1),
            symbol="o",
            symbolSize=5,
            symbolBrush="#ef6c00",
            stepMode=None,
        )
        self.order_line = pg.InfiniteLine(angle=0, pen=ORDER_PEN, movable=False)
        self.order_text = pg.TextItem(color="#ef6c00", anchor=(0, 1))
        self.plot.addItem(self.candles)
        self.plot.addItem(self.order_line)
        self.plot.addItem(self.order_text)
        self.order_line.hide()
        self.order_text.hide()
        # A protection's stop and target: drag either to move it (the controller asks the
        # engine; the line settles where the engine's answer puts it).
        self.stop_line = pg.InfiniteLine(angle=0, pen=STOP_PEN, movable=True)
        self.target_line = pg.InfiniteLine(angle=0, pen=TARGET_PEN, movable=True)
        self.stop_text = pg.TextItem(color="#d83b3b", anchor=(0, 0))
        self.target_text = pg.TextItem(color="#2e9d4f", anchor=(0, 1))
        for item in (self.stop_line, self.target_line, self.stop_text, self.target_text):
            self.plot.addItem(item)
            item.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.plot)
        self.bars: list[Bar] = []
        self.emas: list[float] = []
        self.symbol = ""

    def show_bars(self, symbol: str, bars: list[Bar], view: str) -> None:
        """A fresh history for a symbol: candles, and EMA9 over their closes."""
        self.symbol = symbol
        self.bars = bars
        self.view = view
        self.title.setText(f"{symbol} · {'daily' if view == 'D' else '1 minute'} · EMA9")
        self.candles.set_bars(bars)
        self.emas = ema_series(b.close for b in bars)
        self.ema_line.setData(list(range(len(self.emas))), self.emas)
        self.plot.enableAutoRange()

    def update_live(self, ltp: float) -> None:
        """One tick: the last bar and the last EMA9 point move; nothing else is redrawn."""
        if not self.bars:
            return
        last = self.bars[-1]
        bar = Bar(last.time, last.open, max(last.high, ltp), min(last.low, ltp), ltp)
        self.bars[-1] = bar
        self.candles.set_live(bar)
        if len(self.emas) >= 2:
            self.emas[-1] = ema_today(self.emas[-2], ltp)
            self.ema_line.setData(list(range(len(self.emas))), self.emas)

    def show_order(self, price: float | None, moves: Sequence[tuple[str, str]] = ()) -> None:
        """The sell order's price, and where it was before (its history of moves)."""
        if price is None:
            self.order_line.hide()
            self.order_text.hide()
            self.moves.setData([], [])
            return
        self.order_line.setValue(price)
        self.order_line.show()
        self.order_text.setText(f"sell {price:,.2f}")
        self.order_text.setPos(0, price)
        self.order_text.show()
        if moves and self.bars:
            x = len(self.bars) - 1
            ys = [float(p) for _, p in moves]
            self.moves.setData(
                [x - 0.3 + 0.6 * i / max(len(ys) - 1, 1) for i in range(len(ys))], ys
            )

    def show_guard(self, sl: float | None, target: float | None) -> None:
        """The charted symbol's stop (red) and target (green), or none."""
        for line, text, value, word in (
            (self.stop_line, self.stop_text, sl, "stop"),
            (self.target_line, self.target_text, target, "target"),
        ):
            if value is None:
                line.hide()
                text.hide()
                continue
            line.setValue(value)
            line.show()
            text.setText(f"{word} {value:,.2f}")
            text.setPos(0, value)
            text.show()


def bars_from_candles(candles: Sequence[object]) -> list[Bar]:
    return [
        Bar(c.time, float(c.open), float(c.high), float(c.low), float(c.close))  # type: ignore[attr-defined]
        for c in candles
    ]


__all__ = ["Bar", "CandlesItem", "ChartPane", "bars_from_candles", "ema"]
