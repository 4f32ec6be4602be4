"""The Protect dialog: stop-loss, target and trailing stop for one position. It checks what it
can before closing (numbers, the tick, which side of the last price) and keeps the trader's
input with the reason in itself when something is wrong."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from gui_trader.core.instrument import Instrument
from gui_trader.engine.events import ProtectionView
from gui_trader.engine.protection_rules import (
    BadProtection,
    StopAt,
    Trail,
    check_levels,
    parse_level,
)
from gui_trader.gui import theme

STOP_AT = (
    ("watched here on every tick", StopAt.ENGINE),
    ("SL order resting at the broker", StopAt.BROKER),
)


class ProtectDialog(QDialog):
    def __init__(
        self,
        inst: Instrument,
        *,
        long: bool,
        qty: int,
        ltp: Decimal,
        current: ProtectionView | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.inst, self.long, self.ltp = inst, long, ltp
        self.setWindowTitle(f"Protect {inst.trading_symbol}")
        self.setMinimumWidth(420)
        form = QFormLayout(self)
        side = "long" if long else "short"
        form.addRow(
            QLabel(
                f"<b>{inst.trading_symbol}</b> · {side} {qty:,} · last {ltp:,.2f} ·"
                f" tick {inst.tick_size}"
            )
        )
        self.sl = QLineEdit(_text(current.sl if current else None))
        self.sl.setPlaceholderText("below the last price" if long else "above the last price")
        self.target = QLineEdit(_text(current.target if current else None))
        self.target.setPlaceholderText("above the last price" if long else "below the last price")
        self.trail = QLineEdit(current.trail if current else "")
        self.trail.setPlaceholderText("points (20) or percent (1.5%)")
        self.stop_at = QComboBox()
        for label, value in STOP_AT:
            self.stop_at.addItem(label, value.value)
        if current is not None:
            self.stop_at.setCurrentIndex(1 if current.stop_at == StopAt.BROKER.value else 0)
            self.stop_at.setEnabled(False)  # fixed once set: remove and protect again
        form.addRow("Stop-loss", self.sl)
        form.addRow("Target (LIMIT at the broker)", self.target)
        form.addRow("Trailing stop", self.trail)
        form.addRow("Stop", self.stop_at)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.hex_colour('loss')}")
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.result_sl: Decimal | None = None
        self.result_target: Decimal | None = None
        self.result_trail: Trail | None = None
        self.result_stop_at = StopAt.ENGINE

    def _accept(self) -> None:
        try:
            sl = _price(self.sl.text(), "stop-loss", self.inst)
            target = _price(self.target.text(), "target", self.inst)
            trail = Trail.parse(self.trail.text()) if self.trail.text().strip() else None
            if sl is None and target is None and trail is None:
                raise BadProtection("give a stop-loss, a target or a trailing stop")
            check_levels(self.long, self.ltp, sl, target)
            stop_at = StopAt(self.stop_at.currentData())
            if stop_at is StopAt.BROKER and sl is None and trail is None:
                raise BadProtection("an SL order at the broker needs a stop-loss price")
        except BadProtection as exc:
            self.error.setText(str(exc))  # the input stays as typed
            self.adjustSize()  # room for the reason, however long
            return
        self.result_sl, self.result_target, self.result_trail = sl, target, trail
        self.result_stop_at = stop_at
        self.accept()


def _text(value: Decimal | None) -> str:
    return "" if value is None else f"{value}"


def _price(text: str, what: str, inst: Instrument) -> Decimal | None:
    value = parse_level(text, what)
    if value is not None and not inst.price_on_tick(value):
        down, up = inst.round_price(value, "down"), inst.round_price(value, "up")
        raise BadProtection(f"{what} {value} is off the tick {inst.tick_size}: {down} or {up}")
    return value
