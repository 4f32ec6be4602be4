"""`gui-trader sim`: serve a paper exchange on loopback for any client, the broker's SDK included
(no event loop of ours)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import date

from gui_trader.cli.args import EXIT_FAILED


def run_sim(args: argparse.Namespace) -> int:
    from gui_trader.sim.exchange import Exchange
    from gui_trader.sim.faults import FaultPlan
    from gui_trader.sim.paper_accounts import numbered_users
    from gui_trader.sim.serve import listen, serve_socket
    from gui_trader.sim.server import SimServer

    try:
        sock = listen(args.port)  # before any banner: a busy port is one line, nothing else
    except OSError as exc:
        print(f"gui-trader: port {args.port} is not free ({exc.strerror})", file=sys.stderr)
        return EXIT_FAILED
    port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    users = numbered_users(args.accounts)
    exchange = Exchange(
        seed=args.seed,
        users=users,
        base_url=url,
        real_time=True,
        session_hours=args.session,
        holidays=_holidays() if args.session else (),
    )
    app = SimServer(
        exchange,
        FaultPlan(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms),
        feed_interval_s=args.feed_interval_ms / 1000,
        feed_discovery=args.feed_discovery,
    )
    accounts = [
        {k: v for k, v in asdict(u).items() if k != "name"} | {"name": u.name} for u in users
    ]
    market_feed, order_feed = (u.replace("http://", "ws://", 1) for u in app.feed_urls())

    def banner() -> None:
        if args.json:
            feeds = {"market": market_feed, "orders": order_feed}
            print(json.dumps({"url": url, "accounts": accounts, "feeds": feeds}), flush=True)
        else:
            print(f"paper exchange on {url} (latency {args.latency_ms:g} ms)", flush=True)
            print(f"  live feeds: {market_feed} (market), {order_feed} (orders)", flush=True)
            for a in accounts:
                print(
                    f"  account {a['ucc']}: mobile {a['mobile']}, consumer key"
                    f" {a['consumer_key']}, MPIN {a['mpin']}, TOTP secret {a['totp_secret']}",
                    flush=True,
                )
            print(
                f"log in with: gui-trader account add NAME --login-url {url} --mobile MOBILE"
                " --ucc UCC",
                flush=True,
            )

    serve_socket(app, sock, ready=banner)
    return 0


def _holidays() -> frozenset[date]:
    """`[market] holidays` of config.toml: the days the app's own checks keep closed too."""
    from gui_trader.config import Config, Paths

    market = Config.load(Paths.resolve().config).extra.get("market") or {}
    return frozenset(date.fromisoformat(str(d)) for d in market.get("holidays", []))
