"""Instruments, quotes and candles: what the market is, independent of any broker's wire."""
