"""Named stores and cube summaries: ``open_cube`` (``embedded``, ``synth[:N]`` or a path), ``describe_cube``.

This sits above ``schema``, ``synth``, ``labels`` and ``universes`` (it needs all of them), so that
``schema`` imports nothing from ``datasets`` and the package has no import circle.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets import synth
from zoo.datasets.feasible import ensure_feasible
from zoo.datasets.labels import ensure_labels
from zoo.datasets.schema import SCHEMA_VERSION, read_store, trading_dates, write_cube
from zoo.datasets.universes import tracking_table

from zoo.errors import DataError

#: Where the committed real slice lives (inside the package, so an installed wheel has it too).
EMBEDDED_STORE = Path(__file__).resolve().parent / "embedded" / "cube.zarr"


def cache_dir() -> Path:
    """Folder for generated cubes: ``$DECOMPZOO_CACHE`` or ``~/.cache/decompzoo``."""
    root = os.environ.get("DECOMPZOO_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "decompzoo"


def open_cube(path_or_name: str | os.PathLike = "embedded", validate: bool = True) -> xr.Dataset:
    """Open a cube: a Zarr path, ``"embedded"`` (the committed real slice) or ``"synth"`` (default market)."""
    name = str(path_or_name)
    if name == "embedded":
        if not EMBEDDED_STORE.exists():
            raise DataError(f"{EMBEDDED_STORE}: the embedded slice is missing from this checkout")
        return read_store(EMBEDDED_STORE, validate=validate)
    if name == "synth" or name.startswith("synth:"):
        return synth_cached(name, validate=validate)
    return read_store(name, validate=validate)


def synth_cached(name: str = "synth", validate: bool = True) -> xr.Dataset:
    """The default synthetic market (``synth`` or ``synth:N_STOCKS``), generated once and cached on disk."""
    n_stocks = synth.DEFAULT_STOCKS
    if ":" in name:
        try:
            n_stocks = int(name.split(":", 1)[1])
        except ValueError:
            raise DataError(f"store {name!r}: expected 'synth' or 'synth:N_STOCKS'") from None
    path = cache_dir() / f"synth-v{SCHEMA_VERSION}-{synth.GENERATOR_VERSION}-n{n_stocks}-seed0.zarr"
    if not path.exists():
        cube = ensure_feasible(ensure_labels(synth.make_market(n_stocks=n_stocks, seed=0)))
        try:
            write_cube(cube, path, overwrite=False)
        except (DataError, OSError):
            if not path.exists():  # another process writing the same cache entry won the race
                raise
    # A store cached before the feasible oracle existed gets it once, written into the cache.
    return ensure_feasible(read_store(path, validate=validate), persist=True)


def index_membership(cube: xr.Dataset) -> list[str]:
    """Per index: ``name real (where from)`` or ``name stand-in`` (size-ranked by the ingest or generator)."""
    given = dict(cube.attrs.get("index_membership", {}))
    out = []
    for name in map(str, cube["index"].values):
        how = given.get(name, "stand-in")
        out.append(f"{name} stand-in" if how == "stand-in" else f"{name} {how}")
    return out


def describe_cube(cube: xr.Dataset) -> str:
    """A human summary: dates, symbols, fields, universes, missing shares, provenance, index tracking."""
    dates = trading_dates(cube)
    bars = np.asarray(cube["bars"].values)
    listed = np.asarray(cube["listed"].values)
    lines = [
        f"store      : {cube.encoding.get('zoo_store', '<in memory>')}",
        f"dates      : {len(dates)} trading days, {dates[0].date()} .. {dates[-1].date()}",
        f"symbols    : {cube.sizes['symbol']} (listed per day: min {listed.sum(1).min()}, "
        f"median {int(np.median(listed.sum(1)))}, max {listed.sum(1).max()})",
        f"fields     : {', '.join(map(str, cube['field'].values))}",
    ]
    miss_all = np.isnan(bars[..., 3]).mean()
    with np.errstate(invalid="ignore"):
        miss_listed = np.isnan(bars[..., 3])[listed].mean() if listed.any() else float("nan")
    lines.append(f"missing    : {miss_all:.1%} of all (date, symbol) cells; {miss_listed:.1%} of listed ones")
    uni = np.asarray(cube["in_universe"].values)
    parts = [f"{u} {uni[i].sum(1).mean():.0f}" for i, u in enumerate(map(str, cube["universe"].values))]
    lines.append("universes  : mean members per day: " + ", ".join(parts))
    lines.append("indexes    : " + "; ".join(index_membership(cube)))
    n_ind = len(cube.attrs.get("industry_names", []))
    lines.append(
        f"masks      : suspended {cube['suspended'].values.mean():.2%}, "
        f"limit_up {cube['limit_up'].values.mean():.2%}, "
        f"limit_down {cube['limit_down'].values.mean():.2%}, st {cube['st'].values.mean():.2%}, "
        f"breach {int(cube['breach'].values.sum())} cells; industries {n_ind}"
    )
    derived = [
        v for v in ("expected_return", "feasible_return", "label_raw", "label_neutral") if v in cube.data_vars
    ]
    if derived:
        hz = [int(h) for h in cube["horizon"].values]
        lines.append(f"derived    : {', '.join(derived)} (horizons {hz})")
    lines.append("provenance :")
    for k, v in cube.attrs.items():
        if k in ("industry_names",):
            continue
        if isinstance(v, (list, tuple)) and len(v) > 20:
            counts = pd.Series([str(x) for x in v]).value_counts()
            lines.append(f"  {k}: {len(v)} items ({', '.join(f'{i} {n}' for i, n in counts.items())})")
            continue
        text = str(v)
        lines.append(f"  {k}: {text if len(text) < 300 else text[:300] + '…'}")
    if "index_close" in cube.data_vars:
        lines.append("stand-in index tracking vs the real index (daily returns):")
        for row in tracking_table(cube):
            lines.append(
                f"  {row['index']:<8} corr {row['corr']:.3f}  tracking error {row['te_annual']:.1%}/yr  "
                f"beta {row['beta']:.2f}  mean members {row['members']:.0f}  days {row['days']}"
            )
    return "\n".join(lines)
