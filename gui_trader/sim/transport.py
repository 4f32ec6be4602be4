"""In-process paper trading: the simulator behind httpx's ASGI transport, hang-ups included."""

from __future__ import annotations

import httpx

from gui_trader.sim.server import ConnectionDropped


class SimTransport(httpx.ASGITransport):
    """A dropped connection surfaces as the same httpx error a real socket would give."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
