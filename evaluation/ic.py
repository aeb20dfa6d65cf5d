"""Cross-sectional rank IC of a score against forward returns, per date, within a universe.

Forward returns are raw by default (the report tests its factors on raw returns): the return from the
close of t+1 to the close of t+1+h, NaN where any close in between is missing or a ``breach`` falls
inside the holding period. ``label="neutral"`` reads the cube's ``label_neutral`` instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets.calc import forward_simple_returns
from zoo.evaluation.cube import check_dates, close_panel, flag_panel, require, universe_mask

from zoo.errors import EvaluationError

#: Fewer scored stocks with a return than this on a date give a NaN IC for that date.
MIN_STOCKS = 10
#: Cells per block of dates in ``cross_corr``: small temporaries stay in cache and the peak memory low.
_BLOCK_CELLS = 1 << 20
_NAN_KEY = np.uint64(0xFFFFFFFF)
#: A row whose deviations from its mean are this small relative to its values is constant: rounding
#: in the mean leaves deviations of about n * 1e-16 of the values, never exactly 0 (e.g. a row of 0.1).
_CONSTANT_RTOL = 1e-10


def forward_returns(cube: xr.Dataset, horizon: int) -> xr.DataArray:
    """Raw return close(t+1) -> close(t+1+horizon), ``(date, symbol)`` float32, NaN over gaps/breaches."""
    if int(horizon) < 1:
        raise EvaluationError(f"forward return horizon must be >= 1 day, got {horizon}")
    h = int(horizon)
    check_dates(cube, "forward returns")
    close = close_panel(cube, "forward returns")
    out = forward_simple_returns(close, flag_panel(cube, "breach"), h)
    return xr.DataArray(
        out.astype(np.float32),
        dims=("date", "symbol"),
        coords={"date": cube["date"].values, "symbol": cube["symbol"].values},
        name=f"fwd_ret_{h}",
        attrs={"horizon": h, "label": "raw"},
    )


def label_returns(cube: xr.Dataset, horizon: int, label: str = "raw") -> xr.DataArray:
    """The returns an IC is measured against: raw (computed from bars) or the cube's ``label_neutral``."""
    if label == "raw":
        return forward_returns(cube, horizon)
    if label != "neutral":
        raise EvaluationError(f"evaluate.label must be 'raw' or 'neutral', got {label!r}")
    lab = require(cube, "label_neutral", "label='neutral'")
    if int(horizon) not in [int(h) for h in lab["horizon"].values]:
        raise EvaluationError(
            f"label_neutral has horizons {[int(h) for h in lab['horizon'].values]}, not {horizon}"
        )
    return lab.sel(horizon=int(horizon)).transpose("date", "symbol").astype(np.float32)


def rank_rows(x: np.ndarray) -> np.ndarray:
    """Average ranks (from 1) of each row's non-NaN values, NaN elsewhere, as scipy's rankdata(axis=1)."""
    x = np.asarray(x, dtype=np.float64)
    n_rows, n_cols = x.shape
    if x.size == 0:
        return x.copy()
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, fails the test below
        x32 = x.astype(np.float32)
    nan = np.isnan(x32)
    if np.all((x32 == x) | nan):
        # float32-exact values (returns, stored scores): sort one uint64 per cell, the value's
        # order-preserving bits above its column; numpy sorts integers with SIMD, ~15x an argsort.
        # + 0.0 turns -0.0 into +0.0 so that the two tie, as in a float comparison.
        bits = (x32 + np.float32(0.0)).view(np.uint32)
        bits ^= np.where(bits >> 31, np.uint32(0xFFFFFFFF), np.uint32(0x80000000))
        bits[nan] = 0xFFFFFFFF  # NaN last, above +inf
        key = bits.astype(np.uint64) << np.uint64(32)
        key |= np.arange(n_cols, dtype=np.uint64)
        key.sort(axis=1)
        val = key >> np.uint64(32)
        missing = val == 0xFFFFFFFF
        col = (key & np.uint64(0xFFFFFFFF)).astype(np.intp)
    else:
        col = np.argsort(x, axis=1)  # NaN sorts last
        val = np.take_along_axis(x, col, axis=1)
        missing = np.isnan(val)
    ranks = np.empty((n_rows, n_cols))
    ranks[:] = np.arange(1, n_cols + 1, dtype=np.float64)
    # `new`: a sorted cell differs from its left neighbour; one extra True column ends every row
    m = n_cols + 1
    new = np.ones((n_rows, m), bool)
    np.not_equal(val[:, 1:], val[:, :-1], out=new[:, 1:-1])
    tied = ~(new[:, :-1] & new[:, 1:]) & ~missing  # in a run of two or more equal values
    if tied.any():
        # ties are rare in real scores: fix only them, each to the mean of its run's first and last place
        idx = np.flatnonzero(np.c_[tied, np.zeros(n_rows, bool)])
        first = np.maximum.accumulate(np.where(new.ravel()[idx], idx, 0))
        last = np.minimum.accumulate(np.where(new.ravel()[idx + 1], idx, idx[-1])[::-1])[::-1]
        row, c0 = np.divmod(first, m)
        ranks[row, idx - row * m] = (c0 + last % m + 2) * 0.5
    ranks[missing] = np.nan
    out = np.empty_like(ranks)
    np.put_along_axis(out, col, ranks, axis=1)
    return out


def _rowwise_corr(a: np.ndarray, b: np.ndarray, min_count: int) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b``; both NaN on the same cells."""
    ok = np.isfinite(a)
    n = ok.sum(axis=1)
    # deviations with 0 on the empty cells: plain sums then add the same terms, in the same order,
    # as nansum would, without its copy per call
    da, db = np.zeros(a.shape), np.zeros(b.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        # sum / n instead of nanmean: empty dates are expected and must not warn
        ma, mb = np.nansum(a, axis=1) / n, np.nansum(b, axis=1) / n
        np.subtract(a, ma[:, None], out=da, where=ok)
        np.subtract(b, mb[:, None], out=db, where=ok)
        num = (da * db).sum(axis=1)
        ssa, ssb = (da * da).sum(axis=1), (db * db).sum(axis=1)
        den = np.sqrt(ssa * ssb)
        out = num / den
        # sum of squares of the values = ssa + n * mean^2, so the tolerance costs no extra pass
        tol = _CONSTANT_RTOL**2
        constant = (ssa <= tol * (ssa + n * ma * ma)) | (ssb <= tol * (ssb + n * mb * mb))
    out[(n < min_count) | ~(den > 0) | constant] = np.nan
    return out


def _as_panel(x: xr.DataArray | np.ndarray, like: xr.DataArray | None) -> np.ndarray:
    """The ``(date, symbol)`` values in their own dtype (``cross_corr`` converts each block to float64)."""
    if isinstance(x, xr.DataArray):
        if like is not None:
            x = x.reindex(date=like["date"].values, symbol=like["symbol"].values)
        return x.transpose("date", "symbol").values
    return np.asarray(x)


def cross_corr(
    a: xr.DataArray | np.ndarray,
    b: xr.DataArray | np.ndarray,
    *,
    method: str = "spearman",
    mask: np.ndarray | None = None,
    min_count: int = MIN_STOCKS,
) -> np.ndarray:
    """Per-date correlation of two ``(date, symbol)`` panels over the cells where both are finite."""
    if method not in ("spearman", "pearson"):
        raise EvaluationError(f"correlation method must be 'spearman' or 'pearson', got {method!r}")
    if isinstance(a, xr.DataArray) and isinstance(b, xr.DataArray):
        a, b = xr.align(a, b, join="inner")
        if a.sizes["date"] == 0 or a.sizes["symbol"] == 0:
            raise EvaluationError("the two panels share no (date, symbol); check the score's coordinates")
    x, y = _as_panel(a, None), _as_panel(b, None)
    if x.shape != y.shape:
        raise EvaluationError(f"panels of shapes {x.shape} and {y.shape} cannot be correlated")
    mask = None if mask is None else np.broadcast_to(np.asarray(mask, bool), x.shape)
    out = np.empty(x.shape[0])
    step = max(1, _BLOCK_CELLS // max(x.shape[1], 1))
    # blocks of dates: every date is computed alone, so blocks change no result, only the memory used
    for i in range(0, x.shape[0], step):
        xb = x[i : i + step].astype(np.float64)
        yb = y[i : i + step].astype(np.float64)
        ok = np.isfinite(xb) & np.isfinite(yb)
        if mask is not None:
            ok &= mask[i : i + step]
        xb[~ok] = np.nan
        yb[~ok] = np.nan
        if method == "spearman":
            xb, yb = rank_rows(xb), rank_rows(yb)
        out[i : i + step] = _rowwise_corr(xb, yb, min_count)
    return out


def rank_ic(
    score: xr.DataArray,
    returns: xr.DataArray,
    universe: np.ndarray | None = None,
    min_count: int = MIN_STOCKS,
) -> pd.Series:
    """Per-date Spearman correlation of ``score`` with ``returns`` (both ``(date, symbol)``), NaN-aware.

    ``universe`` is an optional boolean ``(date, symbol)`` mask on the returns' grid; dates with fewer
    than ``min_count`` usable stocks (or a constant score) give NaN.
    """
    score = score.reindex(date=returns["date"].values, symbol=returns["symbol"].values)
    if not np.isfinite(score.values).any():
        raise EvaluationError("the score has no finite value on the returns' dates and symbols")
    ic = cross_corr(score, returns.transpose("date", "symbol"), mask=universe, min_count=min_count)
    return pd.Series(ic, index=pd.DatetimeIndex(returns["date"].values, name="date"), name="rank_ic")


def ic_summary(ic: pd.Series) -> dict[str, float]:
    """RankIC mean, RankICIR (mean / std of the daily series), IC win rate (share of dates > 0), count."""
    x = ic.dropna()
    n = int(x.size)
    if n == 0:
        return {"rank_ic": np.nan, "rank_icir": np.nan, "win_rate": np.nan, "n_dates": 0}
    std = float(x.std(ddof=1)) if n > 1 else np.nan
    mean = float(x.mean())
    return {
        "rank_ic": mean,
        "rank_icir": mean / std if std and std > 0 else np.nan,
        "win_rate": float((x > 0).mean()),
        "n_dates": n,
    }


def ic_of(score: xr.DataArray, returns: xr.DataArray, min_stocks: int = 10) -> dict[str, float]:
    """RankIC, RankICIR, IC win rate and date count of ``score`` against ``returns``."""
    return ic_summary(rank_ic(score, returns, None, min_stocks))


def ic_study(
    scores: xr.DataArray,
    cube: xr.Dataset,
    horizons: tuple[int, ...] = (10, 20),
    universes: tuple[str, ...] = ("all",),
    label: str = "raw",
    min_count: int = MIN_STOCKS,
) -> tuple[pd.DataFrame, dict[tuple[str, int, str], pd.Series]]:
    """IC summaries for every model x horizon x universe: a long table and the daily IC series.

    The table has columns model, horizon, universe, rank_ic, rank_icir, win_rate, n_dates.
    """
    scores = with_model_dim(scores)
    rows, series = [], {}
    masks = {u: universe_mask(cube, u, "IC") for u in universes}
    for h in horizons:
        ret = label_returns(cube, h, label)
        for model in scores["model"].values:
            sc = scores.sel(model=model).drop_vars("model", errors="ignore")
            for u in universes:
                ic = rank_ic(sc, ret, masks[u], min_count)
                series[(str(model), int(h), u)] = ic
                rows.append({"model": str(model), "horizon": int(h), "universe": u, **ic_summary(ic)})
    return pd.DataFrame(rows), series


def ic_table(summary: pd.DataFrame, horizon: int, digits: int = 3) -> pd.DataFrame:
    """The report's Fig. 8/9 layout for one horizon: rows (universe, metric), one column per model."""
    sub = summary[summary["horizon"] == int(horizon)]
    if sub.empty:
        raise EvaluationError(
            f"no IC results for horizon {horizon}; have {sorted(summary['horizon'].unique())}"
        )
    long = sub.melt(
        id_vars=["model", "universe"], value_vars=["rank_ic", "rank_icir", "win_rate"], var_name="metric"
    )
    names = {"rank_ic": "RankIC", "rank_icir": "RankICIR", "win_rate": "IC win rate"}
    long["metric"] = long["metric"].map(names)
    table = long.pivot_table(index=["universe", "metric"], columns="model", values="value", sort=False)
    order = [(u, m) for u in dict.fromkeys(sub["universe"]) for m in names.values()]
    table = table.reindex(index=pd.MultiIndex.from_tuples(order, names=["universe", "metric"]))
    # reindex, not select: pivot_table drops a model whose every value is NaN (e.g. a constant score)
    table = table.reindex(columns=list(dict.fromkeys(sub["model"])))
    return table.round(digits)


def with_model_dim(scores: xr.DataArray) -> xr.DataArray:
    """Scores with a ``model`` dimension first (a single ``(date, symbol)`` score becomes model 'score')."""
    if not isinstance(scores, xr.DataArray):
        raise EvaluationError(f"scores must be an xarray.DataArray, got {type(scores).__name__}")
    if scores.ndim == 2:
        if set(scores.dims) != {"date", "symbol"}:
            raise EvaluationError(f"a single score must have dims (date, symbol), got {scores.dims}")
        return scores.expand_dims(model=[scores.name or "score"]).transpose("model", "date", "symbol")
    if set(scores.dims) != {"model", "date", "symbol"}:
        raise EvaluationError(f"scores must have dims (model, date, symbol), got {scores.dims}")
    return scores.transpose("model", "date", "symbol")


def ic_stats(ic: pd.Series, horizon: int = 1) -> dict[str, float]:
    """alphalens' information table of a daily IC series: mean, std, risk-adjusted, t-stat, p, skew, kurtosis.

    t-stat and p are Newey-West (``zoo.evaluation.paired.ic_test``: HAC standard error of the mean
    with ``nw_lags`` = at least ``horizon - 1`` lags, since neighbouring h-day labels overlap; two-sided
    normal p); ``nw_lags`` is the lag count; kurtosis is the excess (Fisher) kurtosis.
    """
    from scipy import stats
    from zoo.evaluation.paired import ic_test

    x = ic.dropna().to_numpy(dtype=np.float64)
    n = x.size
    keys = ("mean", "std", "risk_adjusted", "t_stat", "p_value", "nw_lags", "skew", "kurtosis")
    out = dict.fromkeys(keys, np.nan)
    out["n_dates"] = float(n)
    if n < 2:
        return out
    mean, std = float(x.mean()), float(x.std(ddof=1))
    out.update(mean=mean, std=std)
    if std > 0:
        test = ic_test(ic, horizon)
        out.update(
            risk_adjusted=mean / std,
            t_stat=test.t,
            p_value=test.p,
            nw_lags=float(test.lags),
            skew=float(stats.skew(x)),
            kurtosis=float(stats.kurtosis(x)),
        )
    return out


def monthly_ic(ic: pd.Series) -> pd.DataFrame:
    """Mean IC per calendar month: rows years, columns months 1..12 (NaN where a month has no IC)."""
    x = ic.dropna()
    idx = pd.DatetimeIndex(x.index)
    table = x.groupby([idx.year.rename("year"), idx.month.rename("month")]).mean().unstack("month")
    return table.reindex(columns=range(1, 13))


def rank_autocorrelation(
    score: xr.DataArray, rows: np.ndarray, mask: np.ndarray | None = None, min_count: int = MIN_STOCKS
) -> pd.Series:
    """Spearman correlation of the score at each of ``rows`` (dates) with the score at the previous one.

    Over the stocks scored at both dates (and in ``mask`` at the later one); alphalens' factor rank
    autocorrelation, here at the rebalance dates, so 1 - it tracks the turnover of the groups.
    """
    values = score.transpose("date", "symbol").values
    rows = np.asarray(rows)
    if rows.size < 2:
        return pd.Series([], index=pd.DatetimeIndex([], name="date"), name="rank_autocorr", dtype=float)
    later, earlier = values[rows[1:]], values[rows[:-1]]
    m = None if mask is None else np.asarray(mask)[rows[1:]]
    ac = cross_corr(later, earlier, method="spearman", mask=m, min_count=min_count)
    dates = pd.DatetimeIndex(score["date"].values[rows[1:]], name="date")
    return pd.Series(ac, index=dates, name="rank_autocorr")
