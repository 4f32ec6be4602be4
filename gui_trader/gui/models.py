"""Table models fed by engine events, repainting at most once per frame.

Each model keeps rows by key and the formatted cells of each row. `upsert` marks only the cells
whose text changed; `flush` (called once per frame by the window's drain timer) emits one
`dataChanged` per run of touched rows. Rows are never rebuilt wholesale.

Every figure is formatted by core/display.py (lakh/crore grouping by default, always two
decimals) and every time by display.clock (IST, with the date when not today). The cells
live in Qt's items, so a repaint calls no Python; a theme switch recolours them (theme.follow)
without reformatting.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFontDatabase, QStandardItem, QStandardItemModel

from gui_trader.core import display
from gui_trader.core.market_data import Quote
from gui_trader.core.order import Order, OrderStatus
from gui_trader.core.portfolio import Holding, Position
from gui_trader.engine.events import ProtectionView
from gui_trader.gui import theme

if TYPE_CHECKING:
    from gui_trader.config import Config

Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_SORT = int(SORT_ROLE)
_KEY = int(KEY_ROLE)
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
CENT = Decimal("0.01")
STATUS_COLOURS = {
    OrderStatus.COMPLETE: "profit",
    OrderStatus.REJECTED: "loss",
    OrderStatus.CANCELLED: "muted",
    OrderStatus.UNKNOWN: "warn",
}


# A cell's text depends only on its value, the value's type (a float and a Decimal can be
# equal yet round differently at a half) and the grouping in force. A tick reformats every
# cell of a row and most come out as before, so each formatter remembers its recent answers.
MEMO_SIZE = 20_000


def _memo(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    cache: dict[tuple[object, type, str], str] = {}

    def cached(value: Any) -> str:
        key = (value, type(value), display.grouping())
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # unhashable (a signalling NaN): format it every time
            return fn(value)
        text = fn(value)
        if len(cache) >= MEMO_SIZE:
            cache.clear()  # a day's distinct prices fit; a cleared cache only costs time
        cache[key] = text
        return text

    cached.__doc__ = fn.__doc__
    return cached


@_memo
def money(value: Decimal | None) -> str:
    """A price or an amount as an Indian trader reads it: "5,85,25,354.58"; None -> ""."""
    return display.amount(value)


@_memo
def _level(value: Decimal | None) -> str:
    return display.price(value)


@_memo
def signed(value: Decimal | None) -> str:
    """A gain or loss: "+5,354.00", "-1,536.50"."""
    return display.amount(value, sign=True)


@_memo
def qty(value: int) -> str:
    return display.quantity(value)


@_memo
def pct(value: Decimal | None) -> str:
    """A signed percentage, "+1.25%"; None (no reference price) -> ""."""
    return display.percent(value)


def apply_number_grouping(config: Config) -> str:
    """The `number_grouping` setting ("indian", the default, or "international") for every
    figure shown. Call it before the first row is formatted: cells are cached as text."""
    return display.set_grouping(str(config.extra.get("number_grouping", "indian")))


@dataclass(frozen=True)
class Column:
    title: str
    text: Callable[[Any], str]
    sort: Callable[[Any], Any] | None = None
    numeric: bool = False
    colour: Callable[[Any], QColor | None] | None = None
    tip: str = ""
    # The most a column fitted to its content takes, in pixels (longer text elides in the
    # middle and its tooltip shows it whole); 0 = no cap.
    width: int = 0
    tooltip: Callable[[Any], str] | None = None  # a cell's tooltip (default: long text's text)
    # Hidden when the view is too narrow for every column, the highest first (equal values
    # go together); 0 = always shown.
    drop: int = 0
    # Cut in the middle when too long: a symbol's end (strike, CE / PE) is what tells two
    # contracts apart. Other text is cut at its end.
    elide_middle: bool = False


def sign_colour(value: Decimal | None) -> QColor | None:
    """Profit green, loss red, in the theme in force (a theme switch recolours the cells)."""
    if value is None or value == 0:
        return None
    return theme.shared_colour("profit" if value > 0 else "loss")


def status_colour(status: OrderStatus) -> QColor | None:
    name = STATUS_COLOURS.get(status)
    return None if name is None else theme.shared_colour(name)


def _pct_of(change: Decimal, base: Decimal) -> Decimal | None:
    return None if not base else (change * 100 / base).quantize(CENT)


# New rows all the tables of a frame show at most: each costs 0.05-0.3 ms to put into Qt's
# items, so a burst's orders and log lines, or a book of hundreds, arrive over a few frames
# rather than in one stall.
NEW_ROWS_PER_FRAME = 16


class _Cells:
    """One row's cells, each index made when first asked for."""

    __slots__ = ("at", "got", "model")

    def __init__(self, model: QStandardItemModel, at: int) -> None:
        self.model, self.at = model, at
        self.got: dict[int, QModelIndex] = {}

    def __getitem__(self, column: int) -> QModelIndex:
        cell = self.got.get(column)
        if cell is None:
            cell = self.got[column] = self.model.index(self.at, column)
        return cell


class KeyedTableModel(QStandardItemModel):
    """Rows identified by a key; cells cached as text; changes batched per frame.

    The cells live in Qt's own items: a repaint asks about ten roles of every visible cell,
    and answering them from Python cost 10-12 ms a repaint of the positions pane (from Qt's
    items: 4 ms, nearly all of it Qt drawing the text). Python keeps the rows and their texts;
    `flush` writes what changed into the items with the model's signals held, then emits one
    dataChanged per run of rows.
    """

    columns: Sequence[Column] = ()
    # Tooltips worked out from the whole row (not the cell's text) are refreshed whenever the
    # row changes, on screen or not; a model whose every column does so sets this.
    ROW_TIPS_EVERYWHERE = False

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(0, len(self.columns), parent)
        self._keys: list[str] = []
        self._pos: dict[str, int] = {}
        self._rows: dict[str, Any] = {}
        self._cells: dict[str, list[str]] = {}
        self._colours: dict[str, list[QColor | None]] = {}
        # key -> (columns whose text changed, the whole row changed)
        self._dirty: dict[str, tuple[set[int], bool]] = {}
        self._pending: list[str] = []  # new rows, inserted together at the frame's flush
        self._inserting = False
        self.mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        # Qt makes each cell's item from this prototype on its first write: Python never makes
        # an item itself. (An item made in Python and handed to the model keeps a wrapper that
        # outlives the item once Qt deletes the row; a later object at the same address was
        # taken for it and crashed the process.)
        proto = QStandardItem()
        proto.setFlags(
            Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemNeverHasChildren
        )
        # Most columns of a book are numbers: then the prototype is a number's cell (right,
        # fixed pitch) and the few text cells are set back to the view's default.
        numeric = [c.numeric for c in self.columns]
        by_default = sum(numeric) * 2 > len(numeric)
        if by_default:
            proto.setTextAlignment(RIGHT)
            proto.setFont(self.mono)
        self.setItemPrototype(proto)
        # per cell of a new row: (column, alignment, font) unlike the prototype's
        self._unlike = tuple(
            (i, RIGHT, self.mono) if n else (i, None, None)
            for i, n in enumerate(numeric)
            if n != by_default
        )
        n = range(len(self.columns))
        self._coloured = tuple(i for i in n if self.columns[i].colour is not None)
        self._row_tips = tuple(
            i for i in n if self.ROW_TIPS_EVERYWHERE or self.columns[i].tooltip is not None
        )
        # the columns that can have a tooltip at all (a number's cell has none of its own)
        self._tipped = tuple(i for i in n if i in self._row_tips or not self.columns[i].numeric)
        self._sorted_by_row = tuple(i for i in n if self.columns[i].sort is not None)
        self.sorted_by: int | None = None  # the number column a view sorts by (sort_by)
        # First connected, so it runs before any proxy or view hears of the new rows: they
        # see them filled, in one rowsInserted.
        self.rowsInserted.connect(self._fill_inserted)
        theme.follow(self)

    # ---------------------------------------------------------------- Qt interface
    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        col = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return RIGHT if col.numeric else LEFT
        if role == Qt.ItemDataRole.ToolTipRole and col.tip:
            return col.tip
        return None

    # ---------------------------------------------------------------- cells
    def tooltip_of(self, row: Any, column: int, text: str) -> str | None:
        """A cell's tooltip: the column's own, else long text (it may be elided)."""
        col = self.columns[column]
        if col.tooltip is not None:
            return col.tooltip(row) or None
        return text if not col.numeric and len(text) > 12 else None

    def _sort_value(self, column: int, row: Any) -> Any:
        value = self.columns[column].sort(row)  # type: ignore[misc]
        return float(value) if isinstance(value, Decimal) else value

    def _write(
        self,
        key: str,
        texts: Sequence[int],
        whole: bool,
        cell: _Cells | list[QModelIndex],
        *,
        fresh: bool = False,
    ) -> tuple[int, int] | None:
        """Put a row's changed cells into Qt's items (signals held by the caller); the span of
        columns that look different, or None. `whole`: the row changed, not only `texts`
        (a quote's update names its columns, and nothing else of the row moved); `fresh`: a
        new row, whose cells hold nothing to clear."""
        row, cells, put = self._rows[key], self._cells[key], self.setData
        tipped, by = self._tipped, self.sorted_by
        for i in texts:
            if cells[i] or not fresh:
                put(cell[i], cells[i], _DISPLAY)
        if whole:
            for i in tipped:
                tip = self.tooltip_of(row, i, cells[i])
                if tip is not None or not fresh:
                    put(cell[i], tip, _TOOLTIP)
            coloured: Iterable[int] = self._coloured
        else:
            for i in texts:
                if i in tipped:
                    put(cell[i], self.tooltip_of(row, i, cells[i]), _TOOLTIP)
            coloured = [i for i in self._coloured if i in texts]
        if by is not None and (whole or by in texts):
            put(cell[by], self._sort_value(by, row), _SORT)
        lo, hi = (min(texts), max(texts)) if texts else (-1, -1)
        colours, columns = self._colours[key], self.columns
        for i in coloured:
            colour = columns[i].colour(row)  # type: ignore[misc]
            was = colours[i]
            if colour is not was and colour != was:  # theme colours are shared objects
                colours[i] = colour
                put(cell[i], colour, _FOREGROUND)
                lo = i if lo < 0 else min(lo, i)
                hi = max(hi, i)
        return None if lo < 0 else (lo, hi)

    def sort_by(self, column: int | None) -> None:
        """Keep the values of this column (a number column the view sorts by) in its cells'
        SORT_ROLE; only the sorted column's are kept up to date, the others are not read."""
        column = column if column is not None and column in self._sorted_by_row else None
        if column == self.sorted_by:
            return
        self.sorted_by = column
        if column is None:
            return
        held = self.blockSignals(True)
        try:
            rows, value = self._rows, self._sort_value
            for at, key in enumerate(self._keys):
                self.setData(self.index(at, column), value(column, rows[key]), _SORT)
        finally:
            self.blockSignals(held)

    def _fill_inserted(self, parent: Index, first: int, last: int) -> None:
        """The frame's new rows get their items before anyone else hears of them."""
        if not self._inserting:
            return
        held = self.blockSignals(True)
        try:
            index, put, unlike = self.index, self.setData, self._unlike
            n = range(len(self.columns))
            for at in range(first, last + 1):
                key = self._keys[at]
                cell = [index(at, i) for i in n]
                put(cell[0], key, _KEY)  # a row's key is read from its first cell
                for i, align, font in unlike:  # None: the view's default (left, its font)
                    put(cell[i], align, _ALIGN)
                    put(cell[i], font, _FONT)
                self._colours[key] = [None] * len(cell)
                self._write(key, n, True, cell, fresh=True)
        finally:
            self.blockSignals(held)

    def recolour(self) -> None:
        """After a theme switch: every coloured cell in the new theme's colours."""
        if not self._coloured or not self._keys:
            return
        held = self.blockSignals(True)
        try:
            for at, key in enumerate(self._keys):
                colours, row = self._colours[key], self._rows[key]
                for i in self._coloured:
                    colours[i] = self.columns[i].colour(row)  # type: ignore[misc]
                    self.setData(self.index(at, i), colours[i], _FOREGROUND)
        finally:
            self.blockSignals(held)
        last = len(self._keys) - 1
        self.dataChanged.emit(
            self.index(0, self._coloured[0]), self.index(last, self._coloured[-1])
        )

    # ---------------------------------------------------------------- updates
    def _format(self, row: Any) -> list[str]:
        return [c.text(row) for c in self.columns]

    def upsert(self, key: str, row: Any, only: Sequence[int] | None = None) -> None:
        """`only`: the caller knows the rest of the row is unchanged (a quote moved the
        price columns): just these cells are formatted again."""
        rows = self._rows
        if key not in self._pos:  # not shown yet: formatted when its frame shows it
            if key not in rows:  # a new row: inserted with the frame's other new rows
                self._pending.append(key)
            rows[key] = row
            return
        if rows[key] == row:
            return  # same data: nothing to format, nothing to repaint
        old = self._cells[key]
        if only is not None:
            cells = old.copy()
            columns = self.columns
            for i in only:
                cells[i] = columns[i].text(row)
        else:
            cells = self._format(row)
        rows[key] = row
        self._cells[key] = cells
        changed, whole = self._dirty.get(key, (set(), False))
        changed.update(i for i, (a, b) in enumerate(zip(old, cells, strict=True)) if a != b)
        self._dirty[key] = (changed, whole or only is None)

    def _insert_pending(self, most: int | None = None) -> None:
        if not self._pending:
            return
        n = len(self._keys)
        new = self._pending[:most] if most is not None else self._pending
        if not new:
            return
        rows, cells = self._rows, self._cells
        for i, key in enumerate(new, start=n):
            self._keys.append(key)
            self._pos[key] = i
            cells[key] = self._format(rows[key])
        count = len(new)
        del self._pending[:count]
        self._inserting = True
        try:
            self.insertRows(n, count)
        finally:
            self._inserting = False

    def _forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            del self._rows[key]
            self._cells.pop(key, None)  # none yet for a row never shown
            self._colours.pop(key, None)
            self._dirty.pop(key, None)

    def remove(self, key: str) -> None:
        """The frame's changes go out first (by the rows they were made on); rows not shown
        yet stay waiting, and one of them removed is simply never shown."""
        self.remove_many((key,))

    def remove_many(self, keys: Iterable[str]) -> None:
        """As `remove`, for many rows at once: each run of adjacent rows goes in one
        `removeRows` (a book that changed wholesale: one per row was O(n^2) in Python and
        in the views)."""
        gone = {k for k in keys if k in self._rows}
        if not gone:
            return
        if self._pending:
            waiting = [k for k in self._pending if k in gone]
            if waiting:
                self._pending = [k for k in self._pending if k not in gone]
                self._forget(waiting)
                gone.difference_update(waiting)
        if not gone:
            return
        self.flush(0)
        at = sorted((self._pos[k] for k in gone), reverse=True)
        end = 0
        while end < len(at):  # runs of adjacent rows, from the bottom up
            start = end
            while end + 1 < len(at) and at[end + 1] == at[end] - 1:
                end += 1
            first, count = at[end], end - start + 1
            self.removeRows(first, count)
            self._forget(self._keys[first : first + count])
            del self._keys[first : first + count]
            end += 1
        self._pos = {k: i for i, k in enumerate(self._keys)}

    def remove_first(self, count: int) -> None:
        if count <= 0:
            return
        self.flush()
        self.removeRows(0, count)
        self._forget(self._keys[:count])
        del self._keys[:count]
        self._pos = {k: i for i, k in enumerate(self._keys)}

    # A dataChanged over many rows makes Qt's table repaint its whole viewport, even when
    # none of them is in view; runs of at most this many rows repaint only what shows.
    ROWS_PER_SIGNAL = 32

    def waiting(self) -> int:
        """New rows not shown yet (a frame's flush showed its share)."""
        return len(self._pending)

    def flush(self, most_new: int | None = None) -> int:
        """Emit the frame's changes: new rows in one insert (at most `most_new`; the rest wait
        for the next flush), then one dataChanged per run of consecutive touched rows (a long
        run in blocks of ROWS_PER_SIGNAL)."""
        self._insert_pending(most_new)
        if not self._dirty:
            return 0
        spans: dict[int, tuple[int, int]] = {}
        held = self.blockSignals(True)
        try:
            pos = self._pos
            for key, (changed, whole) in self._dirty.items():
                at = pos[key]
                texts = sorted(changed)
                span = self._write(key, texts, whole, _Cells(self, at))
                if span is not None:
                    spans[at] = span
        finally:
            self.blockSignals(held)
            self._dirty.clear()
        if not spans:
            return 0
        most = self.ROWS_PER_SIGNAL
        rows = sorted(spans)
        emitted = 0
        start = prev = rows[0]
        lo, hi = spans[start]
        for r in [*rows[1:], None]:
            if r is not None and r == prev + 1 and r - start < most:
                a, b = spans[r]
                lo, hi, prev = min(lo, a), max(hi, b), r
                continue
            self.dataChanged.emit(self.index(start, lo), self.index(prev, hi))
            emitted += 1
            if r is not None:
                start = prev = r
                lo, hi = spans[r]
        return emitted

    def clear(self) -> None:  # type: ignore[override]
        """Only on an account switch: everything shown belongs to another account."""
        for attr in ("quotes", "by_instrument"):
            if hasattr(self, attr):
                getattr(self, attr).clear()
        self.beginResetModel()
        held = self.blockSignals(True)
        try:
            self.setRowCount(0)
        finally:
            self.blockSignals(held)
        for store in (self._keys, self._pos, self._rows, self._cells):
            store.clear()
        self._colours.clear()
        self._dirty.clear()
        self._pending.clear()
        self.endResetModel()

    def row(self, key: str) -> Any:
        return self._rows.get(key)

    def key_at(self, row: int) -> str:
        return self._keys[row]

    def keys(self) -> list[str]:
        """Every row, shown or still waiting for the frame's flush."""
        return [*self._keys, *self._pending]

    def rows(self) -> list[Any]:
        return [self._rows[k] for k in self.keys()]

    def column_texts(self, column: int, first: int = 0, last: int = -1) -> list[str]:
        """The shown text of one column in rows first..last (last < 0: to the end)."""
        keys = self._keys[first : None if last < 0 else last + 1]
        cells = self._cells
        return [cells[k][column] for k in keys]


# -------------------------------------------------------------------- orders
@dataclass(frozen=True)
class OrderRow:
    order: Order
    external: bool


def _status_tip(r: OrderRow) -> str:
    o = r.order
    parts = [o.status.value]
    if o.raw_status and o.raw_status != o.status.value:
        parts.append(f"broker: {o.raw_status}")
    if o.reject_reason:
        parts.append(o.reject_reason)
    return "\n".join(parts)


def _type_text(o: Order) -> str:
    return f"{o.order_type} @{money(o.trigger_price)}" if o.trigger_price else o.order_type


class OrdersModel(KeyedTableModel):
    """The day's orders; the reason and the broker's order number stay in view."""

    columns = (
        Column(
            "Time",
            lambda r: display.clock(r.order.time),
            lambda r: r.order.time.isoformat() if r.order.time else "",
        ),
        Column(
            "Symbol",
            lambda r: r.order.trading_symbol,
            tooltip=lambda r: r.order.trading_symbol,
            elide_middle=True,
            width=240,
        ),
        Column(
            "Side",
            lambda r: r.order.side.label,
            colour=lambda r: theme.shared_colour("profit" if r.order.side.value == "B" else "loss"),
        ),
        Column("Product", lambda r: r.order.product),
        Column("Qty", lambda r: qty(r.order.qty), lambda r: r.order.qty, True),
        Column("Filled", lambda r: qty(r.order.filled_qty), lambda r: r.order.filled_qty, True),
        Column(
            "Type",
            lambda r: _type_text(r.order),
            tooltip=lambda r: (
                f"trigger {money(r.order.trigger_price)}" if r.order.trigger_price else ""
            ),
        ),
        Column(
            "Price",
            lambda r: money(r.order.price) if r.order.price else "MKT",
            lambda r: r.order.price,
            True,
        ),
        Column(
            "Avg fill",
            lambda r: money(r.order.avg_price) if r.order.filled_qty else "",
            lambda r: r.order.avg_price,
            True,
        ),
        Column(
            "Status",
            lambda r: r.order.status.value,
            colour=lambda r: status_colour(r.order.status),
            tooltip=_status_tip,
        ),
        Column("Order no", lambda r: r.order.order_id, tip="the broker's order number"),
        Column(
            "Reason",
            lambda r: r.order.reject_reason,
            tooltip=lambda r: r.order.reject_reason,
            tip="why the broker rejected (or cancelled) the order",
        ),
        Column("Tag", lambda r: r.order.tag or "—", width=140, drop=2),
        Column(
            "Source",
            lambda r: "external" if r.external else "gui_trader",
            tip="external: placed outside this app (another terminal or the broker's app)",
            drop=1,
        ),
    )
    STRETCH = [c.title for c in columns].index("Reason")  # spare width; the symbol is whole

    def apply(self, order: Order, external: bool) -> None:
        self.upsert(order.order_id, OrderRow(order, external))


# -------------------------------------------------------------------- positions
@dataclass(frozen=True)
class PositionRow:
    position: Position
    ltp: Decimal
    prev_close: Decimal
    guard: ProtectionView | None = None  # its stop / target / trail, if protected

    @cached_property
    def pnl(self) -> Decimal:
        return self.position.pnl(self.ltp).quantize(CENT)

    @cached_property
    def realised(self) -> Decimal:
        """What the closed part booked (the matched buys and sells)."""
        return self.position.realized

    @cached_property
    def unrealised(self) -> Decimal:
        """The open part at the last price: the rest of the P&L, so the two add up exactly."""
        return self.pnl - self.realised

    @cached_property
    def day_change_pct(self) -> Decimal | None:
        return _pct_of(self.ltp - self.prev_close, self.prev_close)


def _columns_titled(columns: Sequence[Column], *titles: str) -> tuple[int, ...]:
    """The columns with these titles; a title not found fails at import (a renamed column
    left out of a quote's cells would show a stale price, not an error)."""
    found = tuple(i for i, c in enumerate(columns) if c.title in titles)
    if len(found) != len(titles):
        raise ValueError(f"no column titled {set(titles) - {c.title for c in columns}}")
    return found


class PositionsModel(KeyedTableModel):
    columns = (
        Column(
            "Symbol",
            lambda r: r.position.trading_symbol,
            tooltip=lambda r: f"{r.position.trading_symbol} ({r.position.product})",
            elide_middle=True,
        ),
        Column("Product", lambda r: r.position.product),
        Column(
            "Net qty",
            lambda r: qty(r.position.net_qty),
            lambda r: r.position.net_qty,
            True,
            lambda r: sign_colour(Decimal(r.position.net_qty)),
        ),
        Column("Buy qty", lambda r: qty(r.position.buy_qty), lambda r: r.position.buy_qty, True),
        Column("Sell qty", lambda r: qty(r.position.sell_qty), lambda r: r.position.sell_qty, True),
        Column("Avg", lambda r: money(r.position.avg_price), lambda r: r.position.avg_price, True),
        Column("LTP", lambda r: money(r.ltp), lambda r: r.ltp, True),
        Column(
            "Day %",
            lambda r: pct(r.day_change_pct),
            lambda r: r.day_change_pct or 0,
            True,
            lambda r: sign_colour(r.day_change_pct),
            drop=1,
        ),
        Column(
            "Unrealised",
            lambda r: signed(r.unrealised),
            lambda r: r.unrealised,
            True,
            lambda r: sign_colour(r.unrealised),
            tip="the open quantity at the last price",
        ),
        Column(
            "Realised",
            lambda r: signed(r.realised),
            lambda r: r.realised,
            True,
            lambda r: sign_colour(r.realised),
            tip="booked by the matched buys and sells",
        ),
        Column(
            "P&L",
            lambda r: signed(r.pnl),
            lambda r: r.pnl,
            True,
            lambda r: sign_colour(r.pnl),
            tip="realised + unrealised",
        ),
        Column(
            "Stop",
            lambda r: (
                _level(r.guard.sl if r.guard else None)
                + (" B" if r.guard and r.guard.stop_at == "broker" and r.guard.sl else "")
            ),
            lambda r: (r.guard.sl if r.guard else None) or 0,
            True,
            tip="the stop-loss; B: an SL order rests at the broker (else watched here on ticks)",
        ),
        Column(
            "Target",
            lambda r: _level(r.guard.target if r.guard else None),
            lambda r: (r.guard.target if r.guard else None) or 0,
            True,
            tip="the target: a LIMIT resting at the broker",
        ),
        Column("Trail", lambda r: r.guard.trail if r.guard else "", None, True),
    )
    # double-click one: edit the protection
    GUARD_COLUMNS = _columns_titled(columns, "Stop", "Target", "Trail")
    # what a quote moves (the last price and the previous close); the rest is the position's
    QUOTE_COLUMNS = _columns_titled(columns, "LTP", "Day %", "Unrealised", "P&L")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.quotes: dict[str, Quote] = {}
        self.by_instrument: dict[str, set[str]] = {}  # quote key -> position keys (products)
        self.guards: dict[str, ProtectionView] = {}  # instrument key -> its protection

    @staticmethod
    def key_of(p: Position) -> str:
        return f"{p.key}|{p.product}"

    def _row(self, p: Position) -> PositionRow:
        q = self.quotes.get(p.key)
        guard = self.guards.get(p.key)
        return PositionRow(p, q.ltp if q else p.ltp, q.prev_close if q else Decimal(0), guard)

    def apply_protections(self, views: Sequence[ProtectionView]) -> None:
        before = set(self.guards)
        self.guards = {v.key: v for v in views}
        for key in before | set(self.guards):
            for row_key in self.by_instrument.get(key, ()):
                row: PositionRow | None = self.row(row_key)
                if row is not None:
                    self.upsert(row_key, self._row(row.position))

    def apply_positions(self, positions: Sequence[Position]) -> None:
        seen = set()
        for p in positions:
            key = self.key_of(p)
            seen.add(key)
            self.by_instrument.setdefault(p.key, set()).add(key)
            self.upsert(key, self._row(p))
        gone = [k for k in self.keys() if k not in seen]
        if gone:
            self.remove_many(gone)
            for keys in self.by_instrument.values():
                keys.difference_update(gone)

    def apply_quotes(self, quotes: Sequence[Quote]) -> None:
        for q in quotes:
            self.quotes[q.key] = q
            for key in self.by_instrument.get(q.key, ()):
                row: PositionRow | None = self.row(key)
                if row is not None:
                    new = self._row(row.position)
                    same = new.guard == row.guard
                    self.upsert(key, new, self.QUOTE_COLUMNS if same else None)

    def total_pnl(self) -> Decimal:
        return sum((r.pnl for r in self.rows()), Decimal(0))

    def open_positions(self) -> list[Position]:
        return [r.position for r in self.rows() if r.position.net_qty]


# -------------------------------------------------------------------- holdings
@dataclass(frozen=True)
class HoldingRow:
    holding: Holding
    ltp: Decimal
    guard: ProtectionView | None = None
    prev_close: Decimal = Decimal(0)  # yesterday's close: the day's change is from it

    @cached_property
    def pnl(self) -> Decimal:
        return self.holding.pnl(self.ltp).quantize(CENT)

    @cached_property
    def pnl_pct(self) -> Decimal | None:
        return _pct_of(self.ltp - self.holding.avg_price, self.holding.avg_price)

    @cached_property
    def value(self) -> Decimal:
        return self.ltp * self.holding.qty

    @cached_property
    def day_change(self) -> Decimal:
        """Today's move on the whole holding; 0 while yesterday's close is not known."""
        if not self.prev_close:
            return Decimal("0.00")
        return ((self.ltp - self.prev_close) * self.holding.qty).quantize(CENT)

    @cached_property
    def day_change_pct(self) -> Decimal | None:
        return _pct_of(self.ltp - self.prev_close, self.prev_close)


class HoldingsModel(KeyedTableModel):
    columns = (
        Column(
            "Symbol",
            lambda r: r.holding.symbol,
            tooltip=lambda r: r.holding.trading_symbol,
            elide_middle=True,
        ),
        Column("Qty", lambda r: qty(r.holding.qty), lambda r: r.holding.qty, True),
        Column(
            "Sellable",
            lambda r: qty(r.holding.sellable_qty),
            lambda r: r.holding.sellable_qty,
            True,
            drop=1,
        ),
        Column(
            "Avg",
            lambda r: money(r.holding.avg_price.quantize(CENT)),
            lambda r: r.holding.avg_price,
            True,
        ),
        Column("LTP", lambda r: money(r.ltp), lambda r: r.ltp, True),
        Column(
            "Day chg",
            lambda r: signed(r.day_change),
            lambda r: r.day_change,
            True,
            lambda r: sign_colour(r.day_change),
            tip="today's change on the whole holding (₹), from yesterday's close",
        ),
        Column(
            "Day %",
            lambda r: pct(r.day_change_pct),
            lambda r: r.day_change_pct or 0,
            True,
            lambda r: sign_colour(r.day_change_pct),
        ),
        Column("P&L", lambda r: signed(r.pnl), lambda r: r.pnl, True, lambda r: sign_colour(r.pnl)),
        Column(
            "P&L %",
            lambda r: pct(r.pnl_pct),
            lambda r: r.pnl_pct or 0,
            True,
            lambda r: sign_colour(r.pnl_pct),
            tip="against the average buy price",
        ),
        Column(
            "Stop",
            lambda r: _level(r.guard.sl if r.guard else None),
            lambda r: (r.guard.sl if r.guard else None) or 0,
            True,
        ),
        Column(
            "Target",
            lambda r: _level(r.guard.target if r.guard else None),
            lambda r: (r.guard.target if r.guard else None) or 0,
            True,
        ),
    )
    GUARD_COLUMNS = _columns_titled(columns, "Stop", "Target")
    QUOTE_COLUMNS = _columns_titled(columns, "LTP", "Day chg", "Day %", "P&L", "P&L %")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.quotes: dict[str, Quote] = {}
        self.guards: dict[str, ProtectionView] = {}

    def _row(self, h: Holding) -> HoldingRow:
        q = self.quotes.get(h.key)
        ltp = q.ltp if q is not None else h.close_price
        prev = q.prev_close if q is not None and q.prev_close else h.close_price
        return HoldingRow(h, ltp, self.guards.get(h.key), prev)

    def apply_holdings(self, holdings: Sequence[Holding]) -> None:
        seen = set()
        for h in holdings:
            seen.add(h.key)
            self.upsert(h.key, self._row(h))
        self.remove_many([k for k in self.keys() if k not in seen])

    def apply_quotes(self, quotes: Sequence[Quote]) -> None:
        for q in quotes:
            row: HoldingRow | None = self.row(q.key)
            self.quotes[q.key] = q
            if row is not None:
                new = self._row(row.holding)
                same = new.guard == row.guard
                self.upsert(q.key, new, self.QUOTE_COLUMNS if same else None)

    def apply_protections(self, views: Sequence[ProtectionView]) -> None:
        before = set(self.guards)
        self.guards = {v.key: v for v in views}
        for key in before | set(self.guards):
            row: HoldingRow | None = self.row(key)
            if row is not None:
                self.upsert(key, self._row(row.holding))

    def total_pnl(self) -> Decimal:
        return sum((r.pnl for r in self.rows()), Decimal(0))

    def total_value(self) -> Decimal:
        return sum((r.value for r in self.rows()), Decimal(0))

    def total_day_change(self) -> Decimal:
        return sum((r.day_change for r in self.rows()), Decimal(0))


# -------------------------------------------------------------------- watchlist
@dataclass(frozen=True)
class WatchRow:
    symbol: str
    key: str
    quote: Quote | None


class WatchlistModel(KeyedTableModel):
    """Symbol, LTP and Chg % always; Chg, then Bid / Ask give way first in a narrow dock."""

    columns = (
        Column("Symbol", lambda r: r.symbol, tooltip=lambda r: r.symbol, elide_middle=True),
        Column(
            "LTP",
            lambda r: money(r.quote.ltp) if r.quote else "…",
            lambda r: r.quote.ltp if r.quote else 0,
            True,
        ),
        Column(
            "Chg",
            lambda r: signed(r.quote.change) if r.quote else "",
            lambda r: r.quote.change if r.quote else 0,
            True,
            lambda r: sign_colour(r.quote.change) if r.quote else None,
            drop=1,
        ),
        Column(
            "Chg %",
            lambda r: pct(r.quote.change_pct) if r.quote else "",
            lambda r: r.quote.change_pct if r.quote else 0,
            True,
            lambda r: sign_colour(r.quote.change_pct) if r.quote else None,
        ),
        Column(
            "Bid",
            lambda r: money(r.quote.bid) if r.quote and r.quote.bid else "",
            lambda r: r.quote.bid if r.quote else 0,
            True,
            drop=2,
        ),
        Column(
            "Ask",
            lambda r: money(r.quote.ask) if r.quote and r.quote.ask else "",
            lambda r: r.quote.ask if r.quote else 0,
            True,
            drop=2,
        ),
    )

    def add(self, symbol: str, key: str, quote: Quote | None = None) -> None:
        self.upsert(key, WatchRow(symbol, key, quote))

    def apply_quotes(self, quotes: Sequence[Quote]) -> None:
        for q in quotes:
            row = self.row(q.key)
            if row is not None:
                self.upsert(q.key, WatchRow(row.symbol, q.key, q))


# -------------------------------------------------------------------- quotes per frame
class QuoteSink(Protocol):
    def apply_quotes(self, quotes: Sequence[Quote]) -> None: ...


class QuoteBacklog:
    """Quotes waiting for the tables, applied a chunk at a time within a frame's budget.

    Why: one feed snapshot can touch hundreds of rows; formatting them all in one frame stalls
    the loop (orders, clicks, repaints wait). A quote supersedes the earlier one of its
    instrument (the latest wins, nothing else is dropped); the rest waits for the next frame.
    """

    CHUNK = 16
    # Always applied in one frame whatever the clock says, so a small book (and every test)
    # shows in the frame that brought it.
    FLOOR = 16
    # Of a 16 ms frame: writing the changed cells into Qt's items at the flush costs about as
    # much again, and the rest is the repaint's and the loop's.
    BUDGET_S = 0.002

    def __init__(self, sinks: Iterable[QuoteSink]) -> None:
        self.sinks = tuple(sinks)
        self._due: dict[str, Quote] = {}

    def __len__(self) -> int:
        return len(self._due)

    def add(self, quotes: Iterable[Quote]) -> None:
        due = self._due
        for q in quotes:
            due[q.key] = q

    @staticmethod
    def clock() -> float:
        return time.perf_counter()

    def deadline(self) -> float:
        """When a frame starting now should stop applying quotes."""
        return self.clock() + self.BUDGET_S

    def apply(self, until: float) -> int:
        """Apply due quotes until the clock passes `until` (at least FLOOR); how many."""
        due, applied = self._due, 0
        while due and (applied < self.FLOOR or self.clock() < until):
            chunk = [due.pop(k) for k in list(itertools.islice(due, self.CHUNK))]
            for sink in self.sinks:
                sink.apply_quotes(chunk)
            applied += len(chunk)
        return applied

    def clear(self) -> None:
        self._due.clear()


# -------------------------------------------------------------------- log
@dataclass(frozen=True)
class LogRow:
    level: str
    time: datetime  # naive: the machine's local time (logging's record.created)
    source: str
    message: str


LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def _log_time(at: datetime) -> str:
    """IST with milliseconds; a naive time is the machine's local time, not IST."""
    aware = at if at.tzinfo is not None else at.astimezone()
    return f"{display.clock(aware)}.{aware.microsecond // 1000:03d}"


def _level_colour(r: LogRow) -> QColor | None:
    if LEVELS.get(r.level, 0) >= 40:
        return theme.shared_colour("loss")
    return theme.shared_colour("warn") if r.level == "WARNING" else None


class LogModel(KeyedTableModel):
    columns = (
        Column("Level", lambda r: r.level, colour=_level_colour),
        Column("Time", lambda r: _log_time(r.time)),
        Column("Source", lambda r: r.source, width=180),
        Column("Message", lambda r: r.message, tooltip=lambda r: r.message),
    )

    def __init__(self, cap: int = 5000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cap = cap
        self._seq = 0

    def append(self, row: LogRow) -> None:
        self._seq += 1
        self.upsert(str(self._seq), row)
        if len(self._keys) + len(self._pending) > self.cap + self.cap // 10:
            self.flush()  # trim in chunks, not per line
            self.remove_first(self.rowCount() - self.cap)


# -------------------------------------------------------------------- filters
class ColumnSortProxy(QSortFilterProxyModel):
    """Sorts a number column by its value (SORT_ROLE), a text column by its text: the
    items keep no second copy of every text just for sorting."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        model = self.sourceModel()
        if isinstance(model, KeyedTableModel):
            by_value = 0 <= column < len(model.columns) and model.columns[column].sort is not None
            model.sort_by(column if by_value else None)  # its cells' values, kept from now
            self.setSortRole(SORT_ROLE if by_value else Qt.ItemDataRole.DisplayRole)
        super().sort(column, order)


class FilterProxy(ColumnSortProxy):
    def refilter(self, change: Callable[[], None]) -> None:
        """Qt >= 6.9 wants begin/endFilterChange around a filter change."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:  # pragma: no cover - older Qt
            change()
            self.invalidateFilter()


class OrdersFilter(FilterProxy):
    """ "open" shows working orders only; "all" shows everything."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.open_only = False

    def set_open_only(self, value: bool) -> None:
        self.refilter(lambda: setattr(self, "open_only", value))

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self.open_only:
            return True
        model = self.sourceModel()
        assert isinstance(model, OrdersModel)
        row: OrderRow = model.row(model.key_at(source_row))
        return row.order.status.working or row.order.status is OrderStatus.UNKNOWN


class LogFilter(FilterProxy):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.min_level = 0
        self.needle = ""

    def set_level(self, name: str) -> None:
        self.refilter(lambda: setattr(self, "min_level", LEVELS.get(name, 0)))

    def set_search(self, text: str) -> None:
        self.refilter(lambda: setattr(self, "needle", text.lower()))

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, LogModel)
        row: LogRow = model.row(model.key_at(source_row))
        if LEVELS.get(row.level, 0) < self.min_level:
            return False
        return not self.needle or self.needle in f"{row.source} {row.message}".lower()


class SortProxy(ColumnSortProxy):
    pass
