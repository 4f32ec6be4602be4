"""Start the window on one thread: qasync runs the asyncio engine on Qt's event loop.

The window is shown before the engine's imports (httpx, aiohttp, the paper exchange with numpy)
so the trader sees it as early as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time

STARTED = time.perf_counter()


def since() -> str:
    """For the start-up probe: wall seconds since this module was imported, and the
    process's CPU seconds since it started (steadier on a busy machine)."""
    return f"{time.perf_counter() - STARTED:.3f} s (CPU {time.process_time():.3f} s)"


def run_gui(account: str | None = None, paper: bool = False, login_url: str | None = None) -> int:
    # A Ctrl-C or SIGTERM during start-up is remembered and honoured once the window can shut
    # down in order (a KeyboardInterrupt there exited 130 with nothing saved).
    early: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, _frame: early.append(number))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui_trader.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("gui_trader")
    app.setOrganizationName("gui_trader")
    QApplication.setDesktopFileName("gui-trader")  # resources/gui-trader.desktop (Wayland icon)
    from gui_trader.config import Paths
    from gui_trader.gui.single_instance import SingleInstance

    instance = SingleInstance(Paths.resolve().root)
    if not instance.claim():  # one window per data folder: the first comes to the front
        said = "brought it to the front" if instance.answered else "it did not answer"
        print(f"gui_trader is already running for {instance.folder}: {said}", flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return 0
    # Closing the window ends main() (and its orderly shutdown), not Qt's loop under it.
    QApplication.setQuitOnLastWindowClosed(False)
    probe = os.environ.get("GUI_TRADER_STARTUP_PROBE")  # benchmarks: print time to 1st frame

    async def main() -> int:
        # The frame first (docks, menus, theme, saved layout: Qt's own imports only), on screen
        # before the panes' and the engine's imports; the contents follow a loop turn later.
        window = MainWindow(staged=True)
        instance.attach(window)
        if window.remembered:
            window.show()  # restored geometry, maximised again if it was
        else:
            window.showMaximized()
        # Two loop turns: the first frame, then the docks at their sizes (a first window's
        # default sizes are set from a timer of showEvent's; without the second turn, the frame
        # on screen while build() runs had the docks squeezed, as seen under Xvfb).
        for _turn in range(2):
            shown = asyncio.Event()
            QTimer.singleShot(0, shown.set)  # runs once the frame's events have been processed
            await shown.wait()
        if probe:
            print(f"window shown after {since()}", flush=True)
        window.build()
        if probe:
            print(f"window built after {since()}", flush=True)
        # Built: Quit (and a signal) can shut it down in order from here on; a signal that
        # came earlier was kept in `early`.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # the same orderly shutdown as Quit
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, window.quit_now)
        if early:
            window.quit_now()
        if probe == "exit":
            await window.shutdown()
            return 0
        if not window.closed.is_set():
            await window.start(account=account, paper=paper, login_url=login_url)
        if probe:
            print(f"engine ready after {since()}", flush=True)
            if probe == "quit":  # tests: the File -> Quit action itself, as a click would
                QTimer.singleShot(0, window.quit_action.trigger)
        await window.closed.wait()
        await window.shutdown()
        return 0

    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(main())
    finally:
        instance.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
