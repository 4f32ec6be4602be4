"""Paper expiries and option chain (`market-data/1.0/watchlist/...`, reference §8).

Read off the same listings and quotes as everything else, so a chain row and a quote of the same
contract agree. Bad input raises SimError, which the server sends in the gateway's fault envelope.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from gui_trader.sim.errors import SimError
from gui_trader.sim.market_data import Market
from gui_trader.sim.universe import Listing

CHAIN_SEGMENTS = ("nse_fo", "bse_fo", "mcx_fo")
KINDS = {"option": ("OPTIDX", "OPTSTK"), "fut": ("FUTIDX", "FUTSTK")}
DEFAULT_COUNT = 40


def _contracts(market: Market, exchange: str, underlying: str, kind: str | None) -> list[Listing]:
    if exchange not in CHAIN_SEGMENTS:
        raise SimError(400, f"Invalid exchange {exchange!r} ({', '.join(CHAIN_SEGMENTS)})")
    if kind is not None and kind not in KINDS:
        raise SimError(400, f"Invalid instrument_type {kind!r} (option, fut)")
    types = KINDS[kind] if kind else (*KINDS["option"], *KINDS["fut"])
    name = underlying.strip().upper()
    return [
        x
        for x in market.universe.listings
        if x.segment == exchange and x.name == name and x.instrument_type in types and x.expiry
    ]


def expiries(market: Market, exchange: str, underlying: str, kind: str | None) -> dict[str, Any]:
    """`{"exchange", "underlying", "expiries": [ISO dates ascending]}`; none listed -> []."""
    dates = sorted({x.expiry for x in _contracts(market, exchange, underlying, kind) if x.expiry})
    return {
        "exchange": exchange,
        "underlying": underlying,
        "expiries": [d.isoformat() for d in dates],
    }


def option_chain(
    market: Market,
    exchange: str,
    underlying: str,
    expiry: str | None = None,
    kind: str | None = None,
    count: str | None = None,
) -> dict[str, Any]:
    """The chain of one expiry: `count` strikes around the money (calls and puts), or the
    futures with instrument_type fut."""
    kind = kind or "option"
    contracts = _contracts(market, exchange, underlying, kind)
    if not contracts:
        raise SimError(400, f"No {kind} contracts for {underlying!r} on {exchange}")
    try:
        n = int(count) if count not in (None, "") else DEFAULT_COUNT
        day = date.fromisoformat(expiry) if expiry else None
    except ValueError as exc:
        raise SimError(400, f"Invalid count or expiry ({exc})") from exc
    if n <= 0 or n % 10:
        raise SimError(400, "count must be a positive multiple of 10")
    listed = sorted({x.expiry for x in contracts if x.expiry})
    day = day or next((d for d in listed if d >= market.today), listed[-1])
    if day not in listed:
        raise SimError(400, f"Invalid expiry {day} (listed: {', '.join(map(str, listed))})")
    chosen = [x for x in contracts if x.expiry == day]
    first = chosen[0]
    common = {
        "mktLot": first.lot_size,
        "multiplier": 1,
        "unlSymbol": first.name,
        "exSeg": exchange,
        "expiryDt": day.isoformat(),
    }
    if kind == "fut":
        return {
            "data": {"common_data": common, "call": [], "put": [], "fut": _futures(market, chosen)}
        }
    spot = market.ltp(market.universe.by_symbol[first.underlying]) if first.underlying else None
    strikes = sorted({x.strike for x in chosen if x.strike is not None})
    if spot is not None:
        strikes.sort(key=lambda k: (abs(k - spot), k))
    picked = set(strikes[:n])  # the `count` strikes nearest the money
    atm = strikes[0] if spot is not None and strikes else None
    rows: dict[str, list[dict[str, Any]]] = {"CE": [], "PE": []}
    for x in sorted(chosen, key=lambda x: (x.strike or 0, x.option_type)):
        if x.strike in picked and x.option_type in rows:
            rows[x.option_type].append(_option_row(market, x, spot, atm))
    return {"data": {"common_data": common, "call": rows["CE"], "put": rows["PE"], "fut": []}}


def _numbers(market: Market, x: Listing) -> dict[str, float]:
    q = market.quote(x)
    oi = int(q["open_int"])
    previous = oi - oi // 20 // max(x.lot_size, 1) * max(x.lot_size, 1)
    return {
        "ltp": float(q["ltp"]),
        "open": float(q["ohlc"]["open"]),
        "high": float(q["ohlc"]["high"]),
        "low": float(q["ohlc"]["low"]),
        "close": float(q["ltp"]),
        "prevClose": float(q["ohlc"]["close"]),
        "volume": float(q["last_volume"]),
        "oi": float(oi),
        "prevOi": float(previous),
    }


def _oi_change(v: dict[str, float]) -> tuple[float, float]:
    change = v["oi"] - v["prevOi"]
    return change, round(change * 100 / v["prevOi"], 2) if v["prevOi"] else 0.0


def _option_row(
    market: Market, x: Listing, spot: Decimal | None, atm: Decimal | None
) -> dict[str, Any]:
    v = _numbers(market, x)
    change, pct = _oi_change(v)
    if x.strike == atm:
        moneyness = "ATM"
    elif spot is not None and x.strike is not None:
        itm = x.strike < spot if x.option_type == "CE" else x.strike > spot
        moneyness = "ITM" if itm else "OTM"
    else:
        moneyness = "OTM"
    return {
        "instrument": {
            "neoSymbol": x.key,
            "symbol": x.trading_symbol,
            "optionType": x.option_type,
            "strikePrice": float(x.strike or 0),
            "moneyness": moneyness,
        },
        "quote": {k: v[k] for k in ("ltp", "open", "high", "low", "prevClose", "close", "volume")},
        "openInterest": {
            "current": v["oi"],
            "previous": v["prevOi"],
            "change": change,
            "changePct": pct,
        },
    }


def _futures(market: Market, chosen: list[Listing]) -> list[dict[str, Any]]:
    out = []
    for x in chosen:
        v = _numbers(market, x)
        change, pct = _oi_change(v)
        out.append(
            {
                "inst": {
                    "neoSymbol": x.key,
                    "symbol": x.trading_symbol,
                    "expiryDt": x.expiry.isoformat() if x.expiry else "",
                },
                "quote": {
                    "ltp": v["ltp"],
                    "o": v["open"],
                    "h": v["high"],
                    "l": v["low"],
                    "c": v["close"],
                    "pc": v["prevClose"],
                    "vol": v["volume"],
                },
                "oi": {"cur": v["oi"], "prev": v["prevOi"], "chg": change, "chgPct": pct},
            }
        )
    return out
