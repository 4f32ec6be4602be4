"""Paper trading: a simulated exchange served over the Kotak Neo wire protocol."""
