"""The message each account's trader gets after a fan-out run: one per account, listing its
orders (placed with order id and qty, skipped or failed with the reason, fills when known),
written to the log (the desktop's part until the window's tray takes it) and sent through
Apprise to the account's `--notify` URLs and the run's own.

Trading never waits for it: messages are composed from the finished report and delivered
afterwards, each URL in a daemon worker thread (Apprise is blocking), all of them together
under one bound (`DELIVERY_BOUND_S`). A URL that fails or does not answer in time makes its
account "not notified" with a warning; a stuck notifier is left behind, never waited for,
not even at exit. URLs carry tokens: they are registered as secrets and shown masked.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gui_trader.broker.base import BrokerError
from gui_trader.broker.redact import register_secret
from gui_trader.core.order import Order
from gui_trader.engine.fanout import FAILED, PLACED, SKIPPED, FanoutReport
from gui_trader.engine.trading import TradingEngine

log = logging.getLogger(__name__)

DELIVERY_BOUND_S = 10.0  # every message to every URL, all together
FILLS_BOUND_S = 3.0  # reading the books for fills after the run
MAX_WORKERS = 8  # notifier threads at once
TITLE = "gui-trader"

Sender = Callable[[str, str, str], bool]  # (url, title, body) -> delivered


@dataclass
class AccountMessage:
    account: str
    title: str
    lines: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return "\n".join(self.lines)


def mask_url(url: str) -> str:
    """Only the scheme shows: whatever follows it may be a token (`tgram://BOT_TOKEN/CHAT`)."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep else "***"


def protect(urls: Iterable[str]) -> None:
    """Register every notify URL (and what follows its scheme) with the log redaction."""
    for url in urls:
        register_secret(url)
        register_secret(url.partition("://")[2])


async def read_fills(
    engines: Iterable[TradingEngine], report: FanoutReport, bound_s: float = FILLS_BOUND_S
) -> dict[tuple[str, str], Order]:
    """The placed orders as the broker's book shows them now, keyed (account, order id):
    one read per account that placed something, all at once, best effort within `bound_s`."""
    placed = {
        a.account
        for s in report.signals
        for a in s.accounts
        if a.status == PLACED and a.order_id is not None
    }
    wanted = [e for e in engines if e.account in placed]
    if not wanted:
        return {}

    async def one(engine: TradingEngine) -> list[Order]:
        try:
            return await engine.read_orders()
        except (BrokerError, OSError) as exc:
            log.info("%s: fills not read: %s", engine.account, exc)
            return []

    tasks = [asyncio.ensure_future(one(e)) for e in wanted]
    done, pending = await asyncio.wait(tasks, timeout=bound_s)
    for t in pending:
        t.cancel()
    out: dict[tuple[str, str], Order] = {}
    for engine, task in zip(wanted, tasks, strict=True):
        if task in done and not task.cancelled() and task.exception() is None:
            for order in task.result():
                out[(engine.account, order.order_id)] = order
    return out


def compose(
    report: FanoutReport, fills: Mapping[tuple[str, str], Order] | None = None
) -> dict[str, AccountMessage]:
    """One message per account in the report, its orders in signal order."""
    fills = fills or {}
    messages: dict[str, AccountMessage] = {}
    counts: dict[str, dict[str, int]] = {}
    for sig in report.signals:
        s = sig.signal
        what = f"{s.side.label} {s.symbol}" + (f" @ {s.price}" if s.price is not None else "")
        for a in sig.accounts:
            msg = messages.setdefault(a.account, AccountMessage(a.account, ""))
            n = counts.setdefault(a.account, {PLACED: 0, SKIPPED: 0, FAILED: 0})
            n[a.status] = n.get(a.status, 0) + 1
            if a.status == PLACED:
                line = (
                    f"{what}: placed qty {a.qty}{' (exit)' if a.exit else ''}, order {a.order_id}"
                )
                order = fills.get((a.account, a.order_id or ""))
                if order is not None:
                    line += f", {fill_text(order)}"
            elif a.status == SKIPPED:
                line = f"{what}: skipped: {a.reason}"
            else:
                qty = f" qty {a.qty}" if a.qty else ""
                line = f"{what}{qty}: {a.status}: {a.reason}"
            msg.lines.append(line)
    b = report.breaker
    for name, msg in messages.items():
        n = counts[name]
        msg.title = f"{TITLE} {name}: {n[PLACED]} placed, {n[SKIPPED]} skipped, {n[FAILED]} failed"
        if b.tripped:
            msg.lines.append(
                f"CIRCUIT BREAKER: {b.failed} of {b.attempted} accounts failed on {b.signal};"
                f" not sent: {', '.join(b.not_sent) or 'nothing was left'}"
            )
    return messages


def fill_text(order: Order) -> str:
    if order.filled_qty > 0:
        return f"filled {order.filled_qty} @ {order.avg_price} ({order.status.value})"
    return f"{order.status.value}, nothing filled yet"


def apprise_send(url: str, title: str, body: str) -> bool:
    """One message to one Apprise URL (blocking; Apprise's own timeouts apply)."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ValueError("not a URL Apprise knows")
    return bool(plugin.notify(body=body, title=title))


async def deliver(
    messages: Mapping[str, AccountMessage],
    urls: Mapping[str, Sequence[str]],
    *,
    bound_s: float = DELIVERY_BOUND_S,
    send: Sender = apprise_send,
) -> dict[str, bool]:
    """Log every message, send each to its account's URLs; for every account with URLs,
    whether all of them delivered (one without is logged only). Never raises for a notifier."""
    logging.getLogger("apprise").setLevel(logging.ERROR)  # our warning says it, masked
    protect(u for us in urls.values() for u in us)
    jobs: list[tuple[str, str]] = []
    for name, msg in messages.items():
        log.info("%s | %s", msg.title, " | ".join(msg.lines))
        jobs += [(name, url) for url in dict.fromkeys(urls.get(name, ()))]
    notified = {name: True for name in messages if urls.get(name)}
    if not jobs:
        return notified
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in jobs]
    work: queue.SimpleQueue[int | None] = queue.SimpleQueue()

    def settle(fut: asyncio.Future[str | None], error: str | None) -> None:
        if not fut.done():
            fut.set_result(error)

    def worker() -> None:
        while (i := work.get()) is not None:
            name, url = jobs[i]
            msg = messages[name]
            try:
                error = None if send(url, msg.title, msg.body) else "the notifier refused it"
            except Exception as exc:  # a notifier's failure is reported, never raised
                error = f"{type(exc).__name__}: {exc}"
            try:
                loop.call_soon_threadsafe(settle, futures[i], error)
            except RuntimeError:  # the run is over and its loop closed: nobody waits for it
                return

    for i in range(len(jobs)):
        work.put(i)
    workers = min(MAX_WORKERS, len(jobs))
    for _ in range(workers):
        work.put(None)
        threading.Thread(target=worker, name="notify", daemon=True).start()
    await asyncio.wait(futures, timeout=bound_s)
    for (name, url), fut in zip(jobs, futures, strict=True):
        error = fut.result() if fut.done() else f"no answer within {bound_s:g} s"
        if error is not None:
            notified[name] = False
            log.warning("%s: not notified via %s: %s", name, mask_url(url), error)
    return notified


async def notify_run(
    report: FanoutReport,
    urls: Mapping[str, Sequence[str]],
    fills: Mapping[tuple[str, str], Order] | None = None,
    *,
    bound_s: float = DELIVERY_BOUND_S,
    send: Sender = apprise_send,
) -> dict[str, bool]:
    """After a run that sent: compose, log and deliver; `report.notified` is filled in."""
    if not report.sent:
        return {}
    notified = await deliver(compose(report, fills), urls, bound_s=bound_s, send=send)
    report.notified.update(notified)
    return notified


__all__ = ["AccountMessage", "compose", "deliver", "mask_url", "notify_run", "read_fills"]
