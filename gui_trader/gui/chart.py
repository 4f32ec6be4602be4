"""The Chart pane: candles, EMA9, volume, the sell order's line and its moves; daily or 1-minute.

Closed bars (candles and volume) are painted once into a QPicture; a live tick repaints only
the last bar, the last EMA9 segment and the axis tags, a few times a second. No grid, no
antialiasing: on this machine each costs about ten times a live update (STACK-NOTES), and a
trader reads levels off the axis. Every label (last price, sell, stop, target, the daily EMA9
and the crosshair's price) is a tag in the right-hand axis and the crosshair's OHLC readout is a
line above the plot, so nothing is ever written over a candle. Colours are re-read from the
theme on every palette change.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QEnterEvent, QFont, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui_trader.core.clock import IST
from gui_trader.core.display import clock, percent, price
from gui_trader.core.market_data import Candle
from gui_trader.gui import theme
from gui_trader.gui.chart_items import (
    Bar,
    CandlesItem,
    LevelLine,
    PriceAxis,
    SegmentItem,
    Tag,
    TimeAxis,
    VolumeAxis,
    VolumeItem,
    short_volume,
)
from gui_trader.market.ema import ema, ema_series, ema_today

# The daily EMA9 drawn on the 1-minute view (the monitor's sell level): (light, dark).
DAILY_EMA = ("#7b1fa2", "#ce93d8")
CROSSHAIR_HZ = 60  # crosshair updates at most this often, however fast the mouse moves
TAG_WORDS = {"order": "SELL", "stop": "SL", "target": "TGT", "daily_ema": "EMA9d"}


@dataclass(frozen=True)
class Colours:
    """This theme's chart colours, read fresh from the palette and theme.py each time."""

    background: QColor
    text: QColor
    axis: QColor
    up: QColor
    down: QColor
    ema: QColor
    daily_ema: QColor
    order: QColor
    crosshair: QColor

    @classmethod
    def now(cls, palette: QPalette) -> Colours:
        dark = theme.is_dark()
        return cls(
            background=palette.color(QPalette.ColorRole.Base),
            text=palette.color(QPalette.ColorRole.WindowText),
            axis=theme.colour("muted"),
            up=theme.colour("profit"),
            down=theme.colour("loss"),
            ema=theme.colour("accent"),
            daily_ema=QColor(DAILY_EMA[1 if dark else 0]),
            order=theme.colour("order"),
            crosshair=theme.colour("muted"),
        )


def _naive_ist(t: datetime) -> datetime:
    return t.astimezone(IST).replace(tzinfo=None) if t.tzinfo is not None else t


@lru_cache(maxsize=4096)
def _price(value: float) -> str:
    """price() for a float seen again and again (a tick formats the same OHLC, EMA and tags)."""
    return price(value)


def bucket(t: datetime, view: str) -> date | datetime:
    """The bar a time falls in: its day on the daily view, its minute on the 1-minute view
    (in IST, whatever zone it came in)."""
    at = _naive_ist(t)
    return at.date() if view == "D" else at.replace(second=0, microsecond=0)


class _ReadoutBox(QWidget):
    """Holds the readout label without a layout: a new text (every tick) then does not make
    the pane's layout recompute every child's geometry, as a label in a layout does. The
    label is selectable only while the pointer is over it: a selectable label keeps a text
    document that every tick's new text rebuilds (~0.4 ms a tick here)."""

    def __init__(self, label: QLabel) -> None:
        super().__init__()
        self.label = label
        label.setParent(self)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(label.sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        self.label.setGeometry(0, 0, self.width(), self.height())
        super().resizeEvent(event)

    def enterEvent(self, event: QEnterEvent) -> None:
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if not self.label.hasSelectedText():  # a selection stays, to be copied
            self.label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        super().leaveEvent(event)


class ChartPane(QWidget):
    """Build it at once (``ChartPane()``) or a piece per event-loop turn: ``ChartPane(build=
    False)`` and then drive ``build_steps()`` (the dock at start: no long stall on the loop)."""

    def __init__(self, build: bool = True) -> None:
        super().__init__()
        pg.setConfigOptions(antialias=False)
        self.bars: list[Bar] = []
        self.emas: list[float] = []
        self.symbol = ""
        self.view = "D"
        self.daily_ema_yesterday: float | None = None  # 1-minute view: the daily EMA9's base
        self.daily_ema: float | None = None  # ... and its value at the last price
        self.cross_index: int | None = None  # the bar under the crosshair (None: hidden)
        self._levels: dict[str, float] = {}  # order / stop / target prices shown as tags
        self._moves: Sequence[tuple[str, str]] = ()
        self._day_volume: int | None = None  # the last cumulative day volume seen (1 minute)
        self._pointer_out = True
        self._when: dict[datetime, str] = {}  # a bar's date/time as the readout shows it
        self.colours = Colours.now(self.palette())

        self.title = QLabel("Click a symbol in the Watchlist, Positions, Holdings or Monitor")
        bold = QFont(self.title.font())
        bold.setBold(True)
        self.title.setFont(bold)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.daily = QRadioButton("Daily")
        self.minute = QRadioButton("1 minute")
        self.daily.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.daily)
        group.addButton(self.minute)
        self._header = header = QHBoxLayout()
        header.addWidget(self.title)
        header.addSpacing(12)
        header.addWidget(self.legend, 1)
        header.addWidget(self.daily)
        header.addWidget(self.minute)
        # The crosshair's readout: its own line above the plot, so it never covers a candle.
        # In a box of its own with no layout: a new text never relayouts the dock on a tick.
        self.readout = QLabel(" ")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._readout_box = _ReadoutBox(self.readout)
        self.built = False
        if build:
            for _ in self.build_steps():
                pass

    def build_steps(self) -> Iterator[None]:
        """The pyqtgraph pieces, one per step (each a few tens of ms at most on this machine):
        the caller may yield to the event loop between them."""
        self.graphics = pg.GraphicsLayoutWidget(self)  # a child at once: never an orphan
        yield
        self.graphics.ci.layout.setSpacing(0)
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        # A plot's four axes are built a step ahead of it (each ~5 ms), so no step holds
        # the loop for a whole plot (~35-60 ms the first time).
        self.price_axis = PriceAxis()
        axes: dict[str, pg.AxisItem] = {"right": self.price_axis}
        axes |= {side: pg.AxisItem(side) for side in ("left", "top", "bottom")}
        yield
        # No context menus: each one is ~35 ms of widgets built up front and never shown.
        self.plot = self.graphics.addPlot(row=0, col=0, axisItems=axes, enableMenu=False)
        yield
        self.volume_axis = VolumeAxis()
        self.time_axis = TimeAxis(lambda: self.bars, lambda: self.view == "D")
        axes = {"right": self.volume_axis, "bottom": self.time_axis}
        axes |= {side: pg.AxisItem(side) for side in ("left", "top")}
        yield
        self.volume_plot = self.graphics.addPlot(row=1, col=0, axisItems=axes, enableMenu=False)
        yield
        for plot in (self.plot, self.volume_plot):
            plot.hideAxis("left")
            plot.hideAxis("top")  # handed in (built a step ahead), so shown unless hidden
            plot.showAxis("right")
            plot.setMenuEnabled(False)
            plot.hideButtons()
        self.plot.hideAxis("bottom")
        self.volume_plot.setXLink(self.plot)
        self.volume_plot.setMouseEnabled(x=True, y=False)
        self.volume_plot.enableAutoRange(y=True)
        self.graphics.ci.layout.setRowStretchFactor(0, 4)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        yield

        self.candles = CandlesItem()
        self.volume = VolumeItem()
        self.plot.addItem(self.candles)
        self.volume_plot.addItem(self.volume)
        # EMA9: closed points in one line, the live segment in another (a tick moves 2 points)
        self.ema_line = self.plot.plot()
        self.ema_line.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.ema_live = SegmentItem()
        self.plot.addItem(self.ema_live, ignoreBounds=True)
        yield
        self.moves = self.plot.plot()  # the sell order's price over time, as steps
        self.move_marks = self.plot.plot(pen=None, symbol="o", symbolSize=5)  # each move
        yield
        self.daily_ema_line = LevelLine(angle=0, movable=False)
        self.order_line = LevelLine(angle=0, movable=False)
        # A protection's stop and target: drag either to move it (the controller asks the
        # engine; the line settles where the engine's answer puts it).
        self.stop_line = LevelLine(angle=0, movable=True)
        self.target_line = LevelLine(angle=0, movable=True)
        # The levels count in the auto-range (a trader sees where the sell level is), but
        # the view hears of a move only when it matters (_rebound), not on every tick or drag.
        for item in (self.daily_ema_line, self.order_line, self.stop_line, self.target_line):
            item.hide()
            self.plot.addItem(item)
        self.stop_line.sigPositionChanged.connect(lambda _: self._dragging("stop"))
        self.target_line.sigPositionChanged.connect(lambda _: self._dragging("target"))
        self.cross_v = LevelLine(angle=90, movable=False)
        self.cross_h = LevelLine(angle=0, movable=False)
        self.cross_vv = LevelLine(angle=90, movable=False)  # the same x on the volume
        self.plot.addItem(self.cross_v, ignoreBounds=True)
        self.plot.addItem(self.cross_h, ignoreBounds=True)
        self.volume_plot.addItem(self.cross_vv, ignoreBounds=True)
        for line in (self.cross_v, self.cross_h, self.cross_vv):
            line.hide()
        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._pointer_moved)
        self._proxy = pg.SignalProxy(
            scene.sigMouseMoved, rateLimit=CROSSHAIR_HZ, slot=self._mouse_moved
        )
        self.graphics.installEventFilter(self)
        yield

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(self._header)
        layout.addWidget(self._readout_box)
        layout.addWidget(self.graphics)
        self.apply_theme()
        self.built = True

    # ------------------------------------------------------------------ data
    def show_bars(
        self,
        symbol: str,
        bars: list[Bar],
        view: str,
        daily_ema_yesterday: float | None = None,
    ) -> None:
        """A fresh history for a symbol: candles, volume and EMA9 over their closes; on the
        1-minute view, the daily EMA9 (the monitor's sell level) from yesterday's value."""
        self.symbol = symbol
        self.bars = bars
        self.view = view
        self._day_volume = None
        self._when.clear()
        self.title.setText(f"{symbol} · {'daily' if view == 'D' else '1 minute'}")
        self.candles.set_bars(bars)
        self.volume.set_bars(bars)
        self.emas = ema_series(b.close for b in bars)
        n = len(self.emas)
        self.ema_line.setData(list(range(max(n - 1, 0))), self.emas[:-1])
        self._ema_end()
        self.daily_ema_yesterday = daily_ema_yesterday if view != "D" else None
        self._update_daily_ema()
        self._show_legend()
        self.hide_crosshair()
        self._fit_axis()
        self._show_last()
        self._place_moves()
        self.plot.enableAutoRange()
        self.volume_plot.enableAutoRange(y=True)

    def update_live(
        self, ltp: float, day_volume: int | None = None, at: datetime | None = None
    ) -> None:
        """One tick: the last bar, its volume and the last EMA9 segment move; the closed bars'
        pictures are not redrawn. ``day_volume`` is the day's cumulative volume (the quote's).
        A tick ``at`` a later minute (a later day on the daily view) than the last bar first
        closes that bar and starts a new one at the tick's price."""
        if not self.bars:
            return
        last = self.bars[-1]
        if at is not None and bucket(at, self.view) > bucket(last.time, self.view):
            self._new_bar(at, ltp, day_volume)
            return
        volume = last.volume
        if day_volume is not None:
            if self.view == "D":
                volume = day_volume
            elif self._day_volume is not None and day_volume > self._day_volume:
                volume += day_volume - self._day_volume
            self._day_volume = day_volume
        bar = Bar(last.time, last.open, max(last.high, ltp), min(last.low, ltp), ltp, volume)
        self.bars[-1] = bar
        self.candles.set_live(bar)
        self.volume.set_live(bar)
        if len(self.emas) >= 2:
            self.emas[-1] = ema_today(self.emas[-2], ltp)
        elif self.emas:
            self.emas[-1] = ltp
        self._ema_end()
        self._update_daily_ema()
        self._show_last()

    def _new_bar(self, at: datetime, ltp: float, day_volume: int | None) -> None:
        """The last bar closes (its EMA9 becomes final) and a new one opens at ``ltp``: the
        closed bars' pictures are redrawn once, as for a new symbol (once a minute at most)."""
        volume = 0
        if day_volume is not None:
            if self.view == "D":
                volume = day_volume
            elif self._day_volume is not None and day_volume > self._day_volume:
                volume = day_volume - self._day_volume
            self._day_volume = day_volume
        start = bucket(at, self.view)
        last_time = self.bars[-1].time
        if isinstance(start, datetime):
            when = start.replace(tzinfo=IST) if last_time.tzinfo is not None else start
        else:
            when = datetime.combine(start, datetime.min.time())
            when = when.replace(tzinfo=IST) if last_time.tzinfo is not None else when
        self.bars.append(Bar(when, ltp, ltp, ltp, ltp, volume))
        self.emas.append(ema_today(self.emas[-1], ltp) if self.emas else ltp)
        self.candles.set_bars(self.bars)
        self.volume.set_bars(self.bars)
        n = len(self.emas)
        self.ema_line.setData(list(range(n - 1)), self.emas[:-1])
        self._ema_end()
        self._update_daily_ema()
        self._fit_axis()
        self._place_moves()
        self._show_last()

    def _ema_end(self) -> None:
        """The EMA9's last segment, from the last closed bar's value to the live one."""
        n = len(self.emas)
        if n < 2:
            self.ema_live.set(None)
            return
        self.ema_live.set(QPointF(n - 2, self.emas[-2]), QPointF(n - 1, self.emas[-1]))

    def show_order(self, price_: float | None, moves: Sequence[tuple[str, str]] = ()) -> None:
        """The sell order's price, and where it was before (its history of moves)."""
        self._moves = moves if price_ is not None else ()
        self._level("order", self.order_line, price_)
        self._place_moves()

    def show_guard(self, sl: float | None, target: float | None) -> None:
        """The charted symbol's stop (red) and target (green), or none."""
        self._level("stop", self.stop_line, sl)
        self._level("target", self.target_line, target)

    def _level(self, name: str, line: pg.InfiniteLine, value: float | None) -> None:
        if value is None:
            line.hide()
            self._levels.pop(name, None)
            self.price_axis.set_tag(name, None)
            self._rebound(line)
            return
        line.blockSignals(True)  # a set value is not a drag
        line.setValue(value)
        line.blockSignals(False)
        line.show()
        self._levels[name] = value
        self._tag(name)
        self._fit_axis()
        self._rebound(line)

    def _rebound(self, line: pg.InfiniteLine) -> None:
        """Tell the view a level line moved (LevelLine does not, by itself)."""
        self.plot.vb.itemBoundsChanged(line)

    def _dragging(self, name: str) -> None:
        """The stop/target tag follows its line while it is dragged."""
        line = self.stop_line if name == "stop" else self.target_line
        if name in self._levels:
            self._levels[name] = float(line.value())
            self._tag(name)

    def _place_moves(self) -> None:
        """The sell order's moves: on the 1-minute view at their minutes, as steps to the last
        bar; on the daily view (all today) in a row just right of the last candle."""
        ys = [float(p) for _, p in self._moves]
        if not ys or not self.bars:
            self.moves.setData([], [])
            self.move_marks.setData([], [])
            return
        n = len(self.bars)
        if self.view == "D":
            xs = [n - 1 + 0.55 + 0.35 * i / max(len(ys) - 1, 1) for i in range(len(ys))]
            self.moves.setData(xs, ys)
            self.move_marks.setData(xs, ys)
            return
        times = [_naive_ist(b.time) for b in self.bars]
        xs = []
        for stamp, _ in self._moves:
            try:
                at = _naive_ist(datetime.fromisoformat(stamp))
            except ValueError:
                at = times[-1]
            xs.append(float(max(bisect.bisect_right(times, at) - 1, 0)))
        step_x, step_y = [], []
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            end = xs[i + 1] if i + 1 < len(xs) else float(n - 1)
            step_x += [x, end]
            step_y += [y, y]
        self.moves.setData(step_x, step_y)
        self.move_marks.setData(xs, ys)

    def _update_daily_ema(self) -> None:
        line = self.daily_ema_line
        if self.daily_ema_yesterday is None or not self.bars:
            self.daily_ema = None
            if line.isVisible():
                line.hide()
                self._rebound(line)
            self.price_axis.set_tag("daily_ema", None)
            return
        self.daily_ema = ema_today(self.daily_ema_yesterday, self.bars[-1].close)
        line.setValue(self.daily_ema)
        low, high = self.plot.vb.viewRange()[1]
        if not line.isVisible() or not low <= self.daily_ema <= high:
            line.show()
            self._rebound(line)  # a tick's small move inside the view: no re-range
        self._tag("daily_ema")

    # ------------------------------------------------------------------ tags and readout
    def _tag(self, name: str) -> None:
        c = self.colours
        if name == "last":
            bar = self.bars[-1]
            fill = c.up if bar.close >= bar.open else c.down
            self.price_axis.set_tag(name, Tag(bar.close, _price(bar.close), fill, c.background))
            return
        if name == "daily_ema":
            value = self.daily_ema
            fill = c.daily_ema
        else:
            value = self._levels.get(name)
            fill = {"order": c.order, "stop": c.down, "target": c.up}[name]
        if value is None:
            self.price_axis.set_tag(name, None)
            return
        text = f"{TAG_WORDS[name]} {_price(value)}"
        self.price_axis.set_tag(name, Tag(value, text, fill, c.background))

    def _fit_axis(self) -> None:
        """The price axis (and the volume axis under it) wide enough for every tag."""
        top = max([b.high for b in self.bars] + list(self._levels.values()) + [1.0])
        words = [TAG_WORDS[n] for n in self._levels]
        if self.daily_ema_yesterday is not None:
            words.append(TAG_WORDS["daily_ema"])
        widest = max(words, key=len, default="")
        width = self.price_axis.fit([f"{widest} {price(top * 1.1)}".strip()])
        self.volume_axis.setWidth(width)

    def _show_last(self) -> None:
        """The last-price tag and, unless the crosshair is on a bar, the last bar's readout."""
        self._tag("last")
        if self.cross_index is None:
            self.readout.setText(self.readout_text(len(self.bars) - 1))

    def readout_text(self, index: int) -> str:
        """A bar's date/time, O H L C, its change, EMA9 and volume, as the trader reads them."""
        if not 0 <= index < len(self.bars):
            return " "
        bar = self.bars[index]
        when = self._when.get(bar.time)
        if when is None:  # a live tick asks for the same bar's time a few times a second
            daily = self.view == "D"
            when = bar.time.strftime("%d %b %y") if daily else clock(bar.time, seconds=False)
            if len(self._when) > 4096:
                self._when.clear()
            self._when[bar.time] = when
        parts = [
            when,
            f"O {_price(bar.open)}",
            f"H {_price(bar.high)}",
            f"L {_price(bar.low)}",
            f"C {_price(bar.close)}",
        ]
        if index > 0 and self.bars[index - 1].close:
            prev = self.bars[index - 1].close
            parts.append(percent((bar.close - prev) / prev * 100))
        if index < len(self.emas):
            parts.append(f"EMA9 {_price(self.emas[index])}")
        parts.append(f"Vol {short_volume(bar.volume)}")
        return "  ".join(parts)

    # ------------------------------------------------------------------ crosshair
    def crosshair_at(self, index: int, price_: float | None = None) -> None:
        """The crosshair on a bar (and at a price on the price pane): lines, readout, tag."""
        if not self.bars:
            return
        index = min(max(index, 0), len(self.bars) - 1)
        self.cross_index = index
        for line in (self.cross_v, self.cross_vv):
            line.setValue(index)
            line.show()
        if price_ is None:
            self.cross_h.hide()
            self.price_axis.set_tag("cross", None)
        else:
            self.cross_h.setValue(price_)
            self.cross_h.show()
            c = self.colours
            self.price_axis.set_tag("cross", Tag(price_, price(price_), c.crosshair, c.background))
        self.readout.setText(self.readout_text(index))

    def hide_crosshair(self) -> None:
        self.cross_index = None
        for line in (self.cross_v, self.cross_h, self.cross_vv):
            line.hide()
        self.price_axis.set_tag("cross", None)
        self.readout.setText(self.readout_text(len(self.bars) - 1))

    def _pointer_moved(self, pos: QPointF) -> None:
        self._pointer_out = False  # cheap: the real work waits for the rate-limited proxy

    def _mouse_moved(self, args: tuple[Any, ...]) -> None:
        if self._pointer_out or not self.bars:
            return
        pos = args[0]
        for vb, on_price in ((self.plot.vb, True), (self.volume_plot.vb, False)):
            if vb.sceneBoundingRect().contains(pos):
                point = vb.mapSceneToView(pos)
                self.crosshair_at(round(point.x()), point.y() if on_price else None)
                return
        self.hide_crosshair()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is getattr(self, "graphics", None) and event.type() == QEvent.Type.Leave:
            self._pointer_out = True
            self.hide_crosshair()
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------------ theme
    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and self.built:
            self.apply_theme()  # not built yet: the last build step reads the palette
        super().changeEvent(event)

    def apply_theme(self) -> None:
        """Every colour again from the palette and theme.py: background, axes, candles,
        volume, lines, tags and the legend (the closed bars' pictures are redrawn once)."""
        c = self.colours = Colours.now(self.palette())
        self.graphics.setBackground(c.background)
        for axis in (self.price_axis, self.volume_axis, self.time_axis):
            axis.setPen(c.axis)
            axis.setTextPen(c.text)
        self.candles.set_colours(c.up, c.down, self.bars)
        self.volume.set_colours(c.up, c.down, self.bars)
        ema_pen = pg.mkPen(c.ema, width=2)
        self.ema_line.setPen(ema_pen)
        self.ema_live.set_pen(ema_pen)
        self.daily_ema_line.setPen(pg.mkPen(c.daily_ema, width=2, style=Qt.PenStyle.DashDotLine))
        dash = Qt.PenStyle.DashLine
        for line, colour in (
            (self.order_line, c.order),
            (self.stop_line, c.down),
            (self.target_line, c.up),
        ):
            line.setPen(pg.mkPen(colour, width=2, style=dash))
            line.setHoverPen(pg.mkPen(colour, width=3, style=dash))
        self.moves.setPen(pg.mkPen(c.order, width=1))
        self.move_marks.setSymbolBrush(c.order)
        self.move_marks.setSymbolPen(c.order)
        cross = pg.mkPen(c.crosshair, width=1, style=Qt.PenStyle.DotLine)
        for line in (self.cross_v, self.cross_h, self.cross_vv):
            line.setPen(cross)
        for name in ("order", "stop", "target", "daily_ema"):
            self._tag(name)
        if self.bars:
            self._tag("last")
        self._show_legend()

    def _show_legend(self) -> None:
        """Which line is which, in the title row: never a legend box over the candles."""
        c = self.colours

        def key(colour: QColor, mark: str, text: str) -> str:
            return f"<span style='color:{colour.name()}'>{mark}</span> {text}"

        if self.view == "D":
            items = [key(c.ema, "━━", "EMA9")]
        else:
            items = [key(c.ema, "━━", "EMA9 (1 min)")]
            if self.daily_ema_yesterday is not None:
                items.append(key(c.daily_ema, "─ ·", "EMA9 daily: the sell level"))
        self.legend.setText("&nbsp;&nbsp;".join(items))


def bars_from_candles(candles: Sequence[Candle]) -> list[Bar]:
    return [
        Bar(c.time, float(c.open), float(c.high), float(c.low), float(c.close), c.volume)
        for c in candles
    ]


__all__ = ["Bar", "CandlesItem", "ChartPane", "Colours", "bars_from_candles", "ema"]
