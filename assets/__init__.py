"""Shipped files (default model, demo CT, icons), read with ``importlib.resources``."""
