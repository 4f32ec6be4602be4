"""Injectable latency and faults, so exactly-once and re-login are tested against real failures."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("error_5xx", "accept_5xx", "rate_limit", "drop", "accept_drop", "revoke")


@dataclass
class FaultPlan:
    """Which requests fail and how.

    `queue` holds one-shot faults for the next matching requests (deterministic tests);
    `rates` gives per-fault probabilities for randomized runs. `routes` limits both to
    request kinds: "place", "modify", "cancel", "orders", "quotes", ... or "*".
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)
    routes: set[str] = field(default_factory=lambda: {"place", "modify", "cancel"})
    queue: deque[str] = field(default_factory=deque)
    retry_after_s: float = 0.05
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
        if "seed" in spec:
            self._rng = random.Random(int(spec["seed"]))
