"""Every number the CLI takes: any text either parses to a finite value inside the documented
range or is refused as one line naming the option (exit 2). int() and float() alone accept
"1_0", full-width digits, "nan" and "inf", and each of those reached the broker or hung a run.
Also the pre-wire order checks that back the grammar up (product per segment, size, price)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui_trader.cli.args import EXIT_BAD_INPUT, CommandError, build_parser
from gui_trader.core import limits as L
from gui_trader.core.instrument import Instrument
from gui_trader.core.order import OrderRequest, OrderType, Product, Side
from gui_trader.engine.order_checks import InvalidOrder, check_order

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)


@dataclass(frozen=True)
class Opt:
    prefix: tuple[str, ...]  # argv before the option (the subcommand and what it requires)
    option: str
    dest: str
    kind: str  # "whole", "decimal", "float" or "totp"
    lo: Any = None
    hi: Any = None
    above_lo: bool = False  # lo itself is refused


BUY = ("buy", "RELIANCE")
OPTIONS = [
    Opt(BUY, "--qty", "qty", "whole", 1, L.MAX_QTY),
    Opt(("sell", "INFY"), "--qty", "qty", "whole", 1, L.MAX_QTY),
    Opt((*BUY, "--qty", "1"), "--price", "price", "decimal", 0, L.MAX_PRICE, True),
    Opt(("straddle",), "--lots", "lots", "whole", 1, L.MAX_LOTS),
    Opt(("straddle",), "--batch-lots", "batch_lots", "whole", 1, L.MAX_LOTS),
    Opt(("straddle",), "--delay", "delay", "float", 0, L.MAX_DELAY_S),
    Opt(("straddle",), "--buffer-pct", "buffer_pct", "decimal", 0, L.MAX_BUFFER_PCT),
    Opt(("straddle",), "--steps", "steps", "whole", 0, L.MAX_STEPS),
    Opt(("straddle",), "--strike", "strike", "decimal", 0, L.MAX_STRIKE, True),
    Opt(("straddle",), "--call-strike", "call_strike", "decimal", 0, L.MAX_STRIKE, True),
    Opt(("straddle",), "--put-strike", "put_strike", "decimal", 0, L.MAX_STRIKE, True),
    Opt(
        ("monitor",),
        "--monitor-interval",
        "monitor_interval",
        "float",
        L.MIN_MONITOR_INTERVAL_S,
        L.MAX_MONITOR_INTERVAL_S,
    ),
    Opt(("monitor",), "--max-below-entry-pct", "max_below_entry_pct", "decimal", 0, 100),
    Opt(("sim",), "--port", "port", "whole", 0, 65_535),
    Opt(("sim",), "--accounts", "accounts", "whole", 1, L.MAX_SIM_ACCOUNTS),
    Opt(("sim",), "--latency-ms", "latency_ms", "float", 0, L.MAX_LATENCY_MS),
    Opt(("sim",), "--jitter-ms", "jitter_ms", "float", 0, L.MAX_LATENCY_MS),
    Opt(("sim",), "--seed", "seed", "whole", 0, L.MAX_SEED),
    Opt(("login",), "--totp", "totp", "totp"),
]

TRICKY = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "1e3",
    "1E3",
    "1_0",
    "１０",
    "٣",
    "²",
    "+5",
    " 5",
    "5 ",
    "5\n",
    "0x10",
    "0b1",
    "",
    "9" * 30,
    "9" * 5000,
    "-0",
    "0",
    "-1",
    "-5",
    "1",
    "5.",
    ".5",
    "1.5",
    "0.00001",
    "3600",
    "3600.0000001",
    "20",
    "20.01",
    "65535",
    "65536",
    "10000000",
    "10000001",
    "1000000",
    "123456",
    "012345",
    "1234567",
    "--yes",
    "-h",
    "--",
    "=",
]
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(TRICKY),
    st.from_regex(r"-?[0-9]{1,9}(\.[0-9]{0,4})?", fullmatch=True),  # the near-misses and hits
)


def check_value(opt: Opt, text: str, value: Any) -> None:
    """An accepted value is exactly what the text says and inside the documented range."""
    if opt.kind == "totp":
        assert value == text and re.fullmatch(r"[0-9]{6}", text)
        return
    if opt.kind == "whole":
        assert type(value) is int
        assert re.fullmatch(r"-?[0-9]+" if opt.lo < 0 else r"[0-9]+", text)
        assert value == int(text)
    elif opt.kind == "decimal":
        assert isinstance(value, Decimal) and value.is_finite()
        assert re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text)
    else:
        assert type(value) is float and math.isfinite(value)
        assert re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text)
    assert opt.lo <= value <= opt.hi
    if opt.above_lo:
        assert value > opt.lo


PARSER = build_parser()  # parse_args keeps no state between calls; building it is the slow part


def parse(argv: list[str]) -> Any:
    return PARSER.parse_args(argv)


def parse_one(opt: Opt, text: str, joined: bool) -> None:
    argv = [*opt.prefix, f"{opt.option}={text}"] if joined else [*opt.prefix, opt.option, text]
    try:
        ns = parse(argv)
    except CommandError as exc:
        message = str(exc)
        assert exc.code == EXIT_BAD_INPUT
        assert "\n" not in message and "\r" not in message and message.isprintable()
        assert opt.option in message, message
        return
    check_value(opt, text, getattr(ns, opt.dest))


@pytest.mark.parametrize("opt", OPTIONS, ids=lambda o: f"{o.prefix[0]} {o.option}")
@FUZZ
@given(text=texts, joined=st.booleans())
def test_any_text_is_a_value_in_range_or_one_line_naming_the_option(
    opt: Opt, text: str, joined: bool
) -> None:
    parse_one(opt, text, joined)


@pytest.mark.parametrize("opt", OPTIONS, ids=lambda o: f"{o.prefix[0]} {o.option}")
@pytest.mark.parametrize("text", TRICKY)
def test_tricky_samples(opt: Opt, text: str) -> None:
    parse_one(opt, text, joined=True)


# ------------------------------------------------------------------ the reproduced bugs
def refused(argv: list[str], option: str) -> str:
    with pytest.raises(CommandError) as caught:
        parse(argv)
    message = str(caught.value)
    assert caught.value.code == EXIT_BAD_INPUT and option in message and "\n" not in message
    return message


@pytest.mark.parametrize("text", ["1_0", "１０", "+5", " 5", "5 ", "9" * 30, "0", "-5", "1e3"])
def test_quantity_is_plain_digits_within_range(text: str) -> None:
    refused([*BUY, "--qty", text], "--qty")


def test_underscore_quantity_names_the_option_and_range() -> None:
    message = refused([*BUY, "--qty", "1_0"], "--qty")
    assert message.startswith("buy: argument --qty: ")  # `fail` adds "gui-trader: "
    assert "1 to 10000000" in message and "'1_0'" in message


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e9", "1e309", "3601", "-1"])
def test_delay_is_finite_and_at_most_an_hour(text: str) -> None:
    refused(["straddle", "--delay", text, "--yes"], "--delay")


@pytest.mark.parametrize("text", ["150", "-5", "20.5", "nan"])
def test_buffer_pct_is_0_to_20(text: str) -> None:
    refused(["straddle", "--buffer-pct", text], "--buffer-pct")


@pytest.mark.parametrize("text", ["nan", "inf", "0", "0.5", "3601", "1e3"])
def test_monitor_interval_is_1_to_3600_seconds(text: str) -> None:
    refused(["monitor", "--monitor-interval", text], "--monitor-interval")


@pytest.mark.parametrize("text", ["1e309", "101", "nan", "-1"])
def test_max_below_entry_pct_is_0_to_100(text: str) -> None:
    refused(["monitor", "--max-below-entry-pct", text], "--max-below-entry-pct")


def test_lots_are_bounded_so_a_plan_cannot_run_away() -> None:
    refused(["straddle", "--lots", "10000000", "--batch-lots", "1"], "--lots")
    refused(["straddle", "--lots", "10", "--batch-lots", "0"], "--batch-lots")
    refused(["straddle", "--steps", "51", "--atm"], "--steps")


@pytest.mark.parametrize(
    ("option", "text"),
    [("--price", "0"), ("--price", "-1"), ("--price", "nan"), ("--price", "10000000.05")],
)
def test_price_is_positive_and_bounded(option: str, text: str) -> None:
    refused([*BUY, "--qty", "1", option, text], option)


@pytest.mark.parametrize("text", ["12345", "1234567", "１２３４５６", "12345a", " 12345"])
def test_totp_is_six_ascii_digits_and_never_echoed(text: str) -> None:
    message = refused(["login", "--totp", text], "--totp")
    assert text.strip() not in message


def test_resume_needs_neither_expiry_nor_lots() -> None:
    ns = parse(["straddle", "--resume", "--yes"])
    assert ns.resume and ns.yes and ns.expiry is None and ns.lots is None


def test_good_values_and_defaults_are_unchanged() -> None:
    ns = parse([*BUY, "--qty", "5", "--price", "1600.05"])
    assert (ns.qty, ns.price, ns.product) == (5, Decimal("1600.05"), None)
    ns = parse(["straddle", "--expiry", "2026-11-24", "--atm", "--steps", "2", "--lots", "167"])
    assert (ns.steps, ns.lots, ns.batch_lots, ns.delay) == (2, 167, 20, 20.0)
    assert (ns.buffer_pct, ns.product, ns.order_type, ns.side) == (
        Decimal(1),
        "NRML",
        "MKT",
        "sell",
    )
    ns = parse(
        ["straddle", "--strike", "25900", "--lots", "1", "--delay", "0", "--buffer-pct", "0"]
    )
    assert (ns.strike, ns.delay, ns.buffer_pct) == (Decimal(25900), 0.0, Decimal(0))
    ns = parse(["monitor"])
    assert (ns.monitor_interval, ns.max_below_entry_pct) == (60.0, Decimal(5))
    ns = parse(["sim"])
    assert (ns.port, ns.latency_ms, ns.jitter_ms, ns.seed) == (8765, 0.0, 0.0, 7)
    assert parse(["login", "--totp", "012345"]).totp == "012345"
    assert parse(["login"]).totp is None


@pytest.mark.parametrize(
    "argv",
    [[*BUY, "--qty=--"], ["straddle", "--expiry=--"], ["login", "--totp=--"], ["sim", "--seed=--"]],
)
def test_a_bare_double_dash_is_not_an_empty_list(argv: list[str]) -> None:
    """argparse strips "--" from `--opt=--` and stores [] without calling the type function."""
    refused(argv, argv[-1].split("=")[0])


def test_raw_argv_echoed_by_argparse_stays_on_one_line() -> None:
    message = refused([*BUY, "--qty", "5", "a\nb\x1b[31m"], "a")
    assert "\n" not in message and "\x1b" not in message


# ------------------------------------------------------------------ the pre-wire checks
def inst(segment: str, symbol: str, lot: int = 1, freeze: int = 0) -> Instrument:
    fo = segment.endswith("_fo")
    return Instrument(
        segment,
        "40001",
        symbol,
        symbol[:5],
        "OPTIDX" if fo else "",
        "CE" if fo else "",
        Decimal(25900) if fo else None,
        None,
        lot_size=lot,
        tick_size=Decimal("0.05"),
        freeze_qty=freeze,
    )


RELIANCE = inst("nse_cm", "RELIANCE-EQ")
SEGMENTS = {
    "nse_cm": RELIANCE,
    "bse_cm": inst("bse_cm", "RELIANCE"),
    "nse_fo": inst("nse_fo", "NIFTY24NOV2525900CE", 75, 1800),
    "bse_fo": inst("bse_fo", "SENSEX24NOV80000CE", 20, 1000),
    "mcx_fo": inst("mcx_fo", "CRUDEOIL24NOV6000CE", 100, 10000),
}
CASH = {"CNC", "MIS", "MTF"}
DERIVATIVES = {"NRML", "MIS"}


@pytest.mark.parametrize("segment", sorted(SEGMENTS))
@pytest.mark.parametrize("product", list(Product))
def test_a_product_must_exist_in_the_segment(segment: str, product: Product) -> None:
    x = SEGMENTS[segment]
    req = OrderRequest(x, Side.BUY, x.lot_size, OrderType.MARKET, None, product)
    allowed = CASH if segment.endswith("_cm") else DERIVATIVES
    assert set(L.PRODUCTS_BY_SEGMENT[segment]) == allowed
    if product.value in allowed:
        check_order(req)
    else:
        with pytest.raises(InvalidOrder, match=f"^{product.value} .*{x.trading_symbol}"):
            check_order(req)


def test_product_messages_name_what_the_segment_takes() -> None:
    with pytest.raises(InvalidOrder) as caught:
        check_order(OrderRequest(RELIANCE, Side.BUY, 1, product=Product.NRML))
    assert str(caught.value) == "NRML is for F&O; RELIANCE-EQ (nse_cm) takes CNC, MIS or MTF"
    with pytest.raises(InvalidOrder) as caught:
        check_order(OrderRequest(SEGMENTS["nse_fo"], Side.SELL, 75, product=Product.CNC))
    assert str(caught.value) == (
        "CNC is delivery in the cash segment; NIFTY24NOV2525900CE (nse_fo) takes NRML or MIS"
    )


def test_quantity_above_the_order_limit_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="above the 10000000 units"):
        check_order(OrderRequest(RELIANCE, Side.BUY, int("9" * 30)))
    check_order(OrderRequest(RELIANCE, Side.BUY, L.MAX_QTY))


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (Decimal("10000000.05"), "above the largest price"),
        (Decimal("NaN"), "must be a number"),
        (Decimal("sNaN"), "must be a number"),
        (Decimal("Infinity"), "must be a number"),
        (Decimal("-Infinity"), "must be a number"),
    ],
)
def test_prices_must_be_finite_and_bounded(price: Decimal, message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        check_order(OrderRequest(RELIANCE, Side.BUY, 1, OrderType.LIMIT, price))
    if not price.is_finite():
        with pytest.raises(InvalidOrder, match=message):  # even where no price belongs
            check_order(OrderRequest(RELIANCE, Side.BUY, 1, OrderType.MARKET, price))
    check_order(OrderRequest(RELIANCE, Side.BUY, 1, OrderType.LIMIT, L.MAX_PRICE))
