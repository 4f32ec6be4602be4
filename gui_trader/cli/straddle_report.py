"""A straddle plan and its outcome as text a trader reads in a terminal."""

from __future__ import annotations

from typing import Any

from gui_trader.cli.progress import plural
from gui_trader.engine.straddle import Summary
from gui_trader.engine.straddle_plan import StraddlePlan


def _money(v: Any) -> str:
    return "–" if v is None else f"{v:,.2f}"


def plan_table(plan: StraddlePlan) -> str:
    s = plan.spec
    head = [
        f"{s.side.label} straddle {s.underlying} {s.expiry}: "
        f"CE {plan.call.trading_symbol if plan.call else '?'} + "
        f"PE {plan.put.trading_symbol if plan.put else '?'}"
        + (f" (spot {plan.spot:,.2f})" if plan.spot else ""),
        f"{plural(s.lots, 'lot')} x {plan.lot_size} = {plan.qty_per_leg:,} per leg in "
        + (
            f"{plural(len(plan.batches), 'batch', 'batches')} of up to "
            f"{plural(s.batch_lots, 'lot')}; "
            if len(plan.batches) != 1
            else f"1 batch of {plural(plan.batches[0].lots, 'lot')}; "
        )
        + (
            ""
            if len(plan.batches) == 1
            else "paced by the account's order rate; "
            if s.delay_s is None
            else f"{s.delay_s:g} s between batches; "
        )
        + f"{s.order_type.value} {s.product.value}",
        f"margin needed {_money(plan.margin_required)} of {_money(plan.margin_available)} "
        f"available; expected time {plan.expected_s:.1f} s",
        "",
        f"{'BATCH':>5}  {'LOTS':>4}  {'CE QTY':>14}  {'PE QTY':>14}  PRICE",
    ]
    for b in plan.batches:
        ce = "+".join(str(o.qty) for o in b.orders if o.leg == "CE")
        pe = "+".join(str(o.qty) for o in b.orders if o.leg == "PE")
        price = next((o.price for o in b.orders if o.price is not None), None)
        head.append(
            f"{b.number:>5}  {b.lots:>4}  {ce:>14}  {pe:>14}  {'MKT' if price is None else 'LIMIT'}"
        )
    if plan.problems:
        head += ["", "cannot run:"] + [f"  - {p}" for p in plan.problems]
    return "\n".join(head)


def summary_text(summary: Summary) -> str:
    d = summary.to_json()
    ce, pe = d["legs"]["CE"], d["legs"]["PE"]
    lines = [
        ("ABORTED: " if d["aborted"] else "")
        + f"Call {ce['placed']}/{ce['planned']} placed, {ce['filled']} filled, "
        f"{ce['failed']} failed; Put {pe['placed']}/{pe['planned']} placed, "
        f"{pe['filled']} filled, {pe['failed']} failed",
        f"avg fill CE {ce['avg_price']} PE {pe['avg_price']}; combined premium "
        f"{d['combined_premium']} per unit, {d['premium_value']:,.2f} in all",
        f"{d['batches_sent']}/{d['batches']} batches in {d['elapsed_s']:.2f} s; leg skew max "
        f"{d['skew_ms_max'] if d['skew_ms_max'] is not None else '–'} ms; logins "
        f"{d['logins']}",
    ]
    for imb in d["imbalances"]:
        lines.append(
            f"!! LEG IMBALANCE in batch {imb['batch']}: CE filled {imb['ce_filled']}, "
            f"PE filled {imb['pe_filled']}"
        )
    for o in d["orders"]:
        if o["error"]:
            lines.append(
                f"  batch {o['batch']} {o['leg']}#{o['slice']}: {o['status']}: {o['error']}"
            )
    return "\n".join(lines)
