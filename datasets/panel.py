"""Causal steps over (date, stock) panels that can resume from a carried state.

Each function reads a row and what lies above it only, and takes the state above its first row as an
argument, so a derivation window that starts mid-history gives bit for bit the rows one pass over
the whole history gives (what ``datasets.append`` relies on).
"""

from __future__ import annotations

import numpy as np


def ffill(x: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
    """``x`` (D, S) with each NaN replaced by the last non-NaN value above it; ``before`` is the row above."""
    if before is not None:
        x = np.concatenate([np.asarray(before, dtype=x.dtype)[None], x])
    idx = np.where(np.isnan(x), 0, np.arange(len(x))[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = np.take_along_axis(x, idx, axis=0)
    return out[1:] if before is not None else out


def trailing_mean(
    x: np.ndarray, window: int, min_periods: int, before: np.ndarray | None = None
) -> np.ndarray:
    """(D, S) mean of the finite values among each row and the ``window - 1`` rows above it.

    NaN where fewer than ``min_periods`` are finite. ``before`` holds the ``window - 1`` rows above
    the first (NaN: none). Each row's sum runs over its own window in a fixed order (oldest first),
    unlike a running sum, so its value does not depend on where the panel starts.
    """
    d, s = x.shape
    pad = np.full((window - 1, s), np.nan) if before is None else np.asarray(before, dtype=np.float64)
    if pad.shape != (window - 1, s):
        raise ValueError(f"trailing_mean: before has shape {pad.shape}, expected {(window - 1, s)}")
    full = np.concatenate([pad, x.astype(np.float64)])
    ok = np.isfinite(full)
    vals = np.where(ok, full, 0.0)
    total = np.zeros((d, s))
    count = np.zeros((d, s), dtype=np.int64)
    for k in range(window):
        total += vals[k : k + d]
        count += ok[k : k + d]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= min_periods, total / count, np.nan)
