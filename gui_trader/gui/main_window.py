"""The trading window: docks around the engine, fed by events drained once per frame."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QScrollArea,
    QStatusBar,
    QSystemTrayIcon,
    QToolBar,
    QWidget,
)

from gui_trader.config import Config, Paths
from gui_trader.core import display
from gui_trader.gui.theme import apply_theme

# The panes' and the engine's modules (~0.4 s of imports at launch) are bound by
# _import_contents() when the window's contents are built: launch shows the window's frame
# first and builds the contents in the next loop turn (issue 16). Every method that uses one
# of these names runs only after build().
if TYPE_CHECKING:
    from gui_trader.core.order import Order, OrderStatus, Product, Side
    from gui_trader.core.portfolio import Position
    from gui_trader.engine.events import (
        EventHub,
        FeedState,
        FundsUpdated,
        HoldingsUpdated,
        HubLogHandler,
        LegProgress,
        LogRecord,
        Metrics,
        Notice,
        OrderUpdated,
        PositionsUpdated,
        ProtectionsChanged,
        QuotesUpdated,
        RunProgress,
        SessionState,
    )
    from gui_trader.engine.fanout import FanoutReport, Signal
    from gui_trader.engine.ownership import OwnedElsewhere
    from gui_trader.engine.trading import TradingEngine
    from gui_trader.gui import dialogs
    from gui_trader.gui.chart_controller import ChartController
    from gui_trader.gui.models import (
        HoldingsModel,
        LogModel,
        LogRow,
        OrdersModel,
        PositionsModel,
        WatchlistModel,
    )
    from gui_trader.gui.monitor_controller import MonitorController
    from gui_trader.gui.monitor_model import MonitorModel
    from gui_trader.gui.monitor_pane import MonitorPane
    from gui_trader.gui.order_ticket import OrderTicket
    from gui_trader.gui.panes import (
        HoldingsPane,
        LogPane,
        OrdersPane,
        PositionsPane,
        WatchlistPane,
    )
    from gui_trader.gui.signals_panel import SignalsPanel
    from gui_trader.gui.status_bar import TradingStatusBar
    from gui_trader.gui.straddle_panel import StraddlePanel
    from gui_trader.gui.summary_bar import PnlSummary


def _warm_engine_imports() -> None:
    """What start() needs, imported off the loop (the GIL is shared in 5 ms turns, so the
    window keeps painting meanwhile); the import lock makes a second importer wait, not redo."""
    from gui_trader.app import import_engine_modules

    import_engine_modules()


def _import_contents() -> None:
    """Bind the names above into this module (once): the first build() pays for them."""
    global Order, OrderStatus, Product, Side, Position, OwnedElsewhere, dialogs
    global EventHub, FeedState, FundsUpdated, HoldingsUpdated, HubLogHandler, LegProgress
    global LogRecord, Metrics, Notice, OrderUpdated, PositionsUpdated, ProtectionsChanged
    global QuotesUpdated, RunProgress, SessionState, ChartController, MonitorController
    global HoldingsModel, LogModel, LogRow, OrdersModel, PositionsModel, WatchlistModel
    global MonitorModel, MonitorPane, OrderTicket, HoldingsPane
    global LogPane, OrdersPane, PositionsPane, WatchlistPane, SignalsPanel, TradingStatusBar
    global StraddlePanel, PnlSummary
    if "PnlSummary" in globals():
        return
    from gui_trader.core.order import Order, OrderStatus, Product, Side
    from gui_trader.core.portfolio import Position
    from gui_trader.engine.events import (
        EventHub,
        FeedState,
        FundsUpdated,
        HoldingsUpdated,
        HubLogHandler,
        LegProgress,
        LogRecord,
        Metrics,
        Notice,
        OrderUpdated,
        PositionsUpdated,
        ProtectionsChanged,
        QuotesUpdated,
        RunProgress,
        SessionState,
    )
    from gui_trader.engine.ownership import OwnedElsewhere
    from gui_trader.gui import dialogs
    from gui_trader.gui.chart_controller import ChartController
    from gui_trader.gui.models import (
        HoldingsModel,
        LogModel,
        LogRow,
        OrdersModel,
        PositionsModel,
        WatchlistModel,
    )
    from gui_trader.gui.monitor_controller import MonitorController
    from gui_trader.gui.monitor_model import MonitorModel
    from gui_trader.gui.monitor_pane import MonitorPane
    from gui_trader.gui.order_ticket import OrderTicket
    from gui_trader.gui.panes import (
        HoldingsPane,
        LogPane,
        OrdersPane,
        PositionsPane,
        WatchlistPane,
    )
    from gui_trader.gui.signals_panel import SignalsPanel
    from gui_trader.gui.status_bar import TradingStatusBar
    from gui_trader.gui.straddle_panel import StraddlePanel
    from gui_trader.gui.summary_bar import PnlSummary


log = logging.getLogger(__name__)
FRAME_MS = 16
RISK_MS = 500
LAYOUT_VERSION = 1
DEFAULT_WATCHLIST = ("NIFTY", "RELIANCE", "HDFCBANK", "INFY", "SBIN")


@functools.cache
def app_icon(live: bool = False) -> QIcon:
    """The shipped icon: blue for PAPER, red for LIVE, so the taskbar tells them apart too."""
    icon = QIcon()
    try:
        from gui_trader.resources import icon_files
    except ModuleNotFoundError:  # an install from before resources/ shipped: reinstall
        log.warning("gui_trader.resources missing: pip install -e . again for the icon")
        pix = QPixmap(32, 32)
        pix.fill(QColor("#c62828" if live else "#1565c0"))
        return QIcon(pix)
    for _size, png in icon_files(live):
        pix = QPixmap()
        pix.loadFromData(png.read_bytes(), "PNG")
        icon.addPixmap(pix)
    return icon


class MainWindow(QMainWindow):
    def __init__(self, paths: Paths | None = None, *, staged: bool = False) -> None:
        """`staged` (launch): only the frame (docks, menus, theme, saved layout) is built here,
        so it can be shown before the panes' ~0.4 s of imports; build() adds the contents.
        Otherwise the window is complete on return."""
        super().__init__()
        self.paths = (paths or Paths.resolve()).ensure()
        self.settings = QSettings(str(self.paths.root / "window.ini"), QSettings.Format.IniFormat)
        self.setWindowTitle("gui_trader")
        self.setWindowIcon(app_icon())
        # The first window takes the screen (launch shows it maximised); later ones come back
        # as they were left (geometry and maximised state are restored from window.ini).
        screen = QApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else None
        self.resize(avail.width() if avail else 1366, avail.height() if avail else 768)
        self.remembered = isinstance(self.settings.value("geometry"), QByteArray)
        self.setDockNestingEnabled(True)
        self.closed = asyncio.Event()
        self.engine: TradingEngine | None = None
        self.confirm: Callable[[str, str], bool] = lambda t, x: dialogs.confirm(self, t, x)
        # inside a coroutine: never a nested exec() (it re-enters the asyncio loop)
        self.ask: Callable[[str, str], Awaitable[bool]] = lambda t, x: dialogs.ask(self, t, x)
        self.tasks: set[asyncio.Task[Any]] = set()
        self._log_handler: HubLogHandler | None = None
        self._shut = False
        self._sized = False
        self._built = False
        self._confirming = False  # an order's confirmation is open: a second click waits
        self._asked = False  # quitting was confirmed (or forced by a signal): do not ask again

        # numbers as the trader chose (View menu), else config.toml's number_grouping
        chosen = self.settings.value("number_grouping")
        config = Config.load(self.paths.config)
        display.set_grouping(str(chosen or config.extra.get("number_grouping", "indian")))
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self.summary_bar = QToolBar("P&L and funds", self)
        self.summary_bar.setObjectName("toolbar-summary")
        self.summary_bar.setMovable(False)
        self.summary_bar.setFloatable(False)
        self.summary_bar.toggleViewAction().setVisible(False)  # not hidden by a stray click
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.summary_bar)
        # Stand-ins of the summary's and the status bar's height, so the docks do not move
        # when build() puts the real ones in.
        self._starting = QLabel("starting…")
        self._starting_action = self.summary_bar.addWidget(self._starting)
        self.setStatusBar(QStatusBar())
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._build_menus(config)
        self.tray = self._build_tray()
        self.theme = apply_theme(
            QApplication.instance(),  # type: ignore[arg-type]
            str(self.settings.value("theme", "light")),
        )
        geometry = self.settings.value("geometry")
        state = self.settings.value("state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, LAYOUT_VERSION)
        if not staged:
            self.build()

    def build(self) -> None:
        """The window's contents: models, panes, status bar, the frame's timers. Safe to call
        twice; launch calls it one loop turn after the frame is on screen."""
        if self._built:
            return
        self._built = True
        _import_contents()
        self.hub = EventHub()
        self.queue = self.hub.subscribe()
        self.orders_model = OrdersModel(self)
        self.positions_model = PositionsModel(self)
        self.holdings_model = HoldingsModel(self)
        self.watch_model = WatchlistModel(self)
        self.log_model = LogModel(parent=self)
        self.monitor_model = MonitorModel(self)

        self.ticket = OrderTicket(self.submit_order)
        self.ticket.symbol.editingFinished.connect(self._ticket_symbol)
        self.straddle = StraddlePanel(self.spawn, lambda t, x: self.confirm(t, x))
        self.signals = SignalsPanel(
            self.spawn, lambda t, x: self.confirm(t, x), self._signal_run, self._groups
        )
        self.watchlist = WatchlistPane(self.watch_model, self)
        self.positions = PositionsPane(self.positions_model, self)
        self.holdings = HoldingsPane(self.holdings_model, self)
        self.orders = OrdersPane(self.orders_model, self)
        self.log_pane = LogPane(self.log_model)
        self.monitor_pane = MonitorPane(self.monitor_model, self)
        self.status = TradingStatusBar(self)
        self.setStatusBar(self.status)
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._after: dict[Callable[[], None], None] = {}  # an ordered set
        self._register_handlers()
        self.monitors = MonitorController(self)
        self.charts = ChartController(self, self.monitors.running)
        scroller = QScrollArea()  # the panel is tall: it scrolls rather than squeeze the rest
        scroller.setWidget(self.straddle)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        for name, widget in (
            ("watchlist", self.watchlist),
            ("chart", self.charts.box),
            ("ticket", self.ticket),
            ("straddle", scroller),
            ("signals", self.signals),
            ("positions", self.positions),
            ("holdings", self.holdings),
            ("orders", self.orders),
            ("monitor", self.monitor_pane),
            ("log", self.log_pane),
        ):
            placeholder = self.docks[name].widget()
            self.docks[name].setWidget(widget)
            placeholder.deleteLater()
        self.summary = PnlSummary(self.positions_model, self.holdings_model)
        self.summary_bar.removeAction(self._starting_action)
        self._starting.deleteLater()
        self.summary_bar.addWidget(self.summary)
        for pane in self._tables():
            pane.restore(self.settings)
        if self._sized and not isinstance(self.settings.value("state"), QByteArray):
            self.default_sizes()  # shown before the panes were in: sized to them now

        self.drain_timer = QTimer(self)
        self.drain_timer.setInterval(FRAME_MS)
        self.drain_timer.timeout.connect(self.drain)
        self.drain_timer.start()
        # The risk strip: MTM moves on every tick and a block may come from another process;
        # twice a second is enough for a number the trader reads.
        self.status.kill.clicked.connect(self.kill_switch)
        self.risk_timer = QTimer(self)
        self.risk_timer.setInterval(RISK_MS)
        self.risk_timer.timeout.connect(self.show_risk)
        self.risk_timer.start()

    # ------------------------------------------------------------------ layout
    def _dock(self, name: str, title: str, area: Qt.DockWidgetArea) -> QDockWidget:
        """A dock holding an empty widget until build() puts its pane in."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(QWidget())
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.setCentralWidget(None)  # type: ignore[arg-type]
        # the right column (ticket, straddle) runs the full height; the tabs sit beside it
        self.setCorner(Qt.Corner.TopRightCorner, right)
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        watch = self._dock("watchlist", "Watchlist", left)
        chart = self._dock("chart", "Chart", left)
        self.splitDockWidget(watch, chart, Qt.Orientation.Horizontal)
        ticket = self._dock("ticket", "Order ticket", right)
        self.tabifyDockWidget(ticket, self._dock("straddle", "Straddle", right))
        self.tabifyDockWidget(ticket, self._dock("signals", "Signals", right))
        ticket.raise_()
        positions = self._dock("positions", "Positions", bottom)
        for name, title in (
            ("holdings", "Holdings"),
            ("orders", "Orders"),
            ("monitor", "Monitor"),
            ("log", "Log"),
        ):
            self.tabifyDockWidget(positions, self._dock(name, title, bottom))
        positions.raise_()
        self.resizeDocks(
            [self.docks["watchlist"], self.docks["ticket"]], [300, 420], Qt.Orientation.Horizontal
        )

    def default_sizes(self) -> None:
        """The first layout, sized to the real window: chart wide, tabs ~40 % of the height.

        The right column (ticket, straddle, signals) gets what its forms need, not a third of
        the screen: 1366 px -> watchlist 300, chart ~690, ticket 360.
        """
        d = self.docks
        watch = min(max(int(self.width() * 0.22), 300), 360)
        right = min(max(int(self.width() * 0.26), 360), 470)
        self.resizeDocks(
            [d["watchlist"], d["chart"], d["ticket"]],
            [watch, max(self.width() - watch - right, 300), right],
            Qt.Orientation.Horizontal,
        )
        self.resizeDocks(
            [d["chart"], d["positions"]],
            [int(self.height() * 0.55), int(self.height() * 0.4)],
            Qt.Orientation.Vertical,
        )

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            if not isinstance(self.settings.value("state"), QByteArray):
                QTimer.singleShot(0, self.default_sizes)

    def _tables(self) -> list[Any]:
        if not self._built:  # closed before its panes went in: only the frame is saved
            return []
        return [
            self.positions.table,
            self.holdings.table,
            self.orders.table,
            self.log_pane.table,
            self.watchlist.table,
        ]

    def save_layout(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("theme", self.theme)
        for table in self._tables():
            table.save(self.settings)
        self.settings.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self.docks["positions"].raise_()
        self.default_sizes()

    def _build_menus(self, config: Config) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addAction("Export orders to CSV…", lambda: self._export_dialog("orders"))
        file.addAction("Export positions to CSV…", lambda: self._export_dialog("positions"))
        file.addSeparator()
        self.quit_action = file.addAction("Quit", self.close)
        # StandardKey.Quit is empty on some platforms (Ctrl+Q did nothing under Xvfb)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)

        trade = bar.addMenu("&Trade")
        self._shortcut(trade, "Buy (order ticket)", "F1", lambda: self.ticket.buy.click())
        self._shortcut(trade, "Sell (order ticket)", "F2", lambda: self.ticket.sell.click())
        self._shortcut(trade, "Cancel all open orders…", "Ctrl+Shift+X", self.cancel_all_open)
        trade.addSeparator()
        self.kill_action = self._shortcut(
            trade, "KILL: cancel all, close all, block orders…", "Ctrl+Shift+K", self.kill_switch
        )
        self.kill_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        trade.addAction("Allow orders again today (after a kill or a limit)…", self.reset_risk)
        trade.addSeparator()
        self._shortcut(trade, "Refresh now", "F5", lambda: self.spawn(self._refresh(), "refresh"))
        self._shortcut(trade, "Go to order ticket", "Ctrl+T", self._focus_ticket)

        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self._shortcut(view, "Search the log", "Ctrl+L", self._focus_log)
        dark = view.addAction("Dark theme")
        dark.setCheckable(True)
        dark.setChecked(str(self.settings.value("theme", "light")) == "dark")
        dark.toggled.connect(self.set_dark)
        grouping = view.addAction("International number grouping (1,234,567.00)")
        grouping.setCheckable(True)
        grouping.setChecked(display.grouping() == "international")
        grouping.toggled.connect(lambda on: self.set_grouping("international" if on else "indian"))
        view.addAction("Reset layout", self.reset_layout)

        self.account_menu = bar.addMenu("&Account")
        self._fill_account_menu(config)

        help_menu = bar.addMenu("&Help")
        self.about_action = help_menu.addAction("About gui_trader", self._about)

    def _about(self) -> None:
        from gui_trader.gui.about import show_about  # importlib.metadata: not on the way up

        show_about(self)

    def _shortcut(self, menu: Any, text: str, keys: str, slot: Callable[[], Any]) -> QAction:
        action: QAction = menu.addAction(text)
        action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        return action

    def _fill_account_menu(self, config: Config | None = None) -> None:
        menu = self.account_menu
        menu.clear()
        menu.addAction("Add account…", self.add_account_dialog)
        # a paper account has no TOTP and nothing to log out of: shown only when live
        self.relogin_action = menu.addAction(
            "Log in again with today's TOTP code…", self.login_with_code
        )
        self.logout_action = menu.addAction(
            "Log out", lambda: self.spawn(self._logout(), "log out")
        )
        live = self.engine is not None and self.engine.mode == "LIVE"
        self.relogin_action.setVisible(live)
        self.logout_action.setVisible(live)
        menu.addSeparator()
        switch = menu.addMenu("Switch to")
        switch.addAction(
            "Paper (simulated exchange)",
            lambda: self.spawn(self.switch(None, paper=True), "switch"),
        )
        for name in (config or Config.load(self.paths.config)).accounts:
            switch.addAction(f"{name} (live)", self._switcher(name))

    def _switcher(self, name: str) -> Callable[[], None]:
        def go() -> None:
            self.spawn(self.switch(name, paper=False), "switch")

        return go

    def _build_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(app_icon(), self)
        tray.setToolTip("gui_trader")
        tray.show()
        return tray

    def set_dark(self, on: bool) -> None:
        self.theme = apply_theme(
            QApplication.instance(),  # type: ignore[arg-type]
            "dark" if on else "light",
        )
        self.settings.setValue("theme", self.theme)

    def set_grouping(self, style: str) -> None:
        """Lakh/crore (12,34,567.00) or international grouping; every table re-renders now."""
        self.settings.setValue("number_grouping", display.set_grouping(style))
        for model in (
            self.orders_model,
            self.positions_model,
            self.holdings_model,
            self.watch_model,
            self.monitor_model,
        ):
            for key in list(model.keys()):
                model.upsert(key, model.row(key))
        self.show_risk()

    def _focus_ticket(self) -> None:
        self.docks["ticket"].raise_()
        self.ticket.symbol.setFocus()

    def _focus_log(self) -> None:
        self.docks["log"].raise_()
        self.log_pane.search.setFocus()

    # ------------------------------------------------------------------ engine
    async def start(
        self, *, account: str | None = None, paper: bool = False, login_url: str | None = None
    ) -> bool:
        # The engine's modules (httpx, aiohttp, keyring, websockets: ~0.7 s) are imported in a
        # worker thread: imported here on the loop, they froze the window just shown.
        await asyncio.to_thread(_warm_engine_imports)
        from gui_trader.app import open_engine, setup_logging

        setup_logging(self.paths, stderr=True, background=True)
        if self._log_handler is None:
            self._log_handler = HubLogHandler(self.hub)
            logging.getLogger().addHandler(self._log_handler)
        import gc  # (here: the import block is shared)

        gc.unfreeze()  # an account switch: the last engine's leftovers may be collected
        config = Config.load(self.paths.config)
        watch = config.extra.get("watchlist") or list(DEFAULT_WATCHLIST)
        try:
            self.engine = await open_engine(
                self.hub,
                account=account,
                paper=paper,
                login_url=login_url,
                paths=self.paths,
                watchlist=watch,
            )
        except Exception as exc:
            from gui_trader.engine.trading import explain

            self.hub.publish(
                SessionState(
                    "LIVE" if account else "PAPER", account or "paper", "error", None, explain(exc)
                )
            )
            self.ticket.set_enabled(False, f"cannot start: {explain(exc)}")
            return False
        ok = await self.engine.start()
        if ok:
            # The scrip master, the books and the widgets live as long as the window: a full
            # collection walking them stalled the loop 40-170 ms. Frozen, it never does again.
            gc.freeze()
            self._show_watchlist()
            store = self.engine.instruments
            if store is not None:
                self.ticket.set_symbols(sorted({i.trading_symbol for i in store.all}))
            self.ticket.set_enabled(True, f"{self.engine.mode}: ready")
            self.status.kill.setEnabled(True)
            self.show_risk()
            self.straddle.attach(self.engine)
            self.spawn(self._offer_resume(), "resume check")
            self.spawn(self.charts.build(), "chart")
            self.drain()  # the first books are in the queue: show them before deciding
            if self.positions_model.rowCount() == 0 and self.holdings_model.rowCount():
                self.docks["holdings"].raise_()
        return ok

    async def _offer_resume(self) -> None:
        """A straddle a crash interrupted: ask before finishing it (nothing is sent twice)."""
        from gui_trader.engine import straddle as sd

        engine = self.engine
        if engine is None:
            return
        runs = await engine.unfinished_straddles()
        if not runs:
            return
        try:
            run, intents = await engine.resume_straddle(runs[-1])
        except OwnedElsewhere as exc:
            log.warning("%s: not offered for resume here", exc)
            return
        except sd.EarlierDayRun as exc:
            report = await engine.earlier_day_report(exc.run, expire=True)
            net = ", ".join(
                f"{sym} net {report['net_qty_today'].get(leg, 0)}"
                for leg, sym in report["contracts"].items()
            )
            log.warning("%s Today: %s.", exc, net)  # the log pane shows it, loud
            self.status.notify(f"Straddle {exc.run.id} from {exc.run.day} not resumed: see Log")
            return
        except sd.RunRefused as exc:
            log.warning("%s", exc)
            return
        text = (
            f"A straddle run ({run.plan.call.trading_symbol if run.plan.call else ''} + "
            f"{run.plan.put.trading_symbol if run.plan.put else ''}) was interrupted with "
            f"{len(intents)} of {len(run.plan.orders)} orders journaled. Finish it? Orders "
            "the broker already has are not sent again."
        )
        if not await self.ask("Resume straddle", text):
            await engine.abandon_straddle(run)
            return
        self.docks["straddle"].raise_()
        self.straddle.show_plan(run.plan)
        self.straddle.run = run
        self.straddle.abort.setEnabled(True)
        summary = await run.execute(resume=intents)
        self.straddle.abort.setEnabled(False)
        self.straddle.summary = summary
        self.straddle.show_summary(summary)

    def _show_watchlist(self) -> None:
        engine = self.engine
        if engine is None or engine.instruments is None:
            return
        for symbol in engine.watch:
            try:
                inst = engine.instruments.resolve(symbol)
            except LookupError:
                continue
            self.watch_model.add(inst.trading_symbol, inst.key, engine.quotes.get(inst.key))

    async def shutdown(self) -> None:
        """Stop tasks, close HTTP clients and the journal; safe to call twice."""
        if self._shut:
            return
        self._shut = True
        self.monitors.stop()
        self.drain_timer.stop()
        self.risk_timer.stop()
        for task in list(self.tasks):
            task.cancel()
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler = None

    async def switch(self, account: str | None, *, paper: bool) -> None:
        self.ticket.set_enabled(False, "switching account…")
        self.status.kill.setEnabled(False)
        self.status.on_risk(None)
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        for model in (
            self.orders_model,
            self.positions_model,
            self.holdings_model,
            self.watch_model,
        ):
            model.clear()
        self.summary.set_funds(None)
        self.straddle.attach(None)
        await self.start(account=account, paper=paper)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run an action on the loop; its failure is shown, never raised into Qt."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                from gui_trader.engine.trading import explain

                log.error("%s failed: %s", what, explain(exc))
                self.ticket.say(f"{what} failed: {explain(exc)}", error=True)

        task.add_done_callback(done)
        return task

    async def _refresh(self) -> None:
        if self.engine is not None:
            await self.engine.refresh(full=True)

    # ------------------------------------------------------------------ events -> models
    def register(self, kind: type[Any], handler: Callable[[Any], None]) -> None:
        """A pane or model handles one event type (vn.py's EventEngine.register)."""
        self._handlers.setdefault(kind, []).append(handler)

    def after_drain(self, callback: Callable[[], None]) -> None:
        """Run once after this drain's models flushed (totals, follow the log)."""
        self._after[callback] = None

    def _register_handlers(self) -> None:
        # here: the import block is shared
        from gui_trader.gui.models import NEW_ROWS_PER_FRAME, QuoteBacklog

        self._new_rows = NEW_ROWS_PER_FRAME

        # Snapshots are coalesced (the latest wins) and applied after the frame's events;
        # quotes go to the tables a chunk at a time within the frame's budget.
        self.quotes_due = QuoteBacklog(
            (self.positions_model, self.holdings_model, self.watch_model)
        )
        self._positions_due: PositionsUpdated | None = None
        self._holdings_due: HoldingsUpdated | None = None
        on = self.register
        on(OrderUpdated, lambda e: self.orders_model.apply(e.order, e.external))
        on(OrderUpdated, lambda e: self.ticket.on_order(e.order))
        on(LegProgress, self.straddle.on_leg)
        on(RunProgress, self.straddle.on_run)
        on(QuotesUpdated, self._on_quotes)
        on(PositionsUpdated, self._on_positions)
        on(HoldingsUpdated, self._on_holdings)
        on(LogRecord, self._on_log)
        on(Metrics, self.status.on_metrics)
        on(FeedState, self.status.on_feed)
        on(SessionState, self._on_session)
        on(FundsUpdated, self._on_funds)
        on(Notice, self._notify)
        on(ProtectionsChanged, self._on_protections)

    def drain(self) -> int:
        """Apply every pending event through its handlers in order, then the frame's latest
        positions / holdings, then as many due quotes as the frame's budget allows (the rest
        waits for the next frame); each model emits its changes once, then what the handlers
        asked for after the flush runs. Returns how many events and quotes were applied."""
        until = self.quotes_due.deadline()
        n = 0
        queue, handlers = self.queue, self._handlers
        while queue:
            event = queue.popleft()
            n += 1
            for handler in handlers.get(type(event), ()):
                handler(event)
        if self._positions_due is not None:
            positions, self._positions_due = self._positions_due, None
            self.positions_model.apply_positions(positions.positions)
        if self._holdings_due is not None:
            holdings, self._holdings_due = self._holdings_due, None
            self.holdings_model.apply_holdings(holdings.holdings)
        quoted = self.quotes_due.apply(until) if self.quotes_due else 0
        if quoted:
            self.after_drain(self.positions.update_total)
            self.after_drain(self.holdings.update_total)
        models = (
            self.orders_model,
            self.positions_model,
            self.holdings_model,
            self.watch_model,
            self.log_model,
            self.monitor_model,
        )
        if n or quoted or any(model.waiting() for model in models):
            rows = self._new_rows  # shared, in this order: a burst's new rows, the orders'
            for model in models:  # first, go in over a few frames
                waiting = model.waiting()
                model.flush(rows)
                rows -= min(rows, waiting)
            after, self._after = self._after, {}
            for callback in after:
                callback()
        return n + quoted

    def _on_quotes(self, event: QuotesUpdated) -> None:
        """Queued for the tables (the latest per instrument wins); the ticket and the straddle
        read the engine's quotes, so they repaint after the flush only when theirs moved."""
        self.quotes_due.add(event.quotes)
        engine = self.engine
        if engine is None:
            return
        depth, extra = engine.depth_key, engine.extra_keys
        if depth is not None and any(q.key == depth for q in event.quotes):
            self.after_drain(self._ticket_quote)
        if extra and any(q.key in extra for q in event.quotes):
            self.after_drain(self._straddle_quotes)

    def _straddle_quotes(self) -> None:
        if self.straddle.isVisible():
            self.straddle.on_quotes(QuotesUpdated(()))

    def _on_positions(self, event: PositionsUpdated) -> None:
        """A whole book: applied after the frame's events (a later one supersedes it)."""
        self._positions_due = event
        self.after_drain(self.positions.update_total)

    def _on_protections(self, event: ProtectionsChanged) -> None:
        self.positions_model.apply_protections(event.items)
        self.holdings_model.apply_protections(event.items)
        self.charts.show_guards(event.items)

    def _on_holdings(self, event: HoldingsUpdated) -> None:
        """A whole book: applied after the frame's events (a later one supersedes it)."""
        self._holdings_due = event
        self.after_drain(self.holdings.update_total)

    def _on_log(self, event: LogRecord) -> None:
        self.log_model.append(LogRow(event.level, event.time, event.source, event.message))
        self.after_drain(self.log_pane.follow)

    def _on_funds(self, event: FundsUpdated) -> None:
        self.summary.set_funds(event.funds)  # margin used / available, always in view

    def _on_session(self, s: SessionState) -> None:
        self.status.on_session(s)
        live = s.mode == "LIVE"
        self.relogin_action.setVisible(live)
        self.logout_action.setVisible(live)
        title = f"gui_trader — {'LIVE ' + s.account if live else 'PAPER (simulated)'}"
        self.setWindowTitle(title)
        self.setWindowIcon(app_icon(live))
        if s.state in ("error", "expired"):
            self.ticket.set_enabled(False, s.detail or s.state)

    def _notify(self, n: Notice) -> None:
        self.status.notify(f"{n.title}: {n.text}", 8000)
        # The ticket says its own orders' fate (it follows them); other rejections are here,
        # in the tray and in the Log, not over the ticket's last order.
        if self.tray is not None:
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if n.kind == "reject"
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.tray.showMessage(n.title, n.text, icon, 6000)

    # ------------------------------------------------------------------ trader actions
    def submit_order(
        self, symbol: str, side: Side, qty: int, price: Decimal | None, product: Product | None
    ) -> None:
        engine = self.engine
        if engine is None:
            return
        from gui_trader.engine.order_checks import InvalidOrder, check_order
        from gui_trader.engine.protection_rules import BadProtection, check_levels

        try:
            req = engine.request(symbol, side, qty, price, product)
            check_order(req)
            sl, target, trail = self.ticket.levels()
            quote = engine.quotes.get(req.instrument.key)
            ref = price if price is not None else (quote.ltp if quote else Decimal(0))
            check_levels(side is Side.BUY, ref, sl, target)
            for what, level in (("stop-loss", sl), ("target", target)):
                if level is not None and not req.instrument.price_on_tick(level):
                    tick = req.instrument.tick_size
                    raise BadProtection(f"{what} {level} is off the tick {tick}")
        except (InvalidOrder, LookupError, ValueError) as exc:
            self.ticket.say(str(exc).strip("'\""), error=True)
            return
        guard = ", ".join(
            f"{w} {v}" for w, v in (("stop", sl), ("target", target), ("trail", trail)) if v
        )
        if self._confirming:
            self.ticket.say("answer the open confirmation first", error=True)
            return
        self._confirming = True
        what = f"{side.label} {qty:,} {req.instrument.trading_symbol}"
        self.ticket.following = None
        self.ticket.say(f"{what}: checking margin…")

        async def go() -> None:
            try:
                margin = await engine.margin_for(req)
                question = dialogs.order_question(req, engine.mode, ref, margin, guard)
                if not await self.ask("Send order", question):
                    self.ticket.say(f"not sent: {what}")
                    return
            finally:
                self._confirming = False
            self.ticket.say(f"sending {what}…")
            outcome = await engine.place(req)
            if outcome.ok and guard:
                try:
                    await engine.protect(
                        req.instrument.trading_symbol,
                        sl=sl,
                        target=target,
                        trail=trail,
                        entry=outcome,
                    )
                except BadProtection as exc:
                    self.ticket.say(f"order {outcome.order_id} placed, NOT protected: {exc}", True)
                    return
            if outcome.ok:
                self.ticket.say(
                    f"{what}: order {outcome.order_id} {outcome.status.value}"
                    + (f"; protected: {guard}" if guard else "")
                )
                if outcome.order_id:
                    self.ticket.follow(outcome.order_id, what)
                    known = engine.orders.get(outcome.order_id)
                    if known is not None:  # the feed can be faster than the reply
                        self.ticket.on_order(known)
            elif outcome.status is OrderStatus.UNKNOWN:
                self.ticket.say(f"OUTCOME UNKNOWN (tag {outcome.tag}): {outcome.error}", error=True)
            else:
                self.ticket.say(f"not placed: {outcome.error}", error=True)

        self.spawn(go(), "order")

    async def _signal_run(
        self, signals: Sequence[Signal], group: str, fire: bool, amount: Decimal | None
    ) -> FanoutReport:
        """The Signals panel's run: the same path as `gui-trader signal` (app.signal_run)."""
        from gui_trader.app import signal_run

        config = Config.load(self.paths.config)
        names = [a.name for a in config.accounts.values() if a.in_group(group)]
        if not names:
            raise LookupError(
                f"no enabled account in {group!r}: add accounts, then `gui-trader account set`"
            )
        report = await signal_run(signals, names, fire=fire, amount=amount, paths=self.paths)
        if report.sent:  # the desktop's copy of each account's run message (tray + status)
            from gui_trader.engine.run_messages import compose

            for msg in compose(report).values():
                self.hub.publish(Notice("signal", msg.title, "; ".join(msg.lines)))
        return report

    def _groups(self) -> list[str]:
        config = Config.load(self.paths.config)
        return sorted({g for a in config.accounts.values() for g in a.fanout.groups})

    def pick_symbol(self, symbol: str) -> None:
        self.ticket.symbol.setText(symbol)
        self._ticket_symbol()
        self._focus_ticket()

    def _ticket_symbol(self) -> None:
        """The ticket's symbol gets its book: subscribed with depth, shown under the ticket."""
        engine = self.engine
        if engine is None:
            return
        inst = engine.watch_depth(self.ticket.symbol.text().strip() or None)
        self.ticket.show_quote(engine.quotes.get(inst.key) if inst is not None else None)

    def _ticket_quote(self) -> None:
        engine = self.engine
        if engine is not None and engine.depth_key is not None:
            self.ticket.show_quote(engine.quotes.get(engine.depth_key))

    def exit_position(self, position: Position) -> None:
        engine = self.engine
        if engine is None:
            return
        try:
            plan = engine.exit_plan(position)
        except LookupError as exc:
            self.ticket.say(str(exc), error=True)
            return
        if not plan:
            return
        side = plan[0].side.label
        sizes = ", ".join(f"{r.qty:,}" for r in plan)
        text = (
            f"{side} {abs(position.net_qty):,} {position.trading_symbol} at market to close "
            f"the position?\n{len(plan)} order{'s' * (len(plan) > 1)}: {sizes} (freeze "
            "limit)"
        )
        if self.confirm("Exit position", text):
            self.spawn(engine.exit_position(position), "exit")

    def exit_all(self) -> None:
        """Every open position closed at market: one question for all, then one exit each
        (the single exit's path, sliced at the freeze quantity)."""
        engine = self.engine
        if engine is None:
            return
        try:
            plans = [(p, engine.exit_plan(p)) for p in engine.positions if p.net_qty]
        except LookupError as exc:
            self.ticket.say(str(exc), error=True)
            return
        if not plans:
            self.status.notify("no open positions", 3000)
            return
        lines = "\n".join(
            f"{plan[0].side.label} {display.quantity(abs(p.net_qty))} {p.trading_symbol}"
            f" ({len(plan)} order{'s' * (len(plan) > 1)})"
            for p, plan in plans
        )
        n = len(plans)
        text = f"Close {n} position{'s' * (n != 1)} at market on {engine.mode}?\n{lines}"
        if self.confirm("Exit all positions", text):
            for position, _ in plans:
                self.spawn(engine.exit_position(position), "exit")

    def protect_symbol(self, symbol: str) -> None:
        """The Protect dialog for a held symbol; what it sets goes through the engine."""
        from gui_trader.gui.protect_dialog import ProtectDialog

        engine = self.engine
        if engine is None or engine.instruments is None:
            return
        try:
            inst = engine.instrument(symbol)
        except LookupError as exc:
            self.status.notify(str(exc), 5000)
            return
        held, _ = engine.held(inst)
        if held == 0:
            self.status.notify(f"no open position in {inst.trading_symbol} to protect", 5000)
            return
        current = self.positions_model.guards.get(inst.key)
        quote = engine.quotes.get(inst.key)
        ltp = quote.ltp if quote is not None else Decimal(0)
        dialog = ProtectDialog(
            inst, long=held > 0, qty=abs(held), ltp=ltp, current=current, parent=self
        )
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        sl, target, trail = dialog.result_sl, dialog.result_target, dialog.result_trail
        symbol = inst.trading_symbol
        coro = (
            engine.change_protection(symbol, sl=sl, target=target, trail=trail)
            if current is not None
            else engine.protect(
                symbol, sl=sl, target=target, trail=trail, stop_at=dialog.result_stop_at
            )
        )
        self.spawn(self._guarded(coro, inst.trading_symbol), "protect")

    async def _guarded(self, coro: Coroutine[Any, Any, Any], symbol: str) -> None:
        from gui_trader.engine.protection_rules import BadProtection

        try:
            await coro
        except BadProtection as exc:
            self.status.notify(f"{symbol} not protected: {exc}", 8000)
            return
        self.status.notify(f"{symbol}: protection set", 4000)

    def unprotect_symbol(self, symbol: str) -> None:
        engine = self.engine
        if engine is None:
            return
        text = f"Remove the protection of {symbol}? Its resting target / SL orders are cancelled."
        if self.confirm("Remove protection", text):
            self.spawn(engine.unprotect(symbol), "remove protection")

    def cancel_orders(self, order_ids: list[str]) -> None:
        engine = self.engine
        if engine is None or not order_ids:
            return
        n = len(order_ids)
        if self.confirm("Cancel orders", f"Cancel {n} open order{'s' * (n != 1)}?"):
            self.spawn(engine.cancel(order_ids), "cancel")

    def cancel_all_open(self) -> None:
        engine = self.engine
        if engine is None:
            return
        ids = [o.order_id for o in engine.open_orders()]
        if not ids:
            self.status.notify("no open orders", 3000)
            return
        self.cancel_orders(ids)

    def show_risk(self) -> None:
        """Twice a second: the risk strip and the IST clock with NSE open/closed."""
        from gui_trader.core.clock import now_ist

        engine = self.engine
        self.status.on_risk(engine.risk.snapshot() if engine is not None else None)
        paper = engine is None or engine.mode == "PAPER"
        holidays = engine.holidays if engine is not None else frozenset()
        self.status.on_clock(now_ist(), paper=paper, holidays=holidays)

    def kill_switch(self) -> None:
        """The red button and Ctrl+Shift+K: asked once, then the CLI's `kill --yes` path."""
        engine = self.engine
        if engine is None or not engine.ready.is_set():
            return
        orders = len(engine.open_orders())
        positions = sum(1 for p in engine.positions if p.net_qty)
        text = (
            f"Cancel {orders} open order{'s' * (orders != 1)} and close {positions} "
            f"position{'s' * (positions != 1)} at market on {engine.mode} {engine.account}, "
            "then block new orders for today?"
        )
        if not self.confirm("KILL SWITCH", text):
            return
        self.status.notify("KILL: cancelling and closing everything…", 15000)

        async def go() -> None:
            report = await engine.risk.kill(send=True, source="window")
            self.show_risk()
            self.status.notify(f"KILL {engine.account}: {report.summary()}", 15000)
            if not report.ok:
                self.ticket.say(f"KILL incomplete: {report.summary()}", error=True)

        self.spawn(go(), "kill")

    def reset_risk(self) -> None:
        engine = self.engine
        if engine is None:
            return
        snap = engine.risk.snapshot()
        why = f" (blocked: {snap.reason})" if snap.blocked else " (it is not blocked)"
        if not self.confirm("Allow orders again", f"Allow new orders on {engine.account}{why}?"):
            return

        async def go() -> None:
            await engine.risk.reset()
            self.show_risk()
            self.status.notify(f"{engine.account}: orders allowed again today", 6000)

        self.spawn(go(), "reset risk")

    def modify_order(self, order: Order) -> None:
        engine = self.engine
        if engine is None:
            return
        from gui_trader.core.order import OrderRequest, OrderType
        from gui_trader.engine.order_checks import InvalidOrder, check_order

        inst = (
            engine.instruments.by_token(order.segment, order.token) if engine.instruments else None
        )
        quote = engine.quotes.get(inst.key) if inst is not None else None

        def check(
            kind: OrderType, price: Decimal | None, qty: int, trigger: Decimal | None
        ) -> str | None:
            if inst is None:
                return None
            req = OrderRequest(
                inst, order.side, qty, kind, price, Product(order.product), trigger_price=trigger
            )
            try:
                check_order(req)
            except InvalidOrder as exc:
                return str(exc).strip("'\"")
            return None

        dialog = dialogs.ModifyDialog(
            order,
            inst.lot_size if inst else 1,
            self,
            ltp=quote.ltp if quote is not None and quote.ltp > 0 else None,
            tick=inst.tick_size if inst else Decimal("0.05"),
            check=check,
        )
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        kind = dialog.order_type()
        self.spawn(
            engine.modify(
                order.order_id,
                price=dialog.result_price,
                qty=dialog.qty.value(),
                trigger=dialog.result_trigger,
                order_type=None if kind.value == order.order_type else kind,
            ),
            "modify",
        )

    def add_watch(self, symbol: str) -> None:
        engine = self.engine
        if engine is None:
            return
        try:
            inst = engine.add_watch(symbol)
        except LookupError as exc:
            self.watchlist.show_error(str(exc).strip("'\""))
            return
        self.watch_model.add(inst.trading_symbol, inst.key, engine.quotes.get(inst.key))
        self._save_watchlist()
        self.spawn(engine.refresh(), "refresh")

    def remove_watch(self, key: str) -> None:
        engine = self.engine
        row = self.watch_model.row(key)
        if engine is None or row is None:
            return
        engine.remove_watch(row.symbol)
        self.watch_model.remove(key)
        self._save_watchlist()

    def _save_watchlist(self) -> None:
        if self.engine is None:
            return
        config = Config.load(self.paths.config)
        config.extra["watchlist"] = list(self.engine.watch)
        config.save()

    # ------------------------------------------------------------------ accounts
    def add_account_dialog(self, prefill: Any = None, error: str = "") -> None:
        """Add an account; a failed login re-opens the dialog with what was typed and why."""
        dialog = dialogs.AccountDialog(self, prefill=prefill, error=error)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.account is None:
            return
        from gui_trader.accounts import add_account
        from gui_trader.engine.trading import explain

        new = dialog.typed()

        async def go() -> None:
            try:
                account = await add_account(self.paths, new)
            except Exception as exc:  # shown in the dialog again, nothing typed is lost
                why = explain(exc)
                QTimer.singleShot(0, lambda: self.add_account_dialog(new, why))
                return
            self._fill_account_menu()
            if await self.ask("Account added", f"Switch to {account.name} (live) now?"):
                await self.switch(account.name, paper=False)

        self.spawn(go(), "add account")

    def login_with_code(self) -> None:
        engine = self.engine
        if engine is None:
            return
        code, ok = QInputDialog.getText(self, "Log in", "Today's 6-digit TOTP code:")
        if ok and code.strip():
            self.spawn(engine.login(code.strip()), "log in")

    async def _logout(self) -> None:
        if self.engine is not None:
            await self.engine.logout()
            self.ticket.set_enabled(False, "logged out: log in again from the Account menu")

    # ------------------------------------------------------------------ export
    def _export_dialog(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind}", f"{kind}.csv", "CSV (*.csv)")
        if path:
            self.spawn(self.export_csv(kind, Path(path)), "export")

    async def export_csv(self, kind: str, path: Path) -> int:
        model = self.orders_model if kind == "orders" else self.positions_model
        headers = [c.title for c in model.columns]
        rows = [
            [model.data(model.index(r, c)) for c in range(len(headers))]
            for r in range(model.rowCount())
        ]

        def write() -> int:
            import pandas as pd

            pd.DataFrame(rows, columns=headers).to_csv(path, index=False)
            return len(rows)

        n = await asyncio.to_thread(write)
        self.status.notify(f"exported {n} {kind} to {path}", 5000)
        return n

    # ------------------------------------------------------------------ close
    def what_quitting_stops(self) -> list[str]:
        """What is running now that quitting stops, and what of it stays at the broker."""
        engine = self.engine
        stops: list[str] = []
        if not self._built:
            return stops  # closed before its panes went in: nothing can be running yet
        if self.straddle.run is not None and self.straddle.abort.isEnabled():
            stops.append(
                "A straddle is firing: quitting stops it before the next batch. Batches "
                "already sent stay at the broker; the next start offers to finish the run "
                "(nothing is sent twice)."
            )
        if self.monitors.running():
            stops.append(
                "The EMA9 monitor is running: its limit sells stay at the broker at their "
                "last price, but nobody lowers them while the app is closed."
            )
        if engine is not None and engine.mode == "LIVE" and engine.open_orders():
            count = len(engine.open_orders())
            stops.append(f"{count} orders are open at the broker and stay open.")
        return stops

    def quit_now(self) -> None:
        """SIGTERM / Ctrl-C: no question (nobody may be there to answer), the same orderly exit."""
        self._asked = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        stops = [] if self._asked else self.what_quitting_stops()
        if stops and not self.confirm("Quit gui_trader?", "\n\n".join([*stops, "Quit anyway?"])):
            event.ignore()
            return
        self._asked = True
        self.save_layout()
        self.closed.set()
        event.accept()
