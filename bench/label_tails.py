"""The 10-day label's tails and its mean-vs-rank gap by volatility quintile (docs/training.md).

    python bench/label_tails.py [STORE]

Why a squared error on z-scored labels follows volatile stocks while every rank statistic punishes them.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from zoo.datasets import open_cube
from zoo.datasets.labels import ensure_labels


def main() -> None:
    """Print the label's kurtosis and, per 20-day volatility quintile, its mean, median and rank."""
    cube = ensure_labels(open_cube(sys.argv[1] if len(sys.argv) > 1 else "embedded"), horizons=(10,))
    y = cube["label_neutral"].sel(horizon=10).values
    close = cube["bars"].sel(field="close").values.astype(np.float64)
    lr = np.full_like(close, np.nan)
    lr[1:] = np.log(close[1:] / close[:-1])
    lr[np.asarray(cube["breach"].values)] = np.nan
    vol = pd.DataFrame(lr).rolling(20, min_periods=15).std().to_numpy()
    dates = pd.DatetimeIndex(cube["date"].values)
    kurt, top, rows = [], [], []
    for t in np.flatnonzero((dates >= "2017-01-01") & (dates <= "2022-12-31")):
        ok = np.isfinite(y[t]) & np.isfinite(vol[t])
        if ok.sum() < 30:
            continue
        z = (y[t, ok] - y[t, ok].mean()) / y[t, ok].std()
        kurt.append((z**4).mean())
        top.append(np.abs(z).max())
        quint = pd.qcut(pd.Series(vol[t, ok]).rank(method="first"), 5, labels=False).to_numpy()
        pct = pd.Series(z).rank(pct=True).to_numpy()
        rows += [
            (k, z[quint == k].mean(), np.median(z[quint == k]), pct[quint == k].mean()) for k in range(5)
        ]
    print(
        f"{len(kurt)} days 2017-2022; z-scored label: mean kurtosis {np.mean(kurt):.1f} (normal: 3), "
        f"mean largest |z| {np.mean(top):.1f}"
    )
    table = pd.DataFrame(rows, columns=["vol_quintile", "mean_z", "median_z", "mean_rank_pct"])
    print(table.groupby("vol_quintile").mean().round(4).to_string())


if __name__ == "__main__":
    main()
