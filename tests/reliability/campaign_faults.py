"""The long fault campaign: the CI campaign's runs (tests/reliability/test_fault_campaign.py),
1000 of them by default, against one loopback simulator.

    .venv/bin/python tests/reliability/campaign_faults.py --runs 1000 [--seed N]

Prints the tally (runs, faults by kind, exit statuses, unknowns, duplicates, lost, false success,
false failure) and exits 1 on any duplicate, lost order, false success, false failure or other
violation (an exit status outside 0/1/3, output that is not strict JSON).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from tests.reliability.test_fault_campaign import (
        DEADLINE_S,
        LANDING_S,
        run_campaign,
    )

    p = argparse.ArgumentParser(description="the long fault campaign (see the module text)")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--deadline-s", type=float, default=DEADLINE_S)
    p.add_argument("--landing-s", type=float, default=LANDING_S)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="fault-campaign-") as tmp:
        tally = run_campaign(
            Path(tmp),
            args.runs,
            seed=args.seed,
            deadline_s=args.deadline_s,
            landing_s=args.landing_s,
            progress=None if args.quiet else lambda line: print(line, flush=True),
        )
    print(tally.report(), flush=True)
    bad = (
        len(tally.duplicates)
        + len(tally.lost)
        + len(tally.false_success)
        + len(tally.false_failure)
        + len(tally.other)
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
