"""Composition root: config -> broker (paper or live) -> journal -> order desk.

Paper mode runs the same Neo client against the data folder's paper service (sim/service.py,
started on demand), so what a trader tries on paper is the code that trades live, and every
process on the folder trades one paper book.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import logging.handlers
import queue
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gui_trader.broker.neo import ClientLimits, NeoClient
from gui_trader.broker.redact import install as install_redaction
from gui_trader.broker.session import MemorySessionStore
from gui_trader.broker.vault import (
    Credentials,
    KeyringSessionStore,
    VaultKey,
    load_credentials,
    load_notify,
)
from gui_trader.config import Config, Paths
from gui_trader.core.risk_limits import RiskLimits
from gui_trader.engine.journal import Journal
from gui_trader.engine.order_desk import OrderDesk
from gui_trader.market.instruments import InstrumentStore, load_instruments
from gui_trader.sim.paper_files import PAPER_URL

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from decimal import Decimal

    from gui_trader.engine.events import EventHub
    from gui_trader.engine.fanout import FanoutReport, Signal
    from gui_trader.engine.fleet import Fleet
    from gui_trader.engine.order_guards import GuardSettings
    from gui_trader.engine.trading import TradingEngine

log = logging.getLogger(__name__)
PAPER = "paper"

_handlers: list[logging.Handler] = []


_listeners: list[logging.handlers.QueueListener] = []


def _stop_listeners() -> None:
    """Write out what the background thread still holds (at exit, or before new handlers)."""
    for listener in _listeners:
        listener.stop()
        for handler in listener.handlers:
            handler.close()
    _listeners.clear()


atexit.register(_stop_listeners)


def setup_logging(
    paths: Paths, verbose: bool = False, stderr: bool = True, background: bool = False
) -> None:
    """A rotating file in the logs folder plus stderr; secrets redacted on every handler.

    Calling it again (another data folder, a test) replaces our handlers instead of stacking.
    `background` (the window): the file is written on a thread. Each record's write, flush and
    the rotating handler's stat calls cost ~0.3 ms; a burst's hundreds of lines stalled the
    event loop for frames at a time. The record is still made and redacted on the caller's
    thread (QueueHandler's filter), only the I/O moves; at exit the queue is written out.
    """
    root = logging.getLogger()
    for old in _handlers:
        root.removeHandler(old)
        old.close()
    _handlers.clear()
    _stop_listeners()
    root.setLevel(logging.INFO)
    paths.logs.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(
        paths.logs / "gui_trader.log", maxBytes=5_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if background:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, file_handler)
        listener.start()
        _listeners.append(listener)
        _handlers.append(logging.handlers.QueueHandler(records))
    else:
        _handlers.append(file_handler)
    if stderr:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.INFO if verbose else logging.WARNING)
        err.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        _handlers.append(err)
    for handler in _handlers:
        root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_redaction(root)


class PaperLink:
    """This data folder's paper service (sim/service.py): one book for every process on it."""

    def __init__(self, folder: Path, limits: ClientLimits, market: str) -> None:
        from gui_trader.broker.neo import default_transport
        from gui_trader.sim.link import PaperTransport

        self.folder = folder
        self.transport = PaperTransport(folder, default_transport(limits), market)

    async def start(self) -> None:
        """Reach (or start) the service before the first request, off the event loop."""
        await self.transport.start()

    def credentials(self, ucc: str | None = None) -> Credentials:
        """The paper account's login; the default one needs no set-up."""
        from gui_trader.sim.auth import PAPER_USER
        from gui_trader.sim.link import paper_users

        user = PAPER_USER
        if ucc is not None and ucc != PAPER_USER.ucc:
            store = paper_users(self.folder)
            try:
                found = [u for u in store.users() if u.ucc == ucc]
            finally:
                store.close()
            if not found:
                raise KeyError(f"no paper account {ucc!r} in {self.folder}")
            user = found[0]
        return Credentials(user.consumer_key, user.mobile, user.ucc, user.mpin, user.totp_secret)


def market_holidays(config: Config) -> frozenset[date]:
    """`[market] holidays`: for the monitor, and for the paper market when it keeps hours."""
    market = config.extra.get("market") or {}
    return frozenset(date.fromisoformat(str(d)) for d in market.get("holidays", []))


def paper_session(config: Config) -> bool:
    """`[paper] session = true`: the paper market keeps NSE hours, holidays and AMO rules."""
    return bool((config.extra.get("paper") or {}).get("session", False))


@dataclass
class Context:
    paths: Paths
    config: Config
    account: str
    broker: NeoClient
    journal: Journal
    desk: OrderDesk
    paper: PaperLink | None = None
    _instruments: InstrumentStore | None = field(default=None, repr=False)

    @property
    def mode(self) -> str:
        return "PAPER" if self.paper is not None else "LIVE"

    @property
    def holidays(self) -> frozenset[date]:
        return market_holidays(self.config)

    @property
    def always_open(self) -> bool:
        """Paper (unless `[paper] session = true` makes it keep NSE hours), or `[market]
        always_open = true` for a live account on a simulator (`gui-trader sim`)."""
        if self.paper is not None:
            return not paper_session(self.config)
        market = self.config.extra.get("market") or {}
        return bool(market.get("always_open", False))

    @property
    def live_feeds(self) -> bool:
        return bool((self.config.extra.get("feeds") or {}).get("enabled", True))

    @property
    def guards(self) -> GuardSettings:
        """`[guards]`: the trader's fat-finger limits (engine/order_guards.py)."""
        return self.config.guards

    def risk_limits(self) -> RiskLimits:
        """`[risk.ACCOUNT]` as config.toml has it now (`risk set` from another process)."""
        return Config.load(self.paths.config).risk(self.account)

    async def instruments(self) -> InstrumentStore:
        if self._instruments is None:
            cache = self.paths.cache / ("scrip-paper" if self.paper else "scrip")
            self._instruments = await load_instruments(self.broker, cache)
        return self._instruments

    async def close(self) -> None:
        await self.broker.close()
        await self.journal.close()


def login_lock_path(paths: Paths, key: VaultKey) -> Path:
    """One login at a time per account across every process using this data folder."""
    return paths.locks / f"login-{key.account}-{key.ucc.upper()}.lock"


def client_limits(config: Config) -> ClientLimits:
    return ClientLimits(
        orders_per_second=config.orders_per_second,
        requests_per_second=config.requests_per_second,
        deadline_s=config.deadline_s,
        landing_s=config.landing_s,
    )


async def open_context(
    *,
    account: str | None = None,
    paper: bool = False,
    login_url: str | None = None,
    paths: Paths | None = None,
    journal: Journal | None = None,
) -> Context:
    """`journal`: an open journal of this data folder to share (the context closes its share)."""
    paths = (paths or Paths.resolve()).ensure()
    config = Config.load(paths.config)
    journal = journal.share() if journal is not None else await Journal(paths.journal).open()
    acct = None if paper else (config.accounts.get(account) if account else config.active_account())
    if account and not paper and acct is None:
        await journal.close()
        raise KeyError(f"no account named {account!r} (see `gui-trader account list`)")
    if acct is None or acct.paper:
        name = PAPER if acct is None else acct.name
        from gui_trader.sim.paper_files import market_rules

        rules = market_rules(paper_session(config), market_holidays(config))
        link = PaperLink(paths.paper, client_limits(config), rules)
        try:
            creds = link.credentials(None if acct is None else acct.ucc)
            await link.start()
        except BaseException:
            await journal.close()
            raise
        broker = NeoClient(
            name,
            creds,
            MemorySessionStore(),
            login_url=PAPER_URL,
            transport=link.transport,
            limits=client_limits(config),
            ws_route=link.transport.route,
        )
        ctx = Context(
            paths, config, name, broker, journal, OrderDesk(broker, journal, name), paper=link
        )
    else:
        key = VaultKey(paths.keyring_scope, acct.name, acct.ucc)
        try:
            creds = await asyncio.to_thread(load_credentials, key, acct.mobile)
        except BaseException:
            await journal.close()
            raise
        broker = NeoClient(
            acct.name,
            creds,
            KeyringSessionStore(key),
            login_url=login_url or acct.login_url or "https://mis.kotaksecurities.com",
            limits=client_limits(config),
            login_lock=login_lock_path(paths, key),
        )
        ctx = Context(
            paths, config, acct.name, broker, journal, OrderDesk(broker, journal, acct.name)
        )
    return ctx


def import_engine_modules() -> None:
    """Import what opening an engine loads lazily (the transport, the live feeds, the engine),
    so a caller can pay for it off its event loop (the window does, in a worker thread)."""
    import httpx_aiohttp  # noqa: F401

    import gui_trader.broker.live_feeds
    import gui_trader.engine.trading  # noqa: F401


async def open_engine(
    hub: EventHub,
    *,
    account: str | None = None,
    paper: bool = False,
    login_url: str | None = None,
    paths: Paths | None = None,
    watchlist: Iterable[str] = (),
) -> TradingEngine:
    """config -> broker -> journal -> engine, for the window (the CLI uses the same engine)."""
    from gui_trader.engine.trading import TradingEngine

    ctx = await open_context(account=account, paper=paper, login_url=login_url, paths=paths)
    return TradingEngine(ctx, hub, watchlist=watchlist)


async def reconcile(ctx: Context) -> list[dict[str, Any]]:
    """Settle intents a crash left open (see OrderDesk.reconcile)."""
    return await ctx.desk.reconcile()


async def open_fleet(hub: EventHub, names: Iterable[str], *, paths: Paths | None = None) -> Fleet:
    """One engine per named account, opened concurrently on one hub (each its own session,
    rate limiter and journal rows); an account that cannot open is listed as unusable, never
    the reason another one is not used. Log in with `await fleet.login()`."""
    from gui_trader.engine.fleet import Fleet
    from gui_trader.engine.trading import TradingEngine

    paths = (paths or Paths.resolve()).ensure()
    wanted = list(dict.fromkeys(names))
    # One journal connection for every account of the folder (see Journal.share); each
    # context closes its share, this function its own.
    journal = await Journal(paths.journal).open()
    try:
        opened = await asyncio.gather(
            *(open_context(account=n, paths=paths, journal=journal) for n in wanted),
            return_exceptions=True,
        )
    finally:
        await journal.close()
    fleet = Fleet(hub)
    for name, ctx in zip(wanted, opened, strict=True):
        if isinstance(ctx, Context):
            fleet.engines[name] = TradingEngine(ctx, hub)
        elif isinstance(ctx, Exception):
            fleet.unusable[name] = f"cannot open: {str(ctx).strip(chr(39)) or type(ctx).__name__}"
        else:  # a cancellation: close what opened, then let it through
            await fleet.close()
            raise ctx
    return fleet


async def signal_run(
    signals: Sequence[Signal],
    names: Iterable[str],
    *,
    fire: bool,
    concurrency: int | None = None,
    amount: Decimal | None = None,
    paths: Paths | None = None,
    notify: tuple[str, ...] = (),
) -> FanoutReport:
    """One fan-out run for the CLI, the window and the webhook alike: the named accounts opened
    and logged in together, planned (`fire=False`, nothing sent) or fired, then closed; after a
    fired run, one message per account to its notify URLs and `notify` (after trading,
    bounded: a failing notifier only says so). An account that cannot open is in the report as
    skipped, with the reason."""
    from gui_trader.engine.events import EventHub as Hub
    from gui_trader.engine.fanout import (
        DEFAULT_CONCURRENCY,
        SKIPPED,
        AccountResult,
        Fanout,
        Member,
    )
    from gui_trader.engine.run_messages import notify_run, read_fills

    paths = (paths or Paths.resolve()).ensure()
    config = Config.load(paths.config)
    fleet = await open_fleet(Hub(), names, paths=paths)
    try:
        await fleet.login()
        members = [
            Member(e, config.accounts[e.account].fanout, fleet.unusable.get(e.account))
            for e in fleet
        ]
        if not members:
            reasons = "; ".join(f"{n}: {r}" for n, r in fleet.unusable.items())
            raise NoAccount(f"no account could be opened ({reasons})")
        fanout = Fanout(members, concurrency=concurrency or DEFAULT_CONCURRENCY, amount=amount)
        report = await (fanout.fire(signals) if fire else fanout.plan(signals))
        for name, reason in fleet.unusable.items():
            if name not in fleet.engines:  # never opened: still in the report, skipped
                for sig in report.signals:
                    sig.accounts.append(AccountResult(name, SKIPPED, reason))
        fills = await read_fills(fleet, report) if report.sent else {}
    finally:
        await fleet.close()
    if report.sent:  # trading is over: the messages cannot delay it
        urls = {n: (*await account_notify(paths, config, n), *notify) for n in report.totals()}
        await notify_run(report, urls, fills)
    return report


async def account_notify(paths: Paths, config: Config, name: str) -> tuple[str, ...]:
    """An account's notify URLs: the keyring's, and any an older config.toml still has."""
    acct = config.accounts.get(name)
    if acct is None:
        return ()
    stored = await asyncio.to_thread(load_notify, VaultKey(paths.keyring_scope, name, acct.ucc))
    return tuple(dict.fromkeys((*stored, *acct.fanout.notify)))


class NoAccount(LookupError):
    """None of the accounts a signal run asked for could be opened."""
