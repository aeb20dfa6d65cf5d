"""The cube's field names (no dependencies: the window rules and the GPU bench import them alone)."""

from __future__ import annotations

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "vwap", "volume")
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "vwap")
