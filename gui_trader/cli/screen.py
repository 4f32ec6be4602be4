"""Is there a screen to open the window on? Asked before Qt starts: Qt's own answer on a
machine with no display is an abort that blames a missing `libxcb-cursor0`, which is not the
problem and not the fix."""

from __future__ import annotations

import sys
from collections.abc import Mapping

__all__ = ["NO_SCREEN", "no_screen"]

NO_SCREEN = (
    "no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset): run "
    "`xvfb-run gui-trader`, or `QT_QPA_PLATFORM=offscreen gui-trader` for no visible window; "
    "the headless commands need none (gui-trader --help)"
)


def no_screen(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """The one-line reason the window cannot open here, or None when it can try.

    Only Linux and the BSDs need a display server; QT_QPA_PLATFORM set by the user (offscreen,
    vnc, eglfs...) is their choice and is left to Qt.
    """
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    if environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_SCREEN
