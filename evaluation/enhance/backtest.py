"""Weekly back-test of the index-enhanced portfolio: decide on the week's last trading day's score,
trade at the close of the next week's first trading day, charge costs, track NAV against the index.

Timing and accounting (all documented in docs/enhance.md):

* weeks are ISO calendar weeks of the cube's trading days; the decision date is a week's last trading
  day, the trade date the next week's first trading day, and the optimiser sees the score of the
  decision date and the cube (index weights, styles, flags, prices) of the trade date, all known at
  that close;
* a stock's daily return is close(t) / last close before t - 1 (a suspended stock earns nothing until
  it trades again); returns on ``breach`` days (unadjusted ex-rights jumps) are set to 0;
* the benchmark earns sum_i index_weight(t-1, i) * r_i(t): the stand-in index, rebalanced daily to its
  published weights, with the same returns the portfolio earns;
* cost: ``cost_rate`` on every unit of value traded, buys and sells alike; "双边千2.5" is 0.25 % for a
  buy and a sell together, so 0.125 % per side (docs/enhance.md); the NAV is multiplied by
  ``1 - cost_rate * sum|w_new - w_drifted|`` at the trade close; the initial build from cash pays it on
  the 100 % bought;
* the back-test starts in cash at the first trade date and ends at the last date with a score.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr
from attrs import define
from tqdm.auto import tqdm
from zoo.evaluation.enhance.optimizer import RebalanceInput, RebalanceResult, solve_rebalance
from zoo.evaluation.enhance.stats import enhance_stats

from zoo.errors import EvaluationError
from zoo.specs.enhance import EnhanceSpec

#: Signature of the per-rebalance solver (swappable in tests).
Solver = Callable[[RebalanceInput, EnhanceSpec], RebalanceResult]


@define
class EnhanceResult:
    """A finished back-test on one index: daily series, rebalance log, weights and Fig. 26 statistics."""

    index: str
    daily: pd.DataFrame  # date -> port_ret, bench_ret, excess_ret, nav, bench_nav, excess_nav, turnover, cost
    rebalances: pd.DataFrame  # one row per trade date
    weights: xr.DataArray  # (trade_date, symbol) post-trade weights
    pre_weights: xr.DataArray  # (trade_date, symbol) drifted pre-trade weights
    stats: pd.DataFrame  # rows = statistics, columns = "all" then each year
    skipped: tuple[pd.Timestamp, ...] = ()  # trade dates after the start without index weights (no trade)


def _require(cube: xr.Dataset, name: str) -> xr.DataArray:
    if name not in cube.variables:
        have = ", ".join(sorted(str(v) for v in cube.data_vars))
        raise EvaluationError(f"index enhancement needs the cube variable {name!r}; the cube has: {have}")
    return cube[name]


def _flag(cube: xr.Dataset, name: str) -> np.ndarray:
    """A (date, symbol) bool mask, all False when the cube lacks it (synthetic cubes have no breach)."""
    if name not in cube.variables:
        return np.zeros((cube.sizes["date"], cube.sizes["symbol"]), dtype=bool)
    return np.asarray(cube[name].transpose("date", "symbol").values, dtype=bool)


def _all_universe(cube: xr.Dataset) -> np.ndarray:
    """Membership of universe ``all`` (date, symbol): the cube's ``in_universe``, all True without it."""
    for name in ("in_universe", "universe"):  # the schema's name, then the one docs/ARCHITECTURE.md used
        var = cube.variables.get(name)
        if var is not None and {"universe", "date", "symbol"} <= set(var.dims):
            names = [str(u) for u in cube["universe"].values]
            if "all" in names:
                da = cube[name].sel(universe="all").transpose("date", "symbol")
                return np.asarray(da.values, dtype=bool)
    return np.ones((cube.sizes["date"], cube.sizes["symbol"]), dtype=bool)


def stock_returns(cube: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Daily close-to-close returns ``(date, symbol)`` (0 where unknown or on breach) and has-close mask."""
    bars = _require(cube, "bars")
    if "field" not in bars.dims or "close" not in [str(f) for f in bars["field"].values]:
        raise EvaluationError(f"index enhancement needs bars with a 'close' field; bars has dims {bars.dims}")
    close = bars.sel(field="close").transpose("date", "symbol").values.astype(np.float64)
    close[~(close > 0)] = np.nan
    has_close = np.isfinite(close)
    last = pd.DataFrame(close).ffill().to_numpy()
    ret = np.zeros_like(close)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret[1:] = close[1:] / last[:-1] - 1.0
    ret[~np.isfinite(ret)] = 0.0
    ret[_flag(cube, "breach")] = 0.0
    return ret, has_close


def week_schedule(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of (decision, trade) pairs: each ISO week's last trading day, the next week's first."""
    idx = pd.DatetimeIndex(dates)
    iso = idx.isocalendar()
    key = iso["year"].to_numpy().astype(np.int64) * 100 + iso["week"].to_numpy().astype(np.int64)
    new_week = np.flatnonzero(key[1:] != key[:-1]) + 1  # first day of each week after the first
    return new_week - 1, new_week


def benchmark_weights(cube: xr.Dataset, index: str) -> np.ndarray:
    """The stand-in index weights ``(date, symbol)``, NaN as 0."""
    iw = _require(cube, "index_weight")
    names = [str(i) for i in iw["index"].values]
    if index not in names:
        raise EvaluationError(f"unknown index {index!r}: the cube's index_weight has {names}")
    return np.nan_to_num(iw.sel(index=index).transpose("date", "symbol").values.astype(np.float64), nan=0.0)


def align_score(score: xr.DataArray, cube: xr.Dataset) -> np.ndarray:
    """The score as a float64 ``(date, symbol)`` array on the cube's coordinates (NaN where absent)."""
    if "model" in score.dims:
        if score.sizes["model"] != 1:
            raise EvaluationError(f"enhance takes one model's score; got {score.sizes['model']} models")
        score = score.isel(model=0, drop=True)
    if set(score.dims) != {"date", "symbol"}:
        raise EvaluationError(f"the score must have dims (date, symbol); got {score.dims}")
    aligned = score.reindex(date=cube["date"].values, symbol=cube["symbol"].values)
    return aligned.transpose("date", "symbol").values.astype(np.float64)


def run_backtest(
    cube: xr.Dataset,
    score: xr.DataArray,
    index: str,
    spec: EnhanceSpec | None = None,
    exposures: xr.DataArray | None = None,
    solver: Solver = solve_rebalance,
) -> EnhanceResult:
    """Back-test the enhanced portfolio of ``score`` on ``index``; timing in the module docstring."""
    spec = spec or EnhanceSpec()
    dates = np.asarray(cube["date"].values).astype("datetime64[ns]")
    symbols = np.asarray(cube["symbol"].values)
    n_sym = symbols.shape[0]
    if dates.size > 1 and not np.all(dates[1:] > dates[:-1]):
        raise EvaluationError("index enhancement: the cube's dates are not strictly ascending")
    scores = align_score(score, cube)
    scored_days = np.flatnonzero(np.isfinite(scores).any(axis=1))
    if scored_days.size == 0:
        raise EvaluationError("index enhancement: the score has no finite value on any of the cube's dates")
    last_day = int(scored_days[-1])
    bench = benchmark_weights(cube, index)
    ret, has_close = stock_returns(cube)
    suspended = _flag(cube, "suspended") | ~has_close
    if "listed" in cube.variables:
        suspended |= ~_flag(cube, "listed")
    limit_up, limit_down, st = _flag(cube, "limit_up"), _flag(cube, "limit_down"), _flag(cube, "st")
    buyable_universe = _all_universe(cube)
    industry = np.asarray(_require(cube, "industry").values).astype(np.int64)
    if industry.shape != (n_sym,):
        raise EvaluationError(f"index enhancement needs industry(symbol); got shape {industry.shape}")
    expo, style_names = _exposures(exposures, cube)

    decide, trade = week_schedule(dates)
    keep = np.isfinite(scores[decide]).any(axis=1) & (trade <= last_day)
    decide, trade = decide[keep], trade[keep]
    # No benchmark on the trade date (e.g. before the stand-in index starts): nothing to enhance,
    # the book just drifts; such weeks are listed in ``skipped``, never traded against a guess.
    has_bench = bench[trade].sum(axis=1) > 0
    first = dates[trade[has_bench][0]] if has_bench.any() else None
    skipped = tuple(pd.Timestamp(x) for x in dates[trade[~has_bench]] if first is not None and x > first)
    decide, trade = decide[has_bench], trade[has_bench]
    if trade.size == 0:
        raise EvaluationError(
            f"index enhancement on {index!r}: no week has a scored decision date followed by a trade "
            "date inside the score range on which the index has weights"
        )
    trade_of = dict(zip(trade.tolist(), decide.tolist(), strict=True))
    start = int(trade[0])
    days = np.arange(start, last_day + 1)

    w = np.zeros(n_sym)  # weights of NAV after the last close
    nav, bench_nav = 1.0, 1.0
    out = {k: np.zeros(days.size) for k in ("port_ret", "bench_ret", "turnover", "cost")}
    rows: list[dict] = []
    post, pre = np.zeros((trade.size, n_sym)), np.zeros((trade.size, n_sym))
    k = 0
    for j, t in enumerate(tqdm(days, desc=f"enhance {index}", disable=None, leave=False)):
        gross = 1.0
        if t > start:
            gross = float(w @ (1.0 + ret[t]) + (1.0 - w.sum()))
            w = w * (1.0 + ret[t]) / gross
            out["bench_ret"][j] = float(bench[t - 1] @ ret[t])
        if t in trade_of:
            d = trade_of[t]
            res, cand, turnover = _rebalance(
                t, d, w, spec, solver, scores, bench, suspended, limit_up, limit_down, st,
                buyable_universe, industry, expo, style_names, symbols, initial=not (w > 0).any(),
            )  # fmt: skip
            pre[k] = w
            w = np.zeros(n_sym)
            w[cand] = res.weights
            post[k] = w
            cost = spec.cost_rate * turnover
            out["turnover"][j], out["cost"][j] = turnover, cost
            gross *= 1.0 - cost
            rows.append(
                _log_row(dates[t], dates[d], cand, res, turnover, cost, bench[t], w, pre[k].sum() == 0)
            )
            k += 1
        out["port_ret"][j] = gross - 1.0
        nav *= gross
        bench_nav *= 1.0 + out["bench_ret"][j]

    daily = pd.DataFrame(out, index=pd.DatetimeIndex(dates[days], name="date"))
    daily["excess_ret"] = (1.0 + daily["port_ret"]) / (1.0 + daily["bench_ret"]) - 1.0
    daily["nav"] = (1.0 + daily["port_ret"]).cumprod()
    daily["bench_nav"] = (1.0 + daily["bench_ret"]).cumprod()
    daily["excess_nav"] = daily["nav"] / daily["bench_nav"]
    rebalances = pd.DataFrame(rows).set_index("trade_date")
    coords = {"trade_date": dates[trade], "symbol": symbols}
    weights = xr.DataArray(post, dims=("trade_date", "symbol"), coords=coords, name="weight")
    pre_weights = xr.DataArray(pre, dims=("trade_date", "symbol"), coords=coords, name="pre_weight")
    stats = enhance_stats(
        daily, rebalances, days_per_year=spec.days_per_year, calendar=pd.DatetimeIndex(dates)
    )
    return EnhanceResult(index, daily, rebalances, weights, pre_weights, stats, skipped)


def _exposures(exposures: xr.DataArray | None, cube: xr.Dataset) -> tuple[np.ndarray, tuple[str, ...]]:
    """Style exposures as a float64 ``(style, date, symbol)`` array on the cube's coordinates."""
    if exposures is None:
        return np.zeros((0, cube.sizes["date"], cube.sizes["symbol"])), ()
    if set(exposures.dims) != {"style", "date", "symbol"}:
        raise EvaluationError(f"style exposures must have dims (style, date, symbol); got {exposures.dims}")
    aligned = exposures.reindex(date=cube["date"].values, symbol=cube["symbol"].values)
    names = tuple(str(s) for s in aligned["style"].values)
    return aligned.transpose("style", "date", "symbol").values.astype(np.float64), names


def _rebalance(
    t: int,
    d: int,
    w: np.ndarray,
    spec: EnhanceSpec,
    solver: Solver,
    scores: np.ndarray,
    bench: np.ndarray,
    suspended: np.ndarray,
    limit_up: np.ndarray,
    limit_down: np.ndarray,
    st: np.ndarray,
    buyable_universe: np.ndarray,
    industry: np.ndarray,
    expo: np.ndarray,
    style_names: tuple[str, ...],
    symbols: np.ndarray,
    initial: bool,
) -> tuple[RebalanceResult, np.ndarray, float]:
    """Pick trade day ``t``'s candidates (score of day ``d``), solve: (result, candidates, turnover)."""
    s = scores[d]
    members = bench[t] > 0
    # limit-down is as unbuyable as limit-up: the report excludes both ("剔除 ST、涨跌停、停牌股票")
    buyable = buyable_universe[t] & ~suspended[t] & ~limit_up[t] & ~limit_down[t] & ~st[t] & np.isfinite(s)
    outside = np.flatnonzero(buyable & ~members & ~(w > 0))
    if outside.size > spec.max_outside:
        # argpartition keeps this O(n); the top-scored non-members are the only useful outside buys.
        outside = outside[np.argpartition(-s[outside], spec.max_outside - 1)[: spec.max_outside]]
    cand = np.union1d(np.flatnonzero(members | (w > 0)), outside)
    inp = RebalanceInput(
        symbols=symbols[cand],
        score=s[cand],
        bench=bench[t, cand],
        prev=w[cand],
        industry=industry[cand],
        exposures=expo[:, t, cand],
        style_names=style_names,
        suspended=suspended[t, cand],
        limit_up=limit_up[t, cand],
        limit_down=limit_down[t, cand],
        st=st[t, cand],
        initial=initial,
    )
    res = solver(inp, spec)
    turnover = float(np.abs(res.weights - w[cand]).sum())
    return res, cand, turnover


def _log_row(
    trade_date: np.datetime64,
    decision_date: np.datetime64,
    cand: np.ndarray,
    res: RebalanceResult,
    turnover: float,
    cost: float,
    bench: np.ndarray,
    w: np.ndarray,
    initial: bool,
) -> dict:
    """One line of the rebalance log."""
    return {
        "trade_date": pd.Timestamp(trade_date),
        "decision_date": pd.Timestamp(decision_date),
        "initial": initial,
        "n_candidates": int(cand.size),
        "n_held": int((w > 1e-9).sum()),
        "status": res.status,
        "relaxed": ";".join(res.relaxed),
        "n_pinned": res.n_pinned,
        "solver": res.solver,
        "solve_seconds": res.solve_seconds,
        "turnover": turnover,
        "cost": cost,
        "invested": float(w.sum()),
        "constituent_weight": float(w[bench > 0].sum()),
        "active_share": 0.5 * float(np.abs(w - bench).sum()),
        "messages": " | ".join(res.messages),
    }
