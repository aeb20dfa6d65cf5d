"""Collect: stitch a plan's test years, ensemble its seeds, log the parent's metrics and close it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import attrs
import xarray as xr

from zoo.evaluation.ic import ic_of
from zoo.tracking import runs as tracking
from zoo.tracking.metrics import log_parent_metrics
from zoo.tracking.parent import EVAL_HORIZONS, headline_metrics
from zoo.train.ensemble import ensemble
from zoo.train.packaging import log_model
from zoo.train.plan import SpecPlan
from zoo.train.source import DaySource

#: The parent run's table of training metrics (``metrics/training.csv``).
TRAINING_TABLE = "training"


@attrs.frozen
class SpecResult:
    """One spec's outcome: its parent run, the seed-ensemble score and its headline metrics."""

    name: str
    spec_hash: str
    experiment_id: str
    parent_run_id: str
    score: xr.DataArray
    metrics: dict[str, float]
    trained: int
    reused: int
    #: The spec that was run (validated, defaults filled in).
    spec: object = None
    #: Each seed's own score, test years stitched (the seed spread of paired tests, ``zoo.train.verdicts``).
    seed_scores: dict = attrs.field(factory=dict)


def parent_metrics(score: xr.DataArray, source: DaySource, min_stocks: int = 10) -> dict[str, float]:
    """``rank_ic_10d``, ``rank_icir_10d``, ``ic_win_rate_10d`` (and 20d) of the ensemble score."""
    out: dict[str, float] = {}
    names = {"rank_ic": "rank_ic", "rank_icir": "rank_icir", "win_rate": "ic_win_rate", "n_dates": "n_dates"}
    for h in EVAL_HORIZONS:
        summary = ic_of(score, source.label(h), min_stocks)
        for k, v in summary.items():
            out[f"{names.get(k, k)}_{h}d"] = float(v)
    return out


def seed_metrics(
    seed_scores: dict[int, xr.DataArray], source: DaySource, min_stocks: int = 10
) -> dict[str, float]:
    """Each seed's own RankIC (test years stitched) and their spread, for judging differences between specs.

    Keys per horizon h: ``rank_ic_{h}d_seed{s}`` for every seed s, ``rank_ic_{h}d_seed_mean``,
    ``_seed_min``, ``_seed_max`` and, with two seeds or more, ``_seed_std`` (sample standard deviation).
    """
    import numpy as np

    out: dict[str, float] = {}
    for h in EVAL_HORIZONS:
        label = source.label(h)
        values = {s: float(ic_of(score, label, min_stocks)["rank_ic"]) for s, score in seed_scores.items()}
        arr = np.array(list(values.values()))
        out.update({f"rank_ic_{h}d_seed{s}": v for s, v in values.items()})
        out.update({f"rank_ic_{h}d_seed_mean": float(arr.mean()), f"rank_ic_{h}d_seed_min": float(arr.min())})
        out[f"rank_ic_{h}d_seed_max"] = float(arr.max())
        if len(arr) > 1:
            out[f"rank_ic_{h}d_seed_std"] = float(arr.std(ddof=1))
    return out


def _concat_years(parts: list[xr.DataArray]) -> xr.DataArray:
    out = xr.concat(parts, dim="date").sortby("date")
    out.name = "score"
    return out


def collect(plan: SpecPlan, c) -> SpecResult:
    """Ensemble the seeds of a complete plan, log the parent's metrics and score, close the parent."""
    t = plan.spec.train
    seed_scores = {
        seed: _concat_years([plan.scores[(split.test_year, seed)] for split in plan.splits])
        for seed in t.seeds
    }
    score = ensemble(list(seed_scores.values()))
    if plan.final:
        # The days after the training labels have none (or labels the validation reached into):
        # nothing to evaluate. The run's product is the model: spec and weights of every seed.
        metrics = {"n_seeds": float(len(t.seeds))}
        log_model(plan, c)
        tracking.log_metrics(c, plan.parent_id, metrics)
    else:
        metrics = parent_metrics(score, plan.source, t.min_stocks)
        metrics.update(seed_metrics(seed_scores, plan.source, t.min_stocks))
        # the headline as metrics, every number (per seed, n_dates ...) in the run's training table
        log_parent_metrics(c, plan.parent_id, TRAINING_TABLE, metrics, headline_metrics(metrics))
        log_model(plan, c)  # the newest test year's seeds, as a loadable (pyfunc) model
    with tempfile.TemporaryDirectory() as tmp:
        pdir = Path(tmp) / "ensemble.zarr"
        tracking.save_scores(score, pdir)
        c.log_artifacts(plan.parent_id, str(pdir), "scores/ensemble.zarr")
    c.set_terminated(plan.parent_id, status="FINISHED")
    plan.closed = True
    return SpecResult(
        plan.spec.name,
        plan.spec_hash,
        plan.experiment_id,
        plan.parent_id,
        score,
        metrics,
        plan.trained,
        plan.reused,
        plan.spec,
        seed_scores=seed_scores,
    )
