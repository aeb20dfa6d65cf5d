"""One spec's rolling fits with the main job's cuts, without MLflow: what a setting buys in RankIC.

    python bench/fit_sweep.py specs/gru.toml --set 'train.loss.name="weighted_mse"' \
        --set train.loss.label_clip_mad=0 [--years 2020,2021,2022] [--out score.nc]

Prints per (year, seed) the best epoch and test RankIC, then for the seed ensemble: 10-day RankIC
against raw forward returns (what the main job reports), against the spec's neutralised label (what the
model is trained on), and the mean daily rank correlation with the 20-day low-volatility factor (minus
the std of daily log returns; a loading on volatility shows as a negative number). Used for the study
in docs/training.md ("Evidence of skill"). Not a test: single seeds are noisy, see the docs.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
import xarray as xr
from zoo.datasets.labels import ensure_labels
from zoo.evaluation._cube import universe_mask
from zoo.evaluation.ic import forward_returns, ic_of, ic_summary, rank_ic

from zoo.compose import build_model
from zoo.registry import get_registry
from zoo.specs import load_spec
from zoo.train.data import open_source
from zoo.train.days import DaySet
from zoo.train.ensemble import ensemble, stitch
from zoo.train.main_job import MAIN_CUTS
from zoo.train.splits import resolve_purge, rolling_splits
from zoo.train.trainer import fit, fit_config, predict


def low_vol_20(cube: xr.Dataset) -> xr.DataArray:
    """Minus the 20-day std of daily log returns (returns across a breach left out)."""
    close = cube["bars"].sel(field="close").values.astype(np.float64)
    lr = np.full_like(close, np.nan)
    lr[1:] = np.log(close[1:] / close[:-1])
    lr[np.asarray(cube["breach"].values)] = np.nan
    vol = pd.DataFrame(lr).rolling(20, min_periods=15).std().to_numpy()
    return xr.DataArray(
        -vol.astype(np.float32), dims=("date", "symbol"), coords={"date": cube.date, "symbol": cube.symbol}
    )


def main() -> None:
    """Parse arguments, fit, print."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--set", action="append", default=[], help="spec override (after the main job's cuts)")
    p.add_argument("--years", default="2020,2021,2022")
    p.add_argument("--out", default="", help="write the ensemble score (NetCDF) here")
    a = p.parse_args()
    torch.set_num_threads(1)
    spec = load_spec(a.spec, [c for c, _ in MAIN_CUTS] + a.set)
    src, reg, t = open_source(spec.data), get_registry(tuple(spec.plugins)), spec.train
    splits = rolling_splits(
        src.dates,
        [int(y) for y in a.years.split(",")],
        t.train_years,
        t.valid_years,
        resolve_purge(t.purge_days, spec.data.horizon),
    )
    t0 = time.perf_counter()
    per_seed: dict[int, list[xr.DataArray]] = {s: [] for s in t.seeds}
    for split in splits:
        for seed in t.seeds:

            def days(pos, fetch):
                return DaySet(src.dates[pos], lambda j: fetch(int(pos[j])), cache_bytes=0)

            torch.manual_seed(seed)
            model = build_model(spec.model, len(spec.data.fields), reg)
            loss = reg.build("loss", t.loss.name, t.loss.params, 0)
            r = fit(
                model,
                loss,
                days(split.train, src.day),
                days(split.valid[:: t.valid_stride], src.day),
                fit_config(spec),
                seed,
                desc=f"{split.test_year} s{seed}",
            )
            score = stitch(predict(model, days(split.test, src.test_day)), src.symbols)
            per_seed[seed].append(score)
            print(
                json.dumps(
                    {
                        "year": split.test_year,
                        "seed": seed,
                        "best_epoch": r.best_epoch,
                        "test_rank_ic_10d": round(ic_of(score, src.label(10))["rank_ic"], 4),
                    }
                ),
                flush=True,
            )
    score = ensemble([xr.concat(v, dim="date").sortby("date") for v in per_seed.values()])
    cube = ensure_labels(src.cube, horizons=(10,))
    um = universe_mask(cube, spec.data.universe, "sweep")
    d = score["date"]
    raw = ic_summary(rank_ic(score, forward_returns(cube, 10).where(um).sel(date=d), None, 10))["rank_ic"]
    neu = ic_summary(rank_ic(score, cube["label_neutral"].sel(horizon=10).where(um).sel(date=d), None, 10))[
        "rank_ic"
    ]
    lv = ic_summary(rank_ic(score, low_vol_20(cube).sel(date=d), None, 10))["rank_ic"]
    print(
        f"{spec.name} {t.loss.name} {a.set}: 10-day RankIC raw {raw:.4f}, neutral label {neu:.4f}; "
        f"rank corr with low-vol-20 {lv:.3f}; {time.perf_counter() - t0:.0f}s"
    )
    if a.out:
        score.to_netcdf(a.out)


if __name__ == "__main__":
    main()
