"""Stock x time x field cubes on xarray + Zarr: schema, synthetic market, ingest, labels, day batches."""

from datasets.schema import (
    FIELDS,
    INDEXES,
    SCHEMA_VERSION,
    UNIVERSES,
    fingerprint,
    trading_dates,
    validate_cube,
    write_cube,
)
from datasets.stores import describe_cube, open_cube

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
