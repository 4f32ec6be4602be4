"""Order bursts over loopback: client overhead per order above the server's own latency.

Prints one JSON document. Not a test: figures depend on the machine. Usage:
    .venv/bin/python tests/benchmarks/bench_orders.py [--latency-ms 20] [--rounds 5]

The simulator runs in its own process (uvicorn, HTTP/1.1; hypercorn for the HTTP/2 variant)
so the client's event loop is measured alone. Each variant sends N concurrent place requests
(N = 1, 10, 100, 500) with unique tags; we record each order's round trip, the burst's wall time
and the client's event-loop lag (a 2 ms ticker's lateness) during the bursts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx

from gui_trader.broker.neo import ClientLimits, NeoClient
from gui_trader.broker.session import MemorySessionStore
from gui_trader.broker.vault import Credentials
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, Side
from gui_trader.sim.exchange import PAPER_USER as U

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1, 10, 100, 500)
CPU_ORDERS = 20
SERVER_SCRIPT = """
import sys, asyncio
from gui_trader.sim.serve import build
port, latency, kind = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
app = build(port, latency_ms=latency)
if kind == "uvicorn":
    from gui_trader.sim.serve import serve_forever
    serve_forever(app, port)
else:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    c = Config(); c.bind = [f"127.0.0.1:{port}"]; c.loglevel = "WARNING"; c.backlog = 4096
    asyncio.run(serve(app, c))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(latency_ms: float, kind: str = "uvicorn") -> Any:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(port), str(latency_ms), kind],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 20
    while True:  # a benchmark may poll for its server; tests never do
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("server did not start") from None
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def session_headers(url: str) -> tuple[dict[str, str], str]:
    c = NeoClient(
        "b", creds(), MemorySessionStore(), login_url=url, transport=httpx.AsyncHTTPTransport()
    )
    s = await c.session.get()
    await c.close()
    return {
        "Sid": s.sid,
        "Auth": s.token,
        "Content-Type": "application/x-www-form-urlencoded",
    }, s.base_url


def creds() -> Credentials:
    return Credentials(U.consumer_key, U.mobile, U.ucc, U.mpin, U.totp_secret)


_counter = 0


def body() -> tuple[str, str]:
    """A place request's form body and its tag."""
    global _counter
    _counter += 1
    tag = f"B{os.getpid() % 1000}{_counter}"
    return tag, urlencode(
        {
            "jData": json.dumps(
                {
                    "am": "NO",
                    "dq": "0",
                    "es": "nse_cm",
                    "mp": "0",
                    "pc": "MIS",
                    "pr": "0",
                    "pt": "MKT",
                    "qt": "1",
                    "rt": "DAY",
                    "tp": "0",
                    "ts": "RELIANCE-EQ",
                    "tt": "B",
                    "ig": tag,
                    "os": "NEOTRADEAPI",
                }
            )
        }
    )


Sender = Callable[[], Awaitable[str]]  # sends one order, returns its tag


@contextlib.asynccontextmanager
async def raw_aiohttp(url: str) -> AsyncIterator[Sender]:
    headers, base = await session_headers(url)
    async with aiohttp.ClientSession() as s:

        async def send() -> str:
            tag, form = body()
            async with s.post(f"{base}/quick/order/rule/ms/place", data=form, headers=headers) as r:
                assert (await r.json())["stat"] == "Ok"
            return tag

        yield send


@contextlib.asynccontextmanager
async def plain_httpx(
    url: str,
    *,
    pool: int | None,
    sem: int | None,
    http2: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Sender]:
    headers, base = await session_headers(url)
    limits = (
        httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        if pool
        else httpx.Limits()
    )
    gate = asyncio.Semaphore(sem) if sem else contextlib.nullcontext()
    kw: dict[str, Any] = {"http1": False, "http2": True} if http2 else {}
    async with httpx.AsyncClient(limits=limits, transport=transport, **kw) as c:

        async def send() -> str:
            tag, form = body()
            async with gate:  # type: ignore[attr-defined]
                r = await c.post(f"{base}/quick/order/rule/ms/place", content=form, headers=headers)
            assert r.json()["stat"] == "Ok"
            return tag

        yield send


@contextlib.asynccontextmanager
async def neo_client(url: str, concurrency: int) -> AsyncIterator[Sender]:
    """The app's own client: limiter, semaphore, session, jData, reply classification."""
    limits = ClientLimits(orders_per_second=1e6, requests_per_second=1e6, concurrency=concurrency)
    c = NeoClient("b", creds(), MemorySessionStore(), login_url=url, limits=limits)
    await c.login()
    inst = Instrument("nse_cm", "2885", "RELIANCE-EQ", "RELIANCE")
    n = 0

    async def send() -> str:
        nonlocal n
        n += 1
        tag = f"N{os.getpid() % 1000}{n}"
        await c.place(OrderRequest(inst, Side.BUY, 1, tag=tag))
        return tag

    try:
        yield send
    finally:
        await c.close()


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    period = 0.002
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(max(0.0, time.perf_counter() - t - period) * 1000)


async def server_times(url: str) -> dict[str, float]:
    """Each place's time inside the simulator (arrival to reply start, ms) by tag."""
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{url}/_sim/place_times")
        return dict(r.json()["place_ms"]) if r.status_code == 200 else {}


def pcts(data: list[float]) -> tuple[float, float]:
    data = sorted(data) or [float("nan")]
    return round(data[len(data) // 2], 2), round(data[min(len(data) - 1, int(len(data) * 0.99))], 2)


async def measure(
    make: Callable[[], Any], latency_ms: float, rounds: int, url: str
) -> dict[str, Any]:
    """Per size: each order's round trip less the configured latency ("overhead"), and less
    the server's own measured time for that order ("client_overhead": the client, the loopback
    and uvicorn's HTTP framing — what the client's code can still change)."""
    out: dict[str, Any] = {}
    async with make() as send:
        for _ in range(3):  # warm the connections
            await asyncio.gather(*(send() for _ in range(10)))
        # The client's own CPU per order, one at a time and nothing else running in this
        # process (the simulator is another process): the cost the client's code adds.
        cpu = []
        for _ in range(rounds):
            c0 = time.process_time()
            for _ in range(CPU_ORDERS):
                await send()
            cpu.append((time.process_time() - c0) / CPU_ORDERS * 1000)
        out["client_cpu_ms_per_order"] = round(statistics.median(cpu), 3)
        for n in SIZES:
            errors = 0
            last_error = [""]
            per_order: list[float] = []
            trips: dict[str, float] = {}
            walls: list[float] = []
            lags: list[float] = []
            for _ in range(rounds):
                stop = asyncio.Event()
                tick = asyncio.create_task(ticker(lags, stop))

                async def timed(
                    last_error: list[str] = last_error, trips: dict[str, float] = trips
                ) -> None:
                    nonlocal errors
                    t = time.perf_counter()
                    try:
                        tag = await send()
                    except Exception as exc:
                        errors += 1
                        last_error[0] = f"{type(exc).__name__}: {exc}"[:120]
                        return
                    trips[tag] = (time.perf_counter() - t) * 1000

                t0 = time.perf_counter()
                await asyncio.gather(*(timed() for _ in range(n)))
                walls.append((time.perf_counter() - t0) * 1000)
                stop.set()
                await tick
            inside = await server_times(url)
            per_order = [ms - latency_ms for ms in trips.values()]
            client = [ms - inside[tag] for tag, ms in trips.items() if tag in inside]
            server = [inside[tag] for tag in trips if tag in inside]
            o50, o99 = pcts(per_order)
            c50, c99 = pcts(client)
            s50, _ = pcts(server)
            l50, l99 = pcts(lags) if lags else (0.0, 0.0)
            out[str(n)] = {
                "errors": errors,
                **({"error": last_error[0]} if errors else {}),
                "burst_wall_ms_p50": round(statistics.median(walls), 1),
                "overhead_ms_p50": o50,
                "overhead_ms_p99": o99,
                "server_ms_p50": s50,
                "client_overhead_ms_p50": c50,
                "client_overhead_ms_p99": c99,
                "loop_lag_ms_p50": l50,
                "loop_lag_ms_p99": l99,
            }
    return out


async def main_async(latency_ms: float, rounds: int, only: str | None) -> dict[str, Any]:
    from httpx_aiohttp import AiohttpTransport

    variants: dict[str, tuple[str, Callable[[str], Any]]] = {
        "raw_aiohttp": ("uvicorn", lambda u: raw_aiohttp(u)),
        "httpx_default_pool": ("uvicorn", lambda u: plain_httpx(u, pool=None, sem=None)),
        "httpx_pool10_sem10": ("uvicorn", lambda u: plain_httpx(u, pool=10, sem=10)),
        "httpx_aiohttp_transport": (
            "uvicorn",
            lambda u: plain_httpx(u, pool=None, sem=None, transport=AiohttpTransport()),
        ),
        "gui_trader_client": ("uvicorn", lambda u: neo_client(u, concurrency=10)),
        "gui_trader_client_c32": ("uvicorn", lambda u: neo_client(u, concurrency=32)),
        "httpx_http2_h2c_hypercorn": (
            "hypercorn",
            lambda u: plain_httpx(u, pool=None, sem=None, http2=True),
        ),
        "httpx_aiohttp_transport_hypercorn": (
            "hypercorn",
            lambda u: plain_httpx(u, pool=None, sem=None, transport=AiohttpTransport()),
        ),
    }
    results: dict[str, Any] = {}
    for name, (kind, make) in variants.items():
        if only and (only not in name or (only in variants and only != name)):
            continue  # a substring picks variants; an exact name picks that one alone
        if kind == "hypercorn":
            try:
                import h2  # noqa: F401
                import hypercorn  # noqa: F401
            except ImportError:
                results[name] = "skipped: pip install -e '.[bench]' for hypercorn + h2"
                continue
        with server(latency_ms, kind) as url:
            results[name] = await measure(functools.partial(make, url), latency_ms, rounds, url)
        print(f"{name}: {json.dumps(results[name]['100'])}", file=sys.stderr)
    return results


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only")
    a = p.parse_args()
    results = asyncio.run(main_async(a.latency_ms, a.rounds, a.only))
    print(
        json.dumps(
            {
                "server_latency_ms": a.latency_ms,
                "rounds": a.rounds,
                "cpu_count": os.cpu_count(),
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
