"""The log mask: by token for high-entropy secrets, by field for everything else, never by
substring of a short numeric secret (an MPIN inside an order id would point at the MPIN)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from gui_trader.broker.redact import RedactFilter, redact, register_secret, secret_key
from gui_trader.broker.session import SessionToken
from gui_trader.broker.vault import Credentials

MPIN = "1001"


@pytest.fixture
def log_text() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose handler carries the same filter the app installs."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def credentials(mpin: str = MPIN) -> Credentials:
    return Credentials("ck-5e0c2a9d4b7f1e36", "+919800000001", "RD1", mpin, "MFRGGZDFMZTWQ2LK")


def test_an_order_id_containing_the_mpin_stays_intact(
    log_text: tuple[logging.Logger, io.StringIO],
) -> None:
    credentials()  # registers the account's secrets, as loading an account does
    logger, out = log_text
    logger.info("order %s placed at %s", "261201001000", "1001.05")
    assert out.getvalue().strip() == "order 261201001000 placed at 1001.05"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mpin=1001", "mpin=***"),
        ('{"mpin": "1001", "ucc": "RD1"}', '{"mpin": "***", "ucc": "RD1"}'),
        ("{'mpin': '1001'}", "{'mpin': '***'}"),
        ('{"mpin":1001}', '{"mpin":***}'),
        ("MPIN: 1001 accepted", "MPIN: *** accepted"),
        ("body mpin=1001&totp=123456", "body mpin=***&totp=***"),
        (
            'jData={"jData": "{\\"mpin\\": \\"1001\\"}"}',
            'jData={"jData": "{\\"mpin\\": \\"***\\"}"}',
        ),
        ("Authorization: Bearer abc.def.ghi", "Authorization: ***"),
        ("headers {'Sid': 'abc', 'Auth': 'xyz'}", "headers {'Sid': '***', 'Auth': '***'}"),
        ("consumer_key=ck-1 consumerKey: ck-2", "consumer_key=*** consumerKey: ***"),
        ('totp_secret="MFRG" password=hunter2', 'totp_secret="***" password=***'),
        ("GET /x?sid=abc&qty=1", "GET /x?sid=***&qty=1"),
    ],
)
def test_secret_fields_are_masked_whatever_their_value(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "side=BUY qty=1 price=1001.00 tag=O2612011001",
        "logged in as PAPER1 (http://127.0.0.1:8080)",
        "order 261201001000: status=complete",
    ],
)
def test_ordinary_fields_are_left_alone(text: str) -> None:
    credentials()
    assert redact(text) == text


def test_a_registered_session_token_is_masked_anywhere(
    log_text: tuple[logging.Logger, io.StringIO],
) -> None:
    token = SessionToken("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", "5f1c0d9a7b3e", "http://x", 0.0)
    logger, out = log_text
    logger.warning("request with %s failed; sid %s", token.token, token.sid)
    assert token.token not in out.getvalue() and token.sid not in out.getvalue()
    assert out.getvalue().strip() == "request with *** failed; sid ***"


def test_short_or_numeric_secrets_are_never_substring_masked() -> None:
    register_secret("730418")  # an MPIN
    register_secret("ab1")  # too short to mask without false hits
    assert redact("price 730418.05 and lab1 code") == "price 730418.05 and lab1 code"


def test_reprs_stay_secret_free() -> None:
    creds = credentials("4321")
    token = SessionToken(
        "eyJ0eXAiOiJKV1QifQ.e30.sig-abcdef", "0a1b2c3d4e5f", "http://x", 0.0, "RD1"
    )
    for text in (repr(creds), str(creds), repr(token), str(token), f"{creds!r} {token!r}"):
        for secret in (creds.consumer_key, creds.mpin, creds.totp_secret, token.token, token.sid):
            assert secret not in text


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("mpin", True),
        ("MPIN", True),
        ("totp_secret", True),
        ("consumerKey", True),
        ("neo-fin-key", False),
        ("Sid", True),
        ("side", False),
        ("author", False),
        ("access_token", True),
    ],
)
def test_secret_keys_are_told_by_their_words(name: str, secret: bool) -> None:
    assert secret_key(name) is secret
