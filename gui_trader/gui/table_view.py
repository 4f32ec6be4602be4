"""A table view that looks right for numbers and remembers its columns and sort order."""

from __future__ import annotations

import zlib

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from gui_trader.gui.models import KEY_ROLE


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

    def setModel(self, model: object) -> None:  # type: ignore[override]
        super().setModel(model)  # type: ignore[arg-type]
        source = getattr(model, "sourceModel", lambda: model)()
        for i, column in enumerate(getattr(source, "columns", ())):
            if column.width:
                self.setColumnWidth(i, column.width)
        self.horizontalHeader().setSectionResizeMode(self.stretch, QHeaderView.ResizeMode.Stretch)

    def selected_keys(self) -> list[str]:
        keys = []
        for index in self.selectionModel().selectedRows():
            key = index.data(KEY_ROLE)
            if key is not None:
                keys.append(str(key))
        return keys

    def key_at(self, pos: object) -> str | None:
        index = self.indexAt(pos)  # type: ignore[arg-type]
        return None if not index.isValid() else str(index.data(KEY_ROLE))

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

    def _key(self) -> str:
        """Saved per set of columns: a layout saved before a column was added (or removed)
        would put headers over the wrong data, so it is not restored onto the new set."""
        model = self.model()
        titles = "|".join(
            str(model.headerData(c, Qt.Orientation.Horizontal)) for c in range(model.columnCount())
        )
        return f"header/{self.objectName()}/{zlib.crc32(titles.encode()):08x}"

    def save(self, settings: QSettings) -> None:
        settings.setValue(self._key(), self.horizontalHeader().saveState())

    def restore(self, settings: QSettings) -> None:
        state = settings.value(self._key())
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.horizontalHeader().restoreState(state)
