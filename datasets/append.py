"""Append new trading days to an ingested cube: the result equals one ingest of everything, bit for bit.

An ingested cube stores, beside its arrays, what its derivation needs and cannot read back from
them (``input_amount``, ``input_shares``, ``input_mcap``, ``input_industry`` and the ``ingest_*``
attrs). An append re-derives only the last weeks: from the row before the month of the first
stored label the new days complete (labels of the last h + 1 dates change; index stand-ins are
ranked on a month's eve) to the end. ``datasets.ingest.derive_cube`` runs over that window from the
state above it (``datasets.carry``: last closes, bar counts, 20-day means and caps, read back from
the store), which gives the rows one derivation of everything gives; the window's stored rows are
re-derived too and checked equal to the stored ones, bit for bit, before anything is written.
Nothing above the window is read except by that state's short scan and, when the store holds
labels, by the fingerprint of their inputs.

Writing: the new store is a hard-linked clone of the old one (``os.link`` per file: no data copied)
beside it, into which xarray writes the changed dates as a region plus the new dates along ``date``;
it then replaces the old store by rename. Zarr's local store writes every file to a temporary name
and renames it into place, so a write into the clone gets a new inode and never touches a file the
old store still links to: the old store is intact whatever fails before the rename. A new symbol
changes every array's symbol axis (symbols are sorted, as one ingest sorts them), so that append
writes the whole store aside instead, still deriving only the window.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets import atomic
from zoo.datasets.carry import carry_at
from zoo.datasets.ingest import (
    DERIVATION,
    Cells,
    derive_cube,
    index_levels,
    pivot_cells,
    provenance_name,
    read_index_table,
    read_long,
    read_symbol_table,
)
from zoo.datasets.labels import label_arrays, label_attrs, label_fingerprint
from zoo.datasets.readers import Input, ReadOptions, detect, expand, read_input
from zoo.datasets.readers.frame import check_across_files, located
from zoo.datasets.readers.membership import membership_panels, read_membership_file
from zoo.datasets.schema import INDEXES, read_store, validate_cube, write_cube, zarr_prepare
from zoo.datasets.universes import month_starts

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
    derived_from: pd.Timestamp | None = (
        None  # the first date re-derived (the rows above are read, not derived)
    )


def _inputs(
    files: Sequence[str | os.PathLike], cube: xr.Dataset, fmt: str | None
) -> tuple[list, Input | None]:
    """(name, checked frame) per input: each long file on its own; another format as one input.

    A folder source (qlib) is read from the store's last date on: that day is re-sent and checked.
    """
    paths = expand(files)
    fmt = fmt or detect(paths)
    if fmt == "long":
        return [(str(f), read_long(f)) for f in paths], None
    last = pd.Timestamp(cube["date"].values[-1]).strftime("%Y-%m-%d")
    got = read_input(files, fmt, ReadOptions(start=last) if fmt == "qlib" else None)
    return [(str(paths[0]), got.frame)], got


def _read_new(
    files: Sequence[str | os.PathLike], cube: xr.Dataset, where: str, fmt: str | None = None
) -> tuple[pd.DataFrame, int, Input | None]:
    """The rows of ``files`` after the cube's last date; re-sent stored rows must match exactly."""
    columns = set(cube.attrs["ingest_columns"])
    dates = pd.DatetimeIndex(cube["date"].values)
    symbols = pd.Index(np.asarray(cube["symbol"].values).astype(str))
    last = dates[-1]
    frames, skipped = [], 0
    inputs, got = _inputs(files, cube, fmt)
    for name, df in inputs:
        unknown = sorted(set(df.columns) - columns)
        if unknown:
            raise located(
                name,
                None,
                unknown[0],
                f"not a column of {where} (ingested with {sorted(columns)}); one ingest of everything "
                "would not use it the same way",
            )
        missing = sorted(columns - set(df.columns))
        if missing:
            raise located(name, None, missing[0], f"missing; {where} was ingested with {sorted(columns)}")
        old = (df["date"] <= last).to_numpy()
        if old.any():
            sub = df[old]
            d_pos = dates.get_indexer(sub["date"])
            s_pos = symbols.get_indexer(sub["symbol"])
            # only the re-sent dates' stored rows are read
            rows_read = np.unique(d_pos[d_pos >= 0])
            d_pos = np.where(d_pos >= 0, np.searchsorted(rows_read, d_pos), -1)
            raw = "raw_bars" if "raw_bars" in cube.data_vars else "bars"
            bars = np.asarray(cube[raw].isel(date=rows_read).values)
            stored = {"amount": np.asarray(cube["input_amount"].isel(date=rows_read).values)}
            if "limit_breach" in columns:
                stored["limit_breach"] = np.asarray(cube["breach"].isel(date=rows_read).values)
            if "adj_factor" in columns:
                stored["adj_factor"] = np.asarray(cube["input_factor"].isel(date=rows_read).values)
            if "st" in columns:
                stored["st"] = np.asarray(cube["st"].isel(date=rows_read).values)
            have = (d_pos >= 0) & (s_pos >= 0)
            have[have] = np.isfinite(bars[d_pos[have], s_pos[have], 3])
            rows = np.flatnonzero(old)
            bad_row = int(rows[np.argmax(~have)]) if not have.all() else None
            diff_row, diff_col, diff_msg = None, None, ""
            if have.any():
                hit = sub[have]
                ud = pd.DatetimeIndex(np.sort(hit["date"].unique()))
                us = np.sort(hit["symbol"].unique()).astype(str)
                cells = pivot_cells(hit, ud, us)
                dc, sc = ud.get_indexer(hit["date"]), pd.Index(us).get_indexer(hit["symbol"])
                od, os_ = d_pos[have], s_pos[have]
                pairs = [(c, cells.bars[dc, sc, i], bars[od, os_, i]) for i, c in enumerate(_COMPARED)]
                pairs.append(("amount", cells.amount[dc, sc], stored["amount"][od, os_]))
                for col, new in (("limit_breach", cells.breach), ("st", cells.st)):
                    if new is not None:
                        pairs.append((col, new[dc, sc], stored[col][od, os_]))
                if cells.factor is not None:  # named first: a re-anchored factor also moves raw prices
                    pairs.insert(0, ("adj_factor", cells.factor[dc, sc], stored["adj_factor"][od, os_]))
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
                raise located(
                    name,
                    bad_row + 1,
                    "date",
                    f"{r['date'].date()} is on or before the store's last date {last.date()} and "
                    f"({r['date'].date()}, {r['symbol']}) is not stored: append adds new days only",
                )
            if diff_row is not None:
                raise located(name, diff_row + 1, diff_col, diff_msg)
            skipped += int(old.sum())
        frames.append(df[~old])
    df = pd.concat(frames, ignore_index=True)
    if len(frames) > 1:
        check_across_files(df, [n for n, _ in inputs], [len(f) for f in frames])
    return df, skipped, got


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
    extras = _stored_extras(cube, cols, spread, at, s)
    raw = "raw_bars" if "adj_factor" in cols else "bars"  # with factors, bars are adjusted
    return Cells(
        bars=spread(np.asarray(cube[raw].values), np.nan, np.float32),
        amount=spread(np.asarray(cube["input_amount"].values), np.nan, np.float64),
        shares=spread(np.asarray(cube["input_shares"].values), np.nan, np.float64)
        if "input_shares" in cube
        else None,
        mcap=spread(np.asarray(cube["input_mcap"].values), np.nan, np.float64)
        if "input_mcap" in cube
        else None,
        breach=spread(np.asarray(cube["breach"].values), False, bool) if "limit_breach" in cols else None,
        industry=industry,
        **extras,
    )


def _stored_extras(cube: xr.Dataset, cols: set, spread, at: np.ndarray, s: int) -> dict:
    """The cells of factors, st and real membership a store keeps: raw bars, factors, its st and members."""
    out: dict = {}
    if "adj_factor" in cols:
        out["factor"] = spread(np.asarray(cube["input_factor"].values), np.nan, np.float64)
        base = np.full(s, np.nan)
        base[at] = np.asarray(cube["input_factor_base"].values)
        out["factor_base"] = base
    if "st" in cols:
        out["st"] = spread(np.asarray(cube["st"].values), False, bool)
    real = [k for k, v in dict(cube.attrs.get("index_membership", {})).items() if v != "stand-in"]
    if real:
        uni = cube["in_universe"]
        out["members"] = {k: spread(np.asarray(uni.sel(universe=k).values), False, bool) for k in real}
    return out


def _join(old: Cells, new: Cells) -> Cells:
    """Old cells followed by new dates; a symbol's industry is its first one over both, in row order."""

    def cat(a, b):
        return None if a is None else np.concatenate([a, b], axis=0)

    industry = np.where(pd.isna(old.industry), new.industry, old.industry)
    base = (
        None
        if old.factor_base is None
        else np.where(np.isnan(old.factor_base), new.factor_base, old.factor_base)
    )
    members = None if old.members is None else {k: cat(v, new.members[k]) for k, v in old.members.items()}
    return Cells(
        bars=cat(old.bars, new.bars),
        amount=cat(old.amount, new.amount),
        shares=cat(old.shares, new.shares),
        mcap=cat(old.mcap, new.mcap),
        breach=cat(old.breach, new.breach),
        industry=industry,
        factor=cat(old.factor, new.factor),
        factor_base=base,
        st=cat(old.st, new.st),
        members=members,
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
    version = int(cube.attrs.get("ingest_derivation", 1))
    if version > DERIVATION:
        raise DataError(
            f"{where}: was derived by ingest arithmetic version {version}, newer than this zoo's "
            f"{DERIVATION}; append with the zoo that wrote it"
        )


@dataclasses.dataclass(frozen=True)
class _Tail:
    """An append's changes: every variable from stored row ``start`` on, over the new symbol axis."""

    cube: xr.Dataset  # dates[start:] x all symbols; undated variables and attrs of the new cube
    start: int  # rows before it are unchanged (for old symbols)
    n_old: int
    derived_from: pd.Timestamp | None  # the derivation window's first date
    new_dates: pd.DatetimeIndex
    new_symbols: list[str]
    skipped: int
    first_changed: pd.Timestamp | None


def _month_start(dates: pd.DatetimeIndex, row: int) -> int:
    """The first row of the month that holds ``row``."""
    starts = month_starts(dates)
    return int(starts[starts <= row].max())


def _index_levels(
    stored: xr.Dataset, index_file: str | os.PathLike | None, dates: pd.DatetimeIndex, a: int
) -> np.ndarray | None:
    """(3, D - a) index closes from row ``a``: stored rows keep theirs, new rows from ``index_file``."""
    if not index_file and "index_close" not in stored:
        return None
    n = stored.sizes["date"]
    levels = np.full((stored.sizes["index"], len(dates) - a), np.nan, dtype=np.float32)
    if index_file:
        levels = index_levels(read_index_table(index_file), dates[a:])
    if "index_close" in stored and a < n:
        levels[:, : n - a] = np.asarray(stored["index_close"].isel(date=slice(a, n)).values)
    return levels


def _mismatch(old: xr.Dataset, new: xr.Dataset, rows: dict[str, int]) -> tuple[str, int] | None:
    """The first (variable, row) where ``new`` differs from ``old`` on rows ``rows[v]..`` (None: equal)."""
    first = None
    for v, lo in rows.items():
        a = np.asarray(old[v].isel(date=slice(lo, None)).transpose("date", ...).values)
        b = np.asarray(new[v].isel(date=slice(lo, None)).transpose("date", ...).values)
        if not a.size:
            continue
        a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
        same = (a == b) | (pd.isna(a) & pd.isna(b)) if a.dtype.kind == "f" else a == b
        bad = np.flatnonzero(~same.all(axis=1))
        if len(bad) and (first is None or lo + bad[0] < first[1]):
            first = (v, lo + int(bad[0]))
    return first


def _check_window(
    window: xr.Dataset, again: xr.Dataset, dates: pd.DatetimeIndex, a: int, start: int, where: str
) -> None:
    """Refuse unless the stored rows ``window`` (from row ``a``) re-derived as ``again`` come out equal.

    Index stand-ins are compared from the window's first full month (its first month has no ranking
    day inside the window), labels only above ``start`` (the ones the new days complete do change).
    """
    checked = {v: 0 for v in window.data_vars if "date" in window[v].dims and not v.startswith("label_")}
    if a:
        starts = month_starts(dates)
        checked["in_universe"] = checked["index_weight"] = int(starts[starts > a].min()) - a
    bad = _mismatch(window, again, checked)
    labels = [v for v in ("label_raw", "label_neutral") if v in window.data_vars]
    if bad is None and labels:
        above = {"date": slice(0, start - a)}
        bad = _mismatch(window[labels].isel(above), again[labels].isel(above), dict.fromkeys(labels, 0))
    if bad is not None:
        v, row = bad
        raise DataError(
            f"{where}: re-deriving the stored {dates[a + row].date()} gives another {v!r} than is stored; "
            f"the store was not derived as this zoo derives it: re-ingest it"
        )


def _derive_tail(
    stored: xr.Dataset,
    files: Sequence[str | os.PathLike],
    symbols_file: str | os.PathLike | None,
    index_file: str | os.PathLike | None,
    where: str,
    fmt: str | None = None,
    members_file: str | os.PathLike | None = None,
) -> _Tail:
    """Re-derive the last weeks of ``stored`` with the new rows of ``files``; the older rows stay as stored.

    The rows written start at the first stored label the new days complete (t + 1 + h reaches a
    new day; the first new day without labels); the derivation window one row before that row's
    month, where its index stand-ins are ranked. The state above the window comes from
    ``datasets.carry.carry_at``. The window's stored rows are re-derived too and must come out as
    stored, bit for bit: a check that it continues the history exactly as one ingest would.
    """
    appendable(stored, where)
    if not files:
        raise DataError("append: no input files given")
    if stored.attrs.get("ingest_symbol_table") and symbols_file is None:
        raise DataError(
            f"{where}: was ingested with a symbol table (stocks.csv); pass it again (--symbols), "
            "since new symbols take their industry and shares from it"
        )
    df, skipped, got = _read_new(files, stored, where, fmt)
    n = stored.sizes["date"]
    old_dates = pd.DatetimeIndex(stored["date"].values)
    old_symbols = np.asarray(stored["symbol"].values).astype(str)
    new_dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    if not len(new_dates):
        return _Tail(stored.isel(date=slice(n, None)), n, n, None, new_dates, [], skipped, None)
    symbols = np.union1d(old_symbols, df["symbol"].unique().astype(str)).astype(str)
    at = pd.Index(symbols).get_indexer(old_symbols)
    dates = old_dates.append(new_dates)
    horizons = [int(h) for h in stored["horizon"].values] if "label_raw" in stored.data_vars else []
    new_cells = pivot_cells(df, new_dates, symbols)
    new_cells.members = _new_members(stored, got, members_file, new_dates, symbols, where)
    no_rows = _stored_cells(stored.isel(date=slice(0, 0)), symbols)
    industry, old_industry = _join(no_rows, new_cells).industry, no_rows.industry[at]
    known, was = pd.notna(industry[at]), pd.notna(old_industry)
    same_industry = np.array_equal(known, was) and (industry[at][known] == old_industry[was]).all()
    if not same_industry or (index_file and "index_close" not in stored):
        # a stored symbol's first industry arrives only now (it holds on every date, labels too), or
        # index levels are new (every date gets them): derive it all
        start = a = 0
    else:
        start = max(0, n - (max(horizons) + 1 if horizons else 0))
        a = max(0, _month_start(dates, start) - 1)  # the ranking day of the first written row's month
    window = stored.isel(date=slice(a, n)).load()  # read once: cells, the check, what changed
    cells = _join(_stored_cells(window, symbols), new_cells)
    span = f"{new_dates[0].date()}..{new_dates[-1].date()}"
    source = f"{stored.attrs['source']}; append of {', '.join(provenance_name(f) for f in files)} ({span})"
    derived = derive_cube(
        cells,
        dates[a:],
        symbols,
        columns=stored.attrs["ingest_columns"],
        source=source,
        symbol_table=read_symbol_table(symbols_file) if symbols_file else None,
        index_close=_index_levels(stored, index_file, dates, a),
        size_proxy=stored.attrs["ingest_size_proxy"],
        sectors=stored.attrs["ingest_sectors"],
        tiers=tuple(int(t) for t in stored.attrs.get("index_tiers", (300, 500, 1000))),
        carry=carry_at(stored, a).spread(at, len(symbols)),
        membership=dict(stored.attrs.get("index_membership", {})),
    )
    if horizons:
        derived = derived.assign_coords(horizon=np.array(horizons, dtype=np.int64))
        raw, neu = label_arrays(derived, horizons)
        derived = derived.assign(
            label_raw=(("horizon", "date", "symbol"), raw), label_neutral=(("horizon", "date", "symbol"), neu)
        )
    _check_window(window, derived.isel(date=slice(0, n - a), symbol=at), dates, a, start, where)
    tail = derived.isel(date=slice(start - a, None))
    changed = _mismatch(
        window.isel(date=slice(start - a, None)),
        tail.isel(date=slice(0, n - start), symbol=at),
        {v: 0 for v in stored.data_vars if "date" in stored[v].dims},
    )
    first_changed = pd.Timestamp(dates[start + changed[1]]) if changed else None
    added = sorted(set(symbols) - set(old_symbols))
    return _Tail(tail, start, n, pd.Timestamp(dates[a]), new_dates, added, skipped, first_changed)


def _new_members(
    stored: xr.Dataset,
    got: Input | None,
    members_file: str | os.PathLike | None,
    dates: pd.DatetimeIndex,
    symbols: np.ndarray,
    where: str,
) -> dict[str, np.ndarray] | None:
    """Real membership on the new dates, for the indexes whose stored membership is real; else None."""
    real = {k: v for k, v in dict(stored.attrs.get("index_membership", {})).items() if v != "stand-in"}
    spells = read_membership_file(members_file) if members_file else (got.spells if got is not None else None)
    given = set() if spells is None else set(spells["index"]) & set(INDEXES)
    if given - set(real):
        raise DataError(
            f"{where}: the new input gives real membership for {sorted(given - set(real))}, which the store "
            "holds as stand-ins; re-ingest everything with it"
        )
    if not real:
        return None
    if set(real) - given:
        k = sorted(set(real) - given)[0]
        raise DataError(
            f"{where}: its {k} membership is {real[k]}; the new input gives none for it (--members)"
        )
    return membership_panels(spells[spells["index"].isin(list(real))], dates, symbols)


def _whole(stored: xr.Dataset, tail: _Tail) -> xr.Dataset:
    """The new cube in memory: the stored rows above the tail (new symbols empty there), then the tail."""
    if tail.start == 0:
        return tail.cube.copy()
    head = stored.isel(date=slice(0, tail.start)).load()
    symbols = tail.cube["symbol"].values
    if len(symbols) != stored.sizes["symbol"]:
        # a new symbol's stored rows hold what the derivation gives a stock without bars: its first tail row
        first = tail.cube.isel(date=0)
        fill = {
            v: np.asarray(first[v].sel(symbol=tail.new_symbols[0]).values).flat[0]
            for v in tail.cube.data_vars
            if {"date", "symbol"} <= set(tail.cube[v].dims)
        }
        head = head.reindex(symbol=symbols, fill_value=fill)
    dated = [v for v in tail.cube.data_vars if "date" in tail.cube[v].dims]
    undated = tail.cube.drop_dims("date")
    whole = xr.concat([head[dated], tail.cube[dated]], dim="date", data_vars="all", coords="minimal")
    whole = xr.merge([whole, undated], combine_attrs="override", join="exact").assign_attrs(tail.cube.attrs)
    for v in dated:  # concat keeps the head's dtypes and attrs; the tail's win
        whole[v] = whole[v].astype(tail.cube[v].dtype)
        whole[v].attrs = dict(tail.cube[v].attrs)
    return whole


def _finish_labels(whole: xr.Dataset) -> xr.Dataset:
    """The label variables' attrs: the fingerprint of the whole new cube's label inputs."""
    if "label_raw" not in whole.data_vars:
        return whole
    fp = label_fingerprint(whole)
    for v in ("label_raw", "label_neutral"):
        whole[v].attrs = label_attrs(v, fp)
    return whole


def append_cube(
    cube: xr.Dataset,
    files: Sequence[str | os.PathLike],
    symbols_file: str | os.PathLike | None = None,
    index_file: str | os.PathLike | None = None,
    where: str = "<in-memory cube>",
    fmt: str | None = None,
    members_file: str | os.PathLike | None = None,
) -> AppendResult:
    """``cube`` with the days of ``files`` appended; equal to one ingest of all its inputs and ``files``."""
    tail = _derive_tail(cube, files, symbols_file, index_file, where, fmt, members_file)
    if not len(tail.new_dates):
        return AppendResult(cube, tail.new_dates, [], None, tail.skipped)
    whole = _finish_labels(_whole(cube, tail))
    validate_cube(whole, where=f"{where} after the append")
    return AppendResult(
        whole, tail.new_dates, tail.new_symbols, tail.first_changed, tail.skipped, "", tail.derived_from
    )


def _clone_links(src: Path, dst: Path) -> None:
    """``dst`` as a tree of hard links to ``src``'s files (no data copied)."""
    shutil.copytree(src, dst, copy_function=os.link)


def _write_tail(tail: _Tail, old: xr.Dataset, path: Path, label_attrs_now: dict[str, dict]) -> None:
    """Write an append by a hard-linked clone of the store that rewrites only the tail's dates."""
    start, n = tail.start, tail.n_old
    tmp = atomic.aside(path)
    try:
        _clone_links(path, tmp)
        atomic.point("cloned")
        prep = zarr_prepare(tail.cube)
        for v, attrs in label_attrs_now.items():
            prep[v].attrs = attrs
        dated = [v for v in prep.data_vars if "date" in prep[v].dims]
        keep = prep[dated].drop_vars([c for c in prep.coords if "date" not in prep[c].dims])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if start < n:
                keep.isel(date=slice(0, n - start)).to_zarr(
                    tmp, region={"date": slice(start, n)}, mode="r+", consolidated=False, zarr_format=3
                )
                atomic.point("region-written")
            keep.isel(date=slice(n - start, None)).to_zarr(
                tmp, append_dim="date", consolidated=False, zarr_format=3
            )
            _rewrite_undated(prep, old, tmp)
        atomic.swap(tmp, path)  # manifest, then the renames (atomic's module doc: what a kill leaves)
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
    fmt: str | None = None,
    members_file: str | os.PathLike | None = None,
) -> AppendResult:
    """Append the days of ``files`` to the Zarr ``store``, atomically; the old store is intact on failure.

    Reads the store lazily: the new days' window, the state above it and, when the store holds
    labels, the label inputs for their fingerprint. ``AppendResult.cube`` is the new store, lazily.
    """
    step = step or (lambda _msg: None)
    path = Path(store)
    step("read store")
    old = read_store(path, load=False, dask=False)
    step("read files, derive")
    tail = _derive_tail(old, files, symbols_file, index_file, str(path), fmt, members_file)
    if not len(tail.new_dates):
        return AppendResult(old, tail.new_dates, [], None, tail.skipped, rewritten="none")
    full = bool(tail.new_symbols) or set(tail.cube.data_vars) != set(old.data_vars)
    step("fingerprint labels")
    if full:
        # every array's symbol axis changes, or a variable is new (index levels): write it all aside
        whole = _finish_labels(_whole(old, tail))
        validate_cube(whole, where=f"{path} after the append")
        step("write")
        write_cube(whole, path, date_chunk=_date_chunk(path))
    else:
        validate_cube(tail.cube, where=f"{path} after the append")
        attrs = {}
        if "label_raw" in tail.cube.data_vars:  # the fingerprint of all label inputs, old rows streamed
            fp = label_fingerprint(_whole_lazy(old, tail))
            attrs = {v: label_attrs(v, fp) for v in ("label_raw", "label_neutral")}
        step("write")
        _write_tail(tail, old, path, attrs)
    new = read_store(path, load=False)
    kind = "full" if full else "tail"
    return AppendResult(
        new, tail.new_dates, tail.new_symbols, tail.first_changed, tail.skipped, kind, tail.derived_from
    )


def _whole_lazy(stored: xr.Dataset, tail: _Tail) -> xr.Dataset:
    """The label inputs of the new cube (same symbols), the stored rows left lazy."""
    from zoo.datasets.labels import LABEL_INPUTS

    dated = [v for v in LABEL_INPUTS if "date" in stored[v].dims]
    head = stored[dated].isel(date=slice(0, tail.start))
    whole = xr.concat([head, tail.cube[dated]], dim="date", data_vars="all", coords="minimal")
    return whole.assign(industry=tail.cube["industry"])
