"""What the paper exchange lists: NIFTY (spot, weekly options, a future) and liquid NSE stocks.

It also writes the scrip master in the broker's own CSV format, quirks included, so the app's
instrument loader is exercised on paper exactly as it is live.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from gui_trader.core.clock import IST

FO_EPOCH_OFFSET = 315_513_000  # seconds from 1970-01-01 UTC to 1980-01-01 00:00 IST


@dataclass(frozen=True, slots=True)
class Listing:
    segment: str
    token: str
    trading_symbol: str
    name: str
    base_price: Decimal  # today's opening price on paper
    daily_vol: float
    tick: Decimal = Decimal("0.05")
    lot_size: int = 1
    freeze_qty: int = 99_999_999
    instrument_type: str = ""
    option_type: str = ""
    strike: Decimal | None = None
    expiry: date | None = None
    series: str = "EQ"
    underlying: str = ""  # for derivatives: the spot listing's trading symbol

    @property
    def key(self) -> str:
        return f"{self.segment}|{self.token}"


EQUITIES: tuple[tuple[str, str, str, float, str], ...] = (
    # token, symbol, price, daily vol, tick
    ("2885", "RELIANCE", "1452.30", 0.014, "0.05"),
    ("1333", "HDFCBANK", "986.45", 0.012, "0.05"),
    ("4963", "ICICIBANK", "1391.20", 0.013, "0.05"),
    ("1594", "INFY", "1548.60", 0.015, "0.05"),
    ("11536", "TCS", "3104.80", 0.013, "0.05"),
    ("3045", "SBIN", "952.35", 0.016, "0.05"),
    ("1660", "ITC", "408.90", 0.011, "0.05"),
    ("11483", "LT", "3998.10", 0.014, "0.05"),
    ("5900", "AXISBANK", "1247.55", 0.015, "0.05"),
    ("1922", "KOTAKBANK", "2104.70", 0.013, "0.05"),
    ("10604", "BHARTIARTL", "2051.25", 0.012, "0.05"),
    ("3506", "TITAN", "3702.40", 0.014, "0.05"),
    ("1394", "HINDUNILVR", "2448.15", 0.010, "0.05"),
    ("3499", "TATASTEEL", "168.42", 0.019, "0.01"),
)

# A demo portfolio so the EMA9 monitor has work on the first paper start: (symbol, qty, avg/open).
DEMO_HOLDINGS: tuple[tuple[str, int, str], ...] = (
    ("RELIANCE", 40, "0.93"),
    ("INFY", 25, "0.97"),
    ("SBIN", 100, "0.90"),
    ("TITAN", 10, "1.03"),
    ("ITC", 200, "0.95"),
    ("TATASTEEL", 300, "0.88"),
)


def demo_holdings(universe: Universe) -> list[tuple[str, int, str]]:
    """The demo portfolio, plus every synthetic name when a benchmark asked for them."""
    extra = [(x.name, 10, "0.97") for x in universe.listings if x.name.startswith("SYN")]
    return [*DEMO_HOLDINGS, *extra]


NIFTY_SPOT = Decimal("25912.40")
NIFTY_LOT = 75
NIFTY_FREEZE = 1800
NIFTY_STEP = 50
NIFTY_STRIKES_EACH_SIDE = 25
INDEX_TOKEN = "Nifty 50"  # indices are quoted by name: nse_cm|Nifty 50


def weekly_expiries(today: date, count: int = 2) -> list[date]:
    """NIFTY weeklies expire on Tuesdays; today's counts while its session runs."""
    days = (1 - today.weekday()) % 7
    first = today + timedelta(days=days)
    return [first + timedelta(weeks=i) for i in range(count)]


def monthly_expiry(today: date) -> date:
    """Last Tuesday of the month (or next month's once this one's has passed)."""
    for months_ahead in (0, 1):
        year = today.year + (today.month - 1 + months_ahead) // 12
        month = (today.month - 1 + months_ahead) % 12 + 1
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        last -= timedelta(days=(last.weekday() - 1) % 7)
        if last >= today:
            return last
    raise AssertionError("unreachable")


def option_symbol(expiry: date, strike: int, kind: str) -> str:
    """The file's pTrdSymbol style, e.g. NIFTY25NOV2525900CE; the app never builds these."""
    return f"NIFTY{expiry:%d%b%y}{strike}{kind}".upper()


@dataclass
class Universe:
    today: date
    listings: list[Listing] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_key = {x.key: x for x in self.listings}
        self.by_symbol = {x.trading_symbol: x for x in self.listings}

    @classmethod
    def build(cls, today: date, extra_equities: int = 0) -> Universe:
        listings: list[Listing] = [
            Listing(
                "nse_cm",
                INDEX_TOKEN,
                "NIFTY 50",
                "NIFTY",
                NIFTY_SPOT,
                0.008,
                instrument_type="INDEX",
                series="",
            )
        ]
        for token, sym, price, vol, tick in EQUITIES:
            listings.append(
                Listing("nse_cm", token, f"{sym}-EQ", sym, Decimal(price), vol, tick=Decimal(tick))
            )
        for i in range(extra_equities):  # synthetic names for load tests and benchmarks
            base = Decimal(100 + (i * 37) % 2900) + Decimal("0.35")
            listings.append(
                Listing("nse_cm", str(70001 + i), f"SYN{i:03d}-EQ", f"SYN{i:03d}", base, 0.015)
            )
        fut_expiry = monthly_expiry(today)
        listings.append(
            Listing(
                "nse_fo",
                "52000",
                f"NIFTY{fut_expiry:%y%b}FUT".upper(),
                "NIFTY",
                NIFTY_SPOT,
                0.008,
                lot_size=NIFTY_LOT,
                freeze_qty=NIFTY_FREEZE,
                instrument_type="FUTIDX",
                option_type="XX",
                expiry=fut_expiry,
                series="XX",
                underlying="NIFTY 50",
                tick=Decimal("0.10"),
            )
        )
        atm = round(NIFTY_SPOT / NIFTY_STEP) * NIFTY_STEP
        next_token = 40000
        for expiry in weekly_expiries(today):
            for i in range(-NIFTY_STRIKES_EACH_SIDE, NIFTY_STRIKES_EACH_SIDE + 1):
                strike = atm + i * NIFTY_STEP
                for kind in ("CE", "PE"):
                    next_token += 1
                    listings.append(
                        Listing(
                            "nse_fo",
                            str(next_token),
                            option_symbol(expiry, strike, kind),
                            "NIFTY",
                            Decimal(0),
                            0.0,
                            lot_size=NIFTY_LOT,
                            freeze_qty=NIFTY_FREEZE,
                            instrument_type="OPTIDX",
                            option_type=kind,
                            strike=Decimal(strike),
                            expiry=expiry,
                            series="XX",
                            underlying="NIFTY 50",
                        )
                    )
        return cls(today, listings)


# The real file's header, including its quirks: trailing blanks and the `dStrikePrice;` name.
SCRIP_COLUMNS = [
    "pSymbol",
    "pGroup",
    "pExchSeg",
    "pInstType",
    "pSymbolName",
    "pTrdSymbol",
    "pOptionType",
    "pScripRefKey",
    "pISIN",
    "pAssetCode",
    "pSubGroup",
    "pCombinedSymbol",
    "pDesc",
    "dTickSize ",
    "lLotSize",
    "lExpiryDate ",
    "lMultiplier ",
    "lPrecision",
    "dStrikePrice;",
    "pExchange",
    "pInstName",
    "pExpiryDate",
    "pFaceValue",
    "lFreezeQty",
    "iMaxOrderSize",
    "iLotSize",
    "dOpenInterest",
    "dHighPriceRange",
    "dLowPriceRange",
    "iBoardLotQty ",
    "dPriceNum   ",
    "dPriceDen",
    "dGenNum",
    "dGenDen",
    "iPermittedToTrade",
    "pSegment",
]


def _expiry_epoch(expiry: date) -> int:
    """nse_fo files count expiry seconds from 1980-01-01 IST."""
    at = datetime.combine(expiry, time(15, 30), IST)
    return int(at.timestamp()) - FO_EPOCH_OFFSET


def scrip_master_csv(universe: Universe, segment: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SCRIP_COLUMNS)
    for x in universe.listings:
        if x.segment != segment or x.instrument_type == "INDEX":
            continue
        base = x.base_price if x.base_price else Decimal(100)
        band_hi = int(base * Decimal("1.2") * 100) if x.segment == "nse_cm" else -1
        band_lo = int(base * Decimal("0.8") * 100) if x.segment == "nse_cm" else -1
        expiry = _expiry_epoch(x.expiry) if x.expiry else -1
        strike = int(x.strike * 100) if x.strike is not None else -1
        # Large numbers in scientific notation, as the real files sometimes carry them.
        freeze = "1e+08" if x.freeze_qty >= 99_999_999 else str(x.freeze_qty)
        writer.writerow(
            [
                x.token,
                x.series,
                x.segment,
                x.instrument_type,
                x.name,
                x.trading_symbol,
                x.option_type,
                x.trading_symbol,
                "" if x.segment == "nse_fo" else f"INE{x.token:0>7}",
                "",
                "",
                x.trading_symbol,
                x.name,
                int(x.tick * 100),
                x.lot_size,
                expiry,
                1,
                2,
                strike,
                "NSE",
                x.instrument_type or "EQUITY",
                expiry,
                1,
                freeze,
                99_999,
                x.lot_size,
                0,
                band_hi,
                band_lo,
                x.lot_size,
                1,
                1,
                1,
                1,
                1,
                "FO" if x.segment == "nse_fo" else "CASH",
            ]
        )
    return out.getvalue()
