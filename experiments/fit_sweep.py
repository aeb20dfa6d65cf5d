"""One spec's rolling fits with the main job's cuts, without MLflow: what a setting buys in RankIC.

    python experiments/fit_sweep.py gru --set 'train.loss.name="weighted_mse"' \
        --set train.loss.label_clip_mad=0 [--years 2020,2021,2022] [--out sweep.csv] [--score score.nc]

Each (year, seed) is fitted by the shipped fit, ``zoo.train.jobs.run_fit`` (device handling, stock
sampling and ``train.neutralize_scores`` included), on one shared data source. Prints per (year, seed)
the best epoch and test RankIC, then for the seed ensemble: 10-day RankIC against raw forward returns
(what the main job reports), against the spec's neutralised label (what the model is trained on), and
the mean daily rank correlation with the registered ``low_vol_20`` factor (a loading on volatility
shows as a negative number). Not a test: single seeds are noisy.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch
import xarray as xr
from common import write_csv
from zoo.datasets.labels import ensure_labels
from zoo.evaluation.ic import forward_returns, ic_summary, rank_ic

from zoo.registry import get_registry
from zoo.specs import canonical_toml, load_spec, spec_hash
from zoo.train.data import open_source
from zoo.train.ensemble import ensemble
from zoo.train.jobs import DataRef, FitJob, forget_source, register_source, run_fit
from zoo.train.main_job import MAIN_CUTS
from zoo.train.splits import resolve_purge, rolling_splits


def fit_jobs(spec, source, years: list[int]) -> list[FitJob]:
    """The spec's (test year, seed) jobs on ``source``'s dates, in the runner's order."""
    t = spec.train
    splits = rolling_splits(
        source.dates, years, t.train_years, t.valid_years, resolve_purge(t.purge_days, spec.data.horizon)
    )
    text, digest = canonical_toml(spec), spec_hash(spec)
    return [
        FitJob(text, digest, spec.name, tuple(spec.plugins), split, seed, DataRef(), token="sweep")
        for split in splits
        for seed in t.seeds
    ]


def ensemble_rank_ics(spec, cube: xr.Dataset, score: xr.DataArray) -> dict[str, float]:
    """10-day RankIC of the ensemble against raw returns and the neutral label; corr. with low_vol_20."""
    from zoo.evaluation.cube import universe_mask

    cube = ensure_labels(cube, horizons=(10,))
    um = universe_mask(cube, spec.data.universe, "sweep")
    d = score["date"]
    raw = forward_returns(cube, 10).where(um).sel(date=d)
    neutral = cube["label_neutral"].sel(horizon=10).where(um).sel(date=d)
    low_vol = get_registry().build("factor", "low_vol_20")(cube).sel(date=d)
    return {
        "rank_ic_raw": ic_summary(rank_ic(score, raw, None, 10))["rank_ic"],
        "rank_ic_neutral_label": ic_summary(rank_ic(score, neutral, None, 10))["rank_ic"],
        "corr_low_vol_20": ic_summary(rank_ic(score, low_vol, None, 10))["rank_ic"],
    }


def main() -> None:
    """Parse arguments, fit every (year, seed) through ``run_fit``, print and write the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--set", action="append", default=[], help="spec override (after the main job's cuts)")
    p.add_argument("--years", default="2020,2021,2022")
    p.add_argument("--out", type=Path, default=None, help="write the table (CSV) here")
    p.add_argument("--score", default="", help="write the ensemble score (NetCDF) here")
    a = p.parse_args()
    torch.set_num_threads(1)
    spec = load_spec(a.spec, [c for c, _ in MAIN_CUTS] + a.set)
    source = open_source(spec.data)
    jobs = fit_jobs(spec, source, [int(y) for y in a.years.split(",")])
    register_source(jobs[0].data.opener, spec.data, source)  # every job reuses this source's day cache
    try:
        outcomes = [run_fit(job) for job in jobs]
    finally:
        forget_source(jobs[0].data.opener, spec.data)
    rows = [
        {"year": o.test_year, "seed": o.seed, "best_epoch": o.best_epoch, "rank_ic": o.test_rank_ic}
        for o in outcomes
    ]
    per_seed = {s: [o.score for o in outcomes if o.seed == s] for s in spec.train.seeds}
    score = ensemble([xr.concat(v, dim="date").sortby("date") for v in per_seed.values()])
    summary = ensemble_rank_ics(spec, source.cube, score)
    rows.append({"year": "all", "seed": "ensemble", **summary, "rank_ic": summary["rank_ic_raw"]})
    command = "python experiments/fit_sweep.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    write_csv(pd.DataFrame(rows).set_index(["year", "seed"]), a.out, command)
    if a.score:
        score.to_netcdf(a.score)


if __name__ == "__main__":
    main()
