"""What the trader must know at a glance: PAPER or LIVE, account, session, RTT, headroom, lag;
the risk strip (MTM against the day's limits, BLOCKED) and the red KILL button."""

from __future__ import annotations

from datetime import date, datetime

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QStatusBar, QWidget

from gui_trader.core.clock import IST, MARKET_CLOSE, next_open, nse_open
from gui_trader.core.display import rupees
from gui_trader.engine.account_risk import RiskSnapshot
from gui_trader.engine.events import FeedState, Metrics, SessionState
from gui_trader.gui import theme

BADGE = (
    "QLabel {{ font-weight: bold; font-size: 13px; padding: 2px 14px; color: white;"
    " background: {bg}; border-radius: 3px; }}"
)


class TradingStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QLabel("…")
        self.mode.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.account = QLabel("")
        self.session = QLabel("connecting…")
        self.feed = QLabel("polling")
        self.rtt = QLabel("RTT –")
        self.headroom = QLabel("")
        self.lag = QLabel("")
        self.notice = QLabel("")
        self.notice_timer = QTimer(self)
        self.notice_timer.setSingleShot(True)
        self.notice_timer.timeout.connect(lambda: self.notice.setText(""))
        self.addWidget(self.mode)
        for w in (self.account, self.session):
            self.addWidget(w)
        # a long message is cut, never widens the window past the screen (it did: 1,411 px)
        self.notice.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.addWidget(self.notice, 1)
        self.risk = QLabel("")
        self.risk.setObjectName("risk-strip")
        self.kill = QPushButton("KILL")
        self.kill.setObjectName("kill-switch")
        self.kill.setToolTip(
            "Kill switch (Ctrl+Shift+K): cancel every open order, close every position at"
            " market, then block new orders for today"
        )
        self.kill.setEnabled(False)  # until an engine is ready
        self.market = QLabel("")
        self.market.setObjectName("market-clock")
        for w in (self.risk, self.feed, self.rtt, self.headroom, self.lag, self.market):
            self.addPermanentWidget(w)
        self.addPermanentWidget(self.kill)
        self._session: SessionState | None = None
        self._feed: FeedState | None = None
        self._metrics: Metrics | None = None
        self._risk: RiskSnapshot | None = None
        self._restyle()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()

    def _restyle(self) -> None:
        """Colours follow the theme: re-apply every coloured label from its last state."""
        self.kill.setStyleSheet(
            theme.button_style("sell", "border-radius: 3px; padding: 2px 12px;")
        )
        if self._session is not None:
            self.on_session(self._session)
        if self._feed is not None:
            self.on_feed(self._feed)
        if self._metrics is not None:
            self.on_metrics(self._metrics)
        self.on_risk(self._risk)

    def on_clock(
        self, now: datetime, *, paper: bool, holidays: frozenset[date] = frozenset()
    ) -> None:
        """The IST clock and whether NSE is open; paper trades whenever the app runs."""
        local = now.astimezone(IST)
        is_open = nse_open(local, holidays)
        if is_open:
            text = f"NSE open till {MARKET_CLOSE:%H:%M}"
        else:
            opens = next_open(local, holidays)
            when = f"{opens:%H:%M}" if opens.date() == local.date() else f"{opens:%a %H:%M}"
            text = f"NSE closed · opens {when}"
        self.market.setText(f"{text} · {local:%H:%M:%S} IST")
        self.market.setToolTip(
            "the simulated exchange fills at any hour; live orders follow NSE hours"
            if paper
            else "NSE trades 09:15-15:30 IST on weekdays (holidays from config.toml)"
        )
        self.market.setStyleSheet("" if is_open else f"color: {theme.hex_colour('muted')}")

    def notify(self, text: str, ms: int = 6000) -> None:
        """A passing message beside (never over) the PAPER/LIVE badge."""
        self.notice.setText(f"  ·  {text}")
        self.notice.setToolTip(text)  # cut to the space there is; whole on hover
        self.notice_timer.start(ms)

    def on_session(self, s: SessionState) -> None:
        self._session = s
        live = s.mode == "LIVE"
        self.mode.setText("LIVE" if live else "PAPER")
        self.mode.setStyleSheet(BADGE.format(bg="#c62828" if live else "#1565c0"))
        self.mode.setToolTip(
            "Real money: orders go to the exchange" if live else "Simulated exchange: no real money"
        )
        self.account.setText(f"account {s.account}" if live else "paper account")
        text = {
            "connecting": "connecting…",
            "ready": "session ready",
            "expired": "session expired",
            "error": "not connected",
            "closed": "closed",
        }.get(s.state, s.state)
        if live and s.state == "ready" and s.expires_at is not None:
            ends = s.expires_at.astimezone(IST)
            text += (
                " · renews at midnight"
                if ends.time() == ends.time().min
                else (f" · until {ends:%H:%M} IST")
            )
        if s.detail:
            text += f" · {s.detail}"
        self.session.setText(text)
        colour = theme.hex_colour("loss") if s.state in ("error", "expired") else ""
        self.session.setStyleSheet(f"color: {colour}" if colour else "")

    def on_feed(self, f: FeedState) -> None:
        self._feed = f
        text = f.summary
        self.feed.setText(text)
        self.feed.setToolTip(
            f"market feed {f.market}, order feed {f.orders}: "
            + (
                "prices and orders arrive as they change; the books are re-read every 15 s"
                if text == "feed live"
                else "the books and prices are read every second until the feeds are back"
            )
        )
        colour = theme.hex_colour("profit" if text == "feed live" else "warn")
        self.feed.setStyleSheet(f"color: {colour}")

    def on_metrics(self, m: Metrics) -> None:
        self._metrics = m
        self.rtt.setText(f"RTT {m.rtt_ms:.0f} ms")
        self.headroom.setText(f"{m.orders_free:.0f}/{m.orders_per_second:.0f} orders/s free")
        self.lag.setText(f"lag {m.loop_lag_p50_ms:.0f}/{m.loop_lag_p99_ms:.0f} ms")
        self.lag.setToolTip(
            "event-loop lag p50/p99: how late the app reacts; under 16 ms is smooth"
        )
        warn = f"color: {theme.hex_colour('warn')}"
        self.lag.setStyleSheet(warn if m.loop_lag_p99_ms > 50 else "")

    def on_risk(self, r: RiskSnapshot | None) -> None:
        """MTM against the day's limits, the square-off time, and BLOCKED until a reset."""
        self._risk = r
        if r is None:
            self.risk.setText("")
            self.risk.setToolTip("")
            return
        lim = r.limits
        text = f"MTM {rupees(r.mtm, sign=True)}"
        bounds = [f"-{rupees(lim.max_loss)}"] if lim.max_loss is not None else []
        bounds += [f"+{rupees(lim.max_profit)}"] if lim.max_profit is not None else []
        if bounds:
            text += " / " + " / ".join(bounds)
        if lim.square_off is not None:
            text += f" · square-off {lim.square_off:%H:%M}"
        if r.running:
            text += " · SQUARING OFF…"
        if r.blocked:
            text += " · BLOCKED"
        self.risk.setText(text)
        self.risk.setToolTip(
            f"{r.account}: blocked for today: {r.reason} (Trade menu: Allow orders again)"
            if r.blocked
            else "today's MTM (realised + open) against the limits of `gui-trader risk set`"
        )
        if r.blocked:
            style = "color: white; background: #c62828; font-weight: bold; padding: 0 6px;"
        elif r.mtm < 0:
            style = f"color: {theme.hex_colour('loss')};"
        elif r.mtm > 0:
            style = f"color: {theme.hex_colour('profit')};"
        else:
            style = ""
        self.risk.setStyleSheet(f"QLabel {{ {style} }}" if style else "")
