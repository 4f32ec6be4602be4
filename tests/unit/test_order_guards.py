"""The fat-finger guards as pure functions: limits, thresholds, exits, messages, config."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gui_trader.config import Config
from gui_trader.core import limits as L
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, OrderType, Product, Side
from gui_trader.engine.order_guards import (
    EXIT_FEATURES,
    GuardRefused,
    GuardSettings,
    NeedsConfirmation,
    guard_order,
    guard_straddle,
    rupees,
)
from gui_trader.engine.straddle_plan import StraddleSpec, spec_problems

EQ = Instrument("nse_cm", "2885", "RELIANCE-EQ", "RELIANCE", lot_size=1)
OPT = Instrument(
    "nse_fo", "40001", "NIFTY26DEC25900CE", "NIFTY", "OPTIDX", "CE", lot_size=75, freeze_qty=1800
)
DEFAULT = GuardSettings()
LTP = Decimal(1000)


def order(
    qty: int, price: str | None = None, side: Side = Side.BUY, inst: Instrument = EQ
) -> OrderRequest:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderRequest(inst, side, qty, kind, Decimal(price) if price else None, Product.MIS)


def one_line(text: str | None) -> str:
    assert text is not None and "\n" not in text
    return text


# ----------------------------------------------------------------------------- orders
def test_an_ordinary_order_passes_silently() -> None:
    v = guard_order(order(10), DEFAULT, ltp=LTP)
    assert v.refusal is None and v.warnings == () and v.value == Decimal(10_000)
    v.enforce(confirmed=False)


def test_the_five_million_share_sell_is_refused_naming_both_limits() -> None:
    v = guard_order(order(5_000_000, side=Side.SELL), DEFAULT, ltp=LTP)
    text = one_line(v.refusal)
    assert text.startswith("SELL 5,000,000 RELIANCE-EQ at market: ")
    assert "[guards] max_order_qty" in text and "[guards] max_order_value" in text
    assert "Rs 5,00,00,00,000" in text and text.endswith("nothing sent")
    with pytest.raises(GuardRefused, match="max_order_qty"):
        v.enforce(confirmed=True)  # a hard limit is never confirmed away


@pytest.mark.parametrize(
    ("qty", "price", "hard", "soft"),
    [
        (100_000, "1", None, {"confirm_order_qty"}),  # at the max: asks, not refused
        (100_001, "1", "max_order_qty", set()),
        (10_000, "1", None, set()),  # at a threshold: silent
        (10_001, "1", None, {"confirm_order_qty"}),
        (5_000, "1000", None, {"confirm_order_value"}),  # 50 lakh exactly: asks
        (5_001, "1000", "max_order_value", set()),
        (1_001, "1000", None, {"confirm_order_value"}),
        (1_000, "1000", None, set()),  # 10 lakh exactly: silent
    ],
)
def test_quantity_and_value_limits_and_thresholds(
    qty: int, price: str, hard: str | None, soft: set[str]
) -> None:
    v = guard_order(order(qty, price), DEFAULT, ltp=Decimal(price))
    if hard:
        assert f"[guards] {hard}" in one_line(v.refusal)
    else:
        assert v.refusal is None
    assert {w.split("[guards] ")[1].rstrip(")") for w in v.warnings} == soft


def test_a_market_order_is_valued_at_the_ltp_and_an_unknown_value_asks() -> None:
    assert guard_order(order(6_000), DEFAULT, ltp=LTP).refusal is not None  # 60 lakh
    unknown = guard_order(order(6_000), DEFAULT, ltp=None)
    assert unknown.refusal is None and unknown.value is None
    assert "no last price for RELIANCE-EQ" in unknown.warnings[0]
    with pytest.raises(NeedsConfirmation, match="not known"):
        unknown.enforce(confirmed=False)
    unknown.enforce(confirmed=True)


@pytest.mark.parametrize(
    ("side", "price", "outcome"),
    [
        (Side.BUY, "1100", "ask"),  # exactly 10 % through: not above the limit
        (Side.BUY, "1100.05", "refused"),
        (Side.BUY, "1060", "ask"),
        (Side.BUY, "1050", "ok"),
        (Side.BUY, "500", "ok"),  # a buy far below rests: no fat finger
        (Side.SELL, "899.95", "refused"),
        (Side.SELL, "940", "ask"),
        (Side.SELL, "2000", "ok"),  # a sell far above rests
    ],
)
def test_a_limit_is_refused_only_when_it_trades_far_through_the_ltp(
    side: Side, price: str, outcome: str
) -> None:
    v = guard_order(order(1, price, side), DEFAULT, ltp=LTP)
    if outcome == "refused":
        text = one_line(v.refusal)
        assert "the LTP 1000" in text and "[guards] max_ltp_distance_pct" in text
    elif outcome == "ask":
        assert v.refusal is None and "confirm_ltp_distance_pct" in v.warnings[0]
    else:
        assert v.refusal is None and v.warnings == ()


def test_no_ltp_means_no_distance_check_for_a_limit() -> None:
    v = guard_order(order(1, "5000"), DEFAULT, ltp=None)
    assert v.refusal is None and v.warnings == () and v.value == Decimal(5000)


def test_exits_are_never_held_back() -> None:
    """Position exits, risk exits, the kill switch and monitor sells (their tag letters)."""
    assert frozenset("XRKM") == EXIT_FEATURES
    huge = order(5_000_000, "1", Side.SELL)
    v = guard_order(huge, DEFAULT, ltp=LTP, exit=True)
    assert v.refusal is None and v.warnings == ()
    v.enforce(confirmed=False)
    assert v.value == Decimal(5_000_000)  # still described


def test_a_confirmation_names_the_order_and_its_value() -> None:
    v = guard_order(order(1_500, "1000"), DEFAULT, ltp=LTP)
    assert v.summary() == "BUY 1,500 RELIANCE-EQ at limit 1000, value about Rs 15,00,000"
    assert v.question().splitlines()[0] == v.summary()
    with pytest.raises(NeedsConfirmation) as exc:
        v.enforce(confirmed=False)
    assert one_line(str(exc.value)).startswith(v.summary())


def test_fo_orders_are_judged_in_units_and_premium() -> None:
    v = guard_order(order(1_800, None, Side.SELL, OPT), DEFAULT, ltp=Decimal("120.5"))
    assert v.refusal is None and v.value == Decimal(216_900) and v.warnings == ()


# ----------------------------------------------------------------------------- straddles
def spec(lots: int, **kw: object) -> StraddleSpec:
    return StraddleSpec("NIFTY", date(2026, 12, 8), lots, **kw)  # type: ignore[arg-type]


def test_straddle_lots_limit_and_threshold() -> None:
    assert guard_straddle(spec(50), DEFAULT).warnings == ()
    assert "confirm_straddle_lots" in guard_straddle(spec(51), DEFAULT).warnings[0]
    assert guard_straddle(spec(200), DEFAULT).refusal is None
    refused = one_line(guard_straddle(spec(201), DEFAULT).refusal)
    assert refused == (
        "SELL 201 lots NIFTY straddle: 201 lots is above your limit of 200 per straddle"
        " ([guards] max_straddle_lots); nothing planned or sent"
    )


def test_a_billion_lots_is_refused_from_the_spec_alone() -> None:
    """Nothing proportional to the lots is built: the verdict and the plan's own bounds both
    read the number and stop."""
    absurd = spec(1_000_000_000, batch_lots=1)
    with pytest.raises(GuardRefused, match="1,000,000,000 lots"):
        guard_straddle(absurd, DEFAULT).enforce(confirmed=True)
    assert spec_problems(absurd)[0].startswith("lots must be 1-10,000")


@pytest.mark.parametrize("buffer", ["20.01", "100", "NaN", "-1"])
def test_the_limit_buffer_has_the_clis_bounds(buffer: str) -> None:
    assert Decimal(20) == L.MAX_BUFFER_PCT  # `--buffer-pct` and the panel's spin box
    assert any("limit buffer" in p for p in spec_problems(spec(1, buffer_pct=Decimal(buffer))))


# ----------------------------------------------------------------------------- settings
def test_the_defaults() -> None:
    assert GuardSettings.from_toml({}) == DEFAULT
    assert (DEFAULT.max_order_value, DEFAULT.confirm_order_value) == (
        Decimal(5_000_000),
        Decimal(1_000_000),
    )
    assert (DEFAULT.max_straddle_lots, DEFAULT.confirm_straddle_lots) == (200, 50)
    assert (DEFAULT.max_order_qty, DEFAULT.confirm_order_qty) == (100_000, 10_000)
    assert (DEFAULT.max_ltp_distance_pct, DEFAULT.confirm_ltp_distance_pct) == (
        Decimal(10),
        Decimal(5),
    )


def test_settings_from_toml() -> None:
    s = GuardSettings.from_toml({"max_order_value": 2_500_000, "max_ltp_distance_pct": 7.5})
    assert s.max_order_value == Decimal(2_500_000) and s.max_ltp_distance_pct == Decimal("7.5")
    assert s.to_toml() == {"max_order_value": 2_500_000, "max_ltp_distance_pct": 7.5}
    assert GuardSettings.from_toml({"max_order_qty": 5.0}).max_order_qty == 5


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"max_order_value": 0}, "max_order_value = 0: must be a number from 1 to"),
        ({"max_order_value": -5}, "must be a number"),
        ({"max_order_value": math.inf}, "must be a number"),
        ({"max_order_value": math.nan}, "must be a number"),
        ({"max_order_value": "50 lakh"}, "must be a number"),
        ({"max_order_value": 10**11}, "to 10,000,000,000"),
        ({"max_order_qty": True}, "must be a whole number"),
        ({"max_order_qty": 1.5}, "must be a whole number"),
        ({"max_straddle_lots": 10_001}, "from 1 to 10,000"),
        ({"max_ltp_distance_pct": 0}, "from 0.01 to 100"),
        ({"max_order_valu": 5}, "max_order_valu: unknown key (known: max_order_qty,"),
    ],
)
def test_a_bad_setting_is_refused_in_one_line(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        GuardSettings.from_toml(table)
    text = one_line(str(exc.value))
    assert text.startswith("config.toml [guards] ") and message in text


def test_config_reads_and_writes_the_guards_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[guards]\nmax_straddle_lots = 20\nconfirm_order_value = 250000.5\n")
    config = Config.load(path)
    assert config.guards.max_straddle_lots == 20
    assert config.guards.confirm_order_value == Decimal("250000.5")
    assert "guards" not in config.extra
    config.save()
    assert Config.load(path).guards == config.guards
    path.write_text("guards = 5\n")
    with pytest.raises(ValueError, match=r"^config.toml \[guards\] must be a table"):
        Config.load(path)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal(0), "0"),
        (Decimal(999), "999"),
        (Decimal(1000), "1,000"),
        (Decimal(100000), "1,00,000"),
        (Decimal("5000000"), "50,00,000"),
        (Decimal("123456789.5"), "12,34,56,790"),
    ],
)
def test_rupees_in_indian_grouping(value: Decimal, text: str) -> None:
    assert rupees(value) == text
