"""The data cube's schema and the ground floor of ``datasets``: validate, read, write, fingerprint.

This module imports nothing else from ``datasets``; resolving a store name (``embedded``, ``synth:N``)
and describing a cube live above it, in ``datasets.stores``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets import atomic
from zoo.datasets.fields import FIELDS, PRICE_FIELDS  # noqa: F401  (PRICE_FIELDS re-exported)

from zoo.errors import DataError

SCHEMA_VERSION = 1
UNIVERSES: tuple[str, ...] = ("all", "csi300", "csi500", "csi1000")
INDEXES: tuple[str, ...] = ("csi300", "csi500", "csi1000")

#: variable -> (dims, dtype kind) every cube must have.
REQUIRED: dict[str, tuple[tuple[str, ...], str]] = {
    "bars": (("date", "symbol", "field"), "float32"),
    "mcap": (("date", "symbol"), "float32"),
    "size": (("date", "symbol"), "float32"),
    "industry": (("symbol",), "int16"),
    "listed": (("date", "symbol"), "bool"),
    "suspended": (("date", "symbol"), "bool"),
    "limit_up": (("date", "symbol"), "bool"),
    "limit_down": (("date", "symbol"), "bool"),
    "st": (("date", "symbol"), "bool"),
    "breach": (("date", "symbol"), "bool"),
    "in_universe": (("universe", "date", "symbol"), "bool"),
    "index_weight": (("index", "date", "symbol"), "float32"),
}
#: Optional variables, checked when present.
OPTIONAL: dict[str, tuple[tuple[str, ...], str]] = {
    "index_close": (("index", "date"), "float32"),
    "expected_return": (("horizon", "date", "symbol"), "float32"),
    "feasible_return": (("horizon", "date", "symbol"), "float32"),
    "label_raw": (("horizon", "date", "symbol"), "float32"),
    "label_neutral": (("horizon", "date", "symbol"), "float32"),
    # an ingest's input cells that its arrays do not keep (what `datasets.append` continues from)
    "input_amount": (("date", "symbol"), "float64"),
    "input_shares": (("date", "symbol"), "float64"),
    "input_mcap": (("date", "symbol"), "float64"),
    "input_industry": (("symbol",), "int16"),
}
REQUIRED_ATTRS: tuple[str, ...] = ("source", "adjustment", "size_proxy", "schema_version")


def cube_coords(dates: pd.DatetimeIndex, symbols: np.ndarray, **extra: np.ndarray) -> dict[str, np.ndarray]:
    """The schema's coordinates for a new cube (``extra``: more, e.g. ``horizon``)."""
    return {
        "date": np.asarray(dates.values).astype("datetime64[ns]"),
        "symbol": symbols,
        "field": np.array(FIELDS),
        "universe": np.array(UNIVERSES),
        "index": np.array(INDEXES),
        **extra,
    }


def validate_cube(cube: xr.Dataset, where: str = "<in-memory cube>", deep: bool = True) -> xr.Dataset:
    """Check ``cube`` against the schema; raise DataError naming ``where`` and the problem."""

    def fail(msg: str) -> DataError:
        """The error for ``msg`` at ``where``."""
        return DataError(f"{where}: {msg}")

    for name in ("date", "symbol", "field"):
        if name not in cube.coords:
            raise fail(f"missing coordinate {name!r} (have {sorted(cube.coords)})")
    fields = tuple(str(f) for f in cube["field"].values)
    if fields != FIELDS:
        raise fail(f"coordinate 'field' is {list(fields)}, expected {list(FIELDS)} in this order")
    dates = cube["date"].values
    if not np.issubdtype(dates.dtype, np.datetime64):
        raise fail(f"coordinate 'date' has dtype {dates.dtype}, expected datetime64")
    if len(dates) > 1 and not (np.diff(dates.astype("datetime64[ns]").astype(np.int64)) > 0).all():
        raise fail("coordinate 'date' must be strictly ascending without duplicates")
    symbols = pd.Index(np.asarray(cube["symbol"].values).astype(str))
    if symbols.has_duplicates:
        dup = symbols[symbols.duplicated()].tolist()[:5]
        raise fail(f"coordinate 'symbol' has duplicates, e.g. {dup}")
    if "universe" in cube.coords and tuple(map(str, cube["universe"].values))[:1] != ("all",):
        raise fail(f"coordinate 'universe' must start with 'all', got {list(cube['universe'].values)}")
    for table, required in ((REQUIRED, True), (OPTIONAL, False)):
        for var, (dims, dtype) in table.items():
            if var not in cube.data_vars:
                if required:
                    raise fail(f"missing variable {var!r} (dims {dims})")
                continue
            da = cube[var]
            if da.dims != dims:
                raise fail(f"variable {var!r} has dims {da.dims}, expected {dims}")
            if da.dtype != np.dtype(dtype):
                raise fail(f"variable {var!r} has dtype {da.dtype}, expected {dtype}")
    for key in REQUIRED_ATTRS:
        if key not in cube.attrs:
            raise fail(f"missing attribute {key!r} (provenance)")
    if int(cube.attrs["schema_version"]) != SCHEMA_VERSION:
        raise fail(
            f"schema_version {cube.attrs['schema_version']} is not {SCHEMA_VERSION}; re-create the store"
        )
    n_ind = len(cube.attrs.get("industry_names", []))
    if deep:
        ind = np.asarray(cube["industry"].values)
        if n_ind and ((ind < 0) | (ind >= n_ind)).any():
            raise fail(f"variable 'industry' has codes outside 0..{n_ind - 1} (attrs industry_names)")
        bars = np.asarray(cube["bars"].values)
        hi, lo = bars[..., 1], bars[..., 2]
        with np.errstate(invalid="ignore"):
            bad = hi < lo
        if bad.any():
            d, s = np.argwhere(bad)[0]
            raise fail(f"bars: high < low at date {pd.Timestamp(dates[d]).date()} symbol {symbols[s]}")
        w = np.asarray(cube["index_weight"].values, dtype=np.float64)
        sums = np.nansum(w, axis=2)
        nonempty = sums > 0
        if nonempty.any() and not np.allclose(sums[nonempty], 1.0, atol=1e-3):
            i, d = np.argwhere(nonempty & ~np.isclose(sums, 1.0, atol=1e-3))[0]
            raise fail(
                f"index_weight of {cube['index'].values[i]} sums to {sums[i, d]:.4f} "
                f"on {pd.Timestamp(dates[d]).date()}, expected 1"
            )
    return cube


def _normalise_coords(cube: xr.Dataset) -> xr.Dataset:
    """Give string coordinates a plain numpy unicode dtype (Zarr returns StringDType)."""
    repl = {}
    for name in ("symbol", "field", "universe", "index"):
        if name in cube.coords and cube[name].dtype.kind not in "U":
            repl[name] = np.array([str(v) for v in cube[name].values.tolist()])
    return cube.assign_coords(repl) if repl else cube


def zarr_prepare(cube: xr.Dataset) -> xr.Dataset:
    """String coordinates as object arrays, so Zarr v3 stores them as its variable-length string type."""
    repl = {}
    for name in ("symbol", "field", "universe", "index"):
        if name in cube.coords:
            repl[name] = np.asarray(cube[name].values).astype(str).astype(object)
    out = cube.assign_coords(repl)
    for var in out.variables.values():
        var.encoding.clear()
    return out


def read_store(
    path: str | os.PathLike, validate: bool = True, load: bool = True, dask: bool = True
) -> xr.Dataset:
    """Open the Zarr store at ``path`` (no name lookup).

    ``load=False`` leaves the arrays in the store: as dask arrays, or with ``dask=False`` as lazily
    indexed ones that read just the chunks an ``isel`` touches (cheaper for a few small reads).
    """
    path = Path(path)
    atomic.recover(path)  # an interrupted write: the store put back as before, debris named and removed
    if not path.exists():
        raise DataError(f"{path}: no such data store (create one with `zoo data synth` or `zoo data ingest`)")
    atomic.verify(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cube = xr.open_zarr(path, consolidated=False, zarr_format=3, **({} if dask else {"chunks": None}))
    except Exception as exc:  # zarr/xarray raise many types for a broken store
        raise DataError(f"{path}: cannot be read as a Zarr v3 cube ({type(exc).__name__}: {exc})") from exc
    cube = _normalise_coords(cube)
    if load:
        try:
            cube = cube.load()
        except Exception as exc:  # a damaged chunk in a store without a manifest
            raise DataError(
                f"{path}: a chunk cannot be read ({type(exc).__name__}: {exc}); the store is damaged"
            ) from None
    cube.encoding["zoo_store"] = str(path.resolve())
    if validate:
        validate_cube(cube, where=str(path), deep=load)
    return cube


#: Dates per Zarr chunk in stores meant to grow by ``zoo data append``: an append rewrites only the
#: chunks from the first changed date on (about the last 21 dates: labels), so small date chunks
#: keep it to a few percent of the store.
APPEND_DATE_CHUNK = 64


def _date_chunks(cube: xr.Dataset, date_chunk: int) -> dict[str, dict[str, tuple[int, ...]]]:
    """Zarr encodings: ``date_chunk`` dates x every symbol and field, one universe/index/horizon each."""
    out = {}
    for name, var in cube.data_vars.items():
        if "date" in var.dims:
            sizes = {"date": date_chunk, "symbol": cube.sizes.get("symbol", 1), "field": cube.sizes["field"]}
            out[name] = {"chunks": tuple(min(sizes.get(d, 1), var.sizes[d]) or 1 for d in var.dims)}
    return out


def write_cube(
    cube: xr.Dataset, path: str | os.PathLike, overwrite: bool = True, date_chunk: int | None = None
) -> Path:
    """Write ``cube`` to a Zarr v3 store atomically: written aside, then renamed over ``path``.

    ``date_chunk`` chunks every dated variable by that many dates (whole symbol and field axes);
    None leaves chunking to Zarr.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"{path}: already exists (pass overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic.aside(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prep = zarr_prepare(cube)
            encoding = _date_chunks(prep, date_chunk) if date_chunk else None
            prep.to_zarr(tmp, mode="w", consolidated=False, zarr_format=3, encoding=encoding)
        atomic.swap(tmp, path)  # manifest, then the renames (atomic's module doc: what a kill leaves)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def append_variables(cube: xr.Dataset, names: Iterable[str], path: str | os.PathLike | None = None) -> bool:
    """Write derived variables ``names`` of ``cube`` into its Zarr store, if it has a writable one."""
    path = path or cube.encoding.get("zoo_store")
    if not path or not os.access(path, os.W_OK):
        return False
    sub = cube[list(names)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr_prepare(sub.drop_vars([c for c in sub.coords if c not in sub.dims])).to_zarr(
            path, mode="a", consolidated=False, zarr_format=3
        )
    if (Path(path) / atomic.MANIFEST).is_file():
        atomic.write_manifest(Path(path))  # the new variable's files are part of the store now
    return True


def trading_dates(cube: xr.Dataset) -> pd.DatetimeIndex:
    """The cube's trading days."""
    return pd.DatetimeIndex(cube["date"].values)


def fingerprint(cube: xr.Dataset, variables: Iterable[str] | None = None) -> str:
    """A 16-hex digest of the cube's coordinates and primary arrays (what derived data depends on)."""
    h = hashlib.blake2b(digest_size=8)
    for c in ("date", "symbol", "field"):
        h.update(np.ascontiguousarray(np.asarray(cube[c].values).astype(str if c != "date" else "M8[ns]")))
    names = variables or ("bars", "size", "industry", "listed", "suspended", "breach", "in_universe")
    for v in names:
        if v in cube.data_vars:
            h.update(v.encode())
            h.update(np.ascontiguousarray(cube[v].values).tobytes())
    return h.hexdigest()


def signature(cube: xr.Dataset) -> dict[str, object]:
    """What a model trained on ``cube`` assumes of any cube it later scores: schema, fields, provenance.

    Dates and symbols are left out: a cube with appended days or new listings has the same signature.
    """
    return {
        "schema_version": int(cube.attrs.get("schema_version", -1)),
        "fields": [str(f) for f in cube["field"].values],
        "universes": [str(u) for u in cube["universe"].values],
        "source": str(cube.attrs.get("source", "")),
        "adjustment": str(cube.attrs.get("adjustment", "")),
        "size_proxy": str(cube.attrs.get("size_proxy", "")),
    }
