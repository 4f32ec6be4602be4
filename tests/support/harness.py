"""Real parts wired for tests: the Neo client against the simulator, in process or over loopback."""

from __future__ import annotations

import httpx

from gui_trader.broker.neo import ClientLimits, NeoClient
from gui_trader.broker.session import MemorySessionStore, SessionStore
from gui_trader.broker.vault import Credentials
from gui_trader.sim.exchange import PAPER_USER, Exchange, SimUser
from gui_trader.sim.faults import FaultPlan
from gui_trader.sim.server import SimServer
from gui_trader.sim.transport import SimTransport

FAST = ClientLimits(
    orders_per_second=5000, requests_per_second=5000, concurrency=16, deadline_s=5.0, landing_s=0.02
)
IN_PROCESS_URL = "http://paper.sim"


def creds(user: SimUser = PAPER_USER) -> Credentials:
    return Credentials(user.consumer_key, user.mobile, user.ucc, user.mpin, user.totp_secret)


def in_process(seed: int = 7, faults: FaultPlan | None = None) -> SimServer:
    return SimServer(Exchange(seed=seed, base_url=IN_PROCESS_URL), faults or FaultPlan())


def client(
    url: str,
    transport: httpx.AsyncBaseTransport | None = None,
    store: SessionStore | None = None,
    limits: ClientLimits = FAST,
    name: str = "test",
) -> NeoClient:
    return NeoClient(
        name,
        creds(),
        store or MemorySessionStore(),
        login_url=url,
        transport=transport,
        limits=limits,
    )


def in_process_client(server: SimServer, **kw: object) -> NeoClient:
    return client(IN_PROCESS_URL, SimTransport(server), **kw)  # type: ignore[arg-type]
