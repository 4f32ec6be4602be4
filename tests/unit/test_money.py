"""core/money.py: broker numbers parse exactly, prices land on the tick, the wire gets 2 places."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui_trader.core.limits import MAX_PRICE
from gui_trader.core.money import ZERO, on_tick, round_to_tick, to_decimal, wire_price

TICKS = [Decimal(t) for t in ("0.0025", "0.01", "0.05", "0.10", "0.25", "1", "5")]
ticks = st.sampled_from(TICKS)
prices = st.decimals(
    min_value=Decimal(0), max_value=MAX_PRICE, places=4, allow_nan=False, allow_infinity=False
)


# ------------------------------------------------------------------------------- to_decimal
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1500.00", Decimal("1500.00")),
        (1500, Decimal(1500)),
        ("1.485e+07", Decimal(14_850_000)),
        (" 12.5 ", Decimal("12.5")),
        ("-3.25", Decimal("-3.25")),
        (1.1, Decimal("1.1")),  # the float's shortest repr, not 1.100000000000000088817...
    ],
)
def test_broker_numbers_parse_exactly(raw: object, expected: Decimal) -> None:
    assert to_decimal(raw) == expected


@pytest.mark.parametrize("blank", [None, "", "  ", "--", "NA", "null", "None"])
def test_blanks_the_broker_sends_are_zero(blank: object) -> None:
    assert to_decimal(blank) == ZERO


def test_a_decimal_passes_through_untouched() -> None:
    d = Decimal("101.050")
    assert to_decimal(d) is d


@pytest.mark.parametrize("junk", ["abc", "12,5", "1.2.3", "₹100", object()])
def test_junk_is_a_value_error_that_names_it(junk: object) -> None:
    with pytest.raises(ValueError, match="not a number"):
        to_decimal(junk)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_survives_a_round_trip_through_text(d: Decimal) -> None:
    assert to_decimal(str(d)) == d


# ------------------------------------------------------------------------------- ticks
def test_on_tick() -> None:
    assert on_tick(Decimal("100.05"), Decimal("0.05"))
    assert on_tick(Decimal("100"), Decimal("0.05"))
    assert not on_tick(Decimal("100.03"), Decimal("0.05"))
    assert not on_tick(Decimal("100"), ZERO)  # no tick known: nothing is "on" it


@pytest.mark.parametrize(
    ("price", "mode", "expected"),
    [
        ("100.03", "down", "100.00"),
        ("100.03", "up", "100.05"),
        ("100.03", "nearest", "100.05"),
        ("100.02", "nearest", "100.00"),
        ("100.05", "down", "100.05"),  # already on the tick: unchanged in every direction
        ("100.05", "up", "100.05"),
        ("100.025", "nearest", "100.00"),  # halves go to the even step, so they never drift
        ("100.075", "nearest", "100.10"),
    ],
)
def test_round_to_tick_examples(price: str, mode: str, expected: str) -> None:
    got = round_to_tick(Decimal(price), Decimal("0.05"), mode)
    assert got == Decimal(expected)
    assert str(got) == expected  # shown with the tick's decimals


def test_an_unknown_rounding_mode_is_refused() -> None:
    with pytest.raises(KeyError):
        round_to_tick(Decimal(100), Decimal("0.05"), "sideways")


@settings(max_examples=300, deadline=None)
@given(price=prices, tick=ticks, mode=st.sampled_from(["down", "up", "nearest"]))
def test_round_to_tick_lands_on_the_tick_within_one_tick_in_the_asked_direction(
    price: Decimal, tick: Decimal, mode: str
) -> None:
    got = round_to_tick(price, tick, mode)
    assert on_tick(got, tick)
    assert got.as_tuple().exponent == tick.as_tuple().exponent
    assert abs(got - price) < tick
    if mode == "down":
        assert got <= price
    elif mode == "up":
        assert got >= price
    else:
        assert abs(got - price) * 2 <= tick
    assert round_to_tick(got, tick, mode) == got  # idempotent


@given(steps=st.integers(min_value=0, max_value=10**8), tick=ticks)
def test_a_price_on_the_tick_is_never_moved(steps: int, tick: Decimal) -> None:
    price = steps * tick
    for mode in ("down", "up", "nearest"):
        assert round_to_tick(price, tick, mode) == price


# ------------------------------------------------------------------------------- the wire
@pytest.mark.parametrize(
    ("price", "wire"),
    [
        (None, "0"),
        (ZERO, "0"),
        (Decimal("0.00"), "0"),
        (Decimal("1399.5"), "1399.50"),
        (Decimal(1500), "1500.00"),
        (Decimal("0.05"), "0.05"),
        (Decimal("1.485E+7"), "14850000.00"),  # never exponent notation on the wire
    ],
)
def test_wire_price(price: Decimal | None, wire: str) -> None:
    assert wire_price(price) == wire


@given(steps=st.integers(min_value=1, max_value=int(MAX_PRICE / Decimal("0.05"))))
def test_every_tick_price_goes_on_the_wire_as_plain_two_decimals(steps: int) -> None:
    price = steps * Decimal("0.05")
    text = wire_price(price)
    whole, dot, cents = text.partition(".")
    assert dot == "." and len(cents) == 2 and whole.isdigit() and cents.isdigit()
    assert Decimal(text) == price


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "-Infinity", "sNaN"])
def test_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_decimal(text)
