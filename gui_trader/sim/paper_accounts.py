"""Paper accounts beyond the demo one: fresh logins for `account add --paper` and `sim --accounts`.

Random per account (the simulator checks them as the broker would), never written anywhere but
the paper store of their own data folder, or printed by `gui-trader sim` for its clients.
"""

from __future__ import annotations

import secrets

import pyotp

from gui_trader.sim.auth import PAPER_USER, SimUser


def new_user(ucc: str, mobile: str, name: str = "Paper Trader") -> SimUser:
    return SimUser(
        ucc=ucc,
        mobile=mobile,
        consumer_key=f"paper-{secrets.token_hex(8)}",
        mpin=f"{secrets.randbelow(10**6):06d}",
        totp_secret=pyotp.random_base32(),
        name=name,
    )


def numbered_users(count: int) -> list[SimUser]:
    """The demo account, then PAPER2, PAPER3, ... with their own logins."""
    return [PAPER_USER] + [
        new_user(f"PAPER{n}", f"+91999999{n:04d}", f"Paper Trader {n}") for n in range(2, count + 1)
    ]
