"""The two ways the paper exchange refuses a call; the server maps each to the broker's reply."""

from __future__ import annotations


class SimError(Exception):
    """A business error: becomes HTTP 200 + stat Not_Ok with this stCode."""

    def __init__(self, code: int, message: str, stat: str = "Not_Ok") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.stat = stat


class SessionInvalid(Exception):
    """Stale or unknown session token: 403 / stCode 100022."""
