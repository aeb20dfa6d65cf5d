"""The checked long frame every reader yields: one row per (date, symbol), our column names and units.

Columns: ``date, symbol, open, high, low, close, volume`` (shares) and optionally ``amount`` (CNY),
``vwap``, ``mcap``, ``shares``, ``industry``, ``limit_breach``, ``adj_factor`` (prices x factor are
adjusted; > 0 on every row when given) and ``st`` (0/1). Prices are RAW (unadjusted) whatever the
source: a reader of adjusted data divides its factor out and gives it as ``adj_factor``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from zoo.errors import DataError

REQUIRED_COLUMNS = ("date", "symbol", "open", "high", "low", "close", "volume")
NUMERIC_COLUMNS = ("open", "high", "low", "close", "volume", "amount", "vwap", "mcap", "shares", "adj_factor")
FLAG_COLUMNS = ("limit_breach", "st")


def located(file: str, row: int | str | None, column: str | None, msg: str) -> DataError:
    """A DataError naming file, row (a number, or a place such as ``sh600000 on 2020-01-02``) and column."""
    where = file
    if isinstance(row, str):
        where += f", {row}"
    elif row is not None:
        where += f", row {row}"
    if column is not None:
        where += f", column {column!r}"
    return DataError(f"{where}: {msg}")


def _check_factor_and_flags(df: pd.DataFrame, fail: Callable[..., DataError], name: str) -> None:
    """``adj_factor`` finite and > 0 on every row; ``st`` 0/1 (parsed to bool)."""
    if "adj_factor" in df.columns:
        f = df["adj_factor"].to_numpy(dtype=np.float64)
        bad = ~(f > 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(
                name, i + 1, "adj_factor", f"value {f[i]:g}: an adjustment factor must be > 0 on every bar"
            )
    if "st" in df.columns:
        flag = pd.to_numeric(df["st"], errors="coerce")
        bad = ~flag.isin([0, 1]).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(name, i + 1, "st", f"{df['st'].iloc[i]!r} is not 0 or 1")
        df["st"] = flag.to_numpy().astype(bool)


def check_frame(
    df: pd.DataFrame,
    name: str,
    rows: Sequence | None = None,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Parse and validate a long frame in place; bad values raise naming ``name``, row and column.

    ``rows`` numbers the frame's rows in the file (default 1, 2, …; an entry may be a place as
    text); ``labels`` maps our column names back to the file's own (a vendor's ``vol`` for
    ``volume``) for the messages.
    """

    def _fail(file: str, row: int | None, column: str | None, msg: str) -> DataError:
        """The located error, with the file's own row number and column name."""
        if rows is not None and row is not None:
            at = rows[row - 1]
            row = at if isinstance(at, str) else int(at)
        return located(file, row, (labels or {}).get(column, column) if column else None, msg)

    _parse_dates(df, _fail, name)
    sym = df["symbol"]
    bad = sym.isna().to_numpy() | (sym.astype(str).str.strip() == "").to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise _fail(name, i + 1, "symbol", "empty symbol")
    df["symbol"] = sym.astype(str).str.strip()
    _parse_numbers(df, _fail, name)
    _check_factor_and_flags(df, _fail, name)
    if "limit_breach" in df.columns:
        flag = pd.to_numeric(df["limit_breach"], errors="coerce")
        bad = ~flag.isin([0, 1]).to_numpy() & df["limit_breach"].notna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(name, i + 1, "limit_breach", f"{df['limit_breach'].iloc[i]!r} is not 0 or 1")
        df["limit_breach"] = flag.fillna(0).to_numpy().astype(bool)
    _check_bars(df, _fail, name)
    return df


def _parse_dates(df: pd.DataFrame, fail: Callable[..., DataError], name: str) -> None:
    """``date`` parsed in place (YYYYMMDD integers too); an unparseable one refused."""
    raw_dates = df["date"]
    dates = None
    if pd.api.types.is_integer_dtype(raw_dates):  # 20150902: not nanoseconds since 1970
        dates = pd.to_datetime(raw_dates.astype(str), errors="coerce", format="%Y%m%d")
    elif raw_dates.dtype == object:
        dates = pd.to_datetime(raw_dates, errors="coerce", format="mixed")
    if dates is None:
        try:
            dates = pd.to_datetime(raw_dates, errors="coerce")
        except (TypeError, ValueError):
            dates = pd.to_datetime(raw_dates.astype(str), errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise fail(name, i + 1, "date", f"cannot parse {raw_dates.iloc[i]!r} as a date")
    df["date"] = dates.dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")


def _parse_numbers(df: pd.DataFrame, fail: Callable[..., DataError], name: str) -> None:
    """Numeric columns parsed in place; OHLC and volume present, prices > 0, the rest >= 0."""
    for col in NUMERIC_COLUMNS:
        if col not in df.columns:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        bad = (num.isna() & df[col].notna()).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(name, i + 1, col, f"{df[col].iloc[i]!r} is not a number")
        vals = num.to_numpy(dtype=np.float64)
        if col in ("open", "high", "low", "close", "volume"):
            bad = ~np.isfinite(vals)
            if bad.any():
                i = int(np.argmax(bad))
                raise fail(name, i + 1, col, "missing value")
        limit_ok = vals > 0 if col in ("open", "high", "low", "close") else vals >= 0
        bad = ~limit_ok & np.isfinite(vals)
        if bad.any():
            i = int(np.argmax(bad))
            kind = "a price must be > 0" if col in ("open", "high", "low", "close") else "must be >= 0"
            raise fail(name, i + 1, col, f"value {vals[i]:g}: {kind}")
        df[col] = vals


def _check_bars(df: pd.DataFrame, fail: Callable[..., DataError], name: str) -> None:
    """high >= low, open and close inside [low, high], one row per (date, symbol)."""
    o, h, lo, c = (df[k].to_numpy() for k in ("open", "high", "low", "close"))
    tol = 1e-6 * np.maximum(h, 1.0)
    bad = h < lo
    if bad.any():
        i = int(np.argmax(bad))
        raise fail(name, i + 1, "high", f"high {h[i]:g} < low {lo[i]:g}")
    bad = (h + tol < np.maximum(o, c)) | (lo - tol > np.minimum(o, c))
    if bad.any():
        i = int(np.argmax(bad))
        col = "open" if (o[i] > h[i] + tol[i] or o[i] < lo[i] - tol[i]) else "close"
        raise fail(name, i + 1, col, f"{col} {df[col].iloc[i]:g} outside [low {lo[i]:g}, high {h[i]:g}]")
    dup = df.duplicated(["date", "symbol"], keep=False).to_numpy()
    if dup.any():
        at = np.flatnonzero(dup)
        first = at[0]
        same = at[
            (df["date"].to_numpy()[at] == df["date"].iloc[first])
            & (df["symbol"].to_numpy()[at] == df["symbol"].iloc[first])
        ]
        raise fail(
            name,
            int(same[1]) + 1,
            "date",
            f"duplicate (date, symbol) ({df['date'].iloc[first].date()}, {df['symbol'].iloc[first]}); "
            f"first seen at row {int(same[0]) + 1}",
        )


def check_across_files(df: pd.DataFrame, files: Sequence, lengths: Sequence[int]) -> None:
    """A (date, symbol) given by two files is refused naming both files and rows."""
    dup = df.duplicated(["date", "symbol"], keep=False).to_numpy()
    if not dup.any():
        return
    rows = np.flatnonzero(dup)
    d0, s0 = df["date"].iloc[rows[0]], df["symbol"].iloc[rows[0]]
    same = rows[(df["date"].to_numpy()[rows] == d0) & (df["symbol"].to_numpy()[rows] == s0)]
    starts = np.cumsum([0, *lengths])
    where = []
    for r in same[:2]:
        k = int(np.searchsorted(starts, r, side="right") - 1)
        where.append((str(files[k]), int(r - starts[k]) + 1))
    raise located(
        where[1][0],
        where[1][1],
        "date",
        f"duplicate (date, symbol) ({pd.Timestamp(d0).date()}, {s0}); "
        f"also in {where[0][0]} row {where[0][1]}",
    )


def combine(frames: Sequence[pd.DataFrame], files: Sequence) -> pd.DataFrame:
    """Checked frames of several files as one (their common columns); a (date, symbol) twice is refused."""
    cols = set.intersection(*(set(f.columns) for f in frames))
    df = pd.concat([f[[c for c in f.columns if c in cols]] for f in frames], ignore_index=True)
    if len(frames) > 1:
        check_across_files(df, files, [len(f) for f in frames])
    return df
