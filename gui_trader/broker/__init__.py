"""Brokers: the protocol the engine sees, and the Kotak Neo wire client behind it."""
