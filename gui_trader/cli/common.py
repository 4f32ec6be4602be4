"""What more than one command needs: the engine the window drives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gui_trader.engine.trading import TradingEngine


def make_engine(ctx: Any) -> TradingEngine:
    """The same engine the window drives; the CLI never starts its polling."""
    from gui_trader.engine.events import EventHub
    from gui_trader.engine.trading import TradingEngine

    return TradingEngine(ctx, EventHub())
