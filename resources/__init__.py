"""What the app loads at run time (icons, the Linux .desktop entry), installed as the package
`gui_trader.resources` (pyproject maps this folder there), so it is read through
importlib.resources in a checkout, a wheel and a PyInstaller bundle alike; never by path.

No Qt here: the CLI and a packager may ask for these files too.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["DESKTOP_ENTRY", "ICON_SIZES", "icon_files", "icon_svg", "resource"]

ICON_SIZES = (16, 32, 48, 64, 128, 256)
DESKTOP_ENTRY = "gui-trader.desktop"


def resource(name: str) -> Traversable:
    """A file shipped in resources/, by its path inside that folder ("icons/gui-trader.svg")."""
    node = files(__name__)
    for part in name.split("/"):
        node = node / part
    return node


def icon_files(live: bool = False) -> list[tuple[int, Traversable]]:
    """The icon's PNG sizes: the PAPER (blue) icon, or the LIVE (red) one."""
    stem = "gui-trader-live" if live else "gui-trader"
    return [(size, resource(f"icons/{stem}-{size}.png")) for size in ICON_SIZES]


def icon_svg() -> Traversable:
    return resource("icons/gui-trader.svg")
