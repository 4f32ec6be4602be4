"""gui/models.py: a frame's updates reach the view as few signals as possible.

Upserts only record what changed; `flush` (once per frame) inserts the frame's new rows in one
`rowsInserted`, then emits one `dataChanged` per contiguous run of rows whose text changed,
spanning just the changed columns. Every model runs under QAbstractItemModelTester, reporting
as Qt warnings that pytest-qt captures (the `model_ok` check fails the test on any).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from gui_trader.core.market_data import Quote
from gui_trader.core.portfolio import Position
from gui_trader.gui.models import (
    Column,
    KeyedTableModel,
    LogModel,
    LogRow,
    PositionsModel,
    WatchlistModel,
)

Index = QModelIndex | QPersistentModelIndex
Event = tuple[Any, ...]


@dataclass(frozen=True)
class Row:
    name: str
    a: int = 0
    b: int = 0
    note: str = ""  # not shown in any column: changing it changes nothing on screen


class Model(KeyedTableModel):
    columns = (
        Column("Name", lambda r: r.name),
        Column("A", lambda r: str(r.a), numeric=True),
        Column("B", lambda r: str(r.b), numeric=True),
    )


class Spy:
    """Every structural or data signal of one model, in the order emitted."""

    def __init__(self, model: QAbstractItemModel) -> None:
        self.events: list[Event] = []
        model.rowsInserted.connect(self._inserted)
        model.rowsRemoved.connect(self._removed)
        model.dataChanged.connect(self._changed)
        model.modelReset.connect(self._reset)
        model.layoutChanged.connect(self._layout)

    def _inserted(self, parent: Index, first: int, last: int) -> None:
        self.events.append(("inserted", first, last))

    def _removed(self, parent: Index, first: int, last: int) -> None:
        self.events.append(("removed", first, last))

    def _changed(self, top_left: Index, bottom_right: Index, roles: object = None) -> None:
        self.events.append(
            (
                "changed",
                (top_left.row(), top_left.column()),
                (bottom_right.row(), bottom_right.column()),
            )
        )

    def _reset(self) -> None:
        self.events.append(("reset",))

    def _layout(self, *args: object) -> None:
        self.events.append(("layout",))

    def take(self) -> list[Event]:
        events, self.events = self.events, []
        return events


@pytest.fixture
def model_ok(qtbot: QtBot, qtlog: Any) -> Iterator[Callable[[QAbstractItemModel], Spy]]:
    """Put a model under the tester and a spy; after the test, no tester complaint allowed."""

    def watch(model: QAbstractItemModel) -> Spy:
        # parented to the model: Qt destroys both together
        QAbstractItemModelTester(
            model, QAbstractItemModelTester.FailureReportingMode.Warning, model
        )
        return Spy(model)

    yield watch
    complaints = [r.message for r in qtlog.records if r.message.startswith("FAIL!")]
    assert complaints == []


def texts(model: QAbstractItemModel) -> list[list[str]]:
    return [
        [str(model.index(r, c).data()) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


def filled(n: int) -> Model:
    model = Model()
    for i in range(n):
        model.upsert(f"k{i}", Row(f"k{i}"))
    model.flush()
    return model


# ------------------------------------------------------------------------------- new rows
def test_new_rows_wait_for_the_flush_and_arrive_in_one_insert(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = Model()
    spy = model_ok(model)
    for i in range(50):
        model.upsert(f"k{i}", Row(f"k{i}", i))
    model.upsert("k3", Row("k3", 333))  # updated again before it was ever shown
    assert model.rowCount() == 0 and spy.take() == []
    assert len(model.keys()) == 50  # known, not yet shown
    assert model.flush() == 0  # no dataChanged for rows that are new
    assert spy.take() == [("inserted", 0, 49)]
    assert model.rowCount() == 50
    assert texts(model)[3] == ["k3", "333", "0"]
    assert model.flush() == 0 and spy.take() == []  # a second flush has nothing to say


def test_new_rows_go_after_the_existing_ones(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = filled(3)
    spy = model_ok(model)
    model.upsert("new1", Row("new1"))
    model.upsert("k1", Row("k1", 5))
    model.upsert("new2", Row("new2"))
    assert model.flush() == 1
    assert spy.take() == [("inserted", 3, 4), ("changed", (1, 1), (1, 1))]
    assert [t[0] for t in texts(model)] == ["k0", "k1", "k2", "new1", "new2"]


# ------------------------------------------------------------------------------- changes
def test_a_burst_on_every_row_is_one_change_signal(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = filled(10)
    spy = model_ok(model)
    for round_ in range(1, 101):
        for i in range(10):
            model.upsert(f"k{i}", Row(f"k{i}", round_, round_))
    assert spy.take() == []  # nothing until the frame's flush
    assert model.flush() == 1
    assert spy.take() == [("changed", (0, 1), (9, 2))]
    assert texts(model)[9] == ["k9", "100", "100"]


def test_one_change_signal_per_run_of_touched_rows(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = filled(10)
    spy = model_ok(model)
    for i in (1, 2, 3, 6, 8, 9):
        model.upsert(f"k{i}", Row(f"k{i}", a=1) if i != 3 else Row("k3", b=1))
    assert model.flush() == 3
    assert spy.take() == [
        ("changed", (1, 1), (3, 2)),  # rows 1-3: column A on 1-2, B on 3
        ("changed", (6, 1), (6, 1)),
        ("changed", (8, 1), (9, 1)),
    ]


def test_unchanged_rows_are_skipped(model_ok: Callable[[QAbstractItemModel], Spy]) -> None:
    model = filled(5)
    spy = model_ok(model)
    model.upsert("k0", Row("k0"))  # the same data
    model.upsert("k1", Row("k1", note="hidden"))  # new data, same text on screen
    model.upsert("k3", Row("k3", a=7))
    assert model.flush() == 1
    assert spy.take() == [("changed", (3, 1), (3, 1))]
    assert model.row("k1") == Row("k1", note="hidden")  # the data is kept all the same


def test_nothing_pending_emits_nothing(model_ok: Callable[[QAbstractItemModel], Spy]) -> None:
    model = filled(5)
    spy = model_ok(model)
    assert model.flush() == 0
    assert spy.take() == []


@st.composite
def frames(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """Upserts in one frame: (key 0-14, a, b); keys 0-9 exist already, 10-14 are new."""
    return draw(
        st.lists(
            st.tuples(st.integers(0, 14), st.integers(0, 2), st.integers(0, 2)),
            max_size=60,
        )
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=frames())
def test_any_frame_is_one_insert_and_one_change_per_run(
    qtbot: QtBot, ops: list[tuple[int, int, int]]
) -> None:
    model = filled(10)
    spy = Spy(model)
    shown = {f"k{i}": ("0", "0") for i in range(10)}
    dirty: dict[int, tuple[int, int]] = {}  # row -> (first, last) changed column
    new_keys: list[str] = []
    final = dict(shown)
    for k, a, b in ops:
        key = f"k{k}"
        model.upsert(key, Row(key, a, b))
        cells = (str(a), str(b))
        if k >= 10:
            if key not in new_keys:
                new_keys.append(key)
        else:
            changed = [c + 1 for c in range(2) if cells[c] != final[key][c]]
            if changed:
                lo, hi = dirty.get(k, (changed[0], changed[-1]))
                dirty[k] = (min(lo, changed[0]), max(hi, changed[-1]))
        final[key] = cells
    expected: list[Event] = []
    if new_keys:
        expected.append(("inserted", 10, 9 + len(new_keys)))
    rows = sorted(dirty)
    runs: list[list[int]] = []
    for r in rows:
        if runs and r == runs[-1][-1] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    for run in runs:
        lo = min(dirty[r][0] for r in run)
        hi = max(dirty[r][1] for r in run)
        expected.append(("changed", (run[0], lo), (run[-1], hi)))
    assert model.flush() == len(runs)
    assert spy.take() == expected
    assert [t[0] for t in texts(model)] == [f"k{i}" for i in range(10)] + new_keys
    assert {t[0]: (t[1], t[2]) for t in texts(model)} == final


# ------------------------------------------------------------------------------- removal
def test_remove_shows_pending_rows_first_then_removes_one(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = filled(3)
    spy = model_ok(model)
    model.upsert("k3", Row("k3"))
    model.remove("k1")
    assert spy.take() == [("inserted", 3, 3), ("removed", 1, 1)]
    assert [t[0] for t in texts(model)] == ["k0", "k2", "k3"]
    model.upsert("k3", Row("k3", 9))  # positions re-indexed: k3 is row 2 now
    assert model.flush() == 1
    assert spy.take() == [("changed", (2, 1), (2, 1))]
    model.remove("nope")
    assert spy.take() == []


def test_clear_is_one_reset(model_ok: Callable[[QAbstractItemModel], Spy]) -> None:
    model = filled(4)
    spy = model_ok(model)
    model.upsert("k9", Row("k9"))
    model.upsert("k0", Row("k0", 1))
    model.clear()
    assert spy.take() == [("reset",)]
    assert model.rowCount() == 0 and model.keys() == []
    assert model.flush() == 0 and spy.take() == []  # nothing left over from before the clear


# ------------------------------------------------------------------------------- the real models
def test_watchlist_quotes_coalesce(model_ok: Callable[[QAbstractItemModel], Spy]) -> None:
    model = WatchlistModel()
    spy = model_ok(model)
    keys = [f"nse_cm|{t}" for t in (11, 12, 13, 14, 15)]
    for i, key in enumerate(keys):
        model.add(f"SYM{i}-EQ", key)
    model.flush()
    assert spy.take() == [("inserted", 0, 4)]
    for i in range(100):
        model.apply_quotes([Quote("nse_cm", k.split("|")[1], k, Decimal(100 + i)) for k in keys])
    assert model.flush() == 1
    assert spy.take() == [("changed", (0, 1), (4, 3))]  # LTP, Chg, Chg %: one signal
    assert [t[1] for t in texts(model)] == ["199.00"] * 5
    model.apply_quotes([Quote("nse_cm", "13", keys[2], Decimal(199))])  # the same quote
    model.apply_quotes([Quote("nse_cm", "99", "nse_cm|99", Decimal(5))])  # not watched
    assert model.flush() == 0 and spy.take() == []


def test_positions_that_close_out_of_the_book_are_removed(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = PositionsModel()
    spy = model_ok(model)

    def pos(token: str, buy: int) -> Position:
        return Position(
            f"S{token}-EQ", "nse_cm", token, "CNC", buy, 0, Decimal(buy * 10), Decimal(0)
        )

    model.apply_positions([pos("1", 1), pos("2", 2), pos("3", 3)])
    model.flush()
    assert spy.take() == [("inserted", 0, 2)]
    model.apply_positions([pos("1", 1), pos("3", 4)])  # S2 closed out, S3 bought more
    # a removal shifts rows, so the changes made before it are emitted first, by their old row
    assert spy.take() == [("changed", (2, 2), (2, 10)), ("removed", 1, 1)]
    assert model.flush() == 0 and spy.take() == []
    assert [t[0] for t in texts(model)] == ["S1-EQ", "S3-EQ"]
    model.apply_quotes([Quote("nse_cm", "1", "nse_cm|1", Decimal(12), Decimal(11))])
    assert model.flush() == 1
    assert spy.take() == [("changed", (0, 6), (0, 10))]  # LTP, day %, unrealised, P&L of S1


def test_the_log_is_trimmed_in_chunks(model_ok: Callable[[QAbstractItemModel], Spy]) -> None:
    model = LogModel(cap=10)
    spy = model_ok(model)
    at = datetime(2026, 12, 1, 9, 15)
    for i in range(11):
        model.append(LogRow("INFO", at, "test", f"line {i}"))
    model.flush()
    assert spy.take() == [("inserted", 0, 10)]  # up to cap + 10 % before a trim
    model.append(LogRow("INFO", at, "test", "line 11"))  # the 12th line: trim to the cap
    assert spy.take() == [("inserted", 11, 11), ("removed", 0, 1)]
    assert model.rowCount() == 10
    assert [t[3] for t in texts(model)] == [f"line {i}" for i in range(2, 12)]
