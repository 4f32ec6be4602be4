"""`gui-trader webhook`: charting alerts in, the same fan-out as `gui-trader signal ... --yes` out.

A loopback HTTP endpoint (127.0.0.1 unless --host says otherwise) takes the JSON that alert
services post, `{"symbol", "side", "price"?, "product"?, "qty"?, "group"? | "accounts"?,
"token"?}`, after a secret token (header `X-Token`, query `?token=` or the body's "token",
compared in constant time). Each accepted alert is queued (bounded) and run one at a time by
one worker through `run_signals`, the CLI's own path; the answer is 202 with the outcome, or
with "queued" and where to ask (`GET /alerts/<id>`, same token) when the run takes longer than
the answer may wait (2.5 s by default: alert services give up after about 3 s). Refused before
anything is sent: 401 bad or missing token (nothing else said), 413 body too large, 400 not
JSON, 422 bad fields, 503 queue full. SIGTERM or Ctrl-C: the running alert finishes, queued
ones are not sent, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from gui_trader.cli.args import EXIT_BAD_INPUT, EXIT_FAILED, CommandError, seconds, whole
from gui_trader.cli.output import EXIT_UNKNOWN
from gui_trader.config import Config, Paths
from gui_trader.core import limits as L
from gui_trader.core.order import Product

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from gui_trader.engine.fanout import Signal

log = logging.getLogger(__name__)

TOKEN_ENV = "GUI_TRADER_WEBHOOK_TOKEN"
KEYRING_ENTRY = "webhook-token"
MIN_TOKEN_CHARS = 16
MAX_BODY_BYTES = 16_384
QUEUE_SIZE = 16
ANSWER_WAIT_S = 2.5  # how long an answer waits for its outcome (alert services wait ~3 s)
MAX_ANSWER_WAIT_S = 60.0
KEPT_OUTCOMES = 256  # alerts whose outcome `GET /alerts/<id>` can still tell
SHUTDOWN_WAIT_S = 60.0  # how long a stop waits for the running alert to finish
FIELDS = {"symbol", "side", "price", "product", "qty", "group", "accounts", "token"}
SIDES = {"buy": "buy", "b": "buy", "sell": "sell", "s": "sell"}


class Refused(Exception):
    """An alert refused before anything was sent: HTTP status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Alert:
    signal: Signal
    group: str | None = None
    accounts: tuple[str, ...] = ()


def parse_alert(doc: Any) -> Alert:
    """The alert's fields, each checked as `gui-trader signal` checks them (Refused 422)."""
    from gui_trader.cli.signal import SIDES as SIDE_OF
    from gui_trader.engine.fanout import Signal

    if not isinstance(doc, dict):
        raise Refused(422, "expected a JSON object")
    unknown = sorted(set(doc) - FIELDS)
    if unknown:
        raise Refused(422, f"unknown field {str(unknown[0])[:40]!r} (known: {sorted(FIELDS)})")
    symbol = doc.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise Refused(422, "symbol: a non-empty string is needed")
    symbol = symbol.strip()
    if len(symbol) > 60 or not symbol.isprintable():
        raise Refused(422, f"symbol: bad symbol {symbol[:30]!r}")
    side = doc.get("side")
    if not isinstance(side, str) or side.strip().lower() not in SIDES:
        raise Refused(422, "side: must be buy or sell")
    price = _price(doc.get("price"))
    product = doc.get("product")
    if product is not None:
        names = [p.value for p in Product if p is not Product.MTF]
        if not isinstance(product, str) or product.strip().upper() not in names:
            raise Refused(422, f"product: must be one of {', '.join(names)}")
        product = Product(product.strip().upper())
    qty = doc.get("qty")
    if qty is not None:
        if isinstance(qty, str) and qty.strip().isdigit():
            qty = int(qty.strip())
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= L.MAX_QTY:
            raise Refused(422, f"qty: a whole number 1-{L.MAX_QTY} is needed")
    group, accounts = doc.get("group"), doc.get("accounts")
    if group is not None and accounts is not None:
        raise Refused(422, "give group or accounts, not both")
    if group is not None and (not isinstance(group, str) or not 0 < len(group) <= 32):
        raise Refused(422, "group: a label of up to 32 characters is needed")
    names_given: tuple[str, ...] = ()
    if accounts is not None:
        if isinstance(accounts, str):
            accounts = accounts.split(",")
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise Refused(422, 'accounts: a list of names (or "A,B") is needed')
        names_given = tuple(dict.fromkeys(a.strip() for a in accounts if a.strip()))
        if not names_given or len(names_given) > L.MAX_FANOUT_ACCOUNTS:
            raise Refused(422, f"accounts: 1-{L.MAX_FANOUT_ACCOUNTS} names are needed")
    sig = Signal(symbol, SIDE_OF[side.strip().lower()], price, product, qty)
    return Alert(sig, group, names_given)


def _price(raw: Any) -> Decimal | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise Refused(422, "price: a number is needed")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise Refused(422, "price: a number is needed") from None
    if not value.is_finite() or not 0 < value <= L.MAX_PRICE:
        raise Refused(422, f"price: must be above 0 and at most {L.MAX_PRICE}")
    return value


def read_token(env_name: str | None) -> str:
    """The secret: the named environment variable, else $GUI_TRADER_WEBHOOK_TOKEN, else the
    keyring's `webhook-token` entry. None, or a short one: the webhook does not start."""
    token = os.environ.get(env_name or TOKEN_ENV, "")
    if not token and env_name is None:
        try:
            from gui_trader.broker.vault import SERVICE, load_backend

            token = load_backend().get_password(SERVICE, KEYRING_ENTRY) or ""
        except Exception:  # no usable keyring: as if the entry were missing
            token = ""
    if not token:
        where = f"${env_name}" if env_name else f"${TOKEN_ENV} or the keyring ({KEYRING_ENTRY})"
        raise CommandError(
            f"webhook: no secret token in {where}; refusing to start", EXIT_BAD_INPUT
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise CommandError(
            f"webhook: the token must be at least {MIN_TOKEN_CHARS} characters", EXIT_BAD_INPUT
        )
    from gui_trader.broker.redact import register_secret

    register_secret(token)
    return token


@dataclass
class Job:
    id: str
    alert: Alert
    names: list[str]
    done: asyncio.Future[dict[str, Any]]
    state: str = "queued"  # queued | running | done


@dataclass
class Webhook:
    """The endpoint's state: its token, its queue and the one worker that empties it."""

    token: str
    paths: Paths
    notify: tuple[str, ...] = ()
    answer_wait_s: float = ANSWER_WAIT_S
    queue: asyncio.Queue[Job] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    accepted: int = 0  # alerts queued to be sent
    closing: bool = False
    jobs: dict[str, Job] = field(default_factory=dict)  # the latest KEPT_OUTCOMES, by id

    def authorized(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.token.encode()
        )

    async def receive(self, request: Request) -> JSONResponse:
        from starlette.responses import JSONResponse

        try:
            job = await self.admit(request)
        except Refused as exc:
            if exc.status == 401:
                log.warning(
                    "webhook: refused an alert from %s: bad or missing token", _peer(request)
                )
            else:
                log.warning("webhook: refused an alert (%d): %s", exc.status, exc.reason)
            return JSONResponse({"accepted": False, "error": exc.reason}, exc.status)
        log.info("webhook: alert %s queued: %s", job.id, job.alert.signal)
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(job.done), self.answer_wait_s)
        return self.answer(job)

    def answer(self, job: Job) -> JSONResponse:
        from starlette.responses import JSONResponse

        if not job.done.done():
            where = f"/alerts/{job.id}"
            return JSONResponse(
                {"accepted": True, "id": job.id, "queued": True, "state": job.state, "at": where},
                202,
            )
        outcome = job.done.result()
        if outcome.get("bad_input"):  # e.g. an unknown symbol: nothing was sent
            return JSONResponse({"accepted": False, "id": job.id, "error": outcome["error"]}, 422)
        return JSONResponse({"accepted": True, "id": job.id, "state": job.state, **outcome}, 202)

    async def status(self, request: Request) -> JSONResponse:
        """`GET /alerts/<id>`: an alert's state and, once done, its outcome (same token)."""
        from starlette.responses import JSONResponse

        given = request.headers.get("x-token") or request.query_params.get("token")
        if not self.authorized(given):
            return JSONResponse({"error": "bad or missing token"}, 401)
        job = self.jobs.get(str(request.path_params.get("id", "")))
        if job is None:
            return JSONResponse({"error": "no such alert (or an old one)"}, 404)
        response = self.answer(job)
        response.status_code = 200
        return response

    async def admit(self, request: Request) -> Job:
        """Checked in this order: size, token, JSON, fields, accounts, room in the queue."""
        if self.closing:
            raise Refused(503, "shutting down: not accepting alerts")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise Refused(413, f"body larger than {MAX_BODY_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise Refused(413, f"body larger than {MAX_BODY_BYTES} bytes")
        given = request.headers.get("x-token") or request.query_params.get("token")
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            if not self.authorized(given):
                raise Refused(401, "bad or missing token") from None
            raise Refused(400, f"body is not JSON: {exc}") from None
        if not self.authorized(given) and not (
            isinstance(doc, dict) and self.authorized(doc.get("token"))
        ):
            raise Refused(401, "bad or missing token")
        alert = parse_alert(doc)
        names = self.accounts_for(alert)
        job = Job(uuid.uuid4().hex[:12], alert, names, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Refused(503, f"{QUEUE_SIZE} alerts already waiting: not sent") from None
        self.accepted += 1
        self.jobs[job.id] = job
        while len(self.jobs) > KEPT_OUTCOMES:  # the oldest go first (dicts keep order)
            del self.jobs[next(iter(self.jobs))]
        return job

    def accounts_for(self, alert: Alert) -> list[str]:
        from gui_trader.cli.signal import chosen_accounts

        config = Config.load(self.paths.config)
        args = argparse.Namespace(accounts=",".join(alert.accounts) or None, group=alert.group)
        try:
            return chosen_accounts(args, config)
        except CommandError as exc:
            raise Refused(422, str(exc)) from None

    async def work(self) -> None:
        """One alert at a time, in arrival order, each through the CLI's fan-out path."""
        from gui_trader.cli.signal import outcome, run_signals

        while True:
            job = await self.queue.get()
            job.state = "running"
            try:
                report = await run_signals(
                    [job.alert.signal], job.names, self.paths, send=True, notify=self.notify
                )
                status, payload, text = outcome(report)
                code = 0 if status is True else (EXIT_FAILED if status is False else int(status))
                result = {"ok": code == 0, "exit": code, "report": payload}
                log.info("webhook: alert %s done (exit %d)\n%s", job.id, code, text)
            except CommandError as exc:
                result = {
                    "ok": False,
                    "exit": exc.code,
                    "error": str(exc),
                    "bad_input": exc.code == EXIT_BAD_INPUT,
                }
                log.warning("webhook: alert %s not sent: %s", job.id, exc)
            except Exception as exc:  # one alert's failure never stops the endpoint
                log.exception("webhook: alert %s failed", job.id)
                result = {"ok": False, "exit": EXIT_UNKNOWN, "error": f"{type(exc).__name__}"}
            finally:
                self.queue.task_done()
            job.state = "done"
            if not job.done.done():
                job.done.set_result(result)

    @asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        worker = asyncio.create_task(self.work(), name="webhook-worker")
        try:
            yield
        finally:
            self.closing = True
            dropped = 0
            while not self.queue.empty():  # not started: not sent
                job = self.queue.get_nowait()
                self.queue.task_done()
                dropped += 1
                job.state = "done"
                if not job.done.done():
                    job.done.set_result({"ok": False, "error": "shutting down: not sent"})
            if dropped:
                log.warning("webhook: %d queued alerts not sent (shutting down)", dropped)
            try:  # the running alert finishes: its orders are in flight
                await asyncio.wait_for(self.queue.join(), SHUTDOWN_WAIT_S)
            except TimeoutError:
                log.error("webhook: the running alert did not finish in %g s", SHUTDOWN_WAIT_S)
            worker.cancel()

    def app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(
            routes=[
                Route("/", self.receive, methods=["POST"]),
                Route("/alerts/{id}", self.status, methods=["GET"]),
            ],
            lifespan=self.lifespan,
        )


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def uvicorn_config(app: Starlette, sock: socket.socket) -> Any:
    import uvicorn

    host, port = sock.getsockname()[:2]
    return uvicorn.Config(
        app,
        host=host,
        port=int(port),
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        h11_max_incomplete_event_size=MAX_BODY_BYTES,
        limit_concurrency=64,
        timeout_graceful_shutdown=int(SHUTDOWN_WAIT_S),
    )


def run_webhook(args: argparse.Namespace) -> int:
    import uvicorn

    from gui_trader.app import setup_logging
    from gui_trader.cli.signal import notify_urls

    paths = Paths.resolve().ensure()
    setup_logging(paths, verbose=bool(getattr(args, "verbose", False)))
    token = read_token(args.token_env)
    notify = notify_urls(args.notify)
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        raise CommandError(
            f"webhook: {args.host}:{args.port} is not free ({exc.strerror})"
        ) from None
    host, port = sock.getsockname()[:2]
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("webhook: listening on %s, beyond this machine: keep the token secret", host)
    hook = Webhook(token, paths, notify, answer_wait_s=args.answer_wait)
    server = uvicorn.Server(uvicorn_config(hook.app(), sock))

    def stop(*_: object) -> None:
        server.should_exit = True

    # As `gui-trader sim`: uvicorn stops in order, then re-raises to our handler, which only
    # asks it to stop, so the process ends with 0.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"webhook listening on http://{host}:{port}/ (POST alerts; Ctrl-C stops)", flush=True)
    server.run(sockets=[sock])
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    from gui_trader.cli.signal import notify_url

    p.add_argument("--port", type=whole(0, 65535), required=True, help="0: any free port")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (loopback)")
    p.add_argument(
        "--answer-wait",
        type=seconds(0, MAX_ANSWER_WAIT_S),
        default=ANSWER_WAIT_S,
        metavar="S",
        help=f"how long an answer waits for the alert's outcome (default {ANSWER_WAIT_S:g} s;"
        " later, GET /alerts/<id> tells it)",
    )
    p.add_argument(
        "--token-env",
        metavar="VAR",
        help=f"the environment variable holding the secret token (default: {TOKEN_ENV},"
        f" then the keyring's {KEYRING_ENTRY!r})",
    )
    p.add_argument(
        "--notify",
        action="append",
        type=notify_url,
        metavar="URL",
        help="an Apprise URL for every account's message after each alert (repeatable)",
    )


__all__ = ["Webhook", "add_arguments", "parse_alert", "read_token", "run_webhook"]
