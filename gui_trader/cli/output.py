"""What the CLI prints: a result triple (ok, JSON payload, text) and plain tables."""

from __future__ import annotations

import sys
from typing import Any

# Exit statuses (README: "Exit status"): what is known about what was asked.
EXIT_OK = 0  # everything asked for happened
EXIT_FAILED = 1  # not done: refused by the broker, or proven not placed; nothing left unknown
EXIT_BAD_INPUT = 2  # refused before anything was sent
EXIT_UNKNOWN = 3  # an order's outcome is unknown: it may exist; the tag says what to check
EXIT_BUSY = 4  # another process owns the run or the monitor; nothing sent

Result = tuple[bool | int, Any, str]  # (ok or an exit status, JSON payload, text)


class Streamed:
    """The payload of a command that printed its lines as they came (`--follow`)."""


def tell(line: str) -> None:
    """A failure's one line, on stderr, once: the command then leaves stdout to its report
    (or to its one JSON document with --json)."""
    from gui_trader.broker.redact import redact

    print(f"gui-trader: {redact(line)}", file=sys.stderr)


def ok(payload: Any, text: str) -> Result:
    return True, payload, text


def table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = [
        "  ".join(c.rjust(w) if numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True))
        for r in cells
    ]
    return "\n".join([line, *body])


def numeric(text: str) -> bool:
    return bool(text) and text.replace(".", "", 1).replace("-", "", 1).replace(",", "").isdigit()
