"""Time in India: live mode's "now" is the system clock in IST, nothing else."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
MARKET_OPEN = time(9, 15)
MARKET_CLOSE = time(15, 30)


def now_ist() -> datetime:
    return datetime.now(IST)


def today_ist() -> date:
    return now_ist().date()


def next_midnight_ist(at: datetime | None = None) -> datetime:
    at = at or now_ist()
    day = at.astimezone(IST).date() + timedelta(days=1)
    return datetime.combine(day, time(0), IST)


def nse_open(at: datetime, holidays: frozenset[date] = frozenset()) -> bool:
    """Regular NSE session: weekdays 09:15-15:30 IST, not a listed holiday."""
    local = at.astimezone(IST)
    if local.weekday() >= 5 or local.date() in holidays:
        return False
    return MARKET_OPEN <= local.time() < MARKET_CLOSE


def next_open(at: datetime, holidays: frozenset[date] = frozenset()) -> datetime:
    """When NSE next opens after ``at`` (``at`` itself if it is open then)."""
    local = at.astimezone(IST)
    day = local.date()
    if local.time() >= MARKET_OPEN:
        day += timedelta(days=1) if local.time() >= MARKET_CLOSE else timedelta(0)
    for _ in range(30):  # a long holiday run is still bounded
        if day.weekday() < 5 and day not in holidays:
            start = datetime.combine(day, MARKET_OPEN, IST)
            return max(start, local) if nse_open(local, holidays) else start
        day += timedelta(days=1)
    return datetime.combine(day, MARKET_OPEN, IST)
