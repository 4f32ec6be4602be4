"""The instrument store: scrip master fetched once per calendar day, cached, looked up fast."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from gui_trader.core.clock import today_ist
from gui_trader.core.instrument import Instrument
from gui_trader.market.scrip_master import parse_scrip_master

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


class InstrumentStore:
    def __init__(self, instruments: list[Instrument]) -> None:
        self.all = instruments
        self.by_key = {i.key: i for i in instruments}
        self.by_symbol: dict[str, list[Instrument]] = defaultdict(list)
        self._chains: dict[tuple[str, date], dict[Decimal, dict[str, Instrument]]] = defaultdict(
            lambda: defaultdict(dict)
        )
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
        return self.by_key.get(f"{segment}|{token}")

    def resolve(self, text: str) -> Instrument:
        """RELIANCE, RELIANCE-EQ, nse_cm:RELIANCE-EQ, nse_cm|2885, or a full option symbol."""
        raw = text.strip()
        if "|" in raw and raw in self.by_key:
            return self.by_key[raw]
        segment = ""
        if ":" in raw:
            segment, raw = raw.split(":", 1)
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
        strikes = self._chains.get((underlying.upper(), expiry), {})
        return [ChainRow(k, v.get("CE"), v.get("PE")) for k, v in sorted(strikes.items())]

    def option(self, underlying: str, expiry: date, strike: Decimal, kind: str) -> Instrument:
        found = self._chains.get((underlying.upper(), expiry), {}).get(strike, {}).get(kind)
        if found is None:
            raise UnknownSymbol(f"no {underlying} {expiry} {strike} {kind} in the instrument file")
        return found


def _read(paths: dict[str, Path]) -> list[Instrument]:
    out: list[Instrument] = []
    for segment, p in paths.items():
        out.extend(parse_scrip_master(p.read_text(encoding="utf-8"), segment))
    return out


def _missing(cache_dir: Path, wanted: dict[str, Path]) -> list[str]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    return [seg for seg, p in wanted.items() if not p.exists()]


def _store(cache_dir: Path, blobs: dict[Path, bytes]) -> None:
    """Write today's files atomically and drop earlier days' files."""
    for path, blob in blobs.items():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(blob)
        tmp.replace(path)
    day = next(iter(blobs)).name.rsplit("_", 1)[-1]
    for old in cache_dir.glob("*.csv"):
        if not old.name.endswith(day):
            old.unlink(missing_ok=True)


async def load_instruments(
    source: FileSource,
    cache_dir: Path,
    segments: tuple[str, ...] = SEGMENTS,
    day: date | None = None,
) -> InstrumentStore:
    """Today's files from the cache, or downloaded once (concurrently) and cached for the day.

    Parsing runs in a worker thread: a real nse_fo file is tens of MB.
    """
    day = day or today_ist()
    wanted = {seg: cache_dir / f"{seg}_{day.isoformat()}.csv" for seg in segments}
    missing = await asyncio.to_thread(_missing, cache_dir, wanted)
    if missing:
        files = await source.instrument_files()
        absent = [seg for seg in missing if seg not in files]
        if absent:
            raise LookupError(f"the broker lists no instrument file for {', '.join(absent)}")
        blobs = await asyncio.gather(*(source.download(files[seg]) for seg in missing))
        await asyncio.to_thread(
            _store, cache_dir, {wanted[s]: b for s, b in zip(missing, blobs, strict=True)}
        )
    instruments = await asyncio.to_thread(_read, wanted)
    log.info("%d instruments loaded for %s", len(instruments), day)
    return InstrumentStore(instruments)
