"""The chart's drawing pieces: candles and volume bars (closed bars cached), the axes, and the
price tags painted inside the right-hand axis, so no label ever sits on a candle.

Colours come in from the pane (which reads them from the theme on every palette change);
nothing here keeps a colour it was not handed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen, QPicture

BODY = 0.35  # half a candle's width, in bars


@dataclass
class Bar:
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int = 0


class LiveBarItem(pg.GraphicsObject):  # type: ignore[misc]
    """The live bar on its own, with bounds just around it: a tick repaints that bar's few
    pixels, not the picture of the closed bars under it."""

    def __init__(self, owner: BarsItem) -> None:
        super().__init__(owner)
        self.owner = owner
        self.bar: tuple[int, Bar] | None = None
        self._rect = QRectF()

    def set(self, bar: tuple[int, Bar] | None) -> None:
        rect = self.owner.bar_rect(*bar) if bar is not None else QRectF()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.bar = bar
        self.update()

    def paint(self, p: QPainter, *args: object) -> None:
        if self.bar is not None:
            self.owner.draw(p, *self.bar)

    def boundingRect(self) -> QRectF:
        return self._rect


class BarsItem(pg.GraphicsObject):  # type: ignore[misc]
    """Closed bars cached as a picture (and, as pixels, by Qt until the view moves); the live
    bar is a child item of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = QPicture()
        self.count = 0
        self._bounds = QRectF()
        self.up, self.down = QColor("#2e9d4f"), QColor("#d83b3b")
        self.live_item = LiveBarItem(self)
        self.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)

    @property
    def live(self) -> tuple[int, Bar] | None:
        return self.live_item.bar

    def set_colours(self, up: QColor, down: QColor, bars: Sequence[Bar]) -> None:
        self.up, self.down = up, down
        self.set_bars(bars)

    def set_bars(self, bars: Sequence[Bar]) -> None:
        self.prepareGeometryChange()
        self.closed = QPicture()
        painter = QPainter(self.closed)
        self.draw_closed(painter, bars[:-1])
        painter.end()
        self.count = len(bars)
        self._bounds = self.bounds_of(bars)
        self.live_item.set((len(bars) - 1, bars[-1]) if bars else None)
        self.update()
        self.informViewBoundsChanged()

    def set_live(self, bar: Bar) -> None:
        if self.live is None:
            return
        self.live_item.set((self.live[0], bar))
        grown = self._bounds | self.bar_rect(self.live[0], bar)
        if grown != self._bounds:  # a new high or low: the view's range follows
            self.prepareGeometryChange()
            self._bounds = grown
            self.informViewBoundsChanged()

    def paint(self, p: QPainter, *args: object) -> None:
        p.drawPicture(0, 0, self.closed)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def bounds_of(self, bars: Sequence[Bar]) -> QRectF:
        raise NotImplementedError

    def bar_rect(self, i: int, bar: Bar) -> QRectF:
        raise NotImplementedError

    def draw(self, p: QPainter, i: int, bar: Bar) -> None:
        raise NotImplementedError

    def draw_closed(self, p: QPainter, bars: Sequence[Bar]) -> None:
        """All closed bars, a few batched draw calls per colour (a new symbol's cost)."""
        for i, bar in enumerate(bars):
            self.draw(p, i, bar)


def _split(bars: Sequence[Bar]) -> tuple[list[int], list[int]]:
    up = [i for i, b in enumerate(bars) if b.close >= b.open]
    down = [i for i, b in enumerate(bars) if b.close < b.open]
    return up, down


class CandlesItem(BarsItem):
    def bounds_of(self, bars: Sequence[Bar]) -> QRectF:
        lows = [b.low for b in bars] or [0.0]
        highs = [b.high for b in bars] or [1.0]
        return QRectF(-1, min(lows), len(bars) + 1, max(highs) - min(lows) or 1.0)

    def bar_rect(self, i: int, bar: Bar) -> QRectF:
        return QRectF(i - 0.5, bar.low, 1.0, (bar.high - bar.low) or 1e-9)

    def draw(self, p: QPainter, i: int, bar: Bar) -> None:
        colour = self.up if bar.close >= bar.open else self.down
        p.setPen(QPen(colour, 0))
        p.drawLine(QPointF(i, bar.low), QPointF(i, bar.high))
        p.setBrush(colour)
        top, height = min(bar.open, bar.close), abs(bar.close - bar.open)
        p.drawRect(QRectF(i - BODY, top, 2 * BODY, height or 1e-9))

    def draw_closed(self, p: QPainter, bars: Sequence[Bar]) -> None:
        for colour, indices in zip((self.up, self.down), _split(bars), strict=True):
            if not indices:
                continue
            p.setPen(QPen(colour, 0))
            p.setBrush(colour)
            p.drawLines([QLineF(i, bars[i].low, i, bars[i].high) for i in indices])
            rects = []
            for i in indices:
                b = bars[i]
                top, height = min(b.open, b.close), abs(b.close - b.open)
                rects.append(QRectF(i - BODY, top, 2 * BODY, height or 1e-9))
            p.drawRects(rects)


class VolumeItem(BarsItem):
    """One volume bar per candle, coloured like it (translucent)."""

    def set_colours(self, up: QColor, down: QColor, bars: Sequence[Bar]) -> None:
        up, down = QColor(up), QColor(down)
        up.setAlpha(150)
        down.setAlpha(150)
        super().set_colours(up, down, bars)

    def bounds_of(self, bars: Sequence[Bar]) -> QRectF:
        return QRectF(-1, 0, len(bars) + 1, float(max((b.volume for b in bars), default=0) or 1))

    def bar_rect(self, i: int, bar: Bar) -> QRectF:
        return QRectF(i - 0.5, 0, 1.0, float(bar.volume) or 1e-9)

    def draw(self, p: QPainter, i: int, bar: Bar) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.up if bar.close >= bar.open else self.down)
        p.drawRect(QRectF(i - BODY, 0, 2 * BODY, float(bar.volume)))

    def draw_closed(self, p: QPainter, bars: Sequence[Bar]) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        for colour, indices in zip((self.up, self.down), _split(bars), strict=True):
            if indices:
                p.setBrush(colour)
                p.drawRects([QRectF(i - BODY, 0, 2 * BODY, float(bars[i].volume)) for i in indices])


class SegmentItem(pg.GraphicsObject):  # type: ignore[misc]
    """One straight line between two points: the EMA9's live end. A tick moves it without
    handing the whole series to a PlotDataItem (about a millisecond a tick here). Add it with
    ignoreBounds: an EMA of closes stays inside the candles' range, so it never moves the view."""

    def __init__(self) -> None:
        super().__init__()
        self.pen = QPen()
        self.a, self.b = QPointF(), QPointF()
        self.shown = False

    def set_pen(self, pen: QPen) -> None:
        self.pen = QPen(pen)
        self.pen.setCosmetic(True)
        self.update()

    def set(self, a: QPointF | None, b: QPointF | None = None) -> None:
        """From a to b; None hides it."""
        old = self.boundingRect()
        self.shown = a is not None and b is not None
        if a is not None and b is not None:
            self.a, self.b = a, b
        if self.boundingRect() != old:
            self.prepareGeometryChange()
        self.update()

    def paint(self, p: QPainter, *args: object) -> None:
        if self.shown:
            p.setPen(self.pen)
            p.drawLine(self.a, self.b)

    def boundingRect(self) -> QRectF:
        if not self.shown:
            return QRectF()
        return QRectF(self.a, self.b).normalized().adjusted(0, -1e-9, 0, 1e-9)


class LevelLine(pg.InfiniteLine):  # type: ignore[misc]
    """An InfiniteLine for a level the view's range ignores (added with ignoreBounds): moving
    it does not make the view recompute its auto-range, as pyqtgraph otherwise does on every
    move (the daily EMA9 moves on every tick, the crosshair on every mouse move)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._GraphicsObject__inform_view_on_changes = False


class TimeAxis(pg.AxisItem):  # type: ignore[misc]
    """Bars are plotted at 0, 1, 2, ...; the axis shows their dates (daily) or times."""

    def __init__(self, bars: Callable[[], Sequence[Bar]], daily: Callable[[], bool]) -> None:
        super().__init__(orientation="bottom")
        self.bars, self.daily = bars, daily

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        bars, fmt = self.bars(), "%d %b" if self.daily() else "%H:%M"
        out = []
        for v in values:
            i = round(v)
            out.append(bars[i].time.strftime(fmt) if 0 <= i < len(bars) else "")
        return out


def short_volume(v: float) -> str:
    """Volume as an Indian trader reads it: 12.5K, 3.4L (lakh), 1.2Cr (crore)."""
    for size, unit in ((1e7, "Cr"), (1e5, "L"), (1e3, "K")):
        if abs(v) >= size:
            return f"{v / size:.1f}{unit}"
    return f"{v:.0f}"


class VolumeAxis(pg.AxisItem):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(orientation="right")
        self.enableAutoSIPrefix(False)
        self.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [short_volume(v) if v > 0 else "" for v in values]


@dataclass
class Tag:
    value: float
    text: str
    fill: QColor
    ink: QColor


class _TagLayer(pg.GraphicsObject):  # type: ignore[misc]
    """The tags, over the axis they sit in: a moved tag repaints here, and the axis under it
    (cached as pixels) is only blitted, not re-played with all its ticks and labels."""

    def __init__(self, axis: PriceAxis) -> None:
        super().__init__(axis)
        self.axis = axis
        self._rect = QRectF()

    def fit(self) -> None:
        rect = self.axis.rect()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, p: QPainter, *args: object) -> None:
        self.axis.paint_tags(p)


class PriceAxis(pg.AxisItem):  # type: ignore[misc]
    """The right-hand price axis, with tags (last price, sell, stop, target, the crosshair's
    price) painted inside it at their prices: labels live here, never over a candle."""

    ORDER = ("order", "daily_ema", "target", "stop", "last", "cross")  # later ones on top

    def __init__(self) -> None:
        super().__init__(orientation="right")
        self.enableAutoSIPrefix(False)
        self.tags: dict[str, Tag] = {}
        self.fitted = 0
        self._laid: dict[str, QRectF] | None = None  # the tags' layout until something moves
        self.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.layer = _TagLayer(self)
        self.layer.fit()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._laid = None
        layer = getattr(self, "layer", None)  # AxisItem resizes itself while it is built
        if layer is not None:
            layer.fit()

    def linkedViewChanged(self, view: Any = None, newRange: Any = None) -> None:
        """The view moved: every tag moves with its price."""
        super().linkedViewChanged(view, newRange)
        self._laid = None
        layer = getattr(self, "layer", None)
        if layer is not None:
            layer.update()

    def set_tag(self, name: str, tag: Tag | None) -> None:
        """Only the tags that moved (and where they were) are repainted: a tick moves the last
        price's tag, and repainting the whole axis (its ticks and labels) cost a live update
        about half its paint."""
        if tag is None and name not in self.tags:
            return
        old = self.tags.get(name)
        if tag is not None and old is not None and tag == old:
            return
        before = self.layout_tags()
        if tag is None:
            del self.tags[name]
        else:
            self.tags[name] = tag
        self._laid = None
        after = self.layout_tags()
        dirty = QRectF()
        for key in before.keys() | after.keys():
            a, b = before.get(key), after.get(key)
            if a != b or key == name:
                dirty |= (a or QRectF()) | (b or QRectF())
        if not dirty.isEmpty():
            self.layer.update(dirty.adjusted(-1, -1, 1, 1))

    def tag_rect(self, name: str) -> QRectF | None:
        """Where a tag is drawn, in this axis's coordinates (None: not shown)."""
        return self.layout_tags().get(name)

    def layout_tags(self) -> dict[str, QRectF]:
        """Each tag centred on its price, then nudged down (or up, at the bottom) just enough
        that no two overlap: close levels (the sell order at the daily EMA9) stay readable.
        Kept until a tag, the view or the axis changes (a tick asks for it three times)."""
        if self._laid is not None:
            return self._laid
        laid = self._layout_tags()
        if self.linkedView() is not None:
            self._laid = laid
        return laid

    def _layout_tags(self) -> dict[str, QRectF]:
        view = self.linkedView()
        if view is None or not self.tags:
            return {}
        h = QFontMetrics(self.font()).height() + 2
        width = self.width()
        # price -> this axis's y is linear: two points mapped, not one per tag (a tick lays
        # the tags out a few times)
        y0 = self.mapFromScene(view.mapViewToScene(QPointF(0, 0.0))).y()
        y1 = self.mapFromScene(view.mapViewToScene(QPointF(0, 1.0))).y()
        scale = y1 - y0
        placed = [(y0 + scale * tag.value - h / 2, name) for name, tag in self.tags.items()]
        placed.sort()
        tops = [top for top, _ in placed]
        for i in range(1, len(tops)):
            tops[i] = max(tops[i], tops[i - 1] + h)
        bottom = self.rect().bottom()
        if tops and tops[-1] + h > bottom:  # pushed off the bottom: stack up from it instead
            tops[-1] = min(tops[-1], bottom - h)
            for i in range(len(tops) - 2, -1, -1):
                tops[i] = min(tops[i], tops[i + 1] - h)
        return {name: QRectF(0, top, width, h) for top, (_, name) in zip(tops, placed, strict=True)}

    def fit(self, samples: Sequence[str]) -> int:
        """Wide enough for the widest tag; changed only when it must (a relayout). Returns
        the width, for the volume axis under it (the two panes' bars must line up)."""
        metrics = QFontMetrics(self.font())
        width = max((metrics.horizontalAdvance(s) for s in samples), default=40) + 12
        if width != self.fitted:
            self.fitted = width
            self.setWidth(width)
        return width

    def paint_tags(self, p: QPainter) -> None:
        if not self.tags:
            return
        bounds = self.rect()
        rects = self.layout_tags()
        for name in self.ORDER:
            tag, rect = self.tags.get(name), rects.get(name)
            if tag is None or rect is None or not bounds.intersects(rect):
                continue
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(tag.fill)
            p.drawRect(rect)
            p.setPen(tag.ink)
            p.drawText(rect.adjusted(4, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter, tag.text)


__all__ = [
    "Bar",
    "BarsItem",
    "CandlesItem",
    "LevelLine",
    "LiveBarItem",
    "PriceAxis",
    "SegmentItem",
    "Tag",
    "TimeAxis",
    "VolumeAxis",
    "VolumeItem",
    "short_volume",
]
