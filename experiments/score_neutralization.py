"""What size + industry neutralisation of a factor does to its raw 10-day RankIC: models and baselines.

    python experiments/score_neutralization.py STUDY [--uri sqlite:///mlflow.db] [--data embedded]

For each parent run of the study (its ensemble score, as logged) and each default baseline factor on
exactly the models' cells: the mean daily RankIC against raw forward returns (universe ``all``) of the
score as it is and of the score residualised per date on log size + industry dummies (the label's
regression, ``datasets.labels.neutralize``), overall and per test year. Evidence for
``train.neutralize_scores`` (results/training/evidence-of-skill.md); not a test. Uses the shipped
code only: the logged scores, ``baseline_scores`` (the registered factors), ``datasets.labels.neutralize``.
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets.labels import neutralize
from zoo.datasets.stores import open_cube
from zoo.evaluation.baselines import baseline_scores, model_mask
from zoo.evaluation.ic import forward_returns, rank_ic

from zoo.specs.evaluate import DEFAULT_BASELINES
from zoo.tracking import store as runs


def main() -> None:
    """Print the raw and neutralised RankIC of every model and baseline of a study."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study")
    ap.add_argument("--uri", default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    ap.add_argument("--data", default="embedded")
    ap.add_argument("--horizon", type=int, default=10)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    c = runs.open_client(args.uri)
    parents = runs.resolve_parents(c, args.study).runs
    cube = open_cube(args.data)
    ret = forward_returns(cube, args.horizon).transpose("date", "symbol")
    grid = {"date": ret["date"].values, "symbol": ret["symbol"].values}
    universe = cube["in_universe"].sel(universe="all").transpose("date", "symbol").values
    size = cube["size"].transpose("date", "symbol").values
    industry = cube["industry"].values
    scores = {}
    for p in parents:
        score = runs.run_score(c, p.info.run_id, "scores/ensemble.zarr")
        name = p.data.tags.get("zoo.spec_name", p.info.run_name)
        scores[name] = score.reindex(**grid).transpose("date", "symbol")
    stacked = xr.concat(list(scores.values()), dim="model")
    base = baseline_scores(cube, DEFAULT_BASELINES, model_mask(stacked))
    for name in base["model"].values:
        scores[str(name)] = base.sel(model=name).drop_vars("model")
    rows = {}
    for name, score in scores.items():
        values = score.values.astype(np.float32)
        neutral = score.copy(data=neutralize(values, size, industry, np.isfinite(values)))
        scored = np.isfinite(values).any(axis=1)
        row = {}
        for label, s in (("raw", score), ("neutralised", neutral)):
            ic = rank_ic(s, ret, universe)[scored]
            row[(label, "all")] = ic.mean()
            for year, v in ic.groupby(ic.index.year).mean().items():
                row[(label, str(year))] = v
        rows[name] = row
    table = pd.DataFrame(rows).T
    print(f"{args.horizon}-day RankIC vs raw forward returns, universe all, study {args.study!r}")
    print("score as it is ('raw') and residualised per date on log size + industry ('neutralised')")
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
