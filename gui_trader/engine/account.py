"""One account as the engine sees it: assembled by the composition root (app.py), used here
only through this protocol, so the engine never imports the app. A fleet of several live
accounts will hold one of these, and one TradingEngine, per account."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from gui_trader.broker.base import Broker
from gui_trader.core.risk_limits import RiskLimits
from gui_trader.engine.journal import Journal
from gui_trader.engine.order_desk import OrderDesk
from gui_trader.engine.order_guards import GuardSettings
from gui_trader.market.instruments import InstrumentStore


class AccountContext(Protocol):
    @property
    def account(self) -> str: ...

    @property
    def broker(self) -> Broker: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def desk(self) -> OrderDesk: ...

    @property
    def mode(self) -> str:
        """PAPER or LIVE."""
        ...

    @property
    def holidays(self) -> frozenset[date]:
        """Exchange holidays from config.toml: the one place the monitor and plans read them."""
        ...

    @property
    def always_open(self) -> bool:
        """The market this account trades on keeps no NSE hours (paper, a simulator)."""
        ...

    @property
    def live_feeds(self) -> bool:
        """Use the broker's websockets (`[feeds] enabled`, default true); polling otherwise."""
        ...

    @property
    def guards(self) -> GuardSettings:
        """The trader's fat-finger limits (`[guards]` in config.toml)."""
        ...

    def risk_limits(self) -> RiskLimits:
        """`[risk.ACCOUNT]` of config.toml as it is now (reads the file: call off the loop)."""
        ...

    async def instruments(self) -> InstrumentStore: ...

    async def close(self) -> None: ...
