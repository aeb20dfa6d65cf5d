"""The window rules, written once for every array library (numpy on the host, torch on a device).

Each function takes arrays of one namespace and returns arrays of the same namespace and device,
through ``array_api_compat`` (the Python array API standard), so the numpy day builder and the
on-device one run the same code: there is no numpy copy and torch copy of a rule to drift apart.
On numpy the results are bit-identical to numpy's own ``nanmean`` / ``nanstd`` / ``clip`` (the
same reductions in the same order; divisions by a count in float64 as numpy does them).

This module imports only numpy and ``array_api_compat`` (``datasets.__init__`` is lazy), so the
GPU bench can use it where xarray and Zarr are not installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of
from zoo.datasets.fields import PRICE_FIELDS

from zoo.errors import DataError

#: MAD -> standard deviation for a normal distribution.
MAD_SCALE = 1.4826

Array = Any  # a numpy array or a torch tensor (anything array_api_compat wraps)


def _count_divide(xp, total: Array, count: Array) -> Array:
    """``total / count`` in float64, rounded to float32: numpy's nanmean/nanvar division exactly."""
    return xp.astype(xp.astype(total, xp.float64) / xp.astype(count, xp.float64), xp.float32)


def gather_windows(
    panel: Array, last_breach: Array, t: int, idx: Array, window: int, field_idx: Array | None = None
) -> Array:
    """Raw windows ``(N, W, F)`` of stocks ``idx`` at date ``t``, bars before the latest breach set to NaN.

    ``panel`` is ``(S, W-1+D, F)`` padded with NaN at the front, so row ``t`` of the cube's date axis
    is ``panel[:, t + W - 1]`` and the window of days t-W+1..t is ``panel[:, t : t + W]``.
    ``last_breach`` is ``(D, S)``: the position of the latest breach at or before each date (-1: none).
    """
    xp = array_namespace(panel)
    x = panel[idx, t : t + window, :]  # one gather of N contiguous blocks
    if field_idx is not None:
        x = xp.take(x, field_idx, axis=2)
    lb = last_breach[t, idx]
    steps = xp.arange(t - window + 1, t + 1, dtype=lb.dtype, device=device_of(panel))
    x[steps[None, :] < lb[:, None]] = float("nan")  # unadjusted prices across a breach are not comparable
    return x


def nan_median_cols(a: Array) -> Array:
    """Median over axis 0 ignoring NaN, for an (N, K) array, by one sort (NaN sort last in both libraries)."""
    xp = array_namespace(a)
    srt = xp.sort(a, axis=0, stable=False)  # values only: the faster unstable sort gives the same array
    n = xp.sum(xp.isfinite(a), axis=0)
    lo = xp.clip((n - 1) // 2, 0, None)
    hi = xp.clip(n // 2, 0, None)
    below = xp.take_along_axis(srt, lo[None, :], axis=0)[0, :]
    above = xp.take_along_axis(srt, hi[None, :], axis=0)[0, :]
    med = 0.5 * (below + above)
    return xp.where(n > 0, med, float("nan"))


def nan_mean_std_cols(a: Array) -> tuple[Array, Array]:
    """Mean and (population) standard deviation over axis 0 ignoring NaN; NaN where a column has none."""
    xp = array_namespace(a)
    valid = ~xp.isnan(a)
    count = xp.sum(valid, axis=0)
    filled = xp.where(valid, a, 0.0)
    mean = _count_divide(xp, xp.sum(filled, axis=0), count)
    dev = xp.where(valid, filled - mean, 0.0)
    var = _count_divide(xp, xp.sum(dev * dev, axis=0), count)
    return mean, xp.sqrt(var)


def normalize_windows(
    x: Array,
    fields: Sequence[str],
    price_norm: str = "last_close",
    volume_norm: str = "window_mean",
    clip_mad: float = 5.0,
    zscore: bool = True,
    fill_value: float = 0.0,
) -> Array:
    """Normalise a day's raw windows ``x (N, W, F)`` (float32; may be modified in place).

    Price fields divided by the stock's close at t, volume by its window mean over valid bars,
    per (step, field) a clip at median ± ``clip_mad`` x 1.4826 x MAD and a z-score across the day's
    stocks (a constant column -> 0), then NaN/inf -> ``fill_value`` (see ``datasets.batches``).
    """
    with np.errstate(invalid="ignore", divide="ignore"):  # all-NaN columns are expected: they end as fill
        return _normalize(x, fields, price_norm, volume_norm, clip_mad, zscore, fill_value)


def _normalize(x, fields, price_norm, volume_norm, clip_mad, zscore, fill_value) -> Array:
    xp = array_namespace(x)
    dev = device_of(x)
    x = xp.asarray(x, dtype=xp.float32)
    n, w, f = x.shape
    fields = list(fields)
    if price_norm not in ("last_close", "none"):
        raise DataError(f"price_norm {price_norm!r} is unknown; choose 'last_close' or 'none'")
    if volume_norm not in ("window_mean", "none"):
        raise DataError(f"volume_norm {volume_norm!r} is unknown; choose 'window_mean' or 'none'")
    if price_norm == "last_close" and "close" not in fields:
        raise DataError("price_norm='last_close' needs the 'close' field in data.fields")
    # One divisor per (stock, field): each value is divided exactly once (x / 1 is exact).
    divisor = xp.ones((n, 1, f), dtype=xp.float32, device=dev)
    scaled = False
    if price_norm == "last_close":
        is_price = xp.asarray([name in PRICE_FIELDS for name in fields], device=dev)
        last = x[:, w - 1, fields.index("close")]
        divisor = xp.where(is_price[None, None, :], last[:, None, None], divisor)
        scaled = True
    if "volume" in fields and volume_norm == "window_mean":
        v = fields.index("volume")
        vol = x[:, :, v]
        valid = ~xp.isnan(vol)
        mean = _count_divide(xp, xp.sum(xp.where(valid, vol, 0.0), axis=1), xp.sum(valid, axis=1))
        mean = xp.where(mean > 0, mean, float("nan"))
        is_volume = xp.asarray([i == v for i in range(f)], device=dev)
        divisor = xp.where(is_volume[None, None, :], mean[:, None, None], divisor)
        scaled = True
    if scaled:
        x /= divisor
    flat = xp.reshape(x, (n, w * f))
    if n and clip_mad > 0:
        med = nan_median_cols(flat)
        mad = nan_median_cols(xp.abs(flat - med))
        band = clip_mad * MAD_SCALE * mad
        flat = xp.clip(flat, med - band, med + band)
    if n and zscore:
        mu, sd = nan_mean_std_cols(flat)
        flat -= mu
        flat *= xp.where(sd > 1e-8, 1.0 / sd, 0.0)
    flat = xp.where(xp.isfinite(flat), flat, float(fill_value))
    return xp.reshape(flat, (n, w, f))


def size_groups(size: Array, n_groups: int) -> Array:
    """Equal-count groups 0..n_groups-1 of the day's stocks by ``size`` (ties broken by position)."""
    xp = array_namespace(size)
    n = size.shape[0]
    rank = xp.argsort(xp.argsort(size, stable=True), stable=True)
    return xp.astype(rank * n_groups // max(n, 1), xp.int64)
