"""Derive a cube from its input cells: one named step per derivation, each causal.

``Cells`` are the per-cell input panels every reader ends in (``datasets.readers``, pivoted by
``datasets.ingest``; rebuilt from a store by ``datasets.append``). ``derive_cube`` runs the steps in
order: adjustment (factors enter here, once), listing, price limits (raw prices), breaches, size and
proxy cap, industries, universes and indexes; then it assembles the dataset. Everything across dates
reads a row and the state above it only (``datasets.carry.Carry``), so a window that starts
mid-history gives the rows one derivation of everything gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets.carry import AMOUNT_MIN_BARS, AMOUNT_WINDOW, SEASONED_BARS, Carry
from zoo.datasets.panel import ffill, trailing_mean
from zoo.datasets.schema import INDEXES, SCHEMA_VERSION, cube_coords
from zoo.datasets.sectors import map_industries
from zoo.datasets.universes import REAL_TIERS, all_universe, build_indexes, member_weights

BREACH_MARGIN = 0.012
SIZE_PROXIES = ("amount20", "cap")
#: Version of ``derive_cube``'s arithmetic, stored in attrs: ``datasets.append`` continues only a cube
#: derived by this version or an older one (2: window-local 20-day means, carried state, causal cap
#: imputation; 3: adjustment factors, st, real membership). A cube without those inputs records 2,
#: since its arithmetic is unchanged; one with them records 3, which a zoo before them refuses.
DERIVATION = 3
_PLAIN_DERIVATION = 2
UNADJUSTED = "none: unadjusted prices; windows and labels are cut at `breach` days"
ADJUSTED = (
    "backward-adjusted from each stock's first bar: prices x factor / factor at that bar, volume / "
    "the same ratio (causal: a value at t uses factors up to t); raw prices in `raw_bars`; limits and "
    "proxy caps from raw prices, breaches from adjusted closes"
)


@dataclasses.dataclass
class Cells:
    """What a cube derives from, cell by cell: the (D, S) panels of the input rows, no cross-date step yet.

    ``ingest`` pivots a long frame into these; ``datasets.append`` rebuilds the stored part from a
    cube's own arrays and ``input_*`` variables and pivots only the new rows, so one ``derive_cube``
    serves both and an append equals one ingest of everything.
    """

    bars: np.ndarray  # (D, S, 6) float32 RAW: open, high, low, close, vwap (after its fallbacks), volume
    amount: np.ndarray  # (D, S) float64: traded amount (given, else vwap x volume), NaN without a bar
    shares: np.ndarray | None  # (D, S) float64 shares column (NaN without a row), None without one
    mcap: np.ndarray | None  # (D, S) float64 mcap column, None without one
    breach: np.ndarray | None  # (D, S) bool limit_breach column, None without one
    industry: np.ndarray  # (S,) object: each symbol's first non-empty industry in row order, or None
    factor: np.ndarray | None = None  # (D, S) float64 adjustment factor as given (NaN without a bar)
    factor_base: np.ndarray | None = None  # (S,) float64: each symbol's factor on its first bar
    st: np.ndarray | None = None  # (D, S) bool st column, None without one
    members: dict[str, np.ndarray] | None = None  # index name -> (D, S) bool real membership


@dataclasses.dataclass
class Listing:
    """Which cells trade, since when, and the previous traded raw close (step ``listing``)."""

    traded: np.ndarray  # (D, S) bool: a bar
    first: np.ndarray  # (S,) row of the first bar in the window (D if none)
    listed: np.ndarray  # (D, S) bool
    suspended: np.ndarray  # (D, S) bool
    close: np.ndarray  # (D, S) float64 raw close
    prev_close: np.ndarray  # (D, S) float64 previous traded raw close
    bar_no: np.ndarray  # (D, S) bars so far (1 on a stock's first bar)
    has_prev: np.ndarray  # (D, S) bool: traded with a previous close


@dataclasses.dataclass
class Size:
    """Step ``size_and_cap``: the 20-day mean amount, proxy cap, size and the inputs an append keeps."""

    amount: np.ndarray
    cap: np.ndarray
    size: np.ndarray
    shares: np.ndarray | None
    mcap_in: np.ndarray | None
    note: str


def input_notes(columns: Sequence[str]) -> list[str]:
    """The vwap and amount proxies the input columns imply."""
    if "vwap" in columns:
        notes = ["vwap: given"]
    elif "amount" in columns:
        notes = ["vwap: amount / volume"]
    else:
        notes = ["vwap: typical price (high + low + close) / 3"]
    if "amount" not in columns:
        notes.append("amount: vwap x volume")
    return notes


def adjust(cells: Cells) -> np.ndarray:
    """The cube's bars: raw ones without a factor, else prices x factor / first factor, volume / that."""
    if cells.factor is None:
        return cells.bars
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = cells.factor / cells.factor_base[None]
    out = np.empty_like(cells.bars)
    out[..., :5] = (cells.bars[..., :5].astype(np.float64) * ratio[..., None]).astype(np.float32)
    out[..., 5] = (cells.bars[..., 5].astype(np.float64) / ratio).astype(np.float32)
    return out


def listing(cells: Cells, carry: Carry, n_dates: int) -> Listing:
    """Listed from the first bar on; suspended = listed without a bar; previous traded raw close."""
    close = cells.bars[..., 3].astype(np.float64)
    traded = np.isfinite(close)
    pos = np.arange(n_dates)[:, None]
    first = np.where(traded.any(0), np.argmax(traded, axis=0), n_dates)
    # listed from the first bar on: whether a stock ever trades again is not known at t, so a
    # delisting shows as a suspension (and leaves "all" once it passes LONG_SUSPENSION_DAYS)
    listed = carry.listed[None] | (pos >= first[None])
    close_ff = ffill(close, carry.close)
    prev_close = np.concatenate([carry.close[None], close_ff[:-1]])
    bar_no = carry.bars[None] + np.cumsum(traded, axis=0)
    has_prev = traded & (bar_no > 1) & np.isfinite(prev_close)
    return Listing(traded, first, listed, listed & ~traded, close, prev_close, bar_no, has_prev)


def price_limits(symbols: np.ndarray, dates: pd.DatetimeIndex) -> np.ndarray:
    """(D, S) daily price limit by board: 20 % for 688/689, and 300/301 from 2020-08-24; else 10 %."""
    sym = pd.Series(symbols)
    star = sym.str.match(r"^68[89]").to_numpy()
    chinext = sym.str.match(r"^30[01]").to_numpy()
    after = np.asarray(dates >= pd.Timestamp("2020-08-24"))[:, None]
    return np.where(star[None] | (chinext[None] & after), 0.20, 0.10)


def limit_flags(lst: Listing, limit: np.ndarray, st: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``limit_up``, ``limit_down``: the raw close at the rounded limit from the previous raw close.

    Without an st input both the board limit and the 5 % (ST) limit count; with one, each stock's own.
    """
    close, prev = lst.close, lst.prev_close
    with np.errstate(invalid="ignore", divide="ignore"):
        move = close / prev - 1.0
        tol = 0.0051
        at_main_up = np.abs(close - np.round(prev * (1 + limit), 2)) < tol
        at_st_up = np.abs(close - np.round(prev * 1.05, 2)) < tol
        at_main_dn = np.abs(close - np.round(prev * (1 - limit), 2)) < tol
        at_st_dn = np.abs(close - np.round(prev * 0.95, 2)) < tol
    if st is None:
        at_up, at_dn = at_main_up | at_st_up, at_main_dn | at_st_dn
    else:
        at_up, at_dn = np.where(st, at_st_up, at_main_up), np.where(st, at_st_dn, at_main_dn)
    return lst.has_prev & (move > 0) & at_up, lst.has_prev & (move < 0) & at_dn


def breaches(
    cells: Cells, bars: np.ndarray, lst: Listing, limit: np.ndarray, carry: Carry
) -> tuple[np.ndarray, str]:
    """Where the price series jumps beyond the limit: the column, else raw (no factor) or adjusted closes."""
    if cells.breach is not None and cells.factor is None:
        return cells.breach, "breach: limit_breach column"
    close, prev = lst.close, lst.prev_close
    what = "close"
    if cells.factor is not None:
        close = bars[..., 3].astype(np.float64)
        prev = np.concatenate([carry.adj_close[None], ffill(close, carry.adj_close)[:-1]])
        what = "adjusted close" + ("; limit_breach column ignored" if cells.breach is not None else "")
    with np.errstate(invalid="ignore", divide="ignore"):
        move = close / prev - 1.0
    breach = lst.has_prev & (lst.bar_no > 5) & (np.abs(move) > limit + BREACH_MARGIN)
    return breach, f"breach: |{what}/prev - 1| > limit + {BREACH_MARGIN:.1%} (after a stock's 5th bar)"


def size_and_cap(
    cells: Cells,
    lst: Listing,
    carry: Carry,
    symbols: np.ndarray,
    symbol_table: pd.DataFrame | None,
    size_proxy: str,
    notes: list[str],
) -> Size:
    """Causal 20-day mean amount, proxy cap (raw close x shares, or imputed from turnover) and size."""
    listed, traded = lst.listed, lst.traded
    shape = listed.shape
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
        cap = ffill(lst.close, carry.close) * shares
    else:
        cap = np.full(shape, np.nan)
    cap = _impute_cap(cap, amount20, cells.mcap is not None or shares is not None, notes)
    cap = np.where(listed, cap, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.log(amount20) if size_proxy == "amount20" else np.log(cap)
    size = np.where(listed & np.isfinite(size), size, np.nan).astype(np.float32)
    note = (
        "log of the 20-trading-day mean amount (liquidity size; at least 5 bars), carried over suspensions"
        if size_proxy == "amount20"
        else "log of the proxy cap (see cap notes)"
    )
    return Size(amount, cap, size, shares, mcap_in, note)


def _impute_cap(cap: np.ndarray, amount20: np.ndarray, has_input: bool, notes: list[str]) -> np.ndarray:
    """Where the cap is unknown: the 20-day mean amount over that day's median turnover (or itself)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        known = np.isfinite(cap) & (cap > 0) & np.isfinite(amount20)
        ratio = np.where(known, amount20 / cap, np.nan)
        with_ratio = np.isfinite(ratio).any(axis=1)
        med_turn = np.full(len(cap), np.nan)
        med_turn[with_ratio] = np.nanmedian(ratio[with_ratio], axis=1)
        imputed = ~known & np.isfinite(amount20)
        if has_input:  # a column, not the data: causal
            notes.append("cap where unknown: 20-day mean amount / that day's median turnover")
            return np.where(imputed, amount20 / med_turn[:, None], cap)
        notes.append("cap: 20-day mean amount (no caps or shares given)")
        return np.where(imputed, amount20, cap)


def industries(
    cells: Cells, symbols: np.ndarray, symbol_table: pd.DataFrame | None, sectors: str, notes: list[str]
) -> tuple[np.ndarray, list[str]]:
    """Per symbol, its FIRST non-empty industry in the rows (a later one is look-ahead), else the table's."""
    ind_names = cells.industry
    if symbol_table is not None and "industry" in symbol_table:
        fill = symbol_table["industry"].reindex(symbols).to_numpy(dtype=object)
        ind_names = np.where(pd.isna(ind_names), fill, ind_names)
    if pd.isna(ind_names).all():
        notes.append("industry: none given, one industry")
        return np.zeros(len(symbols), np.int16), ["All"]
    industry, names, unmapped = map_industries(ind_names, sectors)
    notes.append(f"industry: {sectors} sectors" + (f"; unmapped -> Unknown: {unmapped}" if unmapped else ""))
    return industry, list(names)


def universes(
    cells: Cells,
    dates: pd.DatetimeIndex,
    lst: Listing,
    sz: Size,
    st: np.ndarray,
    carry: Carry,
    tiers: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """``all`` and the indexes: real membership where given, else the monthly size-ranked stand-ins."""
    uni_all = all_universe(lst.listed, lst.suspended, carry.since_trade)
    # index candidates: at least 60 bars (CSI excludes fresh listings); stocks trading on the
    # data's first day were listed before it and count as seasoned
    on_day_one = carry.first_day | ((lst.first == 0) & (carry.row == 0))
    eligible = uni_all & lst.traded & ((lst.bar_no >= SEASONED_BARS) | on_day_one[None]) & ~st
    cap = sz.cap.astype(np.float32)
    member, weight = build_indexes(dates, sz.size, cap, eligible, tiers, lst.listed, carry.cap)
    for name, real in (cells.members or {}).items():
        i = INDEXES.index(name)
        member[i] = real
        weight[i] = member_weights(real, cap, carry.cap)
    return np.concatenate([uni_all[None], member], axis=0), weight


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
    membership: dict[str, str] | None = None,
) -> xr.Dataset:
    """The cube from its input cells: the steps above, in order, then the dataset.

    ``carry`` is the state above the first of ``dates`` (None: they start the history), which lets
    ``datasets.append`` re-derive only the last weeks of a store. ``membership`` names, per index
    with real membership in ``cells.members``, where it came from (for attrs and ``zoo data info``).
    """
    if carry is None:
        carry = Carry.empty(len(symbols), cells.shares is not None, cells.mcap is not None)
    notes = input_notes(columns)
    bars = adjust(cells)
    lst = listing(cells, carry, len(dates))
    limit = price_limits(symbols, dates)
    limit_up, limit_down = limit_flags(lst, limit, cells.st)
    breach, note = breaches(cells, bars, lst, limit, carry)
    notes.append(note)
    sz = size_and_cap(cells, lst, carry, symbols, symbol_table, size_proxy, notes)
    industry, industry_names = industries(cells, symbols, symbol_table, sectors, notes)
    st = np.zeros(lst.listed.shape, dtype=bool) if cells.st is None else cells.st
    in_universe, weight = universes(cells, dates, lst, sz, st, carry, tiers)
    masks = dict(
        listed=lst.listed,
        suspended=lst.suspended,
        limit_up=limit_up,
        limit_down=limit_down,
        st=st,
        breach=breach,
    )
    data_vars = _data_vars(cells, bars, sz, industry, masks, in_universe, weight, index_close)
    attrs = _attrs(source, sz.note, notes, industry_names, tiers, columns, size_proxy, sectors, symbol_table)
    attrs.update(_provenance(cells, data_vars, membership))
    return xr.Dataset(data_vars, coords=cube_coords(dates, symbols), attrs=attrs)


def _data_vars(cells, bars, sz, industry, masks, in_universe, weight, index_close) -> dict:
    """The dataset's variables: arrays, masks, universes and the input cells an append continues from."""
    dims2 = ("date", "symbol")
    data_vars = {
        "bars": (("date", "symbol", "field"), bars.astype(np.float32)),
        "mcap": (dims2, sz.cap.astype(np.float32)),
        "size": (dims2, sz.size),
        "industry": (("symbol",), industry.astype(np.int16)),
        **{k: (dims2, v) for k, v in masks.items()},
        "in_universe": (("universe", "date", "symbol"), in_universe),
        "index_weight": (("index", "date", "symbol"), weight),
        "input_amount": (dims2, sz.amount),
        "input_industry": (("symbol",), _industry_codes(cells.industry)[0].astype(np.int16)),
    }
    if sz.shares is not None and cells.shares is not None:
        data_vars["input_shares"] = (dims2, sz.shares)
    if sz.mcap_in is not None:
        data_vars["input_mcap"] = (dims2, sz.mcap_in)
    if index_close is not None:
        data_vars["index_close"] = (("index", "date"), index_close.astype(np.float32))
    if cells.factor is not None:
        data_vars["raw_bars"] = (("date", "symbol", "field"), cells.bars.astype(np.float32))
        data_vars["input_factor"] = (dims2, cells.factor)
        data_vars["input_factor_base"] = (("symbol",), cells.factor_base)
    return data_vars


def _industry_codes(industry: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The row industries as codes into attrs ``input_industry_names`` (-1: none), for ``datasets.append``."""
    row_ind = pd.Series(industry, dtype=object)
    names = sorted({str(n) for n in row_ind.dropna()})
    return pd.Index(names).get_indexer(row_ind.where(row_ind.notna(), "")), names


def _attrs(
    source, size_note, notes, industry_names, tiers, columns, size_proxy, sectors, symbol_table
) -> dict:
    """Provenance attrs and what ``datasets.append`` needs to continue the cube as one ingest would."""
    return {
        "source": source,
        "adjustment": UNADJUSTED,
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
        "ingest_columns": sorted(str(c) for c in columns),
        "ingest_derivation": _PLAIN_DERIVATION,
        "ingest_size_proxy": size_proxy,
        "ingest_sectors": sectors,
        "ingest_symbol_table": symbol_table is not None,
    }


def _provenance(cells: Cells, data_vars: dict, membership: dict[str, str] | None) -> dict:
    """Attrs that depend on the inputs given: industry names, adjustment, st, real index membership."""
    out: dict = {"input_industry_names": _industry_codes(cells.industry)[1]}
    if cells.factor is not None or cells.st is not None or cells.members:
        out["ingest_derivation"] = DERIVATION
    if cells.factor is not None:
        out["adjustment"] = ADJUSTED
    if cells.st is not None:
        out["st"] = "st column (the 5 % limit applies to ST stocks only)"
    if cells.members:
        out["index_membership"] = {
            name: (membership or {}).get(name, "real: given") if name in cells.members else "stand-in"
            for name in INDEXES
        }
    return out
