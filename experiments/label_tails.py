"""The 10-day label's tails and its mean-vs-rank gap by volatility quintile.

    python experiments/label_tails.py [STORE] [--out tails.csv]

Why a squared error on z-scored labels follows volatile stocks while every rank statistic punishes them
(results/training/evidence-of-skill.md).
The volatility is the registered ``low_vol_20`` factor's (minus it), through the registry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from common import write_csv
from zoo.datasets import open_cube
from zoo.datasets.labels import ensure_labels

from zoo.registry import get_registry


def day_rows(z: np.ndarray, vol: np.ndarray) -> list[tuple]:
    """Per volatility quintile of one day: mean and median z-scored label, mean rank percentile."""
    quint = pd.qcut(pd.Series(vol).rank(method="first"), 5, labels=False).to_numpy()
    pct = pd.Series(z).rank(pct=True).to_numpy()
    return [(k, z[quint == k].mean(), np.median(z[quint == k]), pct[quint == k].mean()) for k in range(5)]


def main() -> None:
    """Print the label's kurtosis and, per 20-day volatility quintile, its mean, median and rank."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", nargs="?", default="embedded")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    cube = ensure_labels(open_cube(a.store), horizons=(10,))
    y = cube["label_neutral"].sel(horizon=10).transpose("date", "symbol").values
    vol = -get_registry().build("factor", "low_vol_20")(cube).values.astype(np.float64)
    dates = pd.DatetimeIndex(cube["date"].values)
    kurt, top, rows = [], [], []
    for t in np.flatnonzero((dates >= "2017-01-01") & (dates <= "2022-12-31")):
        ok = np.isfinite(y[t]) & np.isfinite(vol[t])
        if ok.sum() < 30:
            continue
        z = (y[t, ok] - y[t, ok].mean()) / y[t, ok].std()
        kurt.append((z**4).mean())
        top.append(np.abs(z).max())
        rows += day_rows(z, vol[t, ok])
    print(
        f"{len(kurt)} days 2017-2022; z-scored label: mean kurtosis {np.mean(kurt):.1f} (normal: 3), "
        f"mean largest |z| {np.mean(top):.1f}"
    )
    table = pd.DataFrame(rows, columns=["vol_quintile", "mean_z", "median_z", "mean_rank_pct"])
    write_csv(table.groupby("vol_quintile").mean().round(4), a.out, "python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
