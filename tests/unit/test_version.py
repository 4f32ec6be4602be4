"""`gui-trader --version` says the version from the package metadata, without Qt."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gui_trader.cli import main
from gui_trader.cli.version import PYPROJECT, app_version

REPO = Path(__file__).resolve().parents[2]


def _pyproject_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def test_the_installed_version_is_the_pyproject_version() -> None:
    assert PYPROJECT == REPO / "pyproject.toml"
    assert app_version() == _pyproject_version()


def test_not_installed_reads_pyproject(tmp_path: Path) -> None:
    project = tmp_path / "pyproject.toml"
    project.write_text('[project]\nname = "x"\nversion = "9.8.7"\n')
    assert app_version("no-such-dist-gui-trader", project) == "9.8.7"


def test_neither_installed_nor_a_checkout_falls_back_to_the_package(tmp_path: Path) -> None:
    from gui_trader import __version__

    assert app_version("no-such-dist-gui-trader", tmp_path / "missing.toml") == __version__


def test_version_flag_prints_one_line_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    assert out == f"gui-trader {_pyproject_version()}\n"
    assert err == ""


def test_version_flag_in_a_fresh_process_loads_no_qt() -> None:
    code = (
        "import sys\n"
        "from gui_trader.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code, 'qt' if any(m.startswith('PySide6') for m in sys.modules)"
        " else 'no-qt')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.splitlines() == [f"gui-trader {_pyproject_version()}", "exit 0 no-qt"]
