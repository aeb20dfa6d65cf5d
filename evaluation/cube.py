"""Readers of the data cube shared by evaluation and the trainer (schema in docs/ARCHITECTURE.md)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from zoo.datasets.calc import bar_panel, flag_panel, rolling_sum, traded

from zoo.errors import EvaluationError

__all__ = [
    "check_dates",
    "close_panel",
    "field_panel",
    "flag_panel",
    "membership",
    "require",
    "rolling_sum",
    "universe_mask",
    "universe_names",
]


def require(cube: xr.Dataset, name: str, what: str) -> xr.DataArray:
    """Return ``cube[name]`` or raise an EvaluationError saying which variable ``what`` needs."""
    if name not in cube.variables:
        have = ", ".join(sorted(str(v) for v in cube.data_vars))
        raise EvaluationError(f"{what} needs the cube variable {name!r}; the cube has: {have or 'nothing'}")
    return cube[name]


def close_panel(cube: xr.Dataset, what: str = "evaluation") -> np.ndarray:
    """Close prices as a float64 ``(date, symbol)`` array (NaN where there is no bar)."""
    bars = require(cube, "bars", what)
    if "field" not in bars.dims or "close" not in list(bars["field"].values):
        raise EvaluationError(
            f"{what} needs bars with a 'field' coordinate holding 'close'; got dims {bars.dims}"
        )
    return traded(bar_panel(cube, "close"))  # zero or negative prices are missing bars, not prices


def field_panel(cube: xr.Dataset, name: str) -> np.ndarray | None:
    """One bar field as a float64 ``(date, symbol)`` array, or None when the cube lacks it."""
    if "bars" not in cube.variables or name not in list(cube["bars"]["field"].values):
        return None
    return bar_panel(cube, name)


def membership(cube: xr.Dataset) -> xr.DataArray | None:
    """The boolean (universe, date, symbol) membership array, whatever the cube names it.

    xarray cannot hold a 3-D variable named like its own dimension coordinate ``universe``, so the
    schema's ``universe`` variable has to live under another name; any boolean variable with dims
    (D, date, symbol) whose D coordinate contains "all" is taken, ``universe``-named ones first.
    """
    found = None
    for name, var in cube.data_vars.items():
        if var.ndim != 3 or var.dtype != bool or set(var.dims[1:]) != {"date", "symbol"}:
            continue
        dim = var.dims[0]
        if dim not in var.coords or "all" not in [str(v) for v in var[dim].values]:
            continue
        if found is None or "universe" in str(name):
            found = var
    return found


def universe_names(cube: xr.Dataset) -> list[str]:
    """The universes the cube defines (just "all" when it has no membership array)."""
    mem = membership(cube)
    return ["all"] if mem is None else [str(v) for v in mem[mem.dims[0]].values]


def universe_mask(cube: xr.Dataset, universe: str, what: str = "evaluation") -> np.ndarray:
    """Membership of ``universe`` as a boolean ``(date, symbol)`` array."""
    mem = membership(cube)
    if mem is None:
        if universe == "all":
            return np.ones((cube.sizes["date"], cube.sizes["symbol"]), dtype=bool)
        raise EvaluationError(
            f"{what}: the cube has no universe membership array, so {universe!r} is unknown"
        )
    dim = mem.dims[0]
    names = [str(u) for u in mem[dim].values]
    if universe not in names:
        raise EvaluationError(f"{what}: unknown universe {universe!r}; the cube has {names}")
    return mem.sel({dim: universe}).transpose("date", "symbol").values.astype(bool)


def check_dates(cube: xr.Dataset, what: str = "evaluation") -> np.ndarray:
    """The cube's dates as datetime64[ns], checked to be strictly ascending."""
    if "date" not in cube.coords:
        raise EvaluationError(f"{what}: the cube has no 'date' coordinate")
    dates = np.asarray(cube["date"].values).astype("datetime64[ns]")
    if dates.size > 1 and not np.all(dates[1:] > dates[:-1]):
        raise EvaluationError(f"{what}: the cube's dates are not strictly ascending")
    return dates
