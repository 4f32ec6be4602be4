"""gui/models.py: a frame's updates reach the view as few signals as possible.

Upserts only record what changed; `flush` (once per frame) inserts the frame's new rows in one
`rowsInserted`, then emits one `dataChanged` per contiguous run of rows whose text changed,
spanning just the changed columns. Every model runs under QAbstractItemModelTester, reporting
as Qt warnings that pytest-qt captures (the `model_ok` check fails the test on any).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
    QuoteBacklog,
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
def test_remove_leaves_pending_rows_waiting_and_removes_one(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = filled(3)
    spy = model_ok(model)
    model.upsert("k3", Row("k3"))
    model.remove("k1")
    assert spy.take() == [("removed", 1, 1)]  # k3 is not shown yet: it waits for the flush
    model.flush()
    assert spy.take() == [("inserted", 2, 2)]
    assert [t[0] for t in texts(model)] == ["k0", "k2", "k3"]
    model.upsert("k3", Row("k3", 9))  # positions re-indexed: k3 is row 2 now
    assert model.flush() == 1
    assert spy.take() == [("changed", (2, 1), (2, 1))]
    model.remove("nope")
    assert spy.take() == []


def test_a_row_removed_before_it_was_shown_is_never_shown(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = filled(2)
    spy = model_ok(model)
    model.upsert("gone", Row("gone"))
    model.upsert("kept", Row("kept"))
    model.remove("gone")
    assert spy.take() == [] and model.keys() == ["k0", "k1", "kept"]
    model.flush()
    assert spy.take() == [("inserted", 2, 2)]
    assert [t[0] for t in texts(model)] == ["k0", "k1", "kept"]


def test_a_big_book_is_shown_a_frame_at_a_time_and_whole_in_the_end(
    model_ok: Callable[[QAbstractItemModel], Spy],
) -> None:
    model = Model()
    spy = model_ok(model)
    for i in range(150):
        model.upsert(f"k{i}", Row(f"k{i}", i))
    model.upsert("k0", Row("k0", 7))  # changed while waiting: shown as it is now
    assert model.waiting()
    model.flush(64)
    model.flush(64)
    assert model.waiting()
    model.flush(64)
    assert not model.waiting()
    assert spy.take() == [("inserted", 0, 63), ("inserted", 64, 127), ("inserted", 128, 149)]
    assert texts(model)[0] == ["k0", "7", "0"]
    assert [t[1] for t in texts(model)[1:]] == [str(i) for i in range(1, 150)]


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


# ------------------------------------------------------------------------------- at the limit
def test_a_long_run_is_signalled_in_blocks(model_ok: Callable[[QAbstractItemModel], Spy]) -> None:
    """Qt's table repaints its whole viewport on a dataChanged over many rows, in view or not:
    a long run goes out in blocks, so rows scrolled away repaint nothing."""
    model = filled(100)
    spy = model_ok(model)
    for i in range(100):
        model.upsert(f"k{i}", Row(f"k{i}", a=1))
    most = model.ROWS_PER_SIGNAL
    assert model.flush() == 4
    assert spy.take() == [
        ("changed", (0, 1), (most - 1, 1)),
        ("changed", (most, 1), (2 * most - 1, 1)),
        ("changed", (2 * most, 1), (3 * most - 1, 1)),
        ("changed", (3 * most, 1), (99, 1)),
    ]
    assert {t[1] for t in texts(model)} == {"1"}


def position(token: str, buy: int, sell: int = 0) -> Position:
    return Position(
        f"S{token}-EQ", "nse_cm", token, "CNC", buy, sell, Decimal(buy * 10), Decimal(sell * 11)
    )


def test_a_quote_reformats_the_price_columns_to_what_a_full_format_gives() -> None:
    """Only LTP, day %, unrealised and P&L are formatted again on a tick; the row reads the
    same as one formatted whole from the same position and quote."""
    ticked, fresh = PositionsModel(), PositionsModel()
    book = [position("1", 5, 2), position("2", 3)]
    ticked.apply_positions(book)
    ticked.flush()
    quotes = [
        Quote("nse_cm", "1", "nse_cm|1", Decimal("12.35"), Decimal("11.10")),
        Quote("nse_cm", "2", "nse_cm|2", Decimal("9.05"), Decimal("9.50")),
    ]
    ticked.apply_quotes(quotes)
    ticked.flush()
    fresh.apply_quotes(quotes)
    fresh.apply_positions(book)
    fresh.flush()
    assert texts(ticked) == texts(fresh)
    assert texts(ticked)[0][6] == "12.35"  # the tick is shown


def test_formatted_text_is_remembered_by_value_type_and_grouping() -> None:
    """A float and a Decimal can be equal yet round apart at a half; a grouping switch shows."""
    from gui_trader.core import display
    from gui_trader.gui.models import money

    half = 2.675  # the binary value is just under 2.675: the Decimal of it rounds down
    assert money(Decimal(half)) == display.amount(Decimal(half)) == "2.67"
    assert money(half) == display.amount(half) == "2.68"
    before = display.grouping()
    try:
        display.set_grouping("indian")
        assert money(Decimal(1234567)) == "12,34,567.00"
        display.set_grouping("international")
        assert money(Decimal(1234567)) == "1,234,567.00"
    finally:
        display.set_grouping(before)


class Sink:
    def __init__(self) -> None:
        self.seen: list[list[Quote]] = []

    def apply_quotes(self, quotes: Sequence[Quote]) -> None:
        self.seen.append(list(quotes))


def quote(token: int, ltp: int) -> Quote:
    return Quote("nse_cm", str(token), f"nse_cm|{token}", Decimal(ltp))


def test_the_backlog_keeps_the_latest_quote_of_each_instrument() -> None:
    sink = Sink()
    backlog = QuoteBacklog([sink])
    backlog.add([quote(1, 10), quote(2, 20)])
    backlog.add([quote(1, 11), quote(3, 30)])
    assert len(backlog) == 3
    assert backlog.apply(until=float("inf")) == 3
    assert [(q.token, int(q.ltp)) for q in sink.seen[0]] == [("1", 11), ("2", 20), ("3", 30)]
    assert len(backlog) == 0 and backlog.apply(until=float("inf")) == 0


def test_the_backlog_stops_at_the_frame_budget_and_carries_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the deadline only the floor is applied; the rest waits, in order, for later frames."""
    sink = Sink()
    backlog = QuoteBacklog([sink])
    now = [0.0]
    monkeypatch.setattr(backlog, "clock", lambda: now[0])
    n = backlog.FLOOR + 3 * backlog.CHUNK + 5
    backlog.add(quote(i, i) for i in range(n))
    until = backlog.deadline()
    now[0] = until + 1  # the frame's budget is already spent
    assert backlog.apply(until) == backlog.FLOOR
    assert len(backlog) == n - backlog.FLOOR
    now[0] = 0.0  # a fresh frame with time to spare: everything left goes
    assert backlog.apply(backlog.deadline()) == n - backlog.FLOOR
    applied = [int(q.token) for chunk in sink.seen for q in chunk]
    assert applied == list(range(n))
    assert max(len(chunk) for chunk in sink.seen) <= backlog.CHUNK
