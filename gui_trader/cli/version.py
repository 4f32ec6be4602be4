"""The app's version: one number, from the installed package's metadata.

Read lazily (only for `--version` and the About box): scanning metadata costs start-up time.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["VersionAction", "app_version"]

DIST = "gui_trader"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def app_version(dist: str = DIST, pyproject: Path = PYPROJECT) -> str:
    """The installed version; a source checkout run without installing (PYTHONPATH) reads
    pyproject.toml next to the package, so the number is never typed twice."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        pass
    try:
        with pyproject.open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        from gui_trader import __version__

        return __version__


class VersionAction(argparse.Action):
    """`--version`: like argparse's, but the metadata is read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        print(f"gui-trader {app_version()}")  # on stdout, as argparse's own version action
        parser.exit(0)
