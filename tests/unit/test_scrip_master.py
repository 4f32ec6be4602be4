"""Every quirk of the broker's scrip master (reference §7)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from gui_trader.market import scrip_master
from gui_trader.market.scrip_master import (
    BadInstrumentFile,
    expiry_date,
    parse_scrip_master,
    validate_scrip_master,
)
from gui_trader.sim.exchange import Exchange
from gui_trader.sim.universe import Universe, scrip_master_csv

# Two rows in the real layout: header blanks, `dStrikePrice;`, paise, 1980-epoch expiry,
# scientific notation, -1 for n/a.
REAL = (
    "pSymbol,pGroup,pExchSeg,pInstType,pSymbolName,pTrdSymbol,pOptionType,dTickSize ,lLotSize,"
    "lExpiryDate ,lMultiplier ,lPrecision,dStrikePrice;,lFreezeQty,iBoardLotQty ,"
    "dHighPriceRange,dLowPriceRange,dPriceNum   \n"
    "44498,XX,nse_fo,OPTIDX,NIFTY,NIFTY26JUN22250CE,CE,5,75,1466865000,1,2,2225000.000000,1800,"
    "75,-1,-1,1\n"
    "1333,EQ,nse_cm,,HDFCBANK,HDFCBANK-EQ,,5,1,-1,1,2,-1,1.485e+07,1,110000,90000,1\n"
)


def test_real_layout_quirks() -> None:
    opt, eq = parse_scrip_master(REAL)
    assert opt.trading_symbol == "NIFTY26JUN22250CE"  # taken as is, never constructed
    assert opt.strike == Decimal("22250")
    assert opt.tick_size == Decimal("0.05")
    assert opt.lot_size == 75 and opt.freeze_qty == 1800
    # 1466865000 s after 1980-01-01 IST
    assert opt.expiry == date(2026, 6, 25)
    assert opt.option_type == "CE" and opt.segment == "nse_fo"
    assert eq.strike is None and eq.expiry is None
    assert eq.freeze_qty == 14_850_000
    assert eq.high_band == Decimal("1100") and eq.low_band == Decimal("900")
    assert eq.key == "nse_cm|1333"


def test_fo_epoch_only_for_nse_fo() -> None:
    assert expiry_date("1466865000", "nse_fo") == date(2026, 6, 25)
    assert expiry_date("1782378000", "mcx_fo") == date(2026, 6, 25)  # plain Unix time
    assert expiry_date("-1", "nse_fo") is None


def test_round_trip_with_the_simulator_file() -> None:
    u = Universe.build(date(2026, 11, 21))
    parsed = {i.trading_symbol: i for i in parse_scrip_master(scrip_master_csv(u, "nse_fo"))}
    for listing in u.listings:
        if listing.segment != "nse_fo":
            continue
        got = parsed[listing.trading_symbol]
        assert got.token == listing.token
        assert got.expiry == listing.expiry
        assert got.strike == listing.strike
        assert got.tick_size == listing.tick
    tata = {i.trading_symbol: i for i in parse_scrip_master(scrip_master_csv(u, "nse_cm"))}[
        "TATASTEEL-EQ"
    ]
    assert tata.tick_size == Decimal("0.01") and tata.freeze_qty == 0


# ------------------------------------------------------------------ validation before caching
HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body></body></html>"


@pytest.fixture(scope="module")
def good() -> dict[str, str]:
    ex = Exchange()
    return {seg: ex.scrip_csv(seg) for seg in ("nse_cm", "nse_fo")}


def _edit(text: str, column: str, value: str | None, row: int = 1) -> str:
    """The file with one cell replaced, or (value None) with the whole column removed."""
    rows = list(csv.reader(io.StringIO(text)))
    i = [h.strip() for h in rows[0]].index(column)
    for n, r in enumerate(rows):
        if value is None:
            del r[i]
        elif n == row:
            r[i] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _reason(blob: bytes | str, segment: str) -> str:
    with pytest.raises(BadInstrumentFile) as caught:
        validate_scrip_master(blob, segment)
    err = caught.value
    assert isinstance(err, LookupError) and err.segment == segment
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert str(err) == f"{segment} instrument file is not a scrip master ({err.reason})"
    return err.reason


def test_validate_good_files_parse_as_the_lenient_parser(good: dict[str, str]) -> None:
    for seg, text in good.items():
        got = validate_scrip_master(text.encode(), seg)
        assert got and got == parse_scrip_master(text, seg)
        assert all(i.segment == seg for i in got)
    # a byte-order mark and the real header quirks (trailing blanks, `dStrikePrice;`) are fine
    real_fo = REAL.splitlines(keepends=True)[:2]
    (opt,) = validate_scrip_master(b"\xef\xbb\xbf" + "".join(real_fo).encode(), "nse_fo")
    assert opt.strike == Decimal("22250") and opt.tick_size == Decimal("0.05")


def test_validate_rejects_an_html_page() -> None:
    assert _reason(HTML, "nse_cm") == "got an HTML page"
    assert _reason(b"\n  <html><body>Service Unavailable</body></html>", "nse_fo") == (
        "got an HTML page"
    )
    with pytest.raises(BadInstrumentFile) as caught:
        validate_scrip_master(HTML, "nse_cm")
    assert str(caught.value) == "nse_cm instrument file is not a scrip master (got an HTML page)"


def test_validate_rejects_json_and_binary() -> None:
    assert _reason(b'{"fault": {"code": 900901}}', "nse_cm") == "got a JSON document"
    assert _reason(b"\x1f\x8b\x08\x00\xff\xfe", "nse_cm") == "not UTF-8 text"


def test_validate_rejects_an_empty_file() -> None:
    assert _reason(b"", "nse_cm") == "empty file"
    assert _reason(b" \r\n\n", "nse_fo") == "empty file"


def test_validate_rejects_a_header_only_file(good: dict[str, str]) -> None:
    header = good["nse_fo"].splitlines(keepends=True)[0]
    assert _reason(header.encode(), "nse_fo") == "no instruments"
    # rows without token or symbol are not instruments either
    blank = _edit(_edit(good["nse_cm"], "pSymbol", ""), "pTrdSymbol", "")
    only_blank = "".join(blank.splitlines(keepends=True)[:2])
    assert _reason(only_blank, "nse_cm") == "no instruments"


def test_validate_rejects_a_missing_column(good: dict[str, str]) -> None:
    assert _reason(_edit(good["nse_cm"], "pTrdSymbol", None), "nse_cm") == (
        "missing column pTrdSymbol"
    )
    no_lot = _edit(_edit(good["nse_fo"], "lLotSize", None), "iLotSize", None)
    assert _reason(no_lot, "nse_fo") == "missing column lLotSize/iLotSize"
    assert _reason(b"symbol,token\nRELIANCE,2885\n", "nse_cm") == (
        "missing columns pSymbol, pTrdSymbol, pExchSeg, pSymbolName, dTickSize, lLotSize/iLotSize"
    )


def test_validate_takes_either_lot_column(good: dict[str, str]) -> None:
    expected = parse_scrip_master(good["nse_fo"], "nse_fo")
    assert validate_scrip_master(_edit(good["nse_fo"], "lLotSize", None), "nse_fo") == expected
    assert validate_scrip_master(_edit(good["nse_fo"], "iLotSize", None), "nse_fo") == expected


def test_validate_rejects_a_file_of_another_segment(good: dict[str, str]) -> None:
    assert _reason(good["nse_fo"], "nse_cm").endswith(": segment 'nse_fo'")
    one_row = _edit(good["nse_cm"], "pExchSeg", "bse_cm", row=3)
    assert _reason(one_row, "nse_cm").startswith("line 4 ")


def test_validate_skips_a_lone_odd_row_but_refuses_a_broken_file(good: dict[str, str]) -> None:
    """One odd contract in 200 must not stop a day's trading; more than 1 % is a broken file."""
    zero = _edit(_edit(good["nse_fo"], "lLotSize", "0", row=2), "iLotSize", "0", row=2)
    kept = validate_scrip_master(zero, "nse_fo")
    everything = validate_scrip_master(good["nse_fo"], "nse_fo")
    assert [i.trading_symbol for i in kept] == [
        i.trading_symbol for n, i in enumerate(everything) if n != 1
    ]
    small = _edit(_edit(good["nse_cm"], "lLotSize", "0", row=2), "iLotSize", "0", row=2)
    reason = _reason(small, "nse_cm")
    assert reason.startswith("1 unreadable rows, e.g. line 3 ") and reason.endswith(": lot size 0")


def test_validate_rejects_a_zero_lot(good: dict[str, str]) -> None:
    negative = _edit(_edit(good["nse_cm"], "lLotSize", None), "iLotSize", "-1")
    assert _reason(negative, "nse_cm").endswith(": lot size -1")


def test_validate_rejects_bad_ticks_and_numbers(good: dict[str, str]) -> None:
    assert _reason(_edit(good["nse_cm"], "dTickSize", "0"), "nse_cm").endswith("tick size 0")
    assert "bad number" in _reason(_edit(good["nse_cm"], "dTickSize", "abc"), "nse_cm")
    assert "price precision" in _reason(_edit(good["nse_cm"], "lPrecision", "99"), "nse_cm")


def test_validate_rejects_an_absurd_row_count(
    good: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scrip_master, "MAX_INSTRUMENTS", 3)
    assert _reason(good["nse_cm"], "nse_cm") == "more than 3 instruments"
