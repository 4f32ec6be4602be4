"""Every quirk of the broker's scrip master (reference §7)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gui_trader.market.scrip_master import expiry_date, parse_scrip_master
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
