"""What the trader must know at a glance: PAPER or LIVE, account, session, RTT, headroom, lag."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

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
        for w in (self.feed, self.rtt, self.headroom, self.lag):
            self.addPermanentWidget(w)

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
