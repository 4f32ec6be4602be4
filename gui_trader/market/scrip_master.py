"""Parse the broker's scrip-master CSV, every quirk included (see reference §7).

Header names carry trailing blanks; the strike column is literally `dStrikePrice;`; price-like
columns are integers in 1/100 rupee; nse_fo expiries count seconds from 1980-01-01 IST; large
numbers may come in scientific notation.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

from gui_trader.core.clock import IST
from gui_trader.core.instrument import Instrument
from gui_trader.core.money import to_decimal

FO_EPOCH_OFFSET = 315_513_000  # 1980-01-01 00:00 IST as Unix time
FO_EPOCH_SEGMENTS = frozenset({"nse_fo", "cde_fo"})
NO_FREEZE = 99_999_999


def _num(value: str | None) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError:
        return Decimal(0)


def _scaled(value: str | None, precision: int) -> Decimal | None:
    raw = _num(value)
    if raw <= 0:
        return None
    return raw / (Decimal(10) ** precision)


def expiry_date(raw: str | None, segment: str) -> date | None:
    seconds = int(_num(raw))
    if seconds <= 0:
        return None
    if segment in FO_EPOCH_SEGMENTS:
        seconds += FO_EPOCH_OFFSET
    return datetime.fromtimestamp(seconds, IST).date()


def parse_scrip_master(text: str, segment_hint: str = "") -> list[Instrument]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return []
    col = {name: i for i, name in enumerate(header)}
    strike_col = col.get("dStrikePrice;", col.get("dStrikePrice"))
    out: list[Instrument] = []

    def get(row: list[str], name: str) -> str:
        i = col.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    for row in reader:
        if not row or not get(row, "pSymbol") or not get(row, "pTrdSymbol"):
            continue
        segment = get(row, "pExchSeg") or segment_hint
        precision = int(_num(get(row, "lPrecision")) or 2)
        scale = Decimal(10) ** precision
        option = get(row, "pOptionType").upper()
        strike = None
        if strike_col is not None and strike_col < len(row):
            strike = _scaled(row[strike_col], precision)
        tick = _num(get(row, "dTickSize")) / scale
        lot = int(_num(get(row, "lLotSize")) or _num(get(row, "iLotSize")) or 1)
        freeze = int(_num(get(row, "lFreezeQty")))
        out.append(
            Instrument(
                segment=segment,
                token=get(row, "pSymbol"),
                trading_symbol=get(row, "pTrdSymbol"),
                name=get(row, "pSymbolName"),
                instrument_type=get(row, "pInstType"),
                option_type=option if option in ("CE", "PE") else "",
                strike=strike if option in ("CE", "PE") else None,
                expiry=expiry_date(get(row, "lExpiryDate") or get(row, "pExpiryDate"), segment),
                lot_size=max(lot, 1),
                tick_size=tick if tick > 0 else Decimal("0.05"),
                freeze_qty=0 if freeze >= NO_FREEZE else freeze,
                precision=precision,
                series=get(row, "pGroup"),
                low_band=_scaled(get(row, "dLowPriceRange"), precision),
                high_band=_scaled(get(row, "dHighPriceRange"), precision),
            )
        )
    return out
