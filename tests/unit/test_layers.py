"""DESIGN.md's layer rules: Qt only in gui/; the engine knows brokers only through base.py;
the CLI imports no Qt at module level."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "gui_trader"
QT = ("PySide6", "pyqtgraph", "qasync", "shiboken6")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_qt_only_in_gui() -> None:
    for path in PKG.rglob("*.py"):
        if "gui" in path.relative_to(PKG).parts:
            continue
        bad = {n for n in imports(path) if n.split(".")[0] in QT}
        assert not bad, f"{path.relative_to(PKG)} imports {bad}"


def test_the_cli_imports_no_qt_at_module_level() -> None:
    """The headless commands start without Qt: only `gui` imports the window, inside main()."""
    for path in (PKG / "cli").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                top.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module)
        bad = {n for n in top if n.split(".")[0] in QT or n.startswith("gui_trader.gui")}
        assert not bad, f"{path.relative_to(PKG)} imports {bad} at module level"


def test_importing_the_cli_loads_no_qt() -> None:
    """The same rule through every import the commands pull in."""
    probe = (
        "import sys, gui_trader.cli; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT!r} "
        "or m.startswith('gui_trader.gui')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_engine_does_not_reach_into_the_wire_client() -> None:
    for path in (PKG / "engine").rglob("*.py"):
        bad = {
            n
            for n in imports(path)
            if n.startswith(("gui_trader.broker.neo", "gui_trader.sim", "gui_trader.gui"))
        }
        assert not bad, f"{path.name} imports {bad}"


def test_core_is_plain() -> None:
    for path in (PKG / "core").rglob("*.py"):
        bad = {
            n
            for n in imports(path)
            if n.startswith("gui_trader.") and not n.startswith("gui_trader.core")
        }
        assert not bad, f"{path.name} imports {bad}"


def test_the_engine_never_imports_the_app() -> None:
    """Composition (config -> broker -> journal -> engine) lives in app.py alone."""
    for path in (PKG / "engine").rglob("*.py"):
        bad = {n for n in imports(path) if n in ("gui_trader.app", "gui_trader.config")}
        assert not bad, f"{path.name} imports {bad}"


def test_the_window_talks_to_the_engine_only() -> None:
    """No wire client, no simulator, no account internals (`ctx`) in the window."""
    for path in (PKG / "gui").rglob("*.py"):
        bad = {n for n in imports(path) if n.startswith(("gui_trader.broker", "gui_trader.sim"))}
        assert not bad, f"{path.name} imports {bad}"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reach = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "ctx"
        ]
        assert not reach, f"{path.name} reaches into the engine's ctx at lines {reach}"


def test_the_cli_commands_talk_to_the_engine_only() -> None:
    """Every command gets the engine; none reaches the broker or the desk behind it."""
    for path in (PKG / "cli").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reach = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in ("ctx", "broker", "desk")
        ]
        assert not reach, f"cli/{path.name} reaches past the engine at lines {reach}"
