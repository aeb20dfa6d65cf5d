"""Ingest real daily bars into a cube: a reader's checked long frame, pivoted into input cells, derived.

``datasets.readers`` reads every input format (the zoo's long CSV/Parquet, a qlib provider folder,
Tushare / AKShare / baostock exports, wide tables) into one checked long frame of raw bars (bad
input refused naming the file, the row and the column). Here that frame is pivoted onto the sorted
dates and symbols as ``datasets.derive.Cells`` (per cell: bars with their vwap fallbacks, amount,
shares, mcap, limit_breach, adj_factor, st, real index membership) and ``derive_cube`` derives the
cube (proxies for what is missing are listed in ``datasets.derive`` and recorded in attrs):

- vwap: given; else amount / volume; else typical price (high + low + close) / 3;
- size: ``size_proxy`` "amount20" (default) = log of the 20-trading-day mean amount (at least 5
  bars); "cap" = log of the proxy cap (``mcap``; else close x ``shares``; else imputed from turnover);
- industry: given (mapped to 28 sectors with ``sectors="sw28"``), else one industry;
- breach: the ``limit_breach`` column, else |close / previous close - 1| > limit + 1.2 % (adjusted
  closes when a factor is given); limits from raw closes; st: the ``st`` column, else all False.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets.derive import (  # noqa: F401  (re-exported: datasets.append and tests use them here)
    DERIVATION,
    SIZE_PROXIES,
    Cells,
    derive_cube,
    price_limits,
)
from zoo.datasets.readers import Input, ReadOptions, read_input
from zoo.datasets.readers.frame import check_across_files, check_frame, located  # noqa: F401  (re-exported)
from zoo.datasets.readers.long import read_long  # noqa: F401  (re-exported)
from zoo.datasets.readers.membership import membership_panels, read_membership_file
from zoo.datasets.schema import INDEXES
from zoo.datasets.universes import REAL_TIERS

from zoo.errors import DataError

#: Real index symbols -> stand-in index names.
INDEX_SYMBOLS = {"000300.SH": "csi300", "000905.SH": "csi500", "000852.SH": "csi1000"}


def _fail(file: str, row: int | None, column: str | None, msg: str) -> DataError:
    """A DataError naming file, row and column."""
    return located(file, row, column, msg)


def _pivot(df: pd.DataFrame, column: str, d_code, s_code, shape, dtype=np.float32) -> np.ndarray:
    """Scatter a long column into a (D, S) array (NaN where no row)."""
    out = np.full(shape, np.nan, dtype=dtype)
    out[d_code, s_code] = df[column].to_numpy()
    return out


def pivot_cells(df: pd.DataFrame, dates: pd.DatetimeIndex, symbols: np.ndarray) -> Cells:
    """Pivot a checked long frame onto ``dates`` x ``symbols``; every step here is per cell."""
    d_code = dates.get_indexer(df["date"])
    s_code = pd.Index(symbols).get_indexer(df["symbol"])
    shape = (len(dates), len(symbols))
    cols = {}
    for f in ("open", "high", "low", "close", "volume"):
        cols[f] = _pivot(df, f, d_code, s_code, shape)
    amount = _pivot(df, "amount", d_code, s_code, shape, np.float64) if "amount" in df else None
    vol64 = cols["volume"].astype(np.float64)
    if "vwap" in df:
        vwap = _pivot(df, "vwap", d_code, s_code, shape)
    elif amount is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(vol64 > 0, amount / vol64, np.nan).astype(np.float32)
    else:
        vwap = ((cols["high"] + cols["low"] + cols["close"]) / 3).astype(np.float32)
    if amount is None:
        amount = vwap.astype(np.float64) * vol64
    # a zero-volume bar has no trade: its vwap is undefined, fall back to the close
    vwap = np.where(np.isfinite(vwap), vwap, cols["close"]).astype(np.float32)
    vwap = np.where(np.isnan(cols["close"]), np.nan, vwap).astype(np.float32)
    bars = np.stack([cols["open"], cols["high"], cols["low"], cols["close"], vwap, cols["volume"]], axis=-1)
    breach = None
    if "limit_breach" in df:
        breach = np.zeros(shape, dtype=bool)
        breach[d_code, s_code] = df["limit_breach"].to_numpy().astype(bool)
    industry = _first_industry(df, symbols)
    factor = _pivot(df, "adj_factor", d_code, s_code, shape, np.float64) if "adj_factor" in df else None
    st = None
    if "st" in df:
        st = np.zeros(shape, dtype=bool)
        st[d_code, s_code] = df["st"].to_numpy().astype(bool)
    return Cells(
        bars=bars.astype(np.float32),
        amount=np.where(np.isfinite(cols["close"]), amount, np.nan),
        shares=_pivot(df, "shares", d_code, s_code, shape, np.float64) if "shares" in df else None,
        mcap=_pivot(df, "mcap", d_code, s_code, shape, np.float64) if "mcap" in df else None,
        breach=breach,
        industry=industry,
        factor=factor,
        factor_base=None if factor is None else first_values(factor),
        st=st,
    )


def first_values(panel: np.ndarray) -> np.ndarray:
    """(S,) each column's first finite value down the dates (NaN if none)."""
    ok = np.isfinite(panel)
    at = np.argmax(ok, axis=0)
    return np.where(ok.any(axis=0), panel[at, np.arange(panel.shape[1])], np.nan)


def _first_industry(df: pd.DataFrame, symbols: np.ndarray) -> np.ndarray:
    """(S,) each symbol's first non-empty industry in row order (None without one)."""
    industry = np.full(len(symbols), None, dtype=object)
    if "industry" in df:
        first = df.loc[df["industry"].notna(), ["symbol", "industry"]].drop_duplicates("symbol", keep="first")
        industry = (
            pd.Series(first["industry"].astype(str).to_numpy(), index=first["symbol"].to_numpy())
            .reindex(symbols)
            .to_numpy(dtype=object)
        )
    return industry


def index_levels(index_table: pd.DataFrame, dates: pd.DatetimeIndex) -> np.ndarray:
    """(3, D) float32 real index closes on ``dates`` (NaN where the table has none)."""
    lvl = np.full((len(INDEXES), len(dates)), np.nan, dtype=np.float32)
    for sym, name in INDEX_SYMBOLS.items():
        rows = index_table[index_table["symbol"] == sym]
        if len(rows):
            s = pd.Series(rows["close"].to_numpy(), index=pd.DatetimeIndex(rows["date"]))
            lvl[INDEXES.index(name)] = s.reindex(dates).to_numpy(dtype=np.float32)
    return lvl


def read_index_table(path: str | os.PathLike) -> pd.DataFrame:
    """An index series table (CSV or Parquet: date, symbol, close) with parsed dates and str symbols."""
    idx = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    idx["date"] = pd.to_datetime(idx["date"])
    idx["symbol"] = idx["symbol"].astype(str)
    return idx


def build_cube(
    df: pd.DataFrame,
    source: str,
    symbol_table: pd.DataFrame | None = None,
    index_table: pd.DataFrame | None = None,
    size_proxy: str = "amount20",
    sectors: str = "sw28",
    tiers: tuple[int, int, int] = REAL_TIERS,
    spells: pd.DataFrame | None = None,
    spell_sources: dict[str, str] | None = None,
) -> xr.Dataset:
    """Pivot a checked long frame (plus optional per-symbol, index and membership tables) into a cube."""
    if size_proxy not in SIZE_PROXIES:
        raise DataError(f"size proxy {size_proxy!r} is unknown; choose one of {SIZE_PROXIES}")
    dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    symbols = np.sort(df["symbol"].unique()).astype(str)
    levels = index_levels(index_table, dates) if index_table is not None else None
    cells = pivot_cells(df, dates, symbols)
    if spells is not None and len(spells):
        cells.members = membership_panels(spells, dates, symbols)
    return derive_cube(
        cells,
        dates,
        symbols,
        columns=list(df.columns),
        source=source,
        symbol_table=symbol_table,
        index_close=levels,
        size_proxy=size_proxy,
        sectors=sectors,
        tiers=tiers,
        membership=spell_sources,
    )


def read_symbol_table(path: str | os.PathLike) -> pd.DataFrame:
    """A per-symbol table (stocks.csv layout): index symbol, columns industry and shares (if known)."""
    path = Path(path)
    try:
        tab = pd.read_csv(path, dtype={"symbol": str, "list_date": str})
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if "symbol" not in tab:
        raise _fail(str(path), None, "symbol", f"missing column; have {list(tab.columns)}")
    tab = tab.drop_duplicates("symbol", keep="last").set_index("symbol")
    out = pd.DataFrame(index=tab.index)
    if "industry" in tab:
        out["industry"] = tab["industry"]
    for col, factor in (("float_shares_2018_1e8", 1e8), ("total_shares_2018_1e8", 1e8), ("shares", 1.0)):
        if col in tab:
            out["shares"] = pd.to_numeric(tab[col], errors="coerce") * factor
            out.attrs["shares_source"] = f"{path.name}:{col}"
            break
    return out


def _check_across_files(df: pd.DataFrame, files: Sequence, lengths: Sequence[int]) -> None:
    """A (date, symbol) given by two files is refused naming both files and rows."""
    check_across_files(df, files, lengths)


def provenance_name(path: str | Path) -> str:
    """``folder/file`` of an input: names the data set without the machine's own path (the cube is shared)."""
    p = Path(path).resolve()
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def read_members(
    got: Input, members_file: str | os.PathLike | None
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """Membership spells of the input, with a long membership file's indexes replacing the input's own."""
    spells, sources = got.spells, dict(got.spell_sources)
    if members_file is None:
        return spells, sources
    extra = read_membership_file(members_file)
    names = sorted(extra["index"].unique())
    kept = spells[~spells["index"].isin(names)] if spells is not None else None
    spells = pd.concat([kept, extra], ignore_index=True) if kept is not None else extra
    unused = "; its weight column is not used: proxy-cap weights" if "weight" in extra.attrs else ""
    for n in names:
        sources[n] = f"real: {provenance_name(members_file)} (dated snapshots, each to the next{unused})"
    return spells, sources


def ingest(
    files: Sequence[str | os.PathLike],
    symbols_file: str | os.PathLike | None = None,
    index_file: str | os.PathLike | None = None,
    size_proxy: str = "amount20",
    sectors: str = "sw28",
    fmt: str | None = None,
    options: ReadOptions | None = None,
    members_file: str | os.PathLike | None = None,
) -> xr.Dataset:
    """Read ``files`` in format ``fmt`` (None: detected) with optional symbol, index and membership tables."""
    if not files:
        raise DataError("ingest: no input files given")
    got = read_input(files, fmt, options)
    spells, spell_sources = read_members(got, members_file)
    table = read_symbol_table(symbols_file) if symbols_file else None
    idx = read_index_table(index_file) if index_file else got.index_table
    kind = "" if got.fmt == "long" else f" ({got.fmt})"
    source = f"ingest{kind} of " + ", ".join(provenance_name(f) for f in files)
    if table is not None:
        source += f"; symbols {provenance_name(symbols_file)}"
    if index_file:
        source += f"; indexes {provenance_name(index_file)}"
    return build_cube(
        got.frame,
        source,
        table,
        idx,
        size_proxy=size_proxy,
        sectors=sectors,
        spells=spells,
        spell_sources=spell_sources,
    )
