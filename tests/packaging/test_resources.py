"""resources/ ships inside the wheel as gui_trader.resources, and the window's icon comes from
it: checked on a real (non-editable) install, where a path into the checkout would not exist."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from gui_trader.resources import DESKTOP_ENTRY, ICON_SIZES, icon_files, icon_svg, resource
from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]


def _png(data: bytes) -> QImage:
    image = QImage()
    assert image.loadFromData(data)
    return image


def test_every_subpackage_is_listed_in_pyproject() -> None:
    with (REPO / "pyproject.toml").open("rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "gui_trader").rglob("__init__.py")
    }
    assert listed == found | {"gui_trader.resources"}


@pytest.mark.parametrize("live", [False, True])
def test_every_icon_size_is_there_and_square(live: bool) -> None:
    icons = icon_files(live)
    assert [size for size, _ in icons] == list(ICON_SIZES)
    for size, png in icons:
        image = _png(png.read_bytes())
        assert (image.width(), image.height()) == (size, size), png.name
    assert icon_svg().read_text().lstrip().startswith("<?xml")


def test_paper_and_live_icons_differ() -> None:
    paper = _png(icon_files(False)[-1][1].read_bytes())
    live = _png(icon_files(True)[-1][1].read_bytes())
    centre_left = (40, 128)  # background, clear of the drawing
    assert paper.pixelColor(*centre_left).blue() > paper.pixelColor(*centre_left).red()
    assert live.pixelColor(*centre_left).red() > live.pixelColor(*centre_left).blue()


def test_desktop_entry_starts_the_installed_command() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read_string(resource(DESKTOP_ENTRY).read_text())
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Exec"] == "gui-trader"
    assert section["Icon"] == "gui-trader"
    assert section["Terminal"] == "false"


def test_a_wheel_install_finds_the_icon(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("gui_trader", "resources"):
        shutil.copytree(REPO / name, src / name, ignore=skip)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "-w", str(tmp_path / "w")], check=True)
    (wheel,) = (tmp_path / "w").glob("gui_trader-*.whl")
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    probe = (
        "import gui_trader.resources as r, sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from gui_trader.gui.main_window import app_icon\n"
        "app = QApplication([])\n"
        "print(r.__file__)\n"
        "print(len(app_icon(False).availableSizes()), len(app_icon(True).availableSizes()))\n"
    )
    # -I: no user site, no PYTHONPATH from the caller, no script folder (the checkout)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n{probe}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert Path(out[0]).is_relative_to(site)
    assert out[1] == f"{len(ICON_SIZES)} {len(ICON_SIZES)}"  # every size, PAPER and LIVE
