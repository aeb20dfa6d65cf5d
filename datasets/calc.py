"""The cube calculations every layer shares: bar readers, daily and forward returns, fills, minimum counts.

Labels, universes, the baseline factors (a public contract for factor plugins: numpy only, no pandas
or xarray at import), the style exposures and evaluation all compute these here, once. Each function
reads an ``xarray.Dataset`` cube (schema in docs/ARCHITECTURE.md) or plain ``(date, symbol)`` arrays;
checks and error messages stay with the caller, which knows what the value is for.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from zoo.datasets.panel import ffill

from zoo.errors import DataError

__all__ = [
    "bar_panel",
    "carried",
    "flag_panel",
    "forward_simple_returns",
    "ffill",
    "min_observations",
    "one_day_log_returns",
    "one_day_simple_returns",
    "rolling_sum",
    "traded",
]


def bar_panel(cube: Any, name: str) -> np.ndarray:
    """One bar field as a float64 ``(date, symbol)`` array (the caller checks the field exists)."""
    return cube["bars"].sel(field=name).transpose("date", "symbol").values.astype(np.float64)


def traded(close: np.ndarray) -> np.ndarray:
    """``close`` with zero or negative prices as missing bars (NaN), in place; returns it."""
    close[~(close > 0)] = np.nan
    return close


def flag_panel(cube: Any, name: str) -> np.ndarray:
    """A boolean ``(date, symbol)`` mask, all False when the cube lacks it (e.g. no ``breach``)."""
    if name not in cube.variables:
        return np.zeros((cube.sizes["date"], cube.sizes["symbol"]), dtype=bool)
    return cube[name].transpose("date", "symbol").values.astype(bool)


def carried(close: np.ndarray) -> np.ndarray:
    """The last finite value at or before each row (NaN before a column's first), via :func:`ffill`."""
    return ffill(np.where(np.isfinite(close), close, np.nan))


def one_day_simple_returns(close: np.ndarray, breach: np.ndarray) -> np.ndarray:
    """(D, S) float64 ``close[t] / close[t-1] - 1``; NaN on row 0, across a missing bar or a breach at t."""
    ret = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret[1:] = close[1:] / close[:-1] - 1.0
    ret[breach] = np.nan
    return ret


def one_day_log_returns(close: np.ndarray, breach: np.ndarray) -> np.ndarray:
    """(D, S) float64 ``log(close[t] / close[t-1])``; NaN on row 0, across a missing bar or a breach at t."""
    ret = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret[1:] = np.log(close[1:] / close[:-1])
    ret[breach] = np.nan
    return ret


def forward_simple_returns(close: np.ndarray, breach: np.ndarray, horizon: int) -> np.ndarray:
    """(D, S) float32 return close[t+1] -> close[t+1+h]; NaN across a missing bar or a breach (t+2..t+1+h)."""
    d, s = close.shape
    out = np.full((d, s), np.nan, dtype=np.float32)
    if horizon < 1:
        raise DataError(f"label horizon must be >= 1, got {horizon}")
    if d < horizon + 2:
        return out
    close = close.astype(np.float64)
    missing = ~np.isfinite(close) | (close <= 0)
    cm = np.concatenate([np.zeros((1, s)), np.cumsum(missing, axis=0)])
    cb = np.concatenate([np.zeros((1, s)), np.cumsum(breach, axis=0)])
    n = d - horizon - 1  # dates t with t+1+h inside the data
    t = np.arange(n)
    n_missing = cm[t + 2 + horizon] - cm[t + 1]
    n_breach = cb[t + 2 + horizon] - cb[t + 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = close[t + 1 + horizon] / close[t + 1] - 1.0
    out[:n] = np.where((n_missing == 0) & (n_breach == 0), ret, np.nan)
    return out


def rolling_sum(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing sums over ``window`` rows ending at each row, NaN as 0, and the count of finite values."""
    finite = np.isfinite(values)
    csum = np.zeros((values.shape[0] + 1,) + values.shape[1:], dtype=np.float64)
    np.cumsum(np.where(finite, values, 0.0), axis=0, out=csum[1:])
    ccnt = np.zeros(csum.shape, dtype=np.int64)
    np.cumsum(finite, axis=0, out=ccnt[1:])
    end = np.arange(1, values.shape[0] + 1)
    start = np.maximum(end - window, 0)
    return csum[end] - csum[start], ccnt[end] - ccnt[start]


def min_observations(window: int, frac: float, floor: int = 1) -> int:
    """Finite values a ``window``-day statistic needs: ``ceil(window x frac)``, at least ``floor``."""
    return max(floor, math.ceil(window * frac))
