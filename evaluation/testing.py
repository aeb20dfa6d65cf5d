"""Hand-built tiny cubes for evaluation tests and examples (the schema of docs/ARCHITECTURE.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

FIELDS = ("open", "high", "low", "close", "vwap", "volume")


def tiny_cube(
    close: np.ndarray,
    *,
    start: str = "2021-01-04",
    dates: pd.DatetimeIndex | None = None,
    symbols: list[str] | None = None,
    volume: np.ndarray | None = None,
    mcap: np.ndarray | None = None,
    size: np.ndarray | None = None,
    universes: dict[str, np.ndarray] | None = None,
    **flags: np.ndarray,
) -> xr.Dataset:
    """A cube from a ``(date, symbol)`` close array; other fields copy close, flags default to False.

    ``dates`` default to business days from ``start``; ``universes`` maps a name to a boolean
    ``(date, symbol)`` array ("all" defaults to "close is finite"); ``flags`` are extra boolean
    ``(date, symbol)`` variables such as ``limit_up`` or ``breach``.
    """
    close = np.asarray(close, dtype=np.float32)
    n_dates, n_sym = close.shape
    dates = pd.bdate_range(start, periods=n_dates) if dates is None else pd.DatetimeIndex(dates)
    symbols = symbols or [f"S{i:04d}" for i in range(n_sym)]
    vol = np.ones_like(close) * 1e6 if volume is None else np.asarray(volume, dtype=np.float32)
    bars = np.stack([close, close, close, close, close, np.where(np.isfinite(close), vol, np.nan)], axis=-1)
    mcap = np.where(np.isfinite(close), close * 1e8, np.nan) if mcap is None else np.asarray(mcap)
    size = np.log(mcap) if size is None else np.asarray(size)
    uni = {"all": np.isfinite(close)}
    uni.update(universes or {})
    names = list(uni)
    ds = xr.Dataset(
        {
            "bars": (("date", "symbol", "field"), bars.astype(np.float32)),
            "mcap": (("date", "symbol"), mcap.astype(np.float32)),
            "size": (("date", "symbol"), size.astype(np.float32)),
            "industry": (("symbol",), np.zeros(n_sym, dtype=np.int16)),
            "listed": (("date", "symbol"), np.isfinite(close)),
            # xarray forbids a variable named like its dimension; see evaluation.cube.membership
            "in_universe": (
                ("universe", "date", "symbol"),
                np.stack([np.asarray(uni[u], bool) for u in names]),
            ),
        },
        coords={
            "date": dates.values.astype("datetime64[ns]"),
            "symbol": symbols,
            "field": list(FIELDS),
            "universe": names,
        },
        attrs={"source": "evaluation.testing.tiny_cube", "schema_version": 1},
    )
    for name in ("suspended", "limit_up", "limit_down", "st", "breach"):
        arr = flags.pop(name, None)
        ds[name] = (
            ("date", "symbol"),
            np.zeros((n_dates, n_sym), bool) if arr is None else np.asarray(arr, bool),
        )
    for name, arr in flags.items():
        ds[name] = (("date", "symbol"), np.asarray(arr, bool))
    return ds
