"""The instrument store: scrip master fetched once per calendar day, cached, looked up fast."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from gui_trader.core.clock import today_ist
from gui_trader.core.instrument import Instrument, instrument_key
from gui_trader.market.scrip_master import BadInstrumentFile as BadInstrumentFile  # re-export
from gui_trader.market.scrip_master import validate_scrip_master

log = logging.getLogger(__name__)

SEGMENTS = ("nse_cm", "nse_fo")
# Indices are quoted by name and are not in the tradable files.
INDICES = {
    "NIFTY": Instrument("nse_cm", "Nifty 50", "NIFTY 50", "NIFTY", "INDEX", series=""),
    "BANKNIFTY": Instrument("nse_cm", "Nifty Bank", "NIFTY BANK", "BANKNIFTY", "INDEX", series=""),
}


class FileSource(Protocol):
    async def instrument_files(self) -> dict[str, str]: ...
    async def download(self, url: str) -> bytes: ...


class UnknownSymbol(LookupError):
    pass


@dataclass(frozen=True)
class ChainRow:
    strike: Decimal
    call: Instrument | None
    put: Instrument | None


def atm_index(strikes: list[Decimal], spot: Decimal) -> int:
    """The at-the-money strike: nearest the spot, the lower one on a tie (one rule for the
    planner and the chain the trader sees)."""
    return min(range(len(strikes)), key=lambda i: (abs(strikes[i] - spot), strikes[i]))


class InstrumentStore:
    def __init__(self, instruments: list[Instrument]) -> None:
        self.all = instruments
        self.by_key = {i.key: i for i in instruments}
        self.by_symbol: dict[str, list[Instrument]] = defaultdict(list)
        self._chains: dict[tuple[str, date], dict[Decimal, dict[str, Instrument]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self._chain_rows: dict[tuple[str, date], tuple[ChainRow, ...]] = {}
        for i in instruments:
            self.by_symbol[i.trading_symbol.upper()].append(i)
            if i.is_option and i.expiry and i.strike is not None:
                self._chains[(i.name.upper(), i.expiry)][i.strike][i.option_type] = i
        for name, index in INDICES.items():
            self.by_key.setdefault(index.key, index)
            self.by_symbol.setdefault(name, []).append(index)
            self.by_symbol.setdefault(index.trading_symbol, []).append(index)

    def __len__(self) -> int:
        return len(self.all)

    def by_token(self, segment: str, token: str) -> Instrument | None:
        return self.by_key.get(instrument_key(segment, token))

    def resolve(self, text: str) -> Instrument:
        """RELIANCE, RELIANCE-EQ, nse_cm:RELIANCE-EQ, nse_cm|2885, or a full option symbol;
        also the exchange prefixes charting sites use (NSE:RELIANCE, NFO:NIFTY...CE)."""
        raw = text.strip()
        if "|" in raw and raw in self.by_key:
            return self.by_key[raw]
        segment = ""
        if ":" in raw:
            segment, raw = raw.split(":", 1)
            segment = EXCHANGE_SEGMENTS.get(segment.upper(), segment)
        key = raw.upper()
        candidates = self.by_symbol.get(key) or self.by_symbol.get(f"{key}-EQ") or []
        if segment:
            candidates = [c for c in candidates if c.segment == segment.lower()]
        if not candidates:
            raise UnknownSymbol(f"unknown symbol {text!r} (not in today's instrument file)")
        cash = [c for c in candidates if c.segment == "nse_cm"]
        return (cash or candidates)[0]

    def expiries(self, underlying: str) -> list[date]:
        u = underlying.upper()
        return sorted(e for (name, e) in self._chains if name == u)

    def chain(self, underlying: str, expiry: date) -> list[ChainRow]:
        """Sorted once per chain: the straddle panel asks on every quote frame."""
        key = (underlying.upper(), expiry)
        rows = self._chain_rows.get(key)
        if rows is None:
            strikes = self._chains.get(key, {})
            rows = tuple(ChainRow(k, v.get("CE"), v.get("PE")) for k, v in sorted(strikes.items()))
            self._chain_rows[key] = rows
        return list(rows)

    def option(self, underlying: str, expiry: date, strike: Decimal, kind: str) -> Instrument:
        found = self._chains.get((underlying.upper(), expiry), {}).get(strike, {}).get(kind)
        if found is None:
            raise UnknownSymbol(f"no {underlying} {expiry} {strike} {kind} in the instrument file")
        return found


# A charting site's exchange prefix -> the broker's segment (TradingView: {{exchange}}:{{ticker}}).
EXCHANGE_SEGMENTS = {"NSE": "nse_cm", "NFO": "nse_fo", "BSE": "bse_cm", "BFO": "bse_fo"}

DOWNLOAD_ATTEMPTS = 3
RETRY_BACKOFF_S = 0.2  # times the attempt number


def _read_cached(cache_dir: Path, wanted: dict[str, Path]) -> dict[str, list[Instrument]]:
    """Today's cached files that still validate, parsed.

    A cached file that fails (an HTML page kept by an older version, say) is deleted so that it
    is downloaded again instead of making every symbol unknown for the rest of the day.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Instrument]] = {}
    for segment, path in wanted.items():
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            continue
        try:
            out[segment] = validate_scrip_master(blob, segment)
        except BadInstrumentFile as exc:
            log.warning("discarding cached %s: %s", path.name, exc)
            path.unlink(missing_ok=True)
    return out


def _accept(path: Path, segment: str, blob: bytes) -> list[Instrument]:
    """Validate and parse a download; only a good file is written (atomically) to the cache."""
    instruments = validate_scrip_master(blob, segment)
    # A name of its own: several processes on one data folder may download the same file at once.
    tmp = path.parent / f"{path.name}.{os.getpid()}-{threading.get_ident()}.part"
    tmp.write_bytes(blob)
    tmp.replace(path)
    day = path.stem.rsplit("_", 1)[-1]
    for old in [*path.parent.glob("*.csv"), *path.parent.glob("*.part")]:
        if not old.name.split(".csv")[0].endswith(day):  # earlier days' files and partials
            old.unlink(missing_ok=True)
    return instruments


async def _fetch(source: FileSource, url: str, segment: str, path: Path) -> list[Instrument]:
    """Download until the file validates: one bad response must not poison the whole day."""
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        blob = await source.download(url)
        try:
            return await asyncio.to_thread(_accept, path, segment, blob)
        except BadInstrumentFile as exc:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise BadInstrumentFile(
                    segment, f"{exc.reason}; {attempt} downloads, none cached"
                ) from None
            log.warning("%s; downloading it again", exc)
            await asyncio.sleep(RETRY_BACKOFF_S * attempt)
    raise AssertionError("unreachable")


async def load_instruments(
    source: FileSource,
    cache_dir: Path,
    segments: tuple[str, ...] = SEGMENTS,
    day: date | None = None,
) -> InstrumentStore:
    """Today's files from the cache, or downloaded once (concurrently) and cached for the day.

    Every file is validated before it is used or cached (BadInstrumentFile if a segment stays
    bad after DOWNLOAD_ATTEMPTS downloads). Validation and parsing are one pass in a worker
    thread: a real nse_fo file is tens of MB.
    """
    day = day or today_ist()
    wanted = {seg: cache_dir / f"{seg}_{day.isoformat()}.csv" for seg in segments}
    parsed = await asyncio.to_thread(_read_cached, cache_dir, wanted)
    missing = [seg for seg in wanted if seg not in parsed]
    if missing:
        files = await source.instrument_files()
        absent = [seg for seg in missing if seg not in files]
        if absent:
            raise LookupError(f"the broker lists no instrument file for {', '.join(absent)}")
        # Each segment settles on its own, so a good file is kept even if another stays bad.
        results = await asyncio.gather(
            *(_fetch(source, files[seg], seg, wanted[seg]) for seg in missing),
            return_exceptions=True,
        )
        for seg, result in zip(missing, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            parsed[seg] = result
    instruments = [i for seg in wanted for i in parsed[seg]]
    log.info("%d instruments loaded for %s", len(instruments), day)
    return InstrumentStore(instruments)
