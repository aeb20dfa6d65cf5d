"""Append new trading days to an ingested cube: the result equals one ingest of everything, bit for bit.

An ingested cube stores, beside its arrays, what its derivation needs and cannot read back from
them (``input_amount``, ``input_shares``, ``input_mcap``, ``input_industry`` and the ``ingest_*``
attrs). ``append_cube`` rebuilds the stored input cells from the cube, pivots the new rows, and runs
the same ``datasets.ingest.derive_cube`` and ``ensure_labels`` over the whole panel in memory: every
cross-date step there is causal, so the stored dates come out unchanged except where later days
complete them (labels of the last h + 1 dates). ``append_store`` then writes only what changed.

Writing: the new store is a hard-linked clone of the old one (``os.link`` per file: no data copied)
beside it, into which xarray writes the changed dates as a region plus the new dates along ``date``;
it then replaces the old store by rename. Zarr's local store writes every file to a temporary name
and renames it into place, so a write into the clone gets a new inode and never touches a file the
old store still links to: the old store is intact whatever fails before the rename. A new symbol
changes every array's symbol axis, so that append writes the whole store aside instead.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from datasets.ingest import (
    Cells,
    _cells,
    _check_across_files,
    _fail,
    _provenance_name,
    derive_cube,
    index_levels,
    read_long,
    read_symbol_table,
)
from datasets.labels import ensure_labels
from datasets.schema import _zarr_prepare, read_store, validate_cube, write_cube
from zoo.errors import DataError

#: Stored columns compared with a re-sent row, in the order a mismatch is reported.
_COMPARED = ("open", "high", "low", "close", "vwap", "volume")


@dataclasses.dataclass(frozen=True)
class AppendResult:
    """What an append did: the new cube, the dates added, and from which date the store changed."""

    cube: xr.Dataset
    new_dates: pd.DatetimeIndex
    new_symbols: list[str]
    first_changed: pd.Timestamp | None  # the earliest stored date whose values changed, None if none
    skipped_rows: int  # rows re-sent for stored (date, symbol) cells with identical values
    rewritten: str = ""  # on write: "tail" (changed dates only), "full" (new symbol or variable), "none"


def _read_new(files: Sequence[str | os.PathLike], cube: xr.Dataset, where: str) -> tuple[pd.DataFrame, int]:
    """The rows of ``files`` after the cube's last date; re-sent stored rows must match exactly."""
    columns = set(cube.attrs["ingest_columns"])
    dates = pd.DatetimeIndex(cube["date"].values)
    symbols = pd.Index(np.asarray(cube["symbol"].values).astype(str))
    last = dates[-1]
    bars = np.asarray(cube["bars"].values)
    stored = {"amount": np.asarray(cube["input_amount"].values)}
    if "limit_breach" in columns:
        stored["limit_breach"] = np.asarray(cube["breach"].values)
    frames, skipped = [], 0
    for f in files:
        name = str(f)
        df = read_long(f)
        unknown = sorted(set(df.columns) - columns)
        if unknown:
            raise _fail(
                name,
                None,
                unknown[0],
                f"not a column of {where} (ingested with {sorted(columns)}); one ingest of everything "
                "would not use it the same way",
            )
        missing = sorted(columns - set(df.columns))
        if missing:
            raise _fail(name, None, missing[0], f"missing; {where} was ingested with {sorted(columns)}")
        old = (df["date"] <= last).to_numpy()
        if old.any():
            sub = df[old]
            d_pos = dates.get_indexer(sub["date"])
            s_pos = symbols.get_indexer(sub["symbol"])
            have = (d_pos >= 0) & (s_pos >= 0)
            have[have] = np.isfinite(bars[d_pos[have], s_pos[have], 3])
            rows = np.flatnonzero(old)
            bad_row = int(rows[np.argmax(~have)]) if not have.all() else None
            diff_row, diff_col, diff_msg = None, None, ""
            if have.any():
                hit = sub[have]
                ud = pd.DatetimeIndex(np.sort(hit["date"].unique()))
                us = np.sort(hit["symbol"].unique()).astype(str)
                cells = _cells(hit, ud, us)
                dc, sc = ud.get_indexer(hit["date"]), pd.Index(us).get_indexer(hit["symbol"])
                od, os_ = d_pos[have], s_pos[have]
                pairs = [(c, cells.bars[dc, sc, i], bars[od, os_, i]) for i, c in enumerate(_COMPARED)]
                pairs.append(("amount", cells.amount[dc, sc], stored["amount"][od, os_]))
                if cells.breach is not None:
                    pairs.append(("limit_breach", cells.breach[dc, sc], stored["limit_breach"][od, os_]))
                first = None
                for col, new, old_v in pairs:
                    same = (new == old_v) | (pd.isna(new) & pd.isna(old_v))
                    if not same.all():
                        i = int(np.argmax(~same))
                        if first is None or i < first[0]:
                            first = (i, col, new[i], old_v[i])
                if first is not None:
                    i, diff_col, nv, ov = first
                    diff_row = int(rows[np.flatnonzero(have)[i]])
                    r = hit.iloc[i]
                    diff_msg = (
                        f"({r['date'].date()}, {r['symbol']}) is stored with {diff_col} {_show(ov)}, this "
                        f"row has {_show(nv)}; stored days cannot change (re-ingest to correct history)"
                    )
            if bad_row is not None and (diff_row is None or bad_row < diff_row):
                r = df.iloc[bad_row]
                raise _fail(
                    name,
                    bad_row + 1,
                    "date",
                    f"{r['date'].date()} is on or before the store's last date {last.date()} and "
                    f"({r['date'].date()}, {r['symbol']}) is not stored: append adds new days only",
                )
            if diff_row is not None:
                raise _fail(name, diff_row + 1, diff_col, diff_msg)
            skipped += int(old.sum())
        frames.append(df[~old])
    df = pd.concat(frames, ignore_index=True)
    if len(frames) > 1:
        _check_across_files(df, files, [len(f) for f in frames])
    return df, skipped


def _show(value) -> str:
    """A stored or given cell value for a message (floats to 10 significant digits)."""
    return str(bool(value)) if isinstance(value, (bool, np.bool_)) else f"{float(value):.10g}"


def _stored_cells(cube: xr.Dataset, symbols: np.ndarray) -> Cells:
    """The cube's input cells, reindexed onto ``symbols`` (a superset: new ones empty)."""
    own = np.asarray(cube["symbol"].values).astype(str)
    at = pd.Index(symbols).get_indexer(own)
    d, s = cube.sizes["date"], len(symbols)

    def spread(values: np.ndarray, fill, dtype) -> np.ndarray:
        out = np.full((d, s, *values.shape[2:]), fill, dtype=dtype)
        out[:, at] = values
        return out

    cols = set(cube.attrs["ingest_columns"])
    names = np.asarray(cube.attrs.get("input_industry_names", []), dtype=object)
    codes = np.asarray(cube["input_industry"].values)
    industry = np.full(s, None, dtype=object)
    industry[at] = np.where(codes >= 0, names[np.clip(codes, 0, None)] if len(names) else None, None)
    return Cells(
        bars=spread(np.asarray(cube["bars"].values), np.nan, np.float32),
        amount=spread(np.asarray(cube["input_amount"].values), np.nan, np.float64),
        shares=spread(np.asarray(cube["input_shares"].values), np.nan, np.float64)
        if "input_shares" in cube
        else None,
        mcap=spread(np.asarray(cube["input_mcap"].values), np.nan, np.float64)
        if "input_mcap" in cube
        else None,
        breach=spread(np.asarray(cube["breach"].values), False, bool) if "limit_breach" in cols else None,
        industry=industry,
    )


def _join(old: Cells, new: Cells) -> Cells:
    """Old cells followed by new dates; a symbol's industry is its first one over both, in row order."""

    def cat(a, b):
        return None if a is None else np.concatenate([a, b], axis=0)

    industry = np.where(pd.isna(old.industry), new.industry, old.industry)
    return Cells(
        bars=cat(old.bars, new.bars),
        amount=cat(old.amount, new.amount),
        shares=cat(old.shares, new.shares),
        mcap=cat(old.mcap, new.mcap),
        breach=cat(old.breach, new.breach),
        industry=industry,
    )


def appendable(cube: xr.Dataset, where: str) -> None:
    """Raise DataError unless ``cube`` was written by ``zoo data ingest`` with its input cells."""
    need = [k for k in ("ingest_columns", "ingest_size_proxy", "ingest_sectors") if k not in cube.attrs]
    need += [v for v in ("input_amount", "input_industry") if v not in cube.data_vars]
    if need:
        raise DataError(
            f"{where}: cannot be appended to: it lacks {need} (only stores written by `zoo data ingest` "
            "since append support keep the input cells it needs); re-ingest it"
        )
    if "slice" in cube.attrs:
        raise DataError(f"{where}: is a slice (universes from the full market); append to the full store")


def append_cube(
    cube: xr.Dataset,
    files: Sequence[str | os.PathLike],
    symbols_file: str | os.PathLike | None = None,
    index_file: str | os.PathLike | None = None,
    where: str = "<in-memory cube>",
) -> AppendResult:
    """``cube`` with the days of ``files`` appended; equal to one ingest of all its inputs and ``files``."""
    appendable(cube, where)
    if not files:
        raise DataError("append: no input files given")
    if cube.attrs.get("ingest_symbol_table") and symbols_file is None:
        raise DataError(
            f"{where}: was ingested with a symbol table (stocks.csv); pass it again (--symbols), "
            "since new symbols take their industry and shares from it"
        )
    df, skipped = _read_new(files, cube, where)
    old_dates = pd.DatetimeIndex(cube["date"].values)
    old_symbols = np.asarray(cube["symbol"].values).astype(str)
    new_dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    if not len(new_dates):
        return AppendResult(cube, new_dates, [], None, skipped)
    symbols = np.union1d(old_symbols, df["symbol"].unique().astype(str)).astype(str)
    cells = _join(_stored_cells(cube, symbols), _cells(df, new_dates, symbols))
    dates = old_dates.append(new_dates)
    table = read_symbol_table(symbols_file) if symbols_file else None
    levels = None
    if index_file or "index_close" in cube:
        levels = np.full((cube.sizes["index"], len(dates)), np.nan, dtype=np.float32)
        if index_file:
            idx = (
                pd.read_parquet(index_file)
                if str(index_file).endswith(".parquet")
                else pd.read_csv(index_file)
            )
            idx["date"] = pd.to_datetime(idx["date"])
            idx["symbol"] = idx["symbol"].astype(str)
            levels = index_levels(idx, dates)
        if "index_close" in cube:  # stored days keep their levels; the file only adds the new ones
            levels[:, : len(old_dates)] = np.asarray(cube["index_close"].values)
    span = f"{new_dates[0].date()}..{new_dates[-1].date()}"
    source = f"{cube.attrs['source']}; append of {', '.join(_provenance_name(f) for f in files)} ({span})"
    new = derive_cube(
        cells,
        dates,
        symbols,
        columns=cube.attrs["ingest_columns"],
        source=source,
        symbol_table=table,
        index_close=levels,
        size_proxy=cube.attrs["ingest_size_proxy"],
        sectors=cube.attrs["ingest_sectors"],
        tiers=tuple(int(t) for t in cube.attrs.get("index_tiers", (300, 500, 1000))),
    )
    if "label_raw" in cube.data_vars:
        new = ensure_labels(new, horizons=[int(h) for h in cube["horizon"].values])
    validate_cube(new, where=f"{where} after the append")
    added = sorted(set(symbols) - set(old_symbols))
    return AppendResult(new, new_dates, added, _first_changed(cube, new), skipped)


def _first_changed(old: xr.Dataset, new: xr.Dataset) -> pd.Timestamp | None:
    """The earliest stored date at which any variable of ``new`` differs from ``old`` (None: none)."""
    n = old.sizes["date"]
    first = n
    sub = new.isel(date=slice(0, n)).sel(symbol=old["symbol"].values)
    for v in new.data_vars:
        if "date" not in new[v].dims:
            continue
        if v not in old.data_vars:
            return pd.Timestamp(old["date"].values[0])
        a = np.asarray(old[v].transpose("date", ...).values).reshape(n, -1)
        b = np.asarray(sub[v].transpose("date", ...).values).reshape(n, -1)
        if a.shape != b.shape:
            return pd.Timestamp(old["date"].values[0])
        same = (a == b) | (pd.isna(a) & pd.isna(b)) if a.dtype.kind == "f" else a == b
        rows = np.flatnonzero(~same.all(axis=1))
        if len(rows):
            first = min(first, int(rows[0]))
    return pd.Timestamp(old["date"].values[first]) if first < n else None


def _clone_links(src: Path, dst: Path) -> None:
    """``dst`` as a tree of hard links to ``src``'s files (no data copied)."""
    shutil.copytree(src, dst, copy_function=os.link)


def _write_tail(result: AppendResult, old: xr.Dataset, path: Path) -> None:
    """Write the appended cube by a hard-linked clone that rewrites only changed and new dates."""
    new = result.cube
    n = old.sizes["date"]
    start = (
        n
        if result.first_changed is None
        else int(pd.DatetimeIndex(old["date"].values).get_loc(result.first_changed))
    )
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _clone_links(path, tmp)
        prep = _zarr_prepare(new)
        dated = [v for v in prep.data_vars if "date" in prep[v].dims]
        keep = prep[dated].drop_vars([c for c in prep.coords if "date" not in prep[c].dims])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if start < n:
                keep.isel(date=slice(start, n)).to_zarr(
                    tmp, region={"date": slice(start, n)}, mode="r+", consolidated=False, zarr_format=3
                )
            keep.isel(date=slice(n, None)).to_zarr(tmp, append_dim="date", consolidated=False, zarr_format=3)
            _rewrite_undated(prep, old, tmp)
        os_old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(path, os_old)
        os.replace(tmp, path)
        shutil.rmtree(os_old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _rewrite_undated(prep: xr.Dataset, old: xr.Dataset, tmp: Path) -> None:
    """Variables without a date axis that changed, then every variable's and the group's attrs."""
    import zarr

    undated = [
        v
        for v in prep.data_vars
        if "date" not in prep[v].dims
        and not np.array_equal(np.asarray(prep[v].values), np.asarray(old[v].values))
    ]
    if undated:
        sub = prep[undated]
        sub.drop_vars([c for c in sub.coords if c not in sub.dims]).to_zarr(
            tmp, mode="a", consolidated=False, zarr_format=3
        )
    group = zarr.open_group(tmp, mode="r+", zarr_format=3)
    group.attrs.put(_json_attrs(prep.attrs))
    for v in prep.data_vars:
        arr = group[v]
        attrs = dict(arr.attrs)
        attrs.update(_json_attrs(prep[v].attrs))
        arr.attrs.put(attrs)


def _json_attrs(attrs: dict) -> dict:
    """Attrs as JSON values, as xarray writes them (numpy scalars and arrays to Python)."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _date_chunk(path: Path) -> int | None:
    """The store's chunk length along date (its ``bars``), to keep when it is written whole."""
    import json

    meta = json.loads((path / "bars" / "zarr.json").read_text())
    return int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])


def append_store(
    store: str | os.PathLike,
    files: Sequence[str | os.PathLike],
    symbols_file: str | os.PathLike | None = None,
    index_file: str | os.PathLike | None = None,
    step: Callable[[str], None] | None = None,
) -> AppendResult:
    """Append the days of ``files`` to the Zarr ``store``, atomically; the old store is intact on failure."""
    step = step or (lambda _msg: None)
    path = Path(store)
    step("read store")
    old = read_store(path)
    step("read files, derive")
    result = append_cube(old, files, symbols_file, index_file, where=str(path))
    if not len(result.new_dates):
        return dataclasses.replace(result, rewritten="none")
    step("write")
    if result.new_symbols or set(result.cube.data_vars) != set(old.data_vars):
        # every array's symbol axis changes, or a variable is new (index levels): write it all aside
        write_cube(result.cube, path, date_chunk=_date_chunk(path))
        return dataclasses.replace(result, rewritten="full")
    _write_tail(result, old, path)
    return dataclasses.replace(result, rewritten="tail")
