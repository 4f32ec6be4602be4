"""Injectable latency and faults, so exactly-once and re-login are tested against real failures."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FAULTS = (
    "error_5xx",
    "accept_5xx",
    "rate_limit",
    "drop",
    "accept_drop",
    "revoke",
    # A hostile broker: slow, silent, or lying about what happened to the request.
    "trickle",  # processed; the reply dribbles out one byte every `trickle_s`
    "slow",  # processed `slow_s` late, even if the client gave up meanwhile
    "hang",  # neither processed nor answered (until `hang_s`, then a hang-up)
    "accept_hang",  # processed, never answered
    "garbage",  # not processed; an HTML page with HTTP 200
    "accept_garbage",  # processed; the same HTML page
    "accept_not_ok",  # processed; a Not_Ok with a code the reference does not define
    "accept_400",  # processed; HTTP 400 with an unknown body
    "numeric_id",  # place processed; nOrdNo comes back as a JSON float
    "retry_after_long",  # not processed; 429 with Retry-After `long_retry_after`
    "html",  # not processed; an HTML page (the scrip master CSV route's failure)
)


@dataclass
class FaultPlan:
    """Which requests fail and how.

    `queue` holds one-shot faults for the next matching requests (deterministic tests);
    `rates` gives per-fault probabilities for randomized runs. `routes` limits both to
    request kinds: "place", "modify", "cancel", "orders", "quotes", "csv", ... or "*".
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)
    routes: set[str] = field(default_factory=lambda: {"place", "modify", "cancel"})
    queue: deque[str] = field(default_factory=deque)
    retry_after_s: float = 0.05
    long_retry_after: str = "600"  # sent verbatim, so tests can try "inf" and "nan"
    trickle_s: float = 2.0
    slow_s: float = 45.0
    hang_s: float = 600.0  # even a hung request ends some time, so nothing lives forever
    seed: int = 1
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def delay(self) -> float:
        if not self.latency_ms and not self.jitter_ms:
            return 0.0
        return max(0.0, self.latency_ms + self._rng.uniform(0, self.jitter_ms)) / 1000.0

    def pick(self, route: str) -> str | None:
        if "*" not in self.routes and route not in self.routes:
            return None
        fault: str | None = None
        if self.queue:
            fault = self.queue.popleft()
        else:
            for name, rate in self.rates.items():
                if rate and self._rng.random() < rate:
                    fault = name
                    break
        if fault:
            self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault

    def update(self, spec: dict[str, Any]) -> None:
        if "latency_ms" in spec:
            self.latency_ms = float(spec["latency_ms"])
        if "jitter_ms" in spec:
            self.jitter_ms = float(spec["jitter_ms"])
        if "rates" in spec:
            self.rates = {k: float(v) for k, v in spec["rates"].items() if k in FAULTS}
        if "routes" in spec:
            self.routes = set(spec["routes"])
        if "queue" in spec:
            self.queue = deque(f for f in spec["queue"] if f in FAULTS)
        if "retry_after_s" in spec:
            self.retry_after_s = float(spec["retry_after_s"])
        if "long_retry_after" in spec:
            self.long_retry_after = str(spec["long_retry_after"])
        if "trickle_s" in spec:
            self.trickle_s = float(spec["trickle_s"])
        if "slow_s" in spec:
            self.slow_s = float(spec["slow_s"])
        if "hang_s" in spec:
            self.hang_s = float(spec["hang_s"])
        if "seed" in spec:
            self._rng = random.Random(int(spec["seed"]))
