"""Which asyncio websocket client reads a market feed cheapest: `websockets` or aiohttp's.

A loopback `websockets` server sends N binary frames of the size a 200-instrument tick round
makes (about 30 packets of 224 bytes each); each client reads them all. Prints frames/s, CPU
microseconds per frame and the connect time, as JSON.

    python tests/benchmarks/bench_ws_clients.py [--frames 20000] [--size 6720]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

import aiohttp
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve


async def read_websockets(url: str, n: int) -> float:
    t0 = time.perf_counter()
    async with connect(url, max_size=None, proxy=None, compression=None) as ws:
        connected = time.perf_counter() - t0
        for _ in range(n):
            await ws.recv()
    return connected


async def read_websockets_deflate(url: str, n: int) -> float:
    """The library's default (and the broker SDK's): permessage-deflate on."""
    t0 = time.perf_counter()
    async with connect(url, max_size=None, proxy=None) as ws:
        connected = time.perf_counter() - t0
        for _ in range(n):
            await ws.recv()
    return connected


async def read_aiohttp(url: str, n: int) -> float:
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as s, s.ws_connect(url, max_msg_size=0) as ws:
        connected = time.perf_counter() - t0
        for _ in range(n):
            await ws.receive()
    return connected


async def run(frames: int, size: int, rounds: int) -> dict[str, Any]:
    payload = bytes(range(256)) * (size // 256) + b"\0" * (size % 256)

    async def handler(ws: ServerConnection) -> None:
        for _ in range(frames):
            await ws.send(payload)
        await ws.wait_closed()

    results: dict[str, Any] = {}
    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}/"
        clients: dict[str, Callable[[str, int], Awaitable[float]]] = {
            "websockets": read_websockets,
            "websockets_deflate": read_websockets_deflate,
            "aiohttp": read_aiohttp,
        }
        for name, reader in clients.items():
            walls, cpus, connects = [], [], []
            for _ in range(rounds):
                c0, w0 = time.process_time(), time.perf_counter()
                connects.append(await reader(url, frames))
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)  # server and client share the process
            results[name] = {
                "frames_per_s": round(frames / statistics.median(walls)),
                "cpu_us_per_frame_incl_server": round(statistics.median(cpus) / frames * 1e6, 2),
                "connect_ms": round(statistics.median(connects) * 1000, 2),
            }
    return {
        "frames": frames,
        "frame_bytes": size,
        "versions": {"websockets": version("websockets"), "aiohttp": version("aiohttp")},
        **results,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--size", type=int, default=6_720)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a.frames, a.size, a.rounds)), indent=2))


if __name__ == "__main__":
    main()
