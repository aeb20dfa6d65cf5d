"""Stock x time x field cubes on xarray + Zarr: schema, synthetic market, ingest, labels, day batches.

The names below load on first use (PEP 562), so ``datasets.windows`` and ``datasets.fields`` can be
imported where only numpy is installed (the GPU bench).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FIELDS",
    "INDEXES",
    "SCHEMA_VERSION",
    "UNIVERSES",
    "describe_cube",
    "fingerprint",
    "open_cube",
    "trading_dates",
    "validate_cube",
    "write_cube",
]


#: Where each public name lives: store resolution sits above the schema (no import circle).
_STORES = ("describe_cube", "open_cube")


def __getattr__(name: str) -> Any:
    """Import ``datasets.schema`` (or ``datasets.stores``) on the first access of one of its names."""
    if name in __all__:
        return getattr(
            importlib.import_module("zoo.datasets.stores" if name in _STORES else "zoo.datasets.schema"), name
        )
    raise AttributeError(f"module 'datasets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
