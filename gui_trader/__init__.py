"""gui_trader: a desktop trading monitor for Kotak Neo, paper trading by default."""

__version__ = "0.1.0"
