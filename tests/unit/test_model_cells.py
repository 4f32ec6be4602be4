"""gui/models.py keeps every cell in Qt's own items: a repaint reads them without calling
Python (answering ~10 roles a cell from Python cost 10-17 ms a repaint of the positions pane).
What Python still decides: the text, the colour, the tooltip, the value a number sorts by."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal
from types import FrameType
from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QTableView
from pytestqt.qtbot import QtBot

from gui_trader.core.market_data import Quote
from gui_trader.core.portfolio import Position
from gui_trader.gui import theme
from gui_trader.gui.models import (
    KEY_ROLE,
    RIGHT,
    Column,
    KeyedTableModel,
    PositionsModel,
    SortProxy,
)

ALIGN, FONT, FG = (
    Qt.ItemDataRole.TextAlignmentRole,
    Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.ForegroundRole,
)


def position(token: str, buy: int, avg: str) -> Position:
    return Position(f"S{token}-EQ", "nse_cm", token, "CNC", buy, 0, Decimal(avg) * buy, Decimal(0))


def column(model: KeyedTableModel, title: str) -> int:
    return [c.title for c in model.columns].index(title)


def shown(proxy: QSortFilterProxyModel, title: str) -> list[str]:
    model = proxy.sourceModel()
    assert isinstance(model, KeyedTableModel)
    c = column(model, title)
    return [str(proxy.index(r, c).data()) for r in range(proxy.rowCount())]


def test_a_repaint_calls_no_python_in_the_models(qtbot: QtBot) -> None:
    model = PositionsModel()
    model.apply_positions([position(str(t), t, "100") for t in range(1, 30)])
    model.flush()
    proxy = SortProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.resize(900, 400)
    view.show()
    qtbot.waitExposed(view)
    calls: list[str] = []

    def spy(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.endswith("models.py"):
            calls.append(frame.f_code.co_name)

    sys.setprofile(spy)
    try:
        view.viewport().repaint()
    finally:
        sys.setprofile(None)
    assert calls == []


def test_cells_carry_text_alignment_font_colour_and_the_row_key(qapp: QApplication) -> None:
    model = PositionsModel()
    model.apply_positions([position("7", 10, "100")])
    model.apply_quotes([Quote("nse_cm", "7", "S7-EQ", Decimal("99.50"), Decimal(100))])
    model.flush()
    pnl = model.index(0, column(model, "P&L"))
    symbol = model.index(0, column(model, "Symbol"))
    assert pnl.data() == "-5.00"
    assert pnl.data(ALIGN) == RIGHT
    assert isinstance(pnl.data(FONT), QFont) and pnl.data(FONT) == model.mono
    assert pnl.data(FG) == theme.colour("loss")
    assert symbol.data() == "S7-EQ" and symbol.data(ALIGN) is None  # the view's default: left
    assert symbol.data(FONT) is None
    assert symbol.data(Qt.ItemDataRole.ToolTipRole) == "S7-EQ (CNC)"
    assert symbol.data(KEY_ROLE) == "nse_cm|7|CNC"
    model.apply_quotes([Quote("nse_cm", "7", "S7-EQ", Decimal("101.00"), Decimal(100))])
    model.flush()
    assert pnl.data() == "+10.00" and pnl.data(FG) == theme.colour("profit")


def test_numbers_sort_by_value_text_by_text_and_follow_the_ticks(qapp: QApplication) -> None:
    model = PositionsModel()
    proxy = SortProxy()
    proxy.setSourceModel(model)
    # P&L as text sorts "+10.00" before "+9.00"; by value 9 < 10
    model.apply_positions([position(t, 1, "100") for t in "12"] + [position("3", 1, "90")])
    model.apply_quotes(
        [
            Quote("nse_cm", "1", "S1-EQ", Decimal("109")),  # +9.00
            Quote("nse_cm", "2", "S2-EQ", Decimal("110")),  # +10.00
            Quote("nse_cm", "3", "S3-EQ", Decimal("80")),  # -10.00
        ]
    )
    model.flush()
    proxy.sort(column(model, "P&L"), Qt.SortOrder.AscendingOrder)
    assert shown(proxy, "P&L") == ["-10.00", "+9.00", "+10.00"]
    model.apply_quotes([Quote("nse_cm", "2", "S2-EQ", Decimal("50"))])  # -50.00: first now
    model.flush()
    assert shown(proxy, "P&L") == ["-50.00", "-10.00", "+9.00"]
    proxy.sort(column(model, "Symbol"), Qt.SortOrder.DescendingOrder)
    assert shown(proxy, "Symbol") == ["S3-EQ", "S2-EQ", "S1-EQ"]
    # rows that arrive while sorted take their place at once
    model.apply_positions([*(position(t, 1, "100") for t in "123"), position("0", 1, "100")])
    model.flush()
    assert shown(proxy, "Symbol") == ["S3-EQ", "S2-EQ", "S1-EQ", "S0-EQ"]


@dataclass(frozen=True)
class Note:
    name: str
    note: str = ""


class NoteModel(KeyedTableModel):
    columns = (Column("Name", lambda r: r.name, tooltip=lambda r: r.note or ""),)


def test_a_tooltip_from_the_row_follows_a_change_nothing_on_screen_shows(
    qapp: QApplication,
) -> None:
    model = NoteModel()
    model.upsert("a", Note("a", "first"))
    model.flush()
    changed: list[QModelIndex] = []
    model.dataChanged.connect(lambda tl, br, roles=None: changed.append(tl))
    model.upsert("a", Note("a", "second"))
    assert model.flush() == 0 and changed == []  # nothing to repaint
    assert model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole) == "second"


def test_a_book_that_changed_wholesale_leaves_in_runs_and_the_rest_stays_exact(
    qtbot: QtBot,
) -> None:
    """Rows going together leave in one removeRows per run of adjacent rows (one call per
    row cost O(n^2)); rows still waiting to be shown are never shown; what stays is exact."""
    model = PositionsModel()
    model.apply_positions([position(str(t), t, "100") for t in range(1, 41)])
    model.flush()
    proxy = SortProxy()
    proxy.setSourceModel(model)
    removals: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda _p, first, last: removals.append((first, last)))
    keep = {3, 4, 10, 25, 40}
    # Two new rows arrive in the same frame; one of them is gone again before it is shown.
    book = [position(str(t), t, "100") for t in sorted(keep)]
    model.apply_positions([*book, position("41", 41, "100"), position("42", 42, "100")])
    assert model.waiting() == 2
    model.apply_positions([*book, position("42", 42, "100")])
    model.flush()
    kept = sorted([*keep, 42])
    keys = model.keys()
    assert sorted(int(k.split("|")[1]) for k in keys) == kept
    symbol = column(model, "Symbol")
    assert (
        sorted(int(str(model.index(r, symbol).data())[1:-3]) for r in range(model.rowCount()))
        == kept
    )
    assert model.rowCount() == proxy.rowCount() == len(kept)
    # Rows 1-2, 5-9, 11-24 and 26-39 (0-based below), from the bottom up; 41 never came in.
    assert removals == [(25, 38), (10, 23), (4, 8), (0, 1)]
