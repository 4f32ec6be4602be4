"""Secrets never reach a log line: a filter on every handler masks them, two ways.

- By token: each registered high-entropy secret (session token, sid, consumer key, TOTP seed)
  is masked wherever it appears.
- By field: the value after a secret-looking key (`mpin=...`, `"token": "..."`, `Auth: ...`)
  is masked whatever it is.

A short or all-digit secret (the MPIN) is never masked as a substring: with MPIN 1001 that would
turn order 261201001000 into `order 26120***000` and point every reader at the MPIN.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "***"
MIN_SECRET_LEN = 8

# Words that make a key secret when they are one of its parts (snake, kebab or camel case).
SECRET_WORDS = frozenset(
    {
        "mpin",
        "totp",
        "otp",
        "token",
        "sid",
        "auth",
        "authorization",
        "password",
        "passwd",
        "pwd",
        "secret",
        "jwt",
        "cookie",
    }
)
# Secret keys spelled as two words: consumer_key, consumerKey, api-key ...
SECRET_PAIRS = frozenset({("consumer", "key"), ("api", "key"), ("access", "key")})

_FIELD = re.compile(
    r"""(?P<key>\\?["']?(?P<name>[A-Za-z][A-Za-z0-9_.-]*)\\?["']?)
        (?P<sep>[ \t]*[:=][ \t]*)
        (?P<value>
            (?P<q>\\?["'])(?:(?!(?P=q)).)*(?P=q)                 # quoted, JSON-escaped too
          | (?:(?:Bearer|Basic|Token)[ \t]+)?[^\s,;&)}\]"'\\]+  # bare, with an auth scheme
        )""",
    re.VERBOSE,
)
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def register_secret(value: str | None) -> None:
    """Register a high-entropy string to mask anywhere; short or numeric ones are skipped."""
    if value and len(value) >= MIN_SECRET_LEN and not value.isdigit():
        with _lock:
            _secrets.add(value)


def secret_key(name: str) -> bool:
    """Whether a field called `name` holds a secret (`Auth`, `totp_secret`, `consumerKey`)."""
    words = [w.lower() for w in _PARTS.findall(name)]
    if SECRET_WORDS.intersection(words):
        return True
    return any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


def _mask_value(match: re.Match[str]) -> str:
    quote = match.group("q") or ""
    return f"{match.group('key')}{match.group('sep')}{quote}{MASK}{quote}"


def redact_fields(text: str) -> str:
    """Mask the value of every secret-looking field; other values are scanned, not skipped."""
    out: list[str] = []
    pos = 0
    while (match := _FIELD.search(text, pos)) is not None:
        if secret_key(match.group("name")):
            out.append(text[pos : match.start()] + _mask_value(match))
            pos = match.end()
        else:  # a nested field may hide in this value (`"jData": "{\"mpin\": ...}"`)
            out.append(text[pos : match.end("sep")])
            pos = match.end("sep")
    out.append(text[pos:])
    return "".join(out)


def redact_tokens(text: str) -> str:
    with _lock:
        items = sorted(_secrets, key=len, reverse=True)
    for s in items:
        if s in text:
            text = text.replace(s, MASK)
    return text


def redact(text: str) -> str:
    return redact_fields(redact_tokens(text))


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Filters on loggers miss records from child loggers; filters on handlers do not."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
