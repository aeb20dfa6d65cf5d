"""Benchmark: vectorised RankIC and weekly group test against per-date pandas loops, same process.

Run: ``.venv/bin/python bench/bench_eval.py [--dates 1500] [--stocks 5000]``. Prints wall times and
the speed-up ratios, and checks that both implementations give the same numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the CI box is shared; keep BLAS to one core
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from zoo.evaluation.groups import group_backtest, tie_keys, weekly_schedule  # noqa: E402
from zoo.evaluation.ic import forward_returns, rank_ic  # noqa: E402
from zoo.evaluation.testing import tiny_cube  # noqa: E402


def make(n_dates: int, n_stocks: int, seed: int = 0) -> tuple[xr.Dataset, xr.DataArray]:
    """A random-walk market with gaps and limit flags, and a weakly informative score."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0003, 0.02, (n_dates, n_stocks)).astype(np.float32)
    close = 10 * np.exp(np.cumsum(ret, axis=0))
    close[rng.random(close.shape) < 0.01] = np.nan
    limit_up = rng.random(close.shape) < 0.01
    dates = pd.bdate_range("2017-01-02", periods=n_dates)
    cube = tiny_cube(close, dates=dates, limit_up=limit_up)
    nxt = np.vstack([ret[1:], np.zeros((1, n_stocks), np.float32)])
    score = nxt + rng.normal(0, 0.1, close.shape).astype(np.float32)
    score = xr.DataArray(
        score, dims=("date", "symbol"), coords={"date": dates, "symbol": cube["symbol"].values}
    )
    return cube, score


def rank_ic_loop(score: xr.DataArray, returns: xr.DataArray) -> pd.Series:
    """Reference: one pandas Spearman correlation per date."""
    s = score.to_pandas()
    r = returns.to_pandas()
    out = {}
    for d in s.index:
        pair = pd.DataFrame({"s": s.loc[d], "r": r.loc[d]}).dropna()
        out[d] = pair["s"].corr(pair["r"], method="spearman") if len(pair) >= 10 else np.nan
    return pd.Series(out)


def groups_loop(score: xr.DataArray, cube: xr.Dataset, n_groups: int) -> pd.DataFrame:
    """Reference: per week, pandas ranks of tradable scored stocks and daily group returns by groupby."""
    raw = cube["bars"].sel(field="close").values.astype(np.float64)
    close = pd.DataFrame(raw).ffill().to_numpy()
    blocked = cube["limit_up"].values | cube["limit_down"].values | cube["suspended"].values | np.isnan(raw)
    signal, trade = weekly_schedule(cube["date"].values)
    sc = score.values
    parts = []
    for k in range(len(signal) - 1):
        ok = ~blocked[trade[k]] & np.isfinite(sc[signal[k]]) & np.isfinite(raw[signal[k]])
        s = sc[signal[k], ok]
        # the same equal-count rule as evaluation.groups.assign_groups: ties in the order of tie_keys
        key = tie_keys(cube["date"].values[signal[k] : signal[k] + 1], cube["symbol"].values[ok])[0]
        rank = np.empty(len(s))
        rank[np.lexsort((key, s))] = np.arange(1, len(s) + 1)
        g = pd.Series(np.floor((rank - 0.5) / len(s) * n_groups).astype(int) + 1)
        days = np.arange(trade[k], trade[k + 1] + 1)
        rel = pd.DataFrame(close[days][:, ok] / close[trade[k], ok])
        value = rel.T.groupby(g.to_numpy()).mean().T
        daily = (value / value.shift(1) - 1).iloc[1:]
        daily.index = cube["date"].values[days[1:]]
        parts.append(daily)
    return pd.concat(parts)


def main() -> None:
    """Time both implementations and print ratios."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dates", type=int, default=1500)
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--groups", type=int, default=20)
    args = ap.parse_args()
    cube, score = make(args.dates, args.stocks)
    fwd = forward_returns(cube, 10)

    t0 = time.perf_counter()
    ic_fast = rank_ic(score, fwd)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ic_ref = rank_ic_loop(score, fwd)
    t_ref = time.perf_counter() - t0
    diff = np.nanmax(np.abs(ic_fast.to_numpy() - ic_ref.reindex(ic_fast.index).to_numpy()))
    print(
        f"RankIC {args.dates} dates x {args.stocks} stocks: "
        f"vectorised {t_fast:.2f}s, pandas loop {t_ref:.2f}s,"
    )
    print(f"  speed-up x{t_ref / t_fast:.1f}, max |difference| {diff:.2e}")

    six_years = min(args.dates, 6 * 252)
    sub, sc = cube.isel(date=slice(0, six_years)), score.isel(date=slice(0, six_years))
    t0 = time.perf_counter()
    res = group_backtest(sc, sub, args.groups)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = groups_loop(sc, sub, args.groups)
    t_ref = time.perf_counter() - t0
    common = ref.index.intersection(res.returns.index)
    cols = list(range(1, args.groups + 1))
    gdiff = np.nanmax(np.abs(res.returns.loc[common, cols].to_numpy() - ref.loc[common, cols].to_numpy()))
    print(
        f"Weekly group test, {six_years} days x {args.stocks} stocks, {args.groups} groups (daily returns):"
    )
    print(
        f"  vectorised {t_fast:.2f}s, per-week pandas loop {t_ref:.2f}s, speed-up x{t_ref / t_fast:.1f}, "
        f"max |daily return difference| {gdiff:.2e} over {len(common)} days"
    )


if __name__ == "__main__":
    main()
