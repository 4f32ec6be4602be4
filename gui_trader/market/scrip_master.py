"""Parse the broker's scrip-master CSV, every quirk included (see reference §7).

Header names carry trailing blanks; the strike column is literally `dStrikePrice;`; price-like
columns are integers in 1/100 rupee; nse_fo expiries count seconds from 1980-01-01 IST; large
numbers may come in scientific notation.

`validate_scrip_master` is the strict twin of `parse_scrip_master`: the broker sometimes serves an
HTML error page at the scrip-master URL, and a file cached for the day must be a real one, so
every file is checked (and parsed in the same pass) before it is kept.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime
from decimal import Decimal

from gui_trader.core.clock import IST
from gui_trader.core.instrument import Instrument
from gui_trader.core.money import to_decimal

log = logging.getLogger(__name__)
FO_EPOCH_OFFSET = 315_513_000  # 1980-01-01 00:00 IST as Unix time
FO_EPOCH_SEGMENTS = frozenset({"nse_fo", "cde_fo"})
NO_FREEZE = 99_999_999
# Columns (names stripped) without which an instrument cannot be looked up or ordered.
REQUIRED_COLUMNS = ("pSymbol", "pTrdSymbol", "pExchSeg", "pSymbolName", "dTickSize")
LOT_COLUMNS = ("lLotSize", "iLotSize")  # either will do
# Real files hold ~10^5 rows; many more means the file is not what it claims to be.
ROWS_PER_BAD_ROW = 100  # up to 1 unreadable row in 100 is skipped; more: the file is broken
MAX_INSTRUMENTS = 1_000_000
MAX_PRECISION = 8


class BadInstrumentFile(LookupError):
    """An instrument file that is not a usable scrip master; it must not be cached."""

    def __init__(self, segment: str, reason: str) -> None:
        super().__init__(f"{segment} instrument file is not a scrip master ({reason})")
        self.segment = segment
        self.reason = reason


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
    """Lenient parse: rows without token or symbol are skipped, odd values defaulted."""
    return _parse(text, segment_hint, strict=False)


def validate_scrip_master(blob: bytes | str, segment: str) -> list[Instrument]:
    """The instruments of a file for `segment`, or BadInstrumentFile saying what is wrong.

    Stricter than `parse_scrip_master`, whose defaults (lot 1, tick 0.05, the hint as segment)
    would hide a broken file: the needed columns must be there, at least one instrument, and
    every row must belong to `segment` with a lot >= 1 and a tick > 0.
    """
    if isinstance(blob, bytes):
        try:
            text = blob.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadInstrumentFile(segment, "not UTF-8 text") from None
    else:
        text = blob.removeprefix("\ufeff")
    head = text.lstrip()[:1024].lower()
    if not head:
        raise BadInstrumentFile(segment, "empty file")
    if head.startswith("<"):
        xml = head.startswith("<?xml") and "<html" not in head
        raise BadInstrumentFile(segment, "got an XML document" if xml else "got an HTML page")
    if head[0] in "{[":
        raise BadInstrumentFile(segment, "got a JSON document")
    try:
        return _parse(text, segment, strict=True)
    except csv.Error as exc:
        raise BadInstrumentFile(segment, f"unreadable CSV: {exc}") from None


class _Columns:
    """Cell access by stripped header name; short rows read as empty cells."""

    def __init__(self, header: list[str]) -> None:
        self.index = {name.strip(): i for i, name in enumerate(header)}
        self.strike = self.index.get("dStrikePrice;", self.index.get("dStrikePrice"))

    def get(self, row: list[str], name: str) -> str:
        i = self.index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    def missing(self) -> list[str]:
        out = [name for name in REQUIRED_COLUMNS if name not in self.index]
        if not any(name in self.index for name in LOT_COLUMNS):
            out.append("/".join(LOT_COLUMNS))
        return out


def _parse(text: str, segment_hint: str, *, strict: bool) -> list[Instrument]:
    reader = csv.reader(io.StringIO(text))
    try:
        cols = _Columns(next(reader))
    except StopIteration:
        if strict:
            raise BadInstrumentFile(segment_hint, "empty file") from None
        return []
    if strict and (missing := cols.missing()):
        noun = "column" if len(missing) == 1 else "columns"
        raise BadInstrumentFile(segment_hint, f"missing {noun} {', '.join(missing)}")
    out: list[Instrument] = []
    bad: list[str] = []
    for row in reader:
        if not row or not cols.get(row, "pSymbol") or not cols.get(row, "pTrdSymbol"):
            continue
        if not strict:
            out.append(_instrument(cols, row, segment_hint))
            continue
        seg = cols.get(row, "pExchSeg") or segment_hint
        if seg != segment_hint:  # another segment's file: the whole file is wrong
            where = f"line {reader.line_num} {cols.get(row, 'pTrdSymbol')!r}"
            raise BadInstrumentFile(segment_hint, f"{where}: segment {seg!r}")
        try:
            problem = _row_problem(cols, row, segment_hint)
            if problem is None:
                out.append(_instrument(cols, row, segment_hint))
        except (ValueError, ArithmeticError, OSError) as exc:  # OSError: fromtimestamp range
            problem = f"bad number ({exc})"
        if problem is not None:
            bad.append(f"line {reader.line_num} {cols.get(row, 'pTrdSymbol')!r}: {problem}")
        if len(out) > MAX_INSTRUMENTS:
            raise BadInstrumentFile(segment_hint, f"more than {MAX_INSTRUMENTS} instruments")
    if strict and not out:
        raise BadInstrumentFile(segment_hint, bad[0] if bad else "no instruments")
    if bad and len(bad) * ROWS_PER_BAD_ROW > len(out) + len(bad):
        # A few odd contracts are skipped; more than 1 % means the file itself is broken.
        raise BadInstrumentFile(segment_hint, f"{len(bad)} unreadable rows, e.g. {bad[0]}")
    if bad:
        log.warning("%s: skipped %d unreadable rows, e.g. %s", segment_hint, len(bad), bad[0])
    return out


def _row_problem(cols: _Columns, row: list[str], segment: str) -> str | None:
    """What is wrong with the raw values the lenient parse would silently default, if anything."""
    seg = cols.get(row, "pExchSeg") or segment
    if seg != segment:
        return f"segment {seg!r}"
    lot = to_decimal(cols.get(row, "lLotSize")) or to_decimal(cols.get(row, "iLotSize"))
    if lot < 1 or lot != lot.to_integral_value():
        return f"lot size {lot}"
    tick = to_decimal(cols.get(row, "dTickSize"))
    if tick <= 0:
        return f"tick size {tick}"
    precision = to_decimal(cols.get(row, "lPrecision"))
    if not 0 <= precision <= MAX_PRECISION or precision != precision.to_integral_value():
        return f"price precision {precision}"
    return None


def _instrument(cols: _Columns, row: list[str], segment_hint: str) -> Instrument:
    get = cols.get
    segment = get(row, "pExchSeg") or segment_hint
    precision = int(_num(get(row, "lPrecision")) or 2)
    scale = Decimal(10) ** precision
    option = get(row, "pOptionType").upper()
    strike = None
    if cols.strike is not None and cols.strike < len(row):
        strike = _scaled(row[cols.strike], precision)
    tick = _num(get(row, "dTickSize")) / scale
    lot = int(_num(get(row, "lLotSize")) or _num(get(row, "iLotSize")) or 1)
    freeze = int(_num(get(row, "lFreezeQty")))
    return Instrument(
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
