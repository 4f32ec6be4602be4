"""The panes a trader reads all day: watchlist, positions, holdings, orders, log."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from PySide6.QtCore import QEvent, QPoint, QSortFilterProxyModel, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui_trader.core import display
from gui_trader.core.order import Order
from gui_trader.core.portfolio import Position
from gui_trader.gui import theme
from gui_trader.gui.models import (
    HoldingsModel,
    KeyedTableModel,
    LogFilter,
    LogModel,
    OrderRow,
    OrdersFilter,
    OrdersModel,
    PositionsModel,
    SortProxy,
    WatchlistModel,
)
from gui_trader.gui.table_view import TradingTable


class Actions(Protocol):
    def exit_position(self, position: Position) -> None: ...
    def exit_all(self) -> None: ...
    def cancel_orders(self, order_ids: list[str]) -> None: ...
    def cancel_all_open(self) -> None: ...
    def modify_order(self, order: Order) -> None: ...
    def add_watch(self, symbol: str) -> None: ...
    def remove_watch(self, key: str) -> None: ...
    def pick_symbol(self, symbol: str) -> None: ...
    def protect_symbol(self, symbol: str) -> None: ...
    def unprotect_symbol(self, symbol: str) -> None: ...


def _guard_items(menu: QMenu, act: Actions, symbol: str, protected: bool) -> None:
    menu.addAction(
        "Change stop / target…" if protected else "Protect (stop / target)…",
        lambda: act.protect_symbol(symbol),
    )
    if protected:
        menu.addAction("Remove protection", lambda: act.unprotect_symbol(symbol))


def _guard_clicks(pane: TablePane, columns: tuple[int, ...], act: Actions) -> None:
    """Double-click a Stop / Target / Trail cell: edit the protection (elsewhere: trade it)."""
    pane.table.doubleClicked.disconnect()

    def clicked(index: Any) -> None:
        symbol = str(pane.proxy.index(index.row(), 0).data())
        if index.column() in columns:
            act.protect_symbol(symbol)
        else:
            act.pick_symbol(symbol)

    pane.table.doubleClicked.connect(clicked)


def _total_label() -> QLabel:
    label = QLabel("")
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    label.setStyleSheet("font-weight: bold; padding: 2px 6px")
    return label


def _colour_total(label: QLabel, text: str, value: Decimal) -> None:
    """Green on a gain, red on a loss, in the theme in force now."""
    style = "font-weight: bold; padding: 2px 6px"
    if value:
        style += f"; color: {theme.hex_colour('profit' if value > 0 else 'loss')}"
    label.setText(text)
    if label.styleSheet() != style:  # a style sheet re-polishes the label: only on a change
        label.setStyleSheet(style)


class TablePane(QWidget):
    """A table over a proxy of one model, with an optional bar above and a total below."""

    def __init__(
        self,
        model: KeyedTableModel,
        proxy: QSortFilterProxyModel,
        name: str,
        *,
        actions: Actions | None = None,
        bar: QHBoxLayout | QWidget | None = None,
        total: bool = False,
        stretch: int = 0,
    ) -> None:
        super().__init__()
        self.act = actions
        self.model = model
        self.proxy = proxy
        proxy.setParent(self)
        proxy.setSourceModel(model)
        self.table = TradingTable(name, stretch=stretch)
        self.table.setModel(proxy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if isinstance(bar, QHBoxLayout):
            layout.addLayout(bar)
        elif bar is not None:
            layout.addWidget(bar)
        layout.addWidget(self.table)
        self.total = _total_label()
        self._total_value = Decimal(0)
        if total:
            layout.addWidget(self.total)
        self.table.customContextMenuRequested.connect(self._menu)
        if actions is not None:  # double-click a row: its symbol goes to the order ticket
            self.table.doubleClicked.connect(
                lambda i: actions.pick_symbol(str(self.proxy.index(i.row(), 0).data()))
            )

    def _menu(self, pos: QPoint) -> None:
        """Panes with a context menu override this."""

    def set_total(self, text: str, value: Decimal) -> None:
        self._total_value = value
        _colour_total(self.total, text, value)

    def changeEvent(self, event: QEvent) -> None:
        """A theme switch: the total's colour is re-read (the cells read theirs at paint)."""
        if event.type() == QEvent.Type.PaletteChange and self.total.text():
            _colour_total(self.total, self.total.text(), self._total_value)
        super().changeEvent(event)


class PositionsPane(TablePane):
    def __init__(self, model: PositionsModel, actions: Actions) -> None:
        self.exit_all_button = QPushButton("Exit all positions…")
        self.exit_all_button.setToolTip("close every open position at market (asks first)")
        self.exit_all_button.setEnabled(False)
        super().__init__(model, SortProxy(), "positions", actions=actions, total=True)
        self.positions = model
        footer = QHBoxLayout()  # the button beside the totals: no row of its own
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.removeWidget(self.total)
        footer.addWidget(self.exit_all_button)
        footer.addWidget(self.total, 1)
        layout.addLayout(footer)
        self.exit_all_button.clicked.connect(actions.exit_all)
        _guard_clicks(self, model.GUARD_COLUMNS, actions)

    def update_total(self) -> None:
        rows = self.positions.rows()
        pnl = self.positions.total_pnl()
        realised = sum((r.realised for r in rows), Decimal(0))
        n, open_ = len(rows), len(self.positions.open_positions())
        self.exit_all_button.setEnabled(open_ > 0)
        self.set_total(
            f"{n} position{'s' * (n != 1)} ({open_} open) · realised "
            f"{display.rupees(realised, sign=True)} · unrealised "
            f"{display.rupees(pnl - realised, sign=True)} · total P&L "
            f"{display.rupees(pnl, sign=True)}",
            pnl,
        )

    def _menu(self, pos: QPoint) -> None:
        key = self.table.key_at(pos)
        if key is None or self.act is None:
            return
        act = self.act
        row = self.model.row(key)
        menu = QMenu(self)
        exit_action = menu.addAction(f"Exit {row.position.trading_symbol} at market…")
        exit_action.setEnabled(row.position.net_qty != 0)
        exit_action.triggered.connect(lambda: act.exit_position(row.position))
        if row.position.net_qty != 0:
            _guard_items(menu, act, row.position.trading_symbol, row.guard is not None)
        exit_all = menu.addAction("Exit all positions at market…", act.exit_all)
        exit_all.setEnabled(self.exit_all_button.isEnabled())
        menu.addSeparator()
        menu.addAction("Trade this symbol", lambda: act.pick_symbol(row.position.trading_symbol))
        menu.addAction("Copy", self.table.copy_selection)
        menu.exec(self.table.viewport().mapToGlobal(pos))


class HoldingsPane(TablePane):
    def __init__(self, model: HoldingsModel, actions: Actions) -> None:
        super().__init__(model, SortProxy(), "holdings", actions=actions, total=True)
        self.holdings = model
        _guard_clicks(self, model.GUARD_COLUMNS, actions)

    def _menu(self, pos: QPoint) -> None:
        key = self.table.key_at(pos)
        if key is None or self.act is None:
            return
        act, row = self.act, self.model.row(key)
        menu = QMenu(self)
        symbol = row.holding.trading_symbol
        if row.holding.qty > 0:
            _guard_items(menu, act, symbol, row.guard is not None)
        menu.addAction("Trade this symbol", lambda: act.pick_symbol(symbol))
        menu.addAction("Copy", self.table.copy_selection)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def update_total(self) -> None:
        pnl = self.holdings.total_pnl()
        day = self.holdings.total_day_change()
        self.set_total(
            f"value {display.rupees(self.holdings.total_value())} · today "
            f"{display.rupees(day, sign=True)} · unrealised P&L {display.rupees(pnl, sign=True)}",
            pnl,
        )


class OrdersPane(TablePane):
    def __init__(self, model: OrdersModel, actions: Actions) -> None:
        self.filter = QComboBox()
        self.filter.addItems(["All orders", "Open orders"])
        self.cancel_all = QPushButton("Cancel all open")
        self.cancel_all.setToolTip("Ctrl+Shift+X")
        bar = QHBoxLayout()
        bar.addWidget(self.filter)
        bar.addStretch(1)
        bar.addWidget(self.cancel_all)
        self.orders_proxy = OrdersFilter()
        super().__init__(
            model, self.orders_proxy, "orders", actions=actions, bar=bar, stretch=model.STRETCH
        )
        self.filter.currentIndexChanged.connect(lambda i: self.orders_proxy.set_open_only(i == 1))
        self.cancel_all.clicked.connect(actions.cancel_all_open)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        cancel = QAction("Cancel selected", self.table)
        cancel.setShortcut(QKeySequence(Qt.Key.Key_Delete))
        cancel.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        cancel.triggered.connect(self.cancel_selected)
        modify = QAction("Modify…", self.table)
        modify.setShortcut(QKeySequence(Qt.Key.Key_F3))
        modify.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        modify.triggered.connect(self.modify_selected)
        self.table.addActions([cancel, modify])

    def selected(self) -> list[Order]:
        rows: list[OrderRow] = [self.model.row(k) for k in self.table.selected_keys()]
        return [r.order for r in rows if r is not None]

    def cancel_selected(self) -> None:
        ids = [o.order_id for o in self.selected() if o.status.working]
        if ids and self.act is not None:
            self.act.cancel_orders(ids)

    def modify_selected(self) -> None:
        working = [o for o in self.selected() if o.status.working]
        if len(working) == 1 and self.act is not None:
            self.act.modify_order(working[0])

    def _menu(self, pos: QPoint) -> None:
        if self.table.key_at(pos) is None:
            return
        working = [o for o in self.selected() if o.status.working]
        menu = QMenu(self)
        n = len(working)
        cancel = menu.addAction(f"Cancel {n} open order{'s' * (n != 1)}…" if n else "Cancel")
        cancel.setEnabled(bool(working))
        cancel.triggered.connect(self.cancel_selected)
        modify = menu.addAction("Modify price / qty…")
        modify.setEnabled(n == 1)
        modify.triggered.connect(self.modify_selected)
        menu.addSeparator()
        menu.addAction("Copy", self.table.copy_selection)
        menu.exec(self.table.viewport().mapToGlobal(pos))


class LogPane(TablePane):
    def __init__(self, model: LogModel) -> None:
        self.level = QComboBox()
        self.level.addItems(["DEBUG", "INFO", "WARNING", "ERROR"])
        self.level.setCurrentText("INFO")
        self.search = QLineEdit()
        self.search.setPlaceholderText("search the log (Ctrl+L)")
        self.search.setClearButtonEnabled(True)
        copy = QPushButton("Copy")
        bar = QHBoxLayout()
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(copy)
        self.log_proxy = LogFilter()
        super().__init__(model, self.log_proxy, "log", bar=bar, stretch=3)
        self.table.setSortingEnabled(False)
        self.level.currentTextChanged.connect(self.log_proxy.set_level)
        self.log_proxy.set_level("INFO")
        self.search.textChanged.connect(self.log_proxy.set_search)
        copy.clicked.connect(self.table.copy_selection)

    def follow(self) -> None:
        self.table.scrollToBottom()


class WatchlistPane(TablePane):
    """Symbols to watch. A symbol that cannot be added stays in the box with the reason under
    it (no pop-up): the trader corrects a typo instead of typing it all again."""

    def __init__(self, model: WatchlistModel, actions: Actions) -> None:
        self.add = QLineEdit()
        self.add.setPlaceholderText("add a symbol, Enter")
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.hide()
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        column.addWidget(self.add)
        column.addWidget(self.error)
        self._failed = False
        super().__init__(model, SortProxy(), "watchlist", actions=actions, bar=box)
        self.add.returnPressed.connect(self._add)
        self.add.textEdited.connect(lambda _: self.clear_error())

    def _add(self) -> None:
        text = self.add.text().strip()
        if text and self.act is not None:
            self.clear_error()
            self.act.add_watch(text)
            if not self._failed:
                self.add.clear()

    def show_error(self, message: str) -> None:
        """Why the typed symbol was not added; the text stays for correcting."""
        self._failed = True
        self.error.setText(message)
        self._colour_error()
        self.error.show()

    def clear_error(self) -> None:
        self._failed = False
        self.error.clear()
        self.error.hide()

    def _colour_error(self) -> None:
        self.error.setStyleSheet(f"color: {theme.hex_colour('loss')}; font-size: 11px")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._colour_error()
        super().changeEvent(event)

    def _menu(self, pos: QPoint) -> None:
        key = self.table.key_at(pos)
        if key is None or self.act is None:
            return
        act = self.act
        row = self.model.row(key)
        menu = QMenu(self)
        menu.addAction(f"Trade {row.symbol}", lambda: act.pick_symbol(row.symbol))
        menu.addAction("Remove", lambda: act.remove_watch(key))
        menu.exec(self.table.viewport().mapToGlobal(pos))
