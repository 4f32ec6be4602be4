"""Render the icon's PNG sizes from resources/icons/gui-trader.svg (run after editing the SVG;
the PNGs are committed so neither the app nor a build needs QtSvg or ImageMagick).

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py

The LIVE variant is the same drawing on red: a live window must not look like a paper one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parents[1] / "resources"
SIZES = (16, 32, 48, 64, 128, 256)
PAPER_BLUE, LIVE_RED = "#1565c0", "#c62828"


def render(svg: str, size: int, out: Path) -> None:
    renderer = QSvgRenderer(QByteArray(svg.encode()))
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out)):  # PNG, from the suffix
        raise OSError(f"could not write {out}")


def main() -> None:
    _app = QGuiApplication([])
    svg = (HERE / "icons" / "gui-trader.svg").read_text()
    assert PAPER_BLUE in svg, "the SVG's background colour changed: update PAPER_BLUE"
    for name, text in (("gui-trader", svg), ("gui-trader-live", svg.replace(PAPER_BLUE, LIVE_RED))):
        for size in SIZES:
            render(text, size, HERE / "icons" / f"{name}-{size}.png")
    print(f"wrote {2 * len(SIZES)} PNGs to {HERE / 'icons'}")


if __name__ == "__main__":
    main()
