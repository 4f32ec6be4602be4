"""`gui-trader sim`: serve the paper exchange on loopback (no event loop of ours)."""

from __future__ import annotations

import argparse
import sys


def run_sim(args: argparse.Namespace) -> int:
    from gui_trader.sim.serve import build, serve_forever

    app = build(args.port, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, seed=args.seed)
    from gui_trader.sim.exchange import PAPER_USER as u

    print(
        f"paper exchange on http://127.0.0.1:{args.port} (latency {args.latency_ms:g} ms); "
        f"login with --login-url http://127.0.0.1:{args.port} --mobile {u.mobile} "
        f"--ucc {u.ucc}",
        file=sys.stderr,
    )
    serve_forever(app, args.port)
    return 0
