"""The Chart pane as a trader reads it: prices on the right with tags, a crosshair readout that
matches the bar under it, volume bars, labels never over candles, colours that follow the theme,
and (in the window) the daily EMA9 sell level on the 1-minute view."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QEnterEvent, QImage, QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from gui_trader.core.clock import IST
from gui_trader.core.display import clock, percent, price
from gui_trader.core.market_data import Candle, Quote
from gui_trader.engine.events import QuotesUpdated
from gui_trader.gui.chart import Bar, ChartPane
from gui_trader.gui.chart_controller import daily_ema_base
from gui_trader.gui.chart_items import BODY, short_volume
from gui_trader.gui.main_window import MainWindow
from gui_trader.gui.theme import apply_theme
from gui_trader.market.ema import MIN_CLOSES, ema_today
from tests.gui.conftest import Runner

T0 = datetime(2025, 1, 6, 9, 15, tzinfo=IST)


def make_bars(n: int = 120, seed: int = 3) -> list[Bar]:
    rng = random.Random(seed)
    bars, last = [], 1000.0
    for i in range(n):
        o = last
        c = round(o + rng.uniform(-3, 3), 2)
        high, low = round(max(o, c) + rng.uniform(0, 2), 2), round(min(o, c) - rng.uniform(0, 2), 2)
        bars.append(Bar(T0 + timedelta(minutes=i), o, high, low, c, rng.randint(1_000, 90_000)))
        last = c
    return bars


@pytest.fixture
def light(qapp: QApplication) -> Iterator[QApplication]:
    apply_theme(qapp, "light")
    yield qapp
    apply_theme(qapp, "light")


@pytest.fixture
def pane(qtbot: QtBot, light: QApplication) -> ChartPane:
    chart = ChartPane()
    qtbot.addWidget(chart)
    chart.resize(900, 480)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def scene_x(chart: ChartPane, x: float) -> float:
    return float(chart.plot.vb.mapViewToScene(QPointF(x, 0)).x())


def tag_scene_left(chart: ChartPane, name: str) -> float:
    rect = chart.price_axis.tag_rect(name)
    assert rect is not None, f"no {name} tag"
    return float(chart.price_axis.mapRectToScene(rect).left())


def test_the_price_axis_is_on_the_right_with_a_last_price_tag_coloured_up_or_down(
    pane: ChartPane, qtbot: QtBot
) -> None:
    bars = make_bars()
    pane.show_bars("RELIANCE-EQ", bars, "1min")
    qtbot.wait(1)  # one layout pass
    assert pane.price_axis.isVisible() and pane.price_axis.orientation == "right"
    assert not pane.plot.getAxis("left").isVisible()
    axis = pane.price_axis.mapRectToScene(pane.price_axis.rect())
    assert axis.left() >= pane.plot.vb.sceneBoundingRect().right() - 1
    last = bars[-1]
    pane.update_live(last.open + 5)  # closes above its open: the up colour
    tag = pane.price_axis.tags["last"]
    assert tag.value == last.open + 5 and tag.text == price(last.open + 5)
    assert tag.fill == pane.colours.up
    pane.update_live(last.open - 5)
    assert pane.price_axis.tags["last"].fill == pane.colours.down


def test_the_crosshair_readout_is_the_bars_ohlc_ema9_and_volume(pane: ChartPane) -> None:
    bars = make_bars()
    pane.show_bars("RELIANCE-EQ", bars, "1min")
    expected_ema = pd.Series([b.close for b in bars]).ewm(span=9, adjust=False).mean()
    i = 77
    pane.crosshair_at(i, 1001.5)
    bar, text = bars[i], pane.readout.text()
    change = (bar.close - bars[i - 1].close) / bars[i - 1].close * 100
    assert text.split("  ") == [
        clock(bar.time, seconds=False),
        f"O {price(bar.open)}",
        f"H {price(bar.high)}",
        f"L {price(bar.low)}",
        f"C {price(bar.close)}",
        percent(change),
        f"EMA9 {price(expected_ema[i])}",
        f"Vol {short_volume(bar.volume)}",
    ]
    assert pane.cross_v.isVisible() and pane.cross_v.value() == i
    assert pane.cross_vv.value() == i  # the same bar on the volume pane
    assert pane.price_axis.tags["cross"].text == price(1001.5)
    # the readout is a line of its own above the plot: it never covers a candle
    readout_bottom = pane.readout.mapTo(pane, QPoint(0, pane.readout.height())).y()
    assert pane.readout.isVisible() and readout_bottom <= pane.graphics.geometry().top()
    # the trader can select (and copy) it while the pointer is on it
    selectable = Qt.TextInteractionFlag.TextSelectableByMouse
    box, at = pane.readout.parentWidget(), QPointF(5, 5)
    assert box is not None
    QApplication.sendEvent(box, QEnterEvent(at, at, pane.readout.mapToGlobal(at)))
    assert pane.readout.textInteractionFlags() & selectable
    QApplication.sendEvent(box, QEvent(QEvent.Type.Leave))
    assert not pane.readout.textInteractionFlags() & selectable
    pane.hide_crosshair()
    assert not pane.cross_v.isVisible() and "cross" not in pane.price_axis.tags
    assert f"C {price(bars[-1].close)}" in pane.readout.text()  # back to the last bar


def test_a_mouse_move_over_the_plot_moves_the_crosshair(pane: ChartPane, qtbot: QtBot) -> None:
    bars = make_bars()
    pane.show_bars("RELIANCE-EQ", bars, "D")
    qtbot.wait(1)
    vb = pane.plot.vb
    target = vb.mapViewToScene(QPointF(40, (bars[40].high + bars[40].low) / 2))
    view_pos = pane.graphics.mapFromScene(target)
    qtbot.mouseMove(pane.graphics.viewport(), QPoint(view_pos.x(), view_pos.y()))
    qtbot.waitUntil(lambda: pane.cross_index == 40, timeout=2_000)
    assert bars[40].time.strftime("%d %b %y") in pane.readout.text()


def test_volume_has_one_bar_per_candle_and_follows_the_days_volume(pane: ChartPane) -> None:
    bars = make_bars(75)
    pane.show_bars("RELIANCE-EQ", bars, "D")
    assert pane.volume.count == len(bars) == 75
    assert pane.volume.boundingRect().height() == max(b.volume for b in bars)
    assert pane.volume.live is not None and pane.volume.live[0] == 74
    pane.update_live(bars[-1].close, day_volume=5_000_000)  # daily: the day's volume is the bar's
    assert pane.bars[-1].volume == 5_000_000 == pane.volume.boundingRect().height()
    minute = make_bars(30)
    pane.show_bars("RELIANCE-EQ", minute, "1min")
    start = minute[-1].volume
    pane.update_live(minute[-1].close, day_volume=1_000_000)  # the first quote: a baseline
    pane.update_live(minute[-1].close, day_volume=1_000_250)
    assert pane.bars[-1].volume == start + 250  # a minute bar grows by what traded since


def test_labels_sit_in_the_axis_right_of_the_last_candle_and_never_overlap(
    pane: ChartPane, qtbot: QtBot
) -> None:
    bars = make_bars()
    close = bars[-1].close
    pane.show_bars("RELIANCE-EQ", bars, "1min", daily_ema_yesterday=close + 4)
    pane.show_order(close + 3, [("2025-01-06T10:00:00+05:30", str(close + 8))])
    pane.show_guard(close - 10, close + 12)
    qtbot.wait(1)
    last_candle_right = scene_x(pane, len(bars) - 1 + BODY)
    names = ("last", "order", "stop", "target", "daily_ema")
    for name in names:
        assert tag_scene_left(pane, name) > last_candle_right, name
    assert pane.price_axis.tags["order"].text == f"SELL {price(close + 3)}"
    assert pane.price_axis.tags["stop"].text == f"SL {price(close - 10)}"
    assert pane.price_axis.tags["target"].text == f"TGT {price(close + 12)}"
    rects = [pane.price_axis.tag_rect(n) for n in names]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a is not None and b is not None and not a.intersects(b)
    # the order's moves are at their minute, not over the last candle
    xs, _ = pane.moves.getData()
    assert xs[0] == 45  # 10:00 is the 46th minute from 09:15


def test_the_minute_view_shows_the_daily_ema9_apart_from_the_minute_ema(pane: ChartPane) -> None:
    bars = make_bars()
    pane.show_bars("RELIANCE-EQ", bars, "1min", daily_ema_yesterday=1010.0)
    assert pane.daily_ema_line.isVisible()
    assert pane.daily_ema_line.value() == pytest.approx(ema_today(1010.0, bars[-1].close))
    assert pane.daily_ema_line.pen.style() != pane.ema_line.opts["pen"].style()
    assert pane.daily_ema_line.pen.color() != pane.ema_line.opts["pen"].color()
    assert "EMA9 daily" in pane.legend.text() and "EMA9 (1 min)" in pane.legend.text()
    pane.update_live(bars[-1].close + 20)
    assert pane.daily_ema == pytest.approx(ema_today(1010.0, bars[-1].close))
    assert pane.price_axis.tags["daily_ema"].value == pane.daily_ema
    pane.show_bars("RELIANCE-EQ", make_bars(), "D", daily_ema_yesterday=1010.0)
    assert not pane.daily_ema_line.isVisible() and "daily_ema" not in pane.price_axis.tags


def test_a_tick_in_a_new_minute_starts_a_new_bar_and_the_ema9_follows(pane: ChartPane) -> None:
    bars = make_bars(40)
    pane.show_bars("RELIANCE-EQ", list(bars), "1min")
    closes = [b.close for b in bars]
    last = bars[-1].time
    pane.update_live(closes[-1] + 1.5, day_volume=500_000, at=last + timedelta(seconds=50))
    closes[-1] += 1.5
    assert len(pane.bars) == 40 and pane.bars[-1].close == closes[-1]  # the same minute
    # the next minute's first tick (a quote stamped in UTC): a new candle at that price
    pane.update_live(
        1003.25, day_volume=500_400, at=(last + timedelta(minutes=1, seconds=2)).astimezone(UTC)
    )
    assert len(pane.bars) == 41
    new = pane.bars[-1]
    assert new.time == last + timedelta(minutes=1)
    assert (new.open, new.high, new.low, new.close, new.volume) == (1003.25,) * 4 + (400,)
    assert pane.bars[-2].close == closes[-1]  # the bar before it closed where it was
    assert pane.candles.count == pane.volume.count == 41 and pane.candles.live is not None
    assert pane.candles.live[0] == 40
    pane.update_live(1004.0, day_volume=500_450, at=last + timedelta(minutes=1, seconds=40))
    assert len(pane.bars) == 41
    assert (pane.bars[-1].open, pane.bars[-1].high, pane.bars[-1].close) == (1003.25, 1004, 1004)
    assert pane.bars[-1].volume == 450
    closes.append(1004.0)
    expected = pd.Series(closes).ewm(span=9, adjust=False).mean()
    assert pane.emas == pytest.approx(list(expected), abs=1e-9)
    assert pane.ema_live.b.y() == pytest.approx(expected.iloc[-1])
    assert f"C {price(1004.0)}" in pane.readout.text()
    # a late quote (stamped in the minute before) does not reopen a closed bar
    pane.update_live(1004.5, at=last + timedelta(seconds=59))
    assert len(pane.bars) == 41 and pane.bars[-1].close == 1004.5


def test_a_tick_on_a_new_day_starts_a_new_daily_bar(pane: ChartPane) -> None:
    days = [Bar(T0 + timedelta(days=i), *(1000.0 + i,) * 4, 10) for i in range(12)]
    pane.show_bars("RELIANCE-EQ", days, "D")
    pane.update_live(1020.0, at=T0 + timedelta(days=11, hours=5))
    assert len(pane.bars) == 12
    pane.update_live(1030.0, day_volume=70, at=T0 + timedelta(days=12, minutes=1))
    assert len(pane.bars) == 13 and pane.bars[-1].time.date() == (T0 + timedelta(days=12)).date()
    closes = [1000.0 + i for i in range(11)] + [1020.0, 1030.0]
    expected = pd.Series(closes).ewm(span=9, adjust=False).mean()
    assert pane.emas == pytest.approx(list(expected), abs=1e-9)


def test_the_pane_builds_a_step_at_a_time_and_ends_the_same(
    qtbot: QtBot, light: QApplication
) -> None:
    staged = ChartPane(build=False)
    qtbot.addWidget(staged)
    steps = 0
    for _ in staged.build_steps():
        steps += 1
        staged.setPalette(staged.palette())  # a theme switch mid-build is not an error
    assert steps >= 5 and staged.built
    staged.resize(900, 480)
    staged.show()
    qtbot.waitExposed(staged)
    staged.show_bars("RELIANCE-EQ", make_bars(), "1min", daily_ema_yesterday=1005.0)
    assert staged.plot.getAxis("right") is staged.price_axis
    assert staged.volume_plot.getAxis("bottom") is staged.time_axis
    for plot in (staged.plot, staged.volume_plot):  # only the right and the time axis show
        assert not plot.getAxis("left").isVisible() and not plot.getAxis("top").isVisible()
    assert not staged.plot.getAxis("bottom").isVisible() and staged.time_axis.isVisible()
    assert staged.plot.vb.menu is None  # no context menu built up front
    assert set(staged.price_axis.tags) == {"last", "daily_ema"}
    assert staged.colours.background == staged.palette().color(QPalette.ColorRole.Base)


def pixel(widget: QWidget, x: int, y: int) -> QColor:
    image: QImage = widget.grab().toImage()
    return image.pixelColor(x, y)


def text_extremes(widget: QWidget) -> tuple[int, int]:
    """The darkest and the lightest pixel's lightness over a widget: its ink and its paper."""
    image = widget.grab().toImage()
    values = [
        image.pixelColor(x, y).lightness()
        for x in range(0, image.width(), 2)
        for y in range(image.height())
    ]
    return min(values), max(values)


def test_the_chart_follows_the_theme_both_ways(
    pane: ChartPane, qtbot: QtBot, light: QApplication
) -> None:
    pane.show_bars("RELIANCE-EQ", make_bars(), "D")
    qtbot.wait(1)
    corner = pane.graphics.mapFromScene(pane.plot.vb.sceneBoundingRect().topLeft()) + QPoint(3, 3)

    def sample() -> tuple[QColor, QColor, tuple[int, int]]:
        return (
            pixel(pane.graphics, corner.x(), corner.y()),
            pane.price_axis.textPen().color(),
            text_extremes(pane.title),
        )

    bg, axis_text, (ink, paper) = sample()
    assert bg.lightness() > 200 and axis_text.lightness() < 100
    assert ink < 100 and paper > 200  # dark title text on a light window
    light_up = pane.colours.up
    apply_theme(light, "dark")
    qtbot.waitUntil(lambda: pane.colours.background.lightness() < 60, timeout=2_000)
    bg, axis_text, (ink, paper) = sample()
    assert bg == pane.palette().color(QPalette.ColorRole.Base) and bg.lightness() < 60
    assert axis_text.lightness() > 180
    assert paper > 180 and ink < 60  # the title: light text on a dark window, readable
    assert pane.colours.up != light_up  # candles, tags and lines re-coloured too
    assert pane.price_axis.tags["last"].fill in (pane.colours.up, pane.colours.down)
    apply_theme(light, "light")
    qtbot.waitUntil(lambda: pane.colours.background.lightness() > 200, timeout=2_000)
    bg, axis_text, _ = sample()
    assert bg.lightness() > 200 and axis_text.lightness() < 100


def test_the_monitors_daily_ema9_base_is_yesterdays_from_enough_closes() -> None:
    today = date(2025, 3, 10)
    closes = [100 + (i % 7) * 1.5 for i in range(MIN_CLOSES + 10)]
    days = [
        Candle(datetime(2024, 12, 1, tzinfo=IST) + timedelta(days=i), *(Decimal(str(c)),) * 4, 10)
        for i, c in enumerate(closes)
    ]
    today_bar = Candle(datetime(2025, 3, 10, tzinfo=IST), *(Decimal(999),) * 4, 10)
    expected = pd.Series(closes).ewm(span=9, adjust=False).mean().iloc[-1]
    assert daily_ema_base([*days, today_bar], today) == pytest.approx(expected)
    assert daily_ema_base(days[: MIN_CLOSES - 1], today) is None


def test_the_window_charts_the_daily_ema9_on_the_minute_view(
    window: MainWindow, qtbot: QtBot, run: Runner
) -> None:
    qtbot.waitUntil(lambda: window.charts.chart is not None, timeout=15_000)
    charts = window.charts
    charts.show_symbol("RELIANCE-EQ")
    chart: ChartPane = charts.chart
    qtbot.waitUntil(lambda: chart.symbol == "RELIANCE-EQ" and chart.view == "D", timeout=15_000)
    assert not chart.daily_ema_line.isVisible()
    assert chart.volume.count == len(chart.bars) and any(b.volume for b in chart.bars)
    qtbot.mouseClick(chart.minute, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: chart.view == "1min", timeout=15_000)
    engine = window.engine
    assert engine is not None
    inst = engine.instrument("RELIANCE")
    today = datetime.now(IST).date()
    days = run(engine.candles(inst, daily=True, start=today - timedelta(days=180), end=today))
    base = daily_ema_base(days, today)
    assert base is not None and chart.daily_ema_yesterday == pytest.approx(base)
    assert chart.daily_ema_line.isVisible()
    assert chart.daily_ema == pytest.approx(ema_today(base, chart.bars[-1].close))
    # a quote stamped in the minute after the last bar: the window's next chart tick starts
    # a new candle there
    n, last = len(chart.bars), chart.bars[-1].time
    ltp = Decimal(str(chart.bars[-1].close)) + 1
    at = max(last, datetime.now(IST)) + timedelta(minutes=1)
    quote = Quote(
        segment=inst.segment, token=inst.token, symbol=inst.trading_symbol, ltp=ltp, time=at
    )
    charts._on_quotes(QuotesUpdated((quote,)))
    charts._tick()  # the chart timer's slot, at once: no feed quote can come in between
    assert len(chart.bars) == n + 1
    assert chart.bars[-1].close == float(ltp) and chart.bars[-1].time > last
