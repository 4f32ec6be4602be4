"""Figures as an Indian trader reads them, checked digit by digit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest

from gui_trader.core import display
from gui_trader.core.clock import IST


@pytest.fixture(autouse=True)
def indian() -> Iterator[None]:
    display.set_grouping("indian")
    yield
    display.set_grouping("indian")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("58525354.58"), "₹5,85,25,354.58"),
        (Decimal("100000000"), "₹10,00,00,000.00"),
        (Decimal("99999.995"), "₹1,00,000.00"),  # half-even at the paisa
        (Decimal("999"), "₹999.00"),
        (Decimal("1000"), "₹1,000.00"),
        (Decimal("-1536.5"), "-₹1,536.50"),
        (0, "₹0.00"),
        (Decimal("-0.001"), "₹0.00"),  # rounds to zero: no "-₹0.00"
        (None, ""),
    ],
)
def test_rupees_in_lakh_and_crore(value: Decimal | int | None, text: str) -> None:
    assert display.rupees(value) == text


def test_signs_and_international_grouping() -> None:
    assert display.rupees(Decimal("5354"), sign=True) == "+₹5,354.00"
    assert display.amount(Decimal("-1234567.891")) == "-12,34,567.89"
    assert display.quantity(1800) == "1,800"
    assert display.percent(Decimal("1.234")) == "+1.23%"
    display.set_grouping("international")
    assert display.rupees(Decimal("58525354.58")) == "₹58,525,354.58"
    assert display.quantity(1234567) == "1,234,567"


def test_every_time_in_ist_with_the_date_when_not_today() -> None:
    now = datetime(2026, 12, 7, 10, 0, tzinfo=IST)
    utc = datetime(2026, 12, 7, 4, 0, 5).replace(tzinfo=IST).astimezone(IST)
    assert display.clock(utc, now=now) == "04:00:05"
    from zoneinfo import ZoneInfo

    utc_evening = datetime(2026, 12, 6, 20, 0, 0, tzinfo=ZoneInfo("UTC"))  # 01:30 IST on the 7th
    assert display.clock(utc_evening, now=now) == "01:30:00"
    assert display.clock(datetime(2026, 12, 5, 14, 32, 5), now=now) == "05 Dec 14:32:05"
    assert display.clock(datetime(2025, 12, 5, 14, 32), now=now, seconds=False) == (
        "05 Dec 2025 14:32"
    )
