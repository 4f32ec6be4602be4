"""A bad scrip-master download is retried and never cached; a poisoned cached file is replaced."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import pytest

from gui_trader.market.instruments import BadInstrumentFile, load_instruments
from gui_trader.sim.exchange import Exchange

DAY = date(2026, 11, 21)
HTML = b"<!DOCTYPE html><html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


@pytest.fixture(scope="module")
def good() -> dict[str, bytes]:
    ex = Exchange()
    return {seg: ex.scrip_csv(seg).encode() for seg in ("nse_cm", "nse_fo")}


class FileSource:
    """Serves a sequence of blobs per segment (the last one again and again); counts calls."""

    def __init__(self, blobs: dict[str, list[bytes]]) -> None:
        self.blobs = {seg: list(seq) for seg, seq in blobs.items()}
        self.downloads: Counter[str] = Counter()
        self.listings = 0

    async def instrument_files(self) -> dict[str, str]:
        self.listings += 1
        return {seg: f"https://files.example/{DAY}/{seg}.csv" for seg in self.blobs}

    async def download(self, url: str) -> bytes:
        seg = url.rsplit("/", 1)[-1].removesuffix(".csv")
        self.downloads[seg] += 1
        seq = self.blobs[seg]
        return seq.pop(0) if len(seq) > 1 else seq[0]


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry delays asked for; the wait itself is skipped to keep the tests fast."""
    asked: list[float] = []
    real_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def sleep(delay: float) -> None:
        asked.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)  # what instruments.py awaits
    return asked


def cached(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.iterdir())}


@pytest.mark.asyncio
async def test_bad_first_download_is_retried_and_the_good_one_cached(
    tmp_path: Path, good: dict[str, bytes], backoffs: list[float]
) -> None:
    cache = tmp_path / "cache"
    source = FileSource({"nse_cm": [HTML, good["nse_cm"]], "nse_fo": [good["nse_fo"]]})
    store = await load_instruments(source, cache, day=DAY)
    assert source.downloads == {"nse_cm": 2, "nse_fo": 1}
    assert backoffs == [pytest.approx(0.2)]
    assert store.resolve("RELIANCE").key == "nse_cm|2885"
    assert any(i.is_option for i in store.all)
    assert cached(cache) == {
        f"nse_cm_{DAY}.csv": good["nse_cm"],
        f"nse_fo_{DAY}.csv": good["nse_fo"],
    }
    # The rest of the day comes from the cache: no listing, no download.
    again = await load_instruments(source, cache, day=DAY)
    assert (source.listings, source.downloads) == (1, {"nse_cm": 2, "nse_fo": 1})
    assert again.all == store.all


@pytest.mark.asyncio
async def test_always_bad_raises_and_caches_nothing(tmp_path: Path, backoffs: list[float]) -> None:
    cache = tmp_path / "cache"
    source = FileSource({"nse_cm": [HTML], "nse_fo": [b""]})
    with pytest.raises(BadInstrumentFile) as caught:
        await load_instruments(source, cache, day=DAY)
    assert caught.value.segment == "nse_cm"
    assert str(caught.value).startswith(
        "nse_cm instrument file is not a scrip master (got an HTML page; 3 downloads"
    )
    assert source.downloads == {"nse_cm": 3, "nse_fo": 3}
    assert sorted(backoffs) == pytest.approx([0.2, 0.2, 0.4, 0.4])
    assert cached(cache) == {}


@pytest.mark.asyncio
async def test_good_segment_is_kept_when_another_stays_bad(
    tmp_path: Path, good: dict[str, bytes], backoffs: list[float]
) -> None:
    cache = tmp_path / "cache"
    source = FileSource({"nse_cm": [good["nse_cm"]], "nse_fo": [HTML, HTML, HTML, good["nse_fo"]]})
    with pytest.raises(BadInstrumentFile, match=r"^nse_fo instrument file"):
        await load_instruments(source, cache, day=DAY)
    assert cached(cache) == {f"nse_cm_{DAY}.csv": good["nse_cm"]}
    # Once the server recovers only the missing segment is fetched.
    store = await load_instruments(source, cache, day=DAY)
    assert source.downloads == {"nse_cm": 1, "nse_fo": 4}
    assert store.resolve("RELIANCE").segment == "nse_cm"
    assert set(cached(cache)) == {f"nse_cm_{DAY}.csv", f"nse_fo_{DAY}.csv"}


@pytest.mark.asyncio
async def test_poisoned_cached_file_for_today_is_replaced(
    tmp_path: Path, good: dict[str, bytes], backoffs: list[float]
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"nse_cm_{DAY}.csv").write_bytes(HTML)  # as an older version would have kept it
    (cache / f"nse_fo_{DAY}.csv").write_bytes(good["nse_fo"])
    source = FileSource({"nse_cm": [good["nse_cm"]], "nse_fo": [good["nse_fo"]]})
    store = await load_instruments(source, cache, day=DAY)
    assert source.downloads == {"nse_cm": 1}
    assert backoffs == []
    assert store.resolve("RELIANCE").trading_symbol == "RELIANCE-EQ"
    assert cached(cache)[f"nse_cm_{DAY}.csv"] == good["nse_cm"]


@pytest.mark.asyncio
async def test_earlier_days_files_are_dropped(tmp_path: Path, good: dict[str, bytes]) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "nse_cm_2026-11-20.csv").write_bytes(good["nse_cm"])
    (cache / "nse_cm_2026-11-20.part").write_bytes(b"half a file")
    source = FileSource({"nse_cm": [good["nse_cm"]]})
    await load_instruments(source, cache, segments=("nse_cm",), day=DAY)
    assert list(cached(cache)) == [f"nse_cm_{DAY}.csv"]


@pytest.mark.asyncio
async def test_charting_sites_exchange_prefixes_resolve(
    tmp_path: Path, good: dict[str, bytes]
) -> None:
    """TradingView alerts say NSE:RELIANCE ({{exchange}}:{{ticker}}) and NFO:<option>."""
    source = FileSource({"nse_cm": [good["nse_cm"]], "nse_fo": [good["nse_fo"]]})
    store = await load_instruments(source, tmp_path / "cache", day=DAY)
    assert store.resolve("NSE:RELIANCE").key == store.resolve("RELIANCE").key
    assert store.resolve("nse:reliance-eq").key == store.resolve("RELIANCE").key
    option = next(i for i in store.all if i.is_option)
    assert store.resolve(f"NFO:{option.trading_symbol}") == option
    with pytest.raises(LookupError):
        store.resolve(f"NSE:{option.trading_symbol}")  # not a cash symbol
