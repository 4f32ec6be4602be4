"""Start the window on one thread: qasync runs the asyncio engine on Qt's event loop."""

from __future__ import annotations

import asyncio
import sys


def run_gui(account: str | None = None, paper: bool = False, login_url: str | None = None) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    from gui_trader.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("gui_trader")
    app.setOrganizationName("gui_trader")

    async def main() -> int:
        window = MainWindow()
        window.show()
        await window.start(account=account, paper=paper, login_url=login_url)
        await window.closed.wait()
        await window.shutdown()
        return 0

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(main())
