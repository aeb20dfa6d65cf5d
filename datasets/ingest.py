"""Ingest real long-format daily bars (CSV or Parquet) into a cube.

Input columns: ``date, symbol, open, high, low, close, volume`` and optionally ``amount``, ``vwap``,
``mcap`` (market cap), ``shares``, ``industry``, ``limit_breach``. Bad input is refused with the file,
the (1-based data) row and the column named. Proxies for what is missing (each recorded in attrs):

- vwap: given; else amount / volume; else typical price (high + low + close) / 3;
- size (for size groups, neutralisation and index ranking): ``size_proxy`` "amount20" (default) =
  log of the mean traded amount over the last 20 trading days (at least 5 bars), a liquidity size,
  since the real data has no daily cap; "cap" = log of the proxy cap below;
- proxy cap (for index weights): ``mcap`` if given; else close x ``shares`` (column, or a per-symbol
  table such as stocks.csv's 2018 share counts); symbols without shares get 20-day mean amount
  divided by that day's median turnover (amount / cap) of the symbols that have shares;
- industry: given (mapped to 28 sectors with ``sectors="sw28"``), else one industry;
- breach: the ``limit_breach`` column, else |close / previous close - 1| > limit + 1.2 % (not in a
  stock's first 5 bars);
- limit_up / limit_down: close at the rounded price limit (10 %, 20 % for 688/689 and for 300/301
  from 2020-08-24, and 5 % as the ST limit, since ST is not in the data) relative to the previous
  close; st: all False (not in the data);
- listed: from a symbol's first bar on (a delisting is not known in advance: it shows as a
  suspension, which leaves the "all" universe after 20 days); suspended: listed but no bar.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets.carry import AMOUNT_MIN_BARS, AMOUNT_WINDOW, SEASONED_BARS, Carry
from zoo.datasets.panel import ffill, trailing_mean
from zoo.datasets.schema import INDEXES, SCHEMA_VERSION, cube_coords
from zoo.datasets.sectors import map_industries
from zoo.datasets.universes import REAL_TIERS, all_universe, build_indexes

from zoo.errors import DataError

REQUIRED_COLUMNS = ("date", "symbol", "open", "high", "low", "close", "volume")
NUMERIC_COLUMNS = ("open", "high", "low", "close", "volume", "amount", "vwap", "mcap", "shares")
ALIASES = {"market_cap": "mcap", "cap": "mcap", "ticker": "symbol", "code": "symbol", "turnover": "amount"}
#: Real index symbols -> stand-in index names.
INDEX_SYMBOLS = {"000300.SH": "csi300", "000905.SH": "csi500", "000852.SH": "csi1000"}
BREACH_MARGIN = 0.012
SIZE_PROXIES = ("amount20", "cap")
#: Version of ``derive_cube``'s arithmetic, stored in attrs: ``datasets.append`` continues only a cube
#: derived by the same version (2: window-local 20-day means, carried state, causal cap imputation).
DERIVATION = 2


def _fail(file: str, row: int | None, column: str | None, msg: str) -> DataError:
    """A DataError naming file, row and column."""
    where = file
    if row is not None:
        where += f", row {row}"
    if column is not None:
        where += f", column {column!r}"
    return DataError(f"{where}: {msg}")


def read_long(path: str | os.PathLike) -> pd.DataFrame:
    """Read one long-format file and check it; rows are numbered from 1 (the first data row)."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise DataError(f"{name}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".gz", ".txt"):
            # all text: symbols keep leading zeros whatever the header says; check_frame parses numbers
            df = pd.read_csv(path, dtype=str, keep_default_na=True)
        else:
            raise DataError(f"{name}: unknown file type {path.suffix!r}; use .csv or .parquet")
    except DataError:
        raise
    except Exception as exc:  # parser errors come in many types
        raise DataError(f"{name}: cannot be read ({type(exc).__name__}: {exc})") from exc
    df = df.rename(columns={c: ALIASES.get(c.strip().lower(), c.strip().lower()) for c in df.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise _fail(name, None, missing[0], f"missing required column(s) {missing}; have {list(df.columns)}")
    if df.empty:
        raise _fail(name, None, None, "no rows")
    return check_frame(df.reset_index(drop=True), name)


def check_frame(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Parse and validate a long frame in place; bad values raise naming ``name``, row and column."""
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
        raise _fail(name, i + 1, "date", f"cannot parse {raw_dates.iloc[i]!r} as a date")
    df["date"] = dates.dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    sym = df["symbol"]
    bad = sym.isna().to_numpy() | (sym.astype(str).str.strip() == "").to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise _fail(name, i + 1, "symbol", "empty symbol")
    df["symbol"] = sym.astype(str).str.strip()
    for col in NUMERIC_COLUMNS:
        if col not in df.columns:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        bad = (num.isna() & df[col].notna()).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(name, i + 1, col, f"{df[col].iloc[i]!r} is not a number")
        vals = num.to_numpy(dtype=np.float64)
        if col in ("open", "high", "low", "close", "volume"):
            bad = ~np.isfinite(vals)
            if bad.any():
                i = int(np.argmax(bad))
                raise _fail(name, i + 1, col, "missing value")
        limit_ok = vals > 0 if col in ("open", "high", "low", "close") else vals >= 0
        bad = ~limit_ok & np.isfinite(vals)
        if bad.any():
            i = int(np.argmax(bad))
            kind = "a price must be > 0" if col in ("open", "high", "low", "close") else "must be >= 0"
            raise _fail(name, i + 1, col, f"value {vals[i]:g}: {kind}")
        df[col] = vals
    if "limit_breach" in df.columns:
        flag = pd.to_numeric(df["limit_breach"], errors="coerce")
        bad = ~flag.isin([0, 1]).to_numpy() & df["limit_breach"].notna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(name, i + 1, "limit_breach", f"{df['limit_breach'].iloc[i]!r} is not 0 or 1")
        df["limit_breach"] = flag.fillna(0).to_numpy().astype(bool)
    o, h, lo, c = (df[k].to_numpy() for k in ("open", "high", "low", "close"))
    tol = 1e-6 * np.maximum(h, 1.0)
    bad = h < lo
    if bad.any():
        i = int(np.argmax(bad))
        raise _fail(name, i + 1, "high", f"high {h[i]:g} < low {lo[i]:g}")
    bad = (h + tol < np.maximum(o, c)) | (lo - tol > np.minimum(o, c))
    if bad.any():
        i = int(np.argmax(bad))
        col = "open" if (o[i] > h[i] + tol[i] or o[i] < lo[i] - tol[i]) else "close"
        raise _fail(name, i + 1, col, f"{col} {df[col].iloc[i]:g} outside [low {lo[i]:g}, high {h[i]:g}]")
    dup = df.duplicated(["date", "symbol"], keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = rows[0]
        same = rows[
            (df["date"].to_numpy()[rows] == df["date"].iloc[first])
            & (df["symbol"].to_numpy()[rows] == df["symbol"].iloc[first])
        ]
        raise _fail(
            name,
            int(same[1]) + 1,
            "date",
            f"duplicate (date, symbol) ({df['date'].iloc[first].date()}, {df['symbol'].iloc[first]}); "
            f"first seen at row {int(same[0]) + 1}",
        )
    return df


def price_limits(symbols: np.ndarray, dates: pd.DatetimeIndex) -> np.ndarray:
    """(D, S) daily price limit by board: 20 % for 688/689, and 300/301 from 2020-08-24; else 10 %."""
    sym = pd.Series(symbols)
    star = sym.str.match(r"^68[89]").to_numpy()
    chinext = sym.str.match(r"^30[01]").to_numpy()
    after = np.asarray(dates >= pd.Timestamp("2020-08-24"))[:, None]
    return np.where(star[None] | (chinext[None] & after), 0.20, 0.10)


def _pivot(df: pd.DataFrame, column: str, d_code, s_code, shape, dtype=np.float32) -> np.ndarray:
    """Scatter a long column into a (D, S) array (NaN where no row)."""
    out = np.full(shape, np.nan, dtype=dtype)
    out[d_code, s_code] = df[column].to_numpy()
    return out


@dataclasses.dataclass
class Cells:
    """What a cube derives from, cell by cell: the (D, S) panels of the input rows, no cross-date step yet.

    ``ingest`` pivots a long frame into these; ``datasets.append`` rebuilds the stored part from a
    cube's own arrays and ``input_*`` variables and pivots only the new rows, so one ``derive_cube``
    serves both and an append equals one ingest of everything.
    """

    bars: np.ndarray  # (D, S, 6) float32: open, high, low, close, vwap (after its fallbacks), volume
    amount: np.ndarray  # (D, S) float64: traded amount (given, else vwap x volume), NaN without a bar
    shares: np.ndarray | None  # (D, S) float64 shares column (NaN without a row), None without one
    mcap: np.ndarray | None  # (D, S) float64 mcap column, None without one
    breach: np.ndarray | None  # (D, S) bool limit_breach column, None without one
    industry: np.ndarray  # (S,) object: each symbol's first non-empty industry in row order, or None


def _cells(df: pd.DataFrame, dates: pd.DatetimeIndex, symbols: np.ndarray) -> Cells:
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
    industry = np.full(len(symbols), None, dtype=object)
    if "industry" in df:
        first = df.loc[df["industry"].notna(), ["symbol", "industry"]].drop_duplicates("symbol", keep="first")
        industry = (
            pd.Series(first["industry"].astype(str).to_numpy(), index=first["symbol"].to_numpy())
            .reindex(symbols)
            .to_numpy(dtype=object)
        )
    return Cells(
        bars=bars.astype(np.float32),
        amount=np.where(np.isfinite(cols["close"]), amount, np.nan),
        shares=_pivot(df, "shares", d_code, s_code, shape, np.float64) if "shares" in df else None,
        mcap=_pivot(df, "mcap", d_code, s_code, shape, np.float64) if "mcap" in df else None,
        breach=breach,
        industry=industry,
    )


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
) -> xr.Dataset:
    """Pivot a checked long frame (plus optional per-symbol and index tables) into a cube."""
    if size_proxy not in SIZE_PROXIES:
        raise DataError(f"size proxy {size_proxy!r} is unknown; choose one of {SIZE_PROXIES}")
    dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    symbols = np.sort(df["symbol"].unique()).astype(str)
    levels = index_levels(index_table, dates) if index_table is not None else None
    return derive_cube(
        _cells(df, dates, symbols),
        dates,
        symbols,
        columns=list(df.columns),
        source=source,
        symbol_table=symbol_table,
        index_close=levels,
        size_proxy=size_proxy,
        sectors=sectors,
        tiers=tiers,
    )


def derive_cube(
    cells: Cells,
    dates: pd.DatetimeIndex,
    symbols: np.ndarray,
    columns: Sequence[str],
    source: str,
    symbol_table: pd.DataFrame | None = None,
    index_close: np.ndarray | None = None,
    size_proxy: str = "amount20",
    sectors: str = "sw28",
    tiers: tuple[int, int, int] = REAL_TIERS,
    carry: Carry | None = None,
) -> xr.Dataset:
    """The cube from its input cells: masks, limits, breaches, size, proxy cap, industries, universes.

    Everything across dates here is causal (a value at t reads cells up to t only, through the
    state in ``datasets.carry.Carry``). ``carry`` is that state above the first of ``dates`` (None:
    they start the history), which lets ``datasets.append`` re-derive only the last weeks of a
    store and get exactly the rows one derivation of everything gives.
    """
    shape = (len(dates), len(symbols))
    if carry is None:
        carry = Carry.empty(len(symbols), cells.shares is not None, cells.mcap is not None)
    bars = cells.bars
    notes = []
    if "vwap" in columns:
        notes.append("vwap: given")
    elif "amount" in columns:
        notes.append("vwap: amount / volume")
    else:
        notes.append("vwap: typical price (high + low + close) / 3")
    if "amount" not in columns:
        notes.append("amount: vwap x volume")
    close = bars[..., 3].astype(np.float64)
    traded = np.isfinite(close)

    pos = np.arange(len(dates))[:, None]
    first = np.where(traded.any(0), np.argmax(traded, axis=0), len(dates))
    # listed from the first bar on: whether a stock ever trades again is not known at t, so a
    # delisting shows as a suspension (and leaves "all" once it passes LONG_SUSPENSION_DAYS)
    listed = carry.listed[None] | (pos >= first[None])
    suspended = listed & ~traded

    # previous traded close (across suspensions), for limits and breaches
    close_ff = ffill(close, carry.close)
    prev_close = np.concatenate([carry.close[None], close_ff[:-1]])
    bar_no = carry.bars[None] + np.cumsum(traded, axis=0)  # 1 on a stock's first bar
    limit = price_limits(symbols, dates)
    with np.errstate(invalid="ignore", divide="ignore"):
        move = close / prev_close - 1.0
        tol = 0.0051
        at_main_up = np.abs(close - np.round(prev_close * (1 + limit), 2)) < tol
        at_st_up = np.abs(close - np.round(prev_close * 1.05, 2)) < tol
        at_main_dn = np.abs(close - np.round(prev_close * (1 - limit), 2)) < tol
        at_st_dn = np.abs(close - np.round(prev_close * 0.95, 2)) < tol
    has_prev = traded & (bar_no > 1) & np.isfinite(prev_close)
    limit_up = has_prev & (move > 0) & (at_main_up | at_st_up)
    limit_down = has_prev & (move < 0) & (at_main_dn | at_st_dn)
    if cells.breach is not None:
        breach = cells.breach
        notes.append("breach: limit_breach column")
    else:
        breach = has_prev & (bar_no > 5) & (np.abs(move) > limit + BREACH_MARGIN)
        notes.append(
            f"breach: |close/prev close - 1| > limit + {BREACH_MARGIN:.1%} (after a stock's 5th bar)"
        )

    # size and proxy cap, causal: rolling means over trading days up to t only
    amount = np.where(traded, cells.amount, np.nan)
    amount20 = ffill(trailing_mean(amount, AMOUNT_WINDOW, AMOUNT_MIN_BARS, carry.amount), carry.amount20)
    amount20 = np.where(listed, amount20, np.nan)
    shares = None
    if cells.shares is not None:
        shares = ffill(cells.shares, carry.shares)
        notes.append("cap: close x shares column")
    elif symbol_table is not None and "shares" in symbol_table:
        sh = symbol_table["shares"].reindex(symbols).to_numpy(dtype=np.float64)
        shares = np.broadcast_to(sh[None, :], shape)
        notes.append(f"cap: close x {symbol_table.attrs.get('shares_source', 'per-symbol shares')}")
    mcap_in = None
    if cells.mcap is not None:
        mcap_in = ffill(cells.mcap, carry.mcap)
        cap = mcap_in
        notes.append("cap: mcap column")
    elif shares is not None:
        cap = close_ff * shares
    else:
        cap = np.full(shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        known = np.isfinite(cap) & (cap > 0) & np.isfinite(amount20)
        ratio = np.where(known, amount20 / cap, np.nan)
        with_ratio = np.isfinite(ratio).any(axis=1)
        med_turn = np.full(len(dates), np.nan)
        med_turn[with_ratio] = np.nanmedian(ratio[with_ratio], axis=1)
        imputed = ~known & np.isfinite(amount20)
        if cells.mcap is not None or shares is not None:  # a column, not the data: causal
            cap = np.where(imputed, amount20 / med_turn[:, None], cap)
            notes.append("cap where unknown: 20-day mean amount / that day's median turnover")
        else:
            cap = np.where(imputed, amount20, cap)
            notes.append("cap: 20-day mean amount (no caps or shares given)")
    cap = np.where(listed, cap, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.log(amount20) if size_proxy == "amount20" else np.log(cap)
    size = np.where(listed & np.isfinite(size), size, np.nan).astype(np.float32)
    size_note = (
        "log of the 20-trading-day mean amount (liquidity size; at least 5 bars), carried over suspensions"
        if size_proxy == "amount20"
        else "log of the proxy cap (see cap notes)"
    )

    # industries: per symbol, the FIRST non-empty value in the rows (the last would carry a later
    # reclassification back to earlier dates: look-ahead), else the symbol table
    ind_names = cells.industry
    if symbol_table is not None and "industry" in symbol_table:
        fill = symbol_table["industry"].reindex(symbols).to_numpy(dtype=object)
        ind_names = np.where(pd.isna(ind_names), fill, ind_names)
    if pd.isna(ind_names).all():
        industry, industry_names, unmapped = np.zeros(len(symbols), np.int16), ["All"], []
        notes.append("industry: none given, one industry")
    else:
        industry, industry_names, unmapped = map_industries(ind_names, sectors)
        notes.append(
            f"industry: {sectors} sectors" + (f"; unmapped -> Unknown: {unmapped}" if unmapped else "")
        )

    uni_all = all_universe(listed, suspended, carry.since_trade)
    st = np.zeros(shape, dtype=bool)
    # index candidates: at least 60 bars (CSI excludes fresh listings); stocks trading on the
    # data's first day were listed before it and count as seasoned
    on_day_one = carry.first_day | ((first == 0) & (carry.row == 0))
    eligible = uni_all & traded & ((bar_no >= SEASONED_BARS) | on_day_one[None])
    member, weight = build_indexes(dates, size, cap.astype(np.float32), eligible, tiers, listed, carry.cap)
    in_universe = np.concatenate([uni_all[None], member], axis=0)

    # the row industries as codes into attrs input_industry_names (-1: none), for datasets.append
    row_ind = pd.Series(cells.industry, dtype=object)
    input_names = sorted({str(n) for n in row_ind.dropna()})
    input_industry = pd.Index(input_names).get_indexer(row_ind.where(row_ind.notna(), ""))
    data_vars = {
        "bars": (("date", "symbol", "field"), bars.astype(np.float32)),
        "mcap": (("date", "symbol"), cap.astype(np.float32)),
        "size": (("date", "symbol"), size),
        "industry": (("symbol",), industry.astype(np.int16)),
        "listed": (("date", "symbol"), listed),
        "suspended": (("date", "symbol"), suspended),
        "limit_up": (("date", "symbol"), limit_up),
        "limit_down": (("date", "symbol"), limit_down),
        "st": (("date", "symbol"), st),
        "breach": (("date", "symbol"), breach),
        "in_universe": (("universe", "date", "symbol"), in_universe),
        "index_weight": (("index", "date", "symbol"), weight),
        "input_amount": (("date", "symbol"), amount),
        "input_industry": (("symbol",), input_industry.astype(np.int16)),
    }
    if shares is not None and cells.shares is not None:
        data_vars["input_shares"] = (("date", "symbol"), shares)
    if mcap_in is not None:
        data_vars["input_mcap"] = (("date", "symbol"), mcap_in)
    if index_close is not None:
        data_vars["index_close"] = (("index", "date"), index_close.astype(np.float32))
    return xr.Dataset(
        data_vars,
        coords=cube_coords(dates, symbols),
        attrs={
            "source": source,
            "adjustment": "none: unadjusted prices; windows and labels are cut at `breach` days",
            "size_proxy": size_note,
            "schema_version": SCHEMA_VERSION,
            "industry_names": list(industry_names),
            "proxies": "; ".join(notes),
            "st": "not in the data: all False (5 % limit hits are still flagged as limit_up/down)",
            "index_tiers": list(tiers),
            "index_rule": (
                "monthly: on a month's first day rank stocks in 'all' with >= 60 bars (or present on "
                "day 1) by the previous day's size; top tiers -> csi300 / csi500 / csi1000 stand-ins "
                "(disjoint); weights = proxy cap"
            ),
            # what datasets.append needs to continue this cube exactly as one ingest would
            "ingest_columns": sorted(str(c) for c in columns),
            "ingest_derivation": DERIVATION,
            "ingest_size_proxy": size_proxy,
            "ingest_sectors": sectors,
            "ingest_symbol_table": symbol_table is not None,
            "input_industry_names": input_names,
        },
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
    raise _fail(
        where[1][0],
        where[1][1],
        "date",
        f"duplicate (date, symbol) ({pd.Timestamp(d0).date()}, {s0}); "
        f"also in {where[0][0]} row {where[0][1]}",
    )


def _provenance_name(path: str | Path) -> str:
    """``folder/file`` of an input: names the data set without the machine's own path (the cube is shared)."""
    p = Path(path).resolve()
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def ingest(
    files: Sequence[str | os.PathLike],
    symbols_file: str | os.PathLike | None = None,
    index_file: str | os.PathLike | None = None,
    size_proxy: str = "amount20",
    sectors: str = "sw28",
) -> xr.Dataset:
    """Read, check and combine long-format ``files`` (plus optional symbol and index tables) into a cube."""
    if not files:
        raise DataError("ingest: no input files given")
    frames = [read_long(f) for f in files]
    cols = set.intersection(*(set(f.columns) for f in frames))
    df = pd.concat([f[[c for c in f.columns if c in cols]] for f in frames], ignore_index=True)
    if len(frames) > 1:
        _check_across_files(df, files, [len(f) for f in frames])
    table = read_symbol_table(symbols_file) if symbols_file else None
    idx = read_index_table(index_file) if index_file else None
    source = "ingest of " + ", ".join(_provenance_name(f) for f in files)
    if table is not None:
        source += f"; symbols {_provenance_name(symbols_file)}"
    if index_file:
        source += f"; indexes {_provenance_name(index_file)}"
    return build_cube(df, source, table, idx, size_proxy=size_proxy, sectors=sectors)
