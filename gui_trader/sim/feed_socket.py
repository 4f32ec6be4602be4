"""One server-side WebSocket over raw ASGI, with an outbox so a slow client never blocks a tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger(__name__)
OUTBOX_LIMIT = 256  # messages queued for one client; beyond that it is too slow and is dropped
CLOSE_WAIT_S = 2.0  # after our close frame, how long the client has to answer it
GOING_AWAY, POLICY, SLOW, RESTART = 1001, 1008, 1013, 1012
Frame = str | bytes


class FeedSocket:
    """Receive in the handler's task; send through `put` (never blocks) and a pump task."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.path: str = scope.get("path", "/")
        self._outbox: asyncio.Queue[Frame | tuple[int, str]] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._next: asyncio.Future[Message] | None = None  # the pending receive
        self._ended: asyncio.Future[None] | None = None  # set when we give up on the client
        self.closing = False
        self.gone = False

    async def accept(self) -> bool:
        """Complete the handshake; False if the client left before it."""
        message = await self._receive()
        if message["type"] != "websocket.connect":
            return False
        await self._send({"type": "websocket.accept"})
        self._ended = asyncio.get_running_loop().create_future()
        self._pump = asyncio.create_task(self._run_pump())
        return True

    async def recv(self) -> Frame | None:
        """The client's next frame, or None once it has gone."""
        while not self.gone and self._ended is not None:
            if self._next is None:
                self._next = asyncio.ensure_future(self._receive())
            waits: set[asyncio.Future[Any]] = {self._next, self._ended}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if not self._next.done():  # we closed and the client never answered, or it broke
                self.gone = True
                return None
            message, self._next = self._next.result(), None
            if message["type"] == "websocket.disconnect":
                self.gone = True
                return None
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    return str(text)
                data: bytes | None = message.get("bytes")
                if data is not None:
                    return bytes(data)
        return None

    def put(self, frame: Frame) -> None:
        """Queue a frame; a client that lets OUTBOX_LIMIT pile up is closed instead."""
        if self.closing or self.gone:
            return
        if self._outbox.qsize() >= OUTBOX_LIMIT:
            log.warning("feed client on %s too slow: closing it", self.path)
            self.close(SLOW, "too slow")
            return
        self._outbox.put_nowait(frame)

    def close(self, code: int, reason: str = "") -> None:
        """Send what is queued, then the close frame; the client then has CLOSE_WAIT_S to go."""
        if self.closing or self.gone:
            return
        self.closing = True
        self._outbox.put_nowait((code, reason))

    async def _run_pump(self) -> None:
        try:
            while True:
                item = await self._outbox.get()
                if isinstance(item, tuple):
                    code, reason = item
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
                    break
                if isinstance(item, bytes):
                    await self._send({"type": "websocket.send", "bytes": item})
                else:
                    await self._send({"type": "websocket.send", "text": item})
        except Exception as exc:  # the client has gone: its handler learns it from receive()
            log.debug("feed send on %s failed: %s", self.path, exc)
            self.gone = True
        else:  # closed by us: the handler waits for the client's answer, but not forever
            await asyncio.sleep(CLOSE_WAIT_S)
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    async def finish(self) -> None:
        """Stop the pump (the handler is leaving)."""
        self.gone = True
        if self._next is not None:
            self._next.cancel()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
