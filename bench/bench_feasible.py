"""Synthetic-market signal strength (not a test): oracle, feasible oracle and one-line factors.

Run: ``python bench/bench_feasible.py [--stocks 300 1000] [--strengths 1 2 2.5 3]``. For each market
(seed 0, the default dates) it prints the mean daily 10-day RankIC over the test days 2020-2022
(universe ``all``, not suspended, against ``label_raw``) of the planted oracle, the feasible oracle
(``datasets.feasible``) and five one-line factors computed from closes up to t, and the Kalman
filter's run time as a ratio to generating the market in the same process.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.datasets.feasible import ensure_feasible, feasible_rank_ic  # noqa: E402
from zoo.datasets.labels import ensure_labels, rank_ic_series  # noqa: E402
from zoo.datasets.synth import make_market, oracle_rank_ic  # noqa: E402

TEST = slice("2020-01-01", "2022-12-31")


def one_line_factors(cube) -> dict[str, np.ndarray]:
    """(D, S) scores from closes up to t: reversal, momentum, low volatility, size-group momentum."""
    close = pd.DataFrame(cube["bars"].sel(field="close").values).ffill()
    logret = np.log(close / close.shift(1))
    mom = np.log(close.shift(5) / close.shift(65)).to_numpy()
    # 60-day momentum (skipping the last 5 days) net of its size-quintile mean of the day
    pct = pd.DataFrame(cube["size"].values).rank(axis=1, pct=True).to_numpy()
    group = np.floor(np.nan_to_num(pct, nan=0.0) * 4.999)
    rel = np.full_like(mom, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # dates before 65 days of history
        for g in range(5):
            inside = group == g
            mean = np.nanmean(np.where(inside, mom, np.nan), axis=1, keepdims=True)
            rel = np.where(inside, mom - mean, rel)
    return {
        "reversal 5d": -np.log(close / close.shift(5)).to_numpy(),
        "momentum 20d": np.log(close / close.shift(20)).to_numpy(),
        "momentum 60d skip 5": mom,
        "low vol 20d": -logret.rolling(20).std().to_numpy(),
        "size-group momentum 60d": rel,
    }


def bench_market(n_stocks: int, strength: float) -> None:
    """Print the oracle, the feasible oracle and the one-line factors of one market."""
    t0 = time.perf_counter()
    cube = ensure_labels(make_market(n_stocks=n_stocks, seed=0, signal_strength=strength), (10,))
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    cube = ensure_feasible(cube)
    filt = time.perf_counter() - t0
    test = np.isin(cube["date"].values, cube["date"].sel(date=TEST).values)
    label = cube["label_raw"].sel(horizon=10).values[test]
    members = (cube["in_universe"].sel(universe="all").values & ~cube["suspended"].values)[test]
    factors = {
        name: float(np.nanmean(rank_ic_series(score[test], label, members)))
        for name, score in one_line_factors(cube).items()
    }
    print(
        f"{n_stocks} stocks, signal_strength {strength:g}: oracle {oracle_rank_ic(cube, 10, TEST):.4f}, "
        f"feasible oracle {feasible_rank_ic(cube, 10, TEST):.4f}; "
        + ", ".join(f"{k} {v:.4f}" for k, v in factors.items())
        + f"; filter {filt:.1f}s = {filt / gen:.2f}x generating the market with labels ({gen:.1f}s)",
        flush=True,
    )


def main() -> None:
    """Run the sweep."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stocks", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--strengths", type=float, nargs="+", default=[1.0, 2.0, 2.5, 3.0])
    args = ap.parse_args()
    for n in args.stocks:
        for s in args.strengths:
            bench_market(n, s)


if __name__ == "__main__":
    main()
