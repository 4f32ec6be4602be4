"""The P&L and funds a trader keeps in view: day vs overall, realised / unrealised, margin.

Fed by the positions and holdings models (recomputed once after a frame's flush, whatever
changed) and by FundsUpdated. Day P&L is the positions' P&L (the day's trades) plus the
holdings' move since yesterday's close; overall is realised plus unrealised, where unrealised
counts the open positions at the last price and the holdings against their buy price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from gui_trader.core import display
from gui_trader.core.portfolio import Funds
from gui_trader.gui import theme
from gui_trader.gui.models import HoldingsModel, PositionsModel

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Figures:
    day: Decimal
    realised: Decimal
    unrealised: Decimal

    @property
    def overall(self) -> Decimal:
        return self.realised + self.unrealised

    @classmethod
    def of(cls, positions: PositionsModel, holdings: HoldingsModel) -> Figures:
        rows = positions.rows()
        held = holdings.rows()
        position_pnl = sum((r.pnl for r in rows), ZERO)
        realised = sum((r.realised for r in rows), ZERO)
        unrealised = sum((r.unrealised for r in rows), ZERO) + sum((h.pnl for h in held), ZERO)
        day = position_pnl + sum((h.day_change for h in held), ZERO)
        return cls(day, realised, unrealised)


def _restyle(label: QLabel, style: str) -> None:
    """A style sheet re-polishes the label (~1 ms): set it only when it changes. The style
    holds the colour read from the theme now, so a theme switch still changes it."""
    if label.styleSheet() != style:
        label.setStyleSheet(style)


# (name, caption, tooltip): the order on screen
FIELDS = (
    ("day", "Day P&L", "today: the positions' P&L plus the holdings' move since yesterday's close"),
    ("overall", "Overall", "realised + unrealised (holdings against their buy price)"),
    ("realised", "Realised", "booked by the positions' matched buys and sells"),
    ("unrealised", "Unrealised", "open positions at the last price, holdings against cost"),
    ("used", "Margin used", "margin blocked by positions and open orders"),
    ("available", "Available", "margin available for new orders"),
)


class PnlSummary(QWidget):
    """One slim line of figures, always in view (the window puts it on a fixed toolbar)."""

    def __init__(
        self, positions: PositionsModel, holdings: HoldingsModel, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("pnl-summary")
        self.positions_model = positions
        self.holdings_model = holdings
        self.funds: Funds | None = None
        self.figures = Figures(ZERO, ZERO, ZERO)
        self.values: dict[str, QLabel] = {}
        self.captions: list[QLabel] = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 1, 6, 1)
        layout.setSpacing(4)
        for i, (name, caption, tip) in enumerate(FIELDS):
            if name == "used":
                layout.addSpacing(18)
            elif i:
                layout.addSpacing(10)
            label = QLabel(caption)
            label.setToolTip(tip)
            value = QLabel("—")
            value.setToolTip(tip)
            value.setObjectName(f"summary-{name}")
            self.captions.append(label)
            self.values[name] = value
            layout.addWidget(label)
            layout.addWidget(value)
        layout.addStretch(1)
        # A frame's flush emits several signals: one recomputation after all of them.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        for model in (positions, holdings):
            model.dataChanged.connect(self._timer.start)
            model.rowsInserted.connect(self._timer.start)
            model.rowsRemoved.connect(self._timer.start)
            model.modelReset.connect(self._timer.start)
        self.refresh()

    def text(self, name: str) -> str:
        return self.values[name].text()

    def set_funds(self, funds: Funds | None) -> None:
        """FundsUpdated's figures; None on an account switch (nothing known yet)."""
        self.funds = funds
        self.refresh()

    def refresh(self) -> None:
        self.figures = Figures.of(self.positions_model, self.holdings_model)
        f = self.figures
        for name, value in (
            ("day", f.day),
            ("overall", f.overall),
            ("realised", f.realised),
            ("unrealised", f.unrealised),
        ):
            self.values[name].setText(display.rupees(value, sign=True))
        funds = self.funds
        self.values["used"].setText(display.rupees(funds.margin_used) if funds else "—")
        self.values["available"].setText(display.rupees(funds.available) if funds else "—")
        self._colour()

    def _colour(self) -> None:
        """Signed figures green / red, a negative balance amber; read from the theme now."""
        muted = theme.hex_colour("muted")
        for label in self.captions:
            _restyle(label, f"color: {muted}")
        values = {
            "day": self.figures.day,
            "overall": self.figures.overall,
            "realised": self.figures.realised,
            "unrealised": self.figures.unrealised,
        }
        for name, label in self.values.items():
            style = "font-weight: bold"
            amount = values.get(name)
            if amount:
                style += f"; color: {theme.hex_colour('profit' if amount > 0 else 'loss')}"
            elif name == "available" and self.funds is not None and self.funds.available < 0:
                style += f"; color: {theme.hex_colour('warn')}"
            _restyle(label, style)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._colour()
        super().changeEvent(event)
