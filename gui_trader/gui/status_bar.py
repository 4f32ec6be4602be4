"""What the trader must know at a glance: PAPER or LIVE, account, session, RTT, headroom, lag;
the risk strip (MTM against the day's limits, BLOCKED) and the red KILL button."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar, QWidget

from gui_trader.engine.account_risk import RiskSnapshot
from gui_trader.engine.events import FeedState, Metrics, SessionState

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
        self.addWidget(self.notice, 1)
        self.risk = QLabel("")
        self.risk.setObjectName("risk-strip")
        self.kill = QPushButton("KILL")
        self.kill.setObjectName("kill-switch")
        self.kill.setToolTip(
            "Kill switch (Ctrl+Shift+K): cancel every open order, close every position at"
            " market, then block new orders for today"
        )
        self.kill.setStyleSheet(
            "QPushButton { font-weight: bold; color: white; background: #c62828;"
            " border-radius: 3px; padding: 2px 12px; }"
            " QPushButton:disabled { background: #9e9e9e; }"
        )
        self.kill.setEnabled(False)  # until an engine is ready
        for w in (self.risk, self.feed, self.rtt, self.headroom, self.lag):
            self.addPermanentWidget(w)
        self.addPermanentWidget(self.kill)

    def notify(self, text: str, ms: int = 6000) -> None:
        """A passing message beside (never over) the PAPER/LIVE badge."""
        self.notice.setText(f"  ·  {text}")
        self.notice_timer.start(ms)

    def on_session(self, s: SessionState) -> None:
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
        if s.state == "ready" and s.expires_at is not None:
            text += f" · until {s.expires_at:%H:%M} IST"
        if s.detail:
            text += f" · {s.detail}"
        self.session.setText(text)
        colour = "#c62828" if s.state in ("error", "expired") else ""
        self.session.setStyleSheet(f"color: {colour}" if colour else "")

    def on_feed(self, f: FeedState) -> None:
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
        colour = "#2e7d32" if text == "feed live" else "#d98b00"
        self.feed.setStyleSheet(f"color: {colour}")

    def on_metrics(self, m: Metrics) -> None:
        self.rtt.setText(f"RTT {m.rtt_ms:.0f} ms")
        self.headroom.setText(f"{m.orders_free:.0f}/{m.orders_per_second:.0f} orders/s free")
        self.lag.setText(f"lag {m.loop_lag_p50_ms:.0f}/{m.loop_lag_p99_ms:.0f} ms")
        self.lag.setToolTip(
            "event-loop lag p50/p99: how late the app reacts; under 16 ms is smooth"
        )
        self.lag.setStyleSheet("color: #d98b00" if m.loop_lag_p99_ms > 50 else "")

    def on_risk(self, r: RiskSnapshot | None) -> None:
        """MTM against the day's limits, the square-off time, and BLOCKED until a reset."""
        if r is None:
            self.risk.setText("")
            self.risk.setToolTip("")
            return
        lim = r.limits
        text = f"MTM {r.mtm:+,.0f}"
        bounds = [f"-{lim.max_loss:,.0f}"] if lim.max_loss is not None else []
        bounds += [f"+{lim.max_profit:,.0f}"] if lim.max_profit is not None else []
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
            style = "color: #c62828;"
        elif r.mtm > 0:
            style = "color: #2e7d32;"
        else:
            style = ""
        self.risk.setStyleSheet(f"QLabel {{ {style} }}" if style else "")
