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


def body() -> str:
    global _counter
    _counter += 1
    return urlencode(
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
                    "ig": f"B{os.getpid() % 1000}{_counter}",
                    "os": "NEOTRADEAPI",
                }
            )
        }
    )


Sender = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_aiohttp(url: str) -> AsyncIterator[Sender]:
    headers, base = await session_headers(url)
    async with aiohttp.ClientSession() as s:

        async def send() -> None:
            async with s.post(
                f"{base}/quick/order/rule/ms/place", data=body(), headers=headers
            ) as r:
                assert (await r.json())["stat"] == "Ok"

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

        async def send() -> None:
            async with gate:  # type: ignore[attr-defined]
                r = await c.post(
                    f"{base}/quick/order/rule/ms/place", content=body(), headers=headers
                )
            assert r.json()["stat"] == "Ok"

        yield send


@contextlib.asynccontextmanager
async def neo_client(url: str, concurrency: int) -> AsyncIterator[Sender]:
    """The app's own client: limiter, semaphore, session, jData, reply classification."""
    limits = ClientLimits(orders_per_second=1e6, requests_per_second=1e6, concurrency=concurrency)
    c = NeoClient("b", creds(), MemorySessionStore(), login_url=url, limits=limits)
    await c.login()
    inst = Instrument("nse_cm", "2885", "RELIANCE-EQ", "RELIANCE")
    n = 0

    async def send() -> None:
        nonlocal n
        n += 1
        await c.place(OrderRequest(inst, Side.BUY, 1, tag=f"N{os.getpid() % 1000}{n}"))

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


async def measure(make: Callable[[], Any], latency_ms: float, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with make() as send:
        for _ in range(3):  # warm the connections
            await asyncio.gather(*(send() for _ in range(10)))
        for n in SIZES:
            errors = 0
            last_error = [""]
            per_order: list[float] = []
            walls: list[float] = []
            lags: list[float] = []
            for _ in range(rounds):
                stop = asyncio.Event()
                tick = asyncio.create_task(ticker(lags, stop))

                async def timed(
                    per_order: list[float] = per_order, last_error: list[str] = last_error
                ) -> None:
                    nonlocal errors
                    t = time.perf_counter()
                    try:
                        await send()
                    except Exception as exc:
                        errors += 1
                        last_error[0] = f"{type(exc).__name__}: {exc}"[:120]
                        return
                    per_order.append((time.perf_counter() - t) * 1000 - latency_ms)

                t0 = time.perf_counter()
                await asyncio.gather(*(timed() for _ in range(n)))
                walls.append((time.perf_counter() - t0) * 1000)
                stop.set()
                await tick
            per_order.sort() if per_order else per_order.append(float("nan"))
            lags.sort()
            out[str(n)] = {
                "errors": errors,
                **({"error": last_error[0]} if errors else {}),
                "burst_wall_ms_p50": round(statistics.median(walls), 1),
                "overhead_ms_p50": round(per_order[len(per_order) // 2], 2),
                "overhead_ms_p99": round(
                    per_order[min(len(per_order) - 1, int(len(per_order) * 0.99))], 2
                ),
                "loop_lag_ms_p50": round(lags[len(lags) // 2], 2) if lags else 0.0,
                "loop_lag_ms_p99": round(lags[int(len(lags) * 0.99)], 2) if lags else 0.0,
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
            results[name] = await measure(functools.partial(make, url), latency_ms, rounds)
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
