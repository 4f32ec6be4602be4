"""The bundle's entry point: `gui-trader` as the pip install's script runs it.

A frozen app has no `python -m`: the window starts the paper service as
`sys.executable -m gui_trader.sim.service ...` (sim/link.py), and in the bundle sys.executable
is this program, so `-m MODULE ARGS` runs that module here as Python would.
"""

from __future__ import annotations

import runpy
import sys


def run() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [module, *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    from gui_trader.cli import main

    return main()


if __name__ == "__main__":
    raise SystemExit(run())
