"""What the CLI prints: a result triple (ok, JSON payload, text) and plain tables."""

from __future__ import annotations

from typing import Any

Result = tuple[bool, Any, str]


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
