"""Light and dark palettes; status colours keep one meaning in both (red loss, green profit).

Switching is live: ``apply_theme`` sets the application palette, Qt sends every widget a
PaletteChange, and widgets that paint their own colours (chart, coloured buttons, labels)
re-read them from here in ``changeEvent``; table models, which keep their cells' colours,
are told through ``follow``. Nothing keeps a colour past a theme switch.
"""

from __future__ import annotations

import weakref
from typing import Protocol

import shiboken6
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

Role, Group = QPalette.ColorRole, QPalette.ColorGroup

DARK = {
    Role.Window: "#1f2227",
    Role.WindowText: "#e6e6e6",
    Role.Base: "#16181c",
    Role.AlternateBase: "#1c1f24",
    Role.Text: "#e6e6e6",
    Role.Button: "#2a2e35",
    Role.ButtonText: "#e6e6e6",
    Role.BrightText: "#ffffff",
    Role.Highlight: "#2f5d9b",
    Role.HighlightedText: "#ffffff",
    Role.ToolTipBase: "#2a2e35",
    Role.ToolTipText: "#e6e6e6",
    Role.PlaceholderText: "#8a8f98",
    Role.Link: "#64b5f6",
    Role.Light: "#3a3f47",
    Role.Midlight: "#30343b",
    Role.Mid: "#25282e",
    Role.Dark: "#121417",
    Role.Shadow: "#0b0c0e",
}
# Disabled controls must look disabled: dimmed text on a flatter button.
DARK_DISABLED = {
    Role.WindowText: "#6b7079",
    Role.Text: "#6b7079",
    Role.ButtonText: "#6b7079",
    Role.Button: "#24272d",
    Role.Base: "#1b1d21",
    Role.Highlight: "#3a3f47",
    Role.HighlightedText: "#8a8f98",
    Role.PlaceholderText: "#555a62",
}

# Status colours, readable on either background: (light, dark).
STATUS = {
    "profit": ("#1b873f", "#4cc36f"),
    "loss": ("#c62828", "#ff6b6b"),
    "warn": ("#b26a00", "#ffb74d"),
    "muted": ("#757575", "#9aa0a6"),
    "accent": ("#1565c0", "#64b5f6"),
    "order": ("#ef6c00", "#ffa040"),
}
# Solid action buttons (white text on them in both themes).
BUTTONS = {
    "buy": ("#2e7d32", "#2e7d32"),
    "sell": ("#c62828", "#c62828"),
    "abort": ("#ef6c00", "#e65100"),
    "disabled": ("#b0b0b0", "#3a3d42"),
    "disabled_text": ("#f0f0f0", "#7a7f87"),
}


class Recolourable(Protocol):
    def recolour(self) -> None: ...


# Models keep their cells' colours on Qt's side (a repaint reads no Python); they are told here.
_followers: weakref.WeakSet[Recolourable] = weakref.WeakSet()


def follow(obj: Recolourable) -> None:
    """Call obj.recolour() after every theme switch (held weakly)."""
    _followers.add(obj)


# What apply_theme last set (None: not yet, read the palette). Asked for every coloured cell
# a table writes: reading the palette each time cost ~10 us a cell.
_dark: bool | None = None


def is_dark() -> bool:
    if _dark is not None:
        return _dark
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    return app.palette().color(Role.Window).lightness() < 128


_COLOURS = {(name, i): QColor(pair[i]) for name, pair in STATUS.items() for i in (0, 1)}


def colour(name: str) -> QColor:
    """A status colour ("profit", "loss", "warn", "muted", "accent", "order") for this theme:
    a copy, so the caller may change it."""
    return QColor(_COLOURS[name, 1 if is_dark() else 0])


def shared_colour(name: str) -> QColor:
    """As colour(), the same object every time (one theme): for cells, which only read it."""
    return _COLOURS[name, 1 if is_dark() else 0]


def hex_colour(name: str) -> str:
    return colour(name).name()


def button_style(kind: str, extra: str = "padding: 6px;") -> str:
    """A solid coloured button ("buy", "sell", "abort") whose disabled state looks disabled.

    The border is what makes Qt paint the background flat: without one, Fusion draws its
    own lighter gradient over the colour (#c62828 came out near #f26d6d).
    """
    i = 1 if is_dark() else 0
    base = QColor(BUTTONS[kind][i])
    return (
        f"QPushButton {{ background: {base.name()}; color: white; font-weight: bold; "
        f"border: 1px solid {base.darker(130).name()}; border-radius: 3px; {extra} }} "
        f"QPushButton:hover {{ background: {base.lighter(112).name()}; }} "
        f"QPushButton:pressed {{ background: {base.darker(115).name()}; }} "
        f"QPushButton:disabled {{ background: {BUTTONS['disabled'][i]}; "
        f"color: {BUTTONS['disabled_text'][i]}; border-color: {BUTTONS['disabled'][i]}; }}"
    )


def apply_theme(app: QApplication, name: str) -> str:
    """ "dark" or "light"; returns the theme applied."""
    global _dark
    _dark = name == "dark"
    app.setStyle("Fusion")
    if name == "dark":
        palette = QPalette()
        for role, value in DARK.items():
            palette.setColor(role, QColor(value))
        for role, value in DARK_DISABLED.items():
            palette.setColor(Group.Disabled, role, QColor(value))
        app.setPalette(palette)
    else:
        app.setPalette(app.style().standardPalette())
    for obj in list(_followers):
        if shiboken6.isValid(obj):  # a model Qt has deleted leaves its Python half behind
            obj.recolour()
    return "dark" if name == "dark" else "light"
