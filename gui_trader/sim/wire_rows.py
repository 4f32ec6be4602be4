"""The paper books in the broker's row shapes: orders, history, trades, positions, holdings, limits.

Field names, formats and quirks follow the live Neo replies, so the client's row parsers are
exercised on paper exactly as they are live.
"""

from __future__ import annotations

import time as _time
from datetime import datetime
from decimal import Decimal
from typing import Any

from gui_trader.core.money import ZERO
from gui_trader.sim.market_data import Market
from gui_trader.sim.state import TERMINAL, Book, SimOrder
from gui_trader.sim.universe import Listing, Universe


def fmt_book(t: datetime) -> str:
    return t.strftime("%d-%b-%Y %H:%M:%S")


def fmt_hs(t: datetime) -> str:
    return t.strftime("%Y/%m/%d %H:%M:%S")


def placed_reply(no: str) -> dict[str, Any]:
    return {"stat": "Ok", "nOrdNo": no, "stCode": 200, "tid": f"server5_{no[-5:]}"}


def order_ack(no: str) -> dict[str, Any]:
    """The modify and cancel reply."""
    return {"stat": "Ok", "nOrdNo": no, "stCode": 200}


def order_row(
    o: SimOrder, x: Listing, status: str | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """One order-book row; `status` and `at` give an earlier state for the history."""
    at = at or (o.history[-1][1] if o.history else o.created)
    st = status or o.status
    return {
        "nOrdNo": o.no,
        "exOrdId": f"1{o.no[-15:]}" if st != "rejected" else "",
        "ordSt": st,
        "stat": st,
        "rejRsn": o.rej if st == "rejected" else "--",
        "qty": o.qty,
        "fldQty": o.filled,
        "unFldSz": 0 if o.status in TERMINAL else o.qty - o.filled,
        "cnlQty": o.qty - o.filled if o.status == "cancelled" else 0,
        "avgPrc": f"{o.avg:.2f}",
        "prc": f"{o.price:.2f}",
        "trgPrc": f"{o.trigger:.2f}",
        "prcTp": o.pt,
        "trnsTp": o.side,
        "prod": o.prod,
        "vldt": o.validity,
        "exSeg": o.seg,
        "tok": o.tok,
        "trdSym": o.ts,
        "sym": x.name,
        "series": x.series,
        "optTp": x.option_type or "--",
        "stkPrc": f"{x.strike or 0:.2f}",
        "expDt": f"{x.expiry:%d %b, %Y}" if x.expiry else "NA",
        "GuiOrdId": o.tag or "",
        "ordDtTm": fmt_book(o.created),
        "ordEntTm": fmt_book(o.created),
        "exCfmTm": fmt_book(at),
        "hsUpTm": fmt_hs(at),
        "boeSec": int(at.timestamp()),
        "updRecvTm": int(at.timestamp() * 1e9),
        "lotSz": str(x.lot_size),
        "tckSz": f"{x.tick:.4f}",
        "multiplier": "1",
        "precision": "2",
        "dscQty": 0,
        "mktPro": "0",
        "ordSrc": "NEOTRADEAPI",
        "brdLtQty": x.lot_size,
    }


def order_rows(book: Book, universe: Universe) -> list[dict[str, Any]]:
    return [order_row(o, universe.by_symbol[o.ts]) for o in book.orders.values()]


def history_rows(o: SimOrder, x: Listing) -> list[dict[str, Any]]:
    """The order's states, newest first, each as the history endpoint shows it."""
    rows = []
    for st, at in reversed(o.history):
        row = order_row(o, x, st, at)
        row.update(
            {
                "exch": "NSE",
                "exchTmstp": at.strftime("%d-%b-%Y %H: %M: %S"),
                "ordDur": o.validity,
                "exchOrdId": row["exOrdId"],
            }
        )
        rows.append(row)
    return rows


def plain_orders(ucc: str, book: Book) -> list[dict[str, Any]]:
    """Orders without the wire's dressing: the ground truth tests compare the client with."""
    return [
        {
            "no": o.no,
            "tag": o.tag,
            "ts": o.ts,
            "tt": o.side,
            "qty": o.qty,
            "status": o.status,
            "pt": o.pt,
            "price": str(o.price),
            "trigger": str(o.trigger),
            "prod": o.prod,
            "ucc": ucc,
        }
        for o in book.orders.values()
    ]


def trade_rows(book: Book, universe: Universe) -> list[dict[str, Any]]:
    rows = []
    for f in book.fills:
        rows.append(
            {
                "nOrdNo": f.no,
                "exOrdId": f"1{f.no}",
                "flId": f.fill_id,
                "flLeg": 1,
                "fldQty": f.qty,
                "avgPrc": f"{f.price:.2f}",
                "flDt": f.at.strftime("%d-%b-%Y"),
                "flTm": f.at.strftime("%H:%M:%S"),
                "exTm": fmt_book(f.at),
                "trnsTp": f.side,
                "prcTp": book.orders[f.no].pt if f.no in book.orders else "L",
                "prod": f.prod,
                "exSeg": f.seg,
                "trdSym": f.ts,
                "tok": "",
                "sym": universe.by_symbol[f.ts].name,
                "GuiOrdId": f.tag or "",
                "rptTp": "fill",
                "qty": 0,
                "lotSz": "1",
                "multiplier": "1",
                "precision": "2",
                "hsUpTm": fmt_hs(f.at),
                "boeSec": int(f.at.timestamp()),
            }
        )
    return rows


def position_rows(book: Book, market: Market, ucc: str) -> list[dict[str, Any]]:
    """Today's fills summed per symbol and product, as the positions endpoint reports them."""
    agg: dict[tuple[str, str], dict[str, Any]] = {}
    for f in book.fills:
        row = agg.setdefault((f.ts, f.prod), {"b": 0, "s": 0, "ba": ZERO, "sa": ZERO, "f": f})
        if f.side == "B":
            row["b"] += f.qty
            row["ba"] += f.price * f.qty
        else:
            row["s"] += f.qty
            row["sa"] += f.price * f.qty
    rows = []
    for (ts, prod), a in agg.items():
        x = market.universe.by_symbol[ts]
        rows.append(
            {
                "exSeg": x.segment,
                "tok": x.token,
                "trdSym": ts,
                "sym": x.name,
                "prod": prod,
                "series": x.series,
                "optTp": x.option_type or "--",
                "type": x.instrument_type or "EQ",
                "stkPrc": f"{x.strike or 0:.2f}",
                "expDt": f"{x.expiry:%d %b, %Y}" if x.expiry else "NA",
                "flBuyQty": str(a["b"]),
                "flSellQty": str(a["s"]),
                "cfBuyQty": "0",
                "cfSellQty": "0",
                "buyAmt": f"{a['ba']:.2f}",
                "sellAmt": f"{a['sa']:.2f}",
                "cfBuyAmt": "0.00",
                "cfSellAmt": "0.00",
                "lotSz": str(x.lot_size),
                "brdLtQty": x.lot_size,
                "multiplier": "1",
                "precision": "2",
                "genNum": "1",
                "genDen": "1",
                "prcNum": "1",
                "prcDen": "1",
                "sqrFlg": "Y",
                "posFlg": "true",
                "hsUpTm": fmt_hs(market.now()),
                "actId": ucc,
                "ltp": f"{market.ltp(x):.2f}",
            }
        )
    return rows


def holding_rows(book: Book, market: Market) -> list[dict[str, Any]]:
    """Holdings net of today's sells; sellable also nets out working CNC sell orders."""
    rows = []
    for ts, h in book.holdings.items():
        x = market.universe.by_symbol[ts]
        if h.qty - h.sold <= 0:
            continue
        qty = h.qty - h.sold
        ltp = float(market.ltp(x))
        rows.append(
            {
                "displaySymbol": x.name,
                "symbol": x.name,
                "averagePrice": float(h.avg),
                "quantity": qty,
                "sellableQuantity": max(qty - book.blocked(ts), 0),
                "exchangeSegment": "nse_cm",
                "exchangeIdentifier": x.token,
                "instrumentToken": 8000 + int(x.token) % 1000,
                "instrumentType": "Equity",
                "holdingCost": float(h.avg * qty),
                "mktValue": round(ltp * qty, 2),
                "closingPrice": float(market.prev_close(x)),
                "scripId": x.token,
                "isAlternateScrip": False,
            }
        )
    return rows


def limits_reply(cash: Decimal, used: Decimal) -> dict[str, Any]:
    return {
        "Net": f"{cash - used:.2f}",
        "MarginUsed": f"{used:.2f}",
        "CollateralValue": f"{cash:.2f}",
        "Collateral": "0.00",
        "RmsCollateral": "0.00",
        "NotionalCash": "0.00",
        "Category": "CLIENT",
        "TimeStamp": str(int(_time.time() * 1000)),
        "stCode": 200,
        "stat": "Ok",
    }


def margin_reply(need: Decimal, avail: Decimal, used: Decimal) -> dict[str, Any]:
    """The check-margin reply for an order needing `need` with `avail` free and `used` in use."""
    short = max(need - avail, ZERO)
    return {
        "avlCash": f"{avail:.6f}",
        "totMrgnUsd": f"{used + need:.6f}",
        "mrgnUsd": f"{used:.6f}",
        "ordMrgn": f"{need:.6f}",
        "rmsVldtd": "OK" if not short else "NOT_OK",
        "reqdMrgn": f"{need:.6f}",
        "avlMrgn": f"{avail:.6f}",
        "insufFund": f"{short:.6f}",
        "stat": "Ok",
        "stCode": 200,
    }
