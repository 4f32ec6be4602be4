"""A table view that looks right for numbers and remembers its columns and sort order.

Columns are sized to their content: a number column is as wide as its widest value (it only
grows, so a ticking price never makes the table jump), the symbol column stretches over the
rest and elides in the middle (NIFTY…25900CE keeps the strike and CE/PE apart). When the view
is narrower than its columns, the columns a model marks droppable give way before anything
scrolls sideways.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractProxyModel,
    QByteArray,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QSettings,
    Qt,
)
from PySide6.QtGui import QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from gui_trader.gui.models import KEY_ROLE, Column, KeyedTableModel

Index = QModelIndex | QPersistentModelIndex
PAD = 14  # the cell's margins and a little air, in pixels
STRETCH_MIN = 112  # the stretching column's width below which droppable columns give way
STRETCH_FLOOR = 64  # below this it stops shrinking (eliding) and the table scrolls instead
STRETCH_MAX = 260  # its width when the table scrolls sideways anyway
# Saved header states from before the columns were fitted to content would bring back the
# cut-off widths: a new version leaves them behind.
HEADER_VERSION = 2


class MiddleElide(QStyledItemDelegate):
    """Cells cut in the middle ("NIFTY08…24650CE"); the view cuts everything else at the end."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle  # type: ignore[attr-defined]


class TradingTable(QTableView):
    def __init__(self, name: str, parent: QWidget | None = None, stretch: int = 0) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.middle = MiddleElide(self)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        # fixed heights: the view never asks every row for a size hint on a change
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setDefaultSectionSize(92)
        self.stretch = stretch  # the column that takes the spare width (symbol, message)
        header.setSortIndicatorShown(True)
        self.source: KeyedTableModel | None = None
        self._stretch_need = 0  # the stretching column's widest text
        # Each column's width when shown (a hidden column's width reads 0): fitted or the
        # trader's own.
        self._want: dict[int, int] = {}
        self._laying_out = False
        self._header_widths: dict[tuple[int, bool], int] = {}  # (column, sorted) -> width
        self._text_widths: dict[str, int] = {}  # in the view's font (a font change clears it)
        header.sectionResized.connect(self._resized)
        # the sorted column's arrow needs room: the others keep none for it
        header.sortIndicatorChanged.connect(
            lambda column, _: self.fit_columns(0, -1, column, column)
        )

    # ------------------------------------------------------------------ columns
    def setModel(self, model: object) -> None:  # type: ignore[override]
        super().setModel(model)  # type: ignore[arg-type]
        source = model.sourceModel() if isinstance(model, QAbstractProxyModel) else model
        self.source = source if isinstance(source, KeyedTableModel) else None
        for i, col in enumerate(self.columns()):
            if col.elide_middle:
                self.setItemDelegateForColumn(i, self.middle)
        if self.source is not None:
            self.source.rowsInserted.connect(self._rows_inserted)
            self.source.dataChanged.connect(self._data_changed)
            self.source.modelReset.connect(lambda: self.fit_columns(grow_only=False))
        self.fit_columns(grow_only=False)

    def _resized(self, column: int, old: int, new: int) -> None:
        if new > 0 and column != self.stretch and not self.isColumnHidden(column):
            self._want[column] = new

    def width_of(self, column: int) -> int:
        """The column's width when shown, hidden or not."""
        return self._want.get(column) or self.columnWidth(column)

    def columns(self) -> Sequence[Column]:
        return self.source.columns if self.source is not None else ()

    def _rows_inserted(self, parent: Index, first: int, last: int) -> None:
        self.fit_columns(first, last)

    def _data_changed(self, top_left: Index, bottom_right: Index, roles: object = None) -> None:
        self.fit_columns(
            top_left.row(), bottom_right.row(), top_left.column(), bottom_right.column()
        )

    def content_width(self, column: int, first: int = 0, last: int = -1) -> int:
        """The widest text of a column in rows first..last (the header's own included).

        Runs on every frame's changes: numbers are in a fixed-pitch font, so only the longest
        is measured; text is measured once per distinct value."""
        source = self.source
        if source is None:
            return 0
        texts = source.column_texts(column, first, last)
        widest = 0
        if texts and source.columns[column].numeric:
            longest = max(texts, key=len)
            widest = QFontMetrics(source.mono).horizontalAdvance(longest)
        elif texts:
            widest = max(self._text_width(t) for t in set(texts))
        return max(widest + PAD, self.header_width(column))

    TEXT_WIDTHS = 4096  # remembered text widths; symbols and statuses repeat all day

    def _text_width(self, text: str) -> int:
        """Measured once per text: every frame's changed rows are measured again."""
        known = self._text_widths.get(text)
        if known is None:
            if len(self._text_widths) >= self.TEXT_WIDTHS:
                self._text_widths.clear()
            known = self._text_widths[text] = self.fontMetrics().horizontalAdvance(text)
        return known

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._text_widths.clear()
            self._header_widths.clear()
        super().changeEvent(event)

    def header_width(self, column: int) -> int:
        """The title's width, with the sort arrow's room only on the sorted column."""
        header = self.horizontalHeader()
        key = (column, header.sortIndicatorSection() == column)
        known = self._header_widths.get(key)
        if known is not None:
            return known
        style = self.style()
        margin = style.pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
        title = str(self.model().headerData(column, Qt.Orientation.Horizontal) or "")
        width = QFontMetrics(header.font()).horizontalAdvance(title) + 2 * margin + PAD // 2
        if header.isSortIndicatorShown() and header.sortIndicatorSection() == column:
            width += style.pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize, None, header) + margin
        self._header_widths[key] = width
        return width

    def fit_columns(
        self,
        first: int = 0,
        last: int = -1,
        left: int = 0,
        right: int = -1,
        *,
        grow_only: bool = True,
    ) -> None:
        """Widen the columns to the text in rows first..last (only the rows a frame changed);
        `grow_only=False` sizes every column to its content afresh."""
        columns = self.columns()
        if right < 0:
            right = len(columns) - 1
        for i in range(left, right + 1):
            col = columns[i]
            need = self.content_width(i, first, last)
            if i == self.stretch:
                self._stretch_need = need if not grow_only else max(need, self._stretch_need)
                continue
            if col.width:
                need = min(need, col.width)
            if not grow_only or need > self.width_of(i):
                self._want[i] = need
                if not self.isColumnHidden(i):  # a width set on a hidden column shows it
                    self.setColumnWidth(i, need)
        self.lay_out()

    def lay_out(self) -> None:
        """Drop the droppable columns, the highest first, while the rest leave the stretching
        column less than its least width; then it shrinks (eliding) down to a floor, and only
        below that does the table scroll sideways."""
        columns = self.columns()
        if not columns or self._laying_out:
            return
        self._laying_out = True
        try:
            header = self.horizontalHeader()
            room = self.viewport().width()
            least = min(self._stretch_need, STRETCH_MIN) or STRETCH_MIN
            hidden: set[int] = set()

            def fixed() -> int:
                return sum(
                    self.width_of(i)
                    for i in range(len(columns))
                    if i != self.stretch and i not in hidden
                )

            for level in sorted({c.drop for c in columns if c.drop}, reverse=True):
                if fixed() + least <= room:
                    break
                hidden |= {i for i, c in enumerate(columns) if c.drop == level}
            for i, c in enumerate(columns):
                if c.drop and self.isColumnHidden(i) != (i in hidden):
                    width = self.width_of(i)  # showing it reports its width from before
                    self.setColumnHidden(i, i in hidden)
                    if i not in hidden:
                        self.setColumnWidth(i, width)
            fits = fixed() + min(least, STRETCH_FLOOR) <= room
            mode = QHeaderView.ResizeMode.Stretch if fits else QHeaderView.ResizeMode.Interactive
            if header.sectionResizeMode(self.stretch) != mode:  # a set re-lays the header out
                header.setSectionResizeMode(self.stretch, mode)
                if not fits:  # from then on the trader's to drag
                    self.setColumnWidth(self.stretch, min(self._stretch_need, STRETCH_MAX))
        finally:
            self._laying_out = False

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.lay_out()
        return super().viewportEvent(event)

    # ------------------------------------------------------------------ selection
    def selected_keys(self) -> list[str]:
        keys = []
        for index in self.selectionModel().selectedRows():
            key = index.data(KEY_ROLE)
            if key is not None:
                keys.append(str(key))
        return keys

    def key_at(self, pos: object) -> str | None:
        index = self.indexAt(pos)  # type: ignore[arg-type]
        return None if not index.isValid() else str(index.siblingAtColumn(0).data(KEY_ROLE))

    def copy_selection(self) -> str:
        model = self.model()
        lines = []
        for index in sorted(self.selectionModel().selectedRows(), key=lambda i: i.row()):
            cells = [
                str(model.index(index.row(), c).data() or "") for c in range(model.columnCount())
            ]
            lines.append("\t".join(cells))
        text = "\n".join(lines)
        QGuiApplication.clipboard().setText(text)
        return text

    # ------------------------------------------------------------------ remembered
    def _key(self) -> str:
        """Saved per set of columns: a layout saved before a column was added (or removed)
        would put headers over the wrong data, so it is not restored onto the new set."""
        model = self.model()
        titles = "|".join(
            str(model.headerData(c, Qt.Orientation.Horizontal)) for c in range(model.columnCount())
        )
        crc = zlib.crc32(titles.encode())
        return f"header/v{HEADER_VERSION}/{self.objectName()}/{crc:08x}"

    def save(self, settings: QSettings) -> None:
        settings.setValue(self._key(), self.horizontalHeader().saveState())

    def restore(self, settings: QSettings) -> None:
        """The trader's widths and sort order; a column narrower than its content is widened
        again (numbers never hide behind a remembered width)."""
        state = settings.value(self._key())
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.horizontalHeader().restoreState(state)
            for i in range(len(self.columns())):
                if not self.isColumnHidden(i) and i != self.stretch:
                    self._want[i] = self.columnWidth(i)
            self.fit_columns()
