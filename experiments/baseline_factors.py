"""RankIC of every registered baseline factor on a cube, over the whole universe (not masked to a model).

    python experiments/baseline_factors.py [--data embedded] [--start 2020-01-01] [--end 2022-12-31]
        [--horizon 10] [--universe all] [--out results/evaluation/baseline-factors.csv]

Uses the shipped code only: the factors through the registry, forward returns, ``rank_ic`` and
``ic_summary`` from ``zoo.evaluation.ic``. Writes one CSV row per factor and prints it with the commit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from common import write_csv
from zoo.datasets import open_cube
from zoo.evaluation.ic import forward_returns, ic_summary, rank_ic

from zoo.registry import get_registry


def factor_table(data: str, start: str, end: str, horizon: int, universe: str) -> pd.DataFrame:
    """One row per registered factor: RankIC, RankICIR, IC win rate, dates, coverage of the universe."""
    cube = open_cube(data)
    days = slice(start, end)
    ret = forward_returns(cube, horizon).sel(date=days)
    d = cube["date"].values
    inside = (d >= np.datetime64(start)) & (d <= np.datetime64(end))
    mask = cube["in_universe"].sel(universe=universe).transpose("date", "symbol").values.astype(bool)[inside]
    rows = []
    registry = get_registry()
    for name in registry.names("factor"):
        score = registry.build("factor", name)(cube).sel(date=days)
        summary = ic_summary(rank_ic(score, ret, mask, 10))  # at least 10 stocks a date
        coverage = float(np.isfinite(score.values)[mask].mean())
        rows.append({"factor": name, **{k: summary[k] for k in summary}, "coverage": coverage})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="embedded")
    ap.add_argument("--start", default="2020-01-01")
    ap.add_argument("--end", default="2022-12-31")
    ap.add_argument("--horizon", type=int, default=10)
    ap.add_argument("--universe", default="all")
    ap.add_argument("--out", type=Path, default=Path("results/evaluation/baseline-factors.csv"))
    a = ap.parse_args()
    table = factor_table(a.data, a.start, a.end, a.horizon, a.universe)
    write_csv(table.set_index("factor"), a.out, "python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
