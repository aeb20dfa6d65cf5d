"""Long CSV/Parquet files in the zoo's own layout: one row per (date, symbol), our column names."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from zoo.datasets.readers import Input, ReadOptions, header
from zoo.datasets.readers.frame import REQUIRED_COLUMNS, check_frame, combine, located

from zoo.errors import DataError

ALIASES = {"market_cap": "mcap", "cap": "mcap", "ticker": "symbol", "code": "symbol", "turnover": "amount"}


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV (every column as text: codes keep their leading zeros) or Parquet file, unchecked."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise DataError(f"{name}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if path.suffix.lower() in (".csv", ".gz", ".txt"):
            return pd.read_csv(path, dtype=str, keep_default_na=True)
    except Exception as exc:  # parser errors come in many types
        raise DataError(f"{name}: cannot be read ({type(exc).__name__}: {exc})") from exc
    raise DataError(f"{name}: unknown file type {path.suffix!r}; use .csv or .parquet")


def read_long(path: str | os.PathLike) -> pd.DataFrame:
    """Read one long-format file and check it; rows are numbered from 1 (the first data row)."""
    name = str(path)
    df = read_table(path)
    df = df.rename(columns={c: ALIASES.get(c.strip().lower(), c.strip().lower()) for c in df.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise located(
            name, None, missing[0], f"missing required column(s) {missing}; have {list(df.columns)}"
        )
    if df.empty:
        raise located(name, None, None, "no rows")
    return check_frame(df.reset_index(drop=True), name)


def detect(paths: list[Path]) -> bool:
    """Files whose header has our ``date`` and ``symbol`` (or an alias) columns."""
    if any(p.is_dir() for p in paths):
        return False
    cols = {ALIASES.get(c.lower(), c.lower()) for c in header(paths[0])}
    return {"date", "symbol", "close"} <= cols


def read(paths: list[Path], options: ReadOptions) -> Input:
    """Long files in the zoo's own layout."""
    return Input(combine([read_long(p) for p in paths], paths), [str(p) for p in paths], "long")
