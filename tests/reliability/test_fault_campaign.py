"""A seeded fault campaign: hundreds of single orders through the real CLI (in process) against
one loopback simulator that never refuses a reused tag, each run with one or two faults drawn
from every kind the simulator has, on the place route and sometimes on the look-up (`orders`).

Every run is judged by the server's own book, by tag (DESIGN.md invariants 2, 8 and 9):

- exit 0: exactly one order carries the tag; it is the request (symbol, side, qty, type, price,
  product) and its number is the order id the JSON reported;
- exit 1: no order carries the tag (or only one the exchange itself rejected);
- exit 3: outcome unknown: allowed, counted (it should be rare, and only under look-up faults);
- any other exit status, or output that is not one strict JSON document, is a failure;
- no tag is ever carried by two orders, and no order appears that the client did not report
  as placed or unknown.

`run_campaign` is shared with tests/reliability/campaign_faults.py (the long run).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gui_trader.sim.faults import FAULTS
from tests.reliability.rig import LiveRig, live_server, settle

# Every fault the simulator can put on an order route (html is the scrip master's own).
FAULT_KINDS: tuple[str, ...] = tuple(f for f in FAULTS if f != "html")
# symbol -> (trading symbol, a price near the simulator's base price, tick)
SYMBOLS: dict[str, tuple[str, Decimal, Decimal]] = {
    "RELIANCE": ("RELIANCE-EQ", Decimal("1452.30"), Decimal("0.05")),
    "INFY": ("INFY-EQ", Decimal("1548.60"), Decimal("0.05")),
    "SBIN": ("SBIN-EQ", Decimal("952.35"), Decimal("0.05")),
    "ITC": ("ITC-EQ", Decimal("408.90"), Decimal("0.05")),
    "TATASTEEL": ("TATASTEEL-EQ", Decimal("168.42"), Decimal("0.01")),
}
ROUTE_MODES: tuple[tuple[str, tuple[str, ...], float], ...] = (
    # (name, routes, weight): the place alone, the place then whatever comes next (the look-up,
    # a resend or the status read), or only the reads of the book.
    ("place", ("place",), 0.6),
    ("place+orders", ("place", "orders"), 0.25),
    ("orders", ("orders",), 0.15),
)
ALLOWED_EXITS = (0, 1, 3)
DEADLINE_S = 0.4
LANDING_S = 0.3
TRICKLE_S = 0.2
SETTLE_S = 15.0
SLOW_MARGIN_S = 0.15  # a slow order lands at least this long before the client's last look-up


class NotJson(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise NotJson(f"non-standard JSON constant {name}")


def strict_json(text: str) -> dict[str, Any]:
    """One JSON document, with NaN / Infinity refused (they are not JSON)."""
    return dict(json.loads(text, parse_constant=_no_constants))


@dataclass
class Tally:
    runs: int = 0
    seconds: float = 0.0
    drawn: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)  # the server's own count
    first_on_place: Counter[str] = field(default_factory=Counter)
    first_fault: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    seconds_by_first: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    exits: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    unknown_faults: Counter[str] = field(default_factory=Counter)
    failed_reasons: Counter[str] = field(default_factory=Counter)  # exit 1, tags stripped
    exchange_rejected: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    false_success: list[str] = field(default_factory=list)
    false_failure: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # other exit status, bad output, no tag

    @property
    def unknown(self) -> int:
        return self.exits[3]

    @property
    def violations(self) -> int:
        return (
            len(self.duplicates)
            + len(self.lost)
            + len(self.false_success)
            + len(self.false_failure)
            + len(self.other)
        )

    def report(self) -> str:
        def counts(c: Counter[Any]) -> str:
            return ", ".join(f"{k}={v}" for k, v in sorted(c.items(), key=lambda kv: str(kv[0])))

        lines = [
            f"fault campaign: {self.runs} runs in {self.seconds:.1f} s "
            f"({self.seconds / max(self.runs, 1):.2f} s/run)",
            f"  faults drawn:     {sum(self.drawn.values())} ({counts(self.drawn)})",
            f"  faults injected:  {sum(self.injected.values())} ({counts(self.injected)})",
            f"  first fault on the place route, by kind: {counts(self.first_on_place)}",
            "  mean seconds per run, by first fault: "
            + ", ".join(
                f"{k}={self.seconds_by_first[k] / n:.2f}"
                for k, n in sorted(self.first_fault.items())
            ),
            f"  route modes:      {counts(self.modes)}",
            f"  exit statuses:    {counts(self.exits)}",
            f"  outcomes (JSON):  {counts(self.outcomes)}",
            f"  unknown (exit 3): {self.unknown}"
            + (f" (faults: {counts(self.unknown_faults)})" if self.unknown else ""),
            f"  exit 1 reasons:   {counts(self.failed_reasons)}",
            f"  exchange-rejected orders (exit 1, the book says rejected): "
            f"{self.exchange_rejected}",
            f"  duplicates: {len(self.duplicates)}  lost: {len(self.lost)}  "
            f"false success: {len(self.false_success)}  "
            f"false failure: {len(self.false_failure)}  other: {len(self.other)}",
        ]
        for name in ("duplicates", "lost", "false_success", "false_failure", "other"):
            for item in getattr(self, name)[:10]:
                lines.append(f"    {name}: {item}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Run:
    n: int
    symbol: str
    side: str  # "buy" | "sell"
    qty: int
    price: Decimal | None
    product: str | None
    faults: tuple[str, ...]
    mode: str
    routes: tuple[str, ...]
    slow_s: float
    long_retry_after: str

    def argv(self) -> list[str]:
        args = [self.side, self.symbol, "--qty", str(self.qty)]
        if self.price is not None:
            args += ["--price", str(self.price)]
        if self.product is not None:
            args += ["--product", self.product]
        return [*args, "--json"]

    def expected_product(self) -> str:
        return self.product or "CNC"  # every campaign symbol is a cash equity

    def describe(self) -> str:
        what = " ".join(self.argv()[:-1])
        return f"run {self.n} [{self.mode}: {'+'.join(self.faults)}] {what}"


def draw_runs(runs: int, seed: int, deadline_s: float, landing_s: float) -> list[Run]:
    """The campaign's runs: the first fault of each run cycles through every kind (shuffled
    per round), a second one is added at random; prices sit on the tick near the base price."""
    rng = random.Random(seed)
    cycle: list[str] = []
    out: list[Run] = []
    weights = [w for _, _, w in ROUTE_MODES]
    # A late order must land before the client's final look-up (deadline + landing after it
    # was sent), with room to spare for a busy CI machine; most land after the client gave up.
    in_flight = deadline_s + landing_s
    slow_max = max(deadline_s, in_flight - max(SLOW_MARGIN_S, 0.2 * in_flight))
    for n in range(runs):
        if not cycle:
            cycle = list(FAULT_KINDS)
            rng.shuffle(cycle)
        faults = [cycle.pop()]
        if rng.random() < 0.35:
            faults.append(rng.choice(FAULT_KINDS))
        mode, routes, _ = rng.choices(ROUTE_MODES, weights)[0]
        symbol = rng.choice(sorted(SYMBOLS))
        _, base, tick = SYMBOLS[symbol]
        side = rng.choice(("buy", "sell"))
        price = None
        if rng.random() < 0.4:
            steps = int(base * Decimal(rng.uniform(-0.02, 0.02)) / tick)
            price = (base + steps * tick).quantize(tick)
        # Sells are intraday (MIS): a CNC sell would need holdings the demo portfolio runs out of.
        product = "MIS" if side == "sell" or rng.random() < 0.2 else None
        out.append(
            Run(
                n=n,
                symbol=symbol,
                side=side,
                qty=rng.randint(1, 5),
                price=price,
                product=product,
                faults=tuple(faults),
                mode=mode,
                routes=routes,
                slow_s=round(
                    rng.uniform(deadline_s, slow_max)
                    if rng.random() < 0.7
                    else rng.uniform(0.05, deadline_s),
                    3,
                ),
                long_retry_after=rng.choice(("600", "inf", "3600", "31")),
            )
        )
    return out


class Admin:
    """The simulator's admin routes over one kept-alive connection (a client per call costs
    more than a fast run)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10.0, trust_env=False)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, path, json=body)
        resp.raise_for_status()
        return resp.json()

    def book(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/_sim/book")["orders"])

    def faults(self, **spec: Any) -> None:
        self.call("POST", "/_sim/faults", spec)

    def injected(self) -> Counter[str]:
        return Counter(self.call("GET", "/_sim/stats").get("injected", {}))

    def close(self) -> None:
        self.http.close()


def run_cli(rig: LiveRig, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = rig.main(*argv)
    return code, out.getvalue(), err.getvalue()


def judge(
    run: Run,
    code: int,
    doc: dict[str, Any] | None,
    stderr: str,
    new_orders: list[dict[str, Any]],
    book: list[dict[str, Any]],
    tally: Tally,
) -> None:
    what = run.describe()
    tally.exits[code] += 1
    if code not in ALLOWED_EXITS:
        tally.other.append(f"{what}: exit {code}: {stderr.strip()[-300:]}")
    tag = str(doc.get("tag") or "") if doc else ""
    if doc is not None:
        tally.outcomes[str(doc.get("outcome", doc.get("error", "?")))] += 1
    if doc is None or not tag:
        tally.other.append(f"{what}: exit {code}: no tag in the output: {stderr.strip()[-300:]}")
    carrying = [o for o in book if tag and o["tag"] == tag]
    if len(carrying) > 1:
        tally.duplicates.append(f"{what}: tag {tag} on orders {[o['no'] for o in carrying]}")
    for o in new_orders:
        if not tag or o["tag"] != tag:
            tally.lost.append(f"{what}: order {o['no']} tag {o['tag']} was never reported")
    if doc is None or not tag:
        return
    expected_outcome = {0: "placed", 1: "rejected", 3: "unknown"}.get(code)
    if expected_outcome and doc.get("outcome") != expected_outcome:
        tally.other.append(f"{what}: exit {code} but outcome {doc.get('outcome')!r}")
    if code == 0:
        if len(carrying) != 1:
            tally.false_success.append(f"{what}: exit 0 but {len(carrying)} orders carry {tag}")
            return
        o = carrying[0]
        ts, _, _ = SYMBOLS[run.symbol]
        wanted = {
            "ts": ts,
            "tt": "B" if run.side == "buy" else "S",
            "qty": run.qty,
            "pt": "L" if run.price is not None else "MKT",
            "prod": run.expected_product(),
        }
        got = {k: o[k] for k in wanted}
        if got != wanted:
            tally.false_success.append(f"{what}: order {o['no']} is {got}, asked {wanted}")
        if run.price is not None and Decimal(o["price"]) != run.price:
            tally.false_success.append(f"{what}: order {o['no']} at {o['price']}")
        if str(doc.get("order_id")) != o["no"]:
            tally.false_success.append(
                f"{what}: reported order id {doc.get('order_id')!r}, the book has {o['no']}"
            )
        if o["status"] == "rejected":
            tally.false_success.append(f"{what}: exit 0 for an order the exchange rejected")
    elif code == 1:
        live = [o for o in carrying if o["status"] != "rejected"]
        if live:
            tally.false_failure.append(
                f"{what}: exit 1 but the broker holds {[(o['no'], o['status']) for o in live]}"
                f": {doc.get('reason')}"
            )
        elif carrying:
            tally.exchange_rejected += 1
        reason = str(doc.get("reason") or "")
        tally.failed_reasons[re.sub(r"\[[^]]*\]|\(tag [^)]*\)|[0-9]+", "#", reason)[:90]] += 1
    elif code == 3:
        tally.unknown_faults.update(run.faults)
        if "orders" not in run.routes:
            # The look-ups ran clean: the book could be read, so the outcome was knowable.
            tally.other.append(f"{what}: exit 3 although no look-up failed: {doc.get('reason')}")


def run_campaign(
    root: Path,
    runs: int,
    *,
    seed: int = 20261201,
    deadline_s: float = DEADLINE_S,
    landing_s: float = LANDING_S,
    progress: Callable[[str], None] | None = None,
) -> Tally:
    """`runs` single orders through the CLI against one simulator, each under drawn faults."""
    tally = Tally()
    started = time.perf_counter()
    with live_server() as server, contextlib.closing(Admin(server.url)) as admin:
        rig = LiveRig(root, server, deadline_s=deadline_s, landing_s=landing_s)
        # Log in and cache the scrip master once, outside the faults.
        code, _, err = run_cli(rig, ["orders", "--json"])
        assert code == 0, err
        injected_before = admin.injected()
        for run in draw_runs(runs, seed, deadline_s, landing_s):
            before = {o["no"] for o in admin.book()}
            admin.faults(
                queue=list(run.faults),
                rates={},
                routes=list(run.routes),
                seed=seed + run.n,
                trickle_s=TRICKLE_S,
                slow_s=run.slow_s,
                hang_s=5.0,
                long_retry_after=run.long_retry_after,
                retry_after_s=0.05,
            )
            t0 = time.perf_counter()
            code, out, err = run_cli(rig, run.argv())
            tally.seconds_by_first[run.faults[0]] += time.perf_counter() - t0
            tally.first_fault[run.faults[0]] += 1
            admin.faults(queue=[])  # whatever the run did not use must not hit the next one
            # Late work (slow faults) lands before the book is judged; bounded.
            if not settle(server, SETTLE_S):
                tally.other.append(f"{run.describe()}: late work still pending after {SETTLE_S}s")
            book = admin.book()
            new_orders = [o for o in book if o["no"] not in before]
            try:
                doc: dict[str, Any] | None = strict_json(out)
            except ValueError as exc:
                doc = None
                tally.other.append(f"{run.describe()}: stdout is not strict JSON ({exc})")
            tally.runs += 1
            tally.drawn.update(run.faults)
            tally.modes[run.mode] += 1
            if "place" in run.routes:
                tally.first_on_place[run.faults[0]] += 1
            judge(run, code, doc, err, new_orders, book, tally)
            if progress is not None and (run.n + 1) % 50 == 0:
                progress(
                    f"  {run.n + 1} runs, {time.perf_counter() - started:.0f} s, "
                    f"exits {dict(tally.exits)}, violations {tally.violations}"
                )
        tally.injected = admin.injected() - injected_before
        all_tags = Counter(o["tag"] for o in admin.book() if o["tag"])
        for tag, n in all_tags.items():
            if n > 1 and not any(tag in d for d in tally.duplicates):
                tally.duplicates.append(f"tag {tag} carried by {n} orders")
    tally.seconds = time.perf_counter() - started
    return tally


@pytest.mark.timeout(900)
def test_fault_campaign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tally = run_campaign(tmp_path, 300)
    with capsys.disabled():
        print("\n" + tally.report())
    assert tally.runs == 300
    assert set(tally.first_on_place) == set(FAULT_KINDS), "every fault kind on the place route"
    assert not tally.duplicates, tally.report()
    assert not tally.lost, tally.report()
    assert not tally.false_success, tally.report()
    assert not tally.false_failure, tally.report()
    assert not tally.other, tally.report()
    assert set(tally.exits) <= set(ALLOWED_EXITS), tally.report()
