"""The accounts that are live at once: one TradingEngine per account (its own session, rate
limiter, journal rows), one event hub. Composed by app.py (`open_fleet`); opened and logged in
concurrently, closed one after another in the order they were opened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from gui_trader.broker.base import BrokerError
from gui_trader.engine.events import EventHub
from gui_trader.engine.trading import TradingEngine, explain
from gui_trader.market.instruments import InstrumentStore

log = logging.getLogger(__name__)


@dataclass
class Fleet:
    hub: EventHub
    engines: dict[str, TradingEngine] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)  # account -> why it cannot trade

    def __iter__(self) -> Iterator[TradingEngine]:
        return iter(self.engines.values())

    def __len__(self) -> int:
        return len(self.engines)

    def __getitem__(self, name: str) -> TradingEngine:
        return self.engines[name]

    def usable(self, name: str) -> bool:
        return name in self.engines and name not in self.unusable

    async def login(self) -> None:
        """Every account's session at once (a stored one is reused): an account whose login
        fails is marked unusable with the reason; the others are not touched by it."""
        engines = list(self.engines.values())
        results = await asyncio.gather(*(e.login() for e in engines), return_exceptions=True)
        for engine, result in zip(engines, results, strict=True):
            if isinstance(result, BrokerError | OSError | LookupError):
                self.unusable[engine.account] = f"session unusable: {explain(result)}"
                log.warning("%s: %s", engine.account, self.unusable[engine.account])
            elif isinstance(result, BaseException):
                raise result
        await self.load_instruments()

    async def load_instruments(self) -> None:
        """One instrument store per mode (the same exchange's files): loaded by the first
        usable account of that mode and shared with the rest, not read 50 times."""
        stores: dict[str, InstrumentStore] = {}
        for engine in self.engines.values():
            if not self.usable(engine.account):
                continue
            store = stores.get(engine.mode)
            if store is None:
                try:
                    store = stores[engine.mode] = await engine.store()
                except (BrokerError, LookupError, OSError) as exc:
                    self.unusable[engine.account] = f"instruments unavailable: {explain(exc)}"
                    continue
            engine.instruments = store

    async def close(self) -> None:
        """In order, each fully: a failing close is logged and the rest still close."""
        for engine in self.engines.values():
            try:
                await engine.ctx.close()
            except Exception as exc:  # one account's teardown never skips another's
                log.warning("%s: close failed: %s", engine.account, exc)
        self.engines.clear()
