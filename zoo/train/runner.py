"""Roll one spec over its test years and seeds, tracked in MLflow, resumable by spec hash."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import torch
import xarray as xr
from tqdm.auto import tqdm

import zoo
from zoo.errors import TrainingError
from zoo.train import tracking
from zoo.train.days import DaySet
from zoo.train.ensemble import ensemble, stitch
from zoo.train.source import DaySource
from zoo.train.splits import default_test_years, resolve_purge, rolling_splits
from zoo.train.trainer import FitConfig, fit, predict

#: Horizons the parent run's RankIC / RankICIR / win rate are logged for.
EVAL_HORIZONS = (10, 20)

Log = Callable[[str], None]


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


def _quiet(msg: str) -> None:
    tqdm.write(msg)


def fit_config(spec) -> FitConfig:
    """The trainer settings a spec's ``[train]`` section asks for."""
    t = spec.train
    return FitConfig(
        lr=t.lr,
        max_epochs=t.max_epochs,
        patience=t.patience,
        days_per_epoch=t.days_per_epoch,
        min_stocks=t.min_stocks,
        grad_clip=t.grad_clip,
    )


def ic_of(score: xr.DataArray, returns: xr.DataArray, min_stocks: int = 10) -> dict[str, float]:
    """RankIC, RankICIR, IC win rate and date count of ``score`` against ``returns`` (evaluation.ic)."""
    from evaluation.ic import ic_summary, rank_ic

    return ic_summary(rank_ic(score, returns, None, min_stocks))


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


def _dayset(source: DaySource, positions, fetch) -> DaySet:
    """The days at ``positions`` of the source's date axis (the source caches them)."""
    return DaySet(source.dates[positions], lambda j: fetch(int(positions[j])), cache_bytes=0)


def _concat_years(parts: list[xr.DataArray]) -> xr.DataArray:
    out = xr.concat(parts, dim="date").sortby("date")
    out.name = "score"
    return out


def run_spec(
    spec,
    source: DaySource,
    *,
    experiment: str | None = None,
    uri: str | None = None,
    registry=None,
    log: Log = _quiet,
    on_child_done: Callable[[int, int], None] | None = None,
) -> SpecResult:
    """Train ``spec`` rolling over its test years for every seed; one parent run, a child per (year, seed).

    A finished (year, seed) of a parent with the same spec hash is never redone: its test scores are
    read back from MLflow. A failure marks the running child FAILED and leaves every finished one intact.
    """
    from zoo.compose import build_model
    from zoo.registry import get_registry
    from zoo.specs import canonical_toml, flatten, spec_hash

    t = spec.train
    if not t.test_years:
        # Resolved before hashing, so the run's spec (and its hash) names the years it tested on.
        years = default_test_years(source.dates, t.train_years, t.valid_years)
        log(f"[{spec.name}] train.test_years not set: testing on {list(years)} (the last full years)")
        t = attrs.evolve(t, test_years=years)
        spec = attrs.evolve(spec, train=t)
    if t.device != "cpu" and not torch.cuda.is_available():
        raise TrainingError(f"train.device={t.device!r} but no CUDA device is available; use 'cpu'")
    device = torch.device(t.device)
    if t.threads:
        torch.set_num_threads(t.threads)
    registry = registry or get_registry(tuple(spec.plugins))
    h = spec_hash(spec)
    uri = uri or tracking.tracking_uri(t.tracking_uri)
    c = tracking.client(uri)
    exp_id = tracking.ensure_experiment(c, experiment or spec.name, uri)
    purge = resolve_purge(t.purge_days, spec.data.horizon)
    splits = rolling_splits(source.dates, t.test_years, t.train_years, t.valid_years, purge)

    parent = tracking.find_parent(c, exp_id, h)
    if parent is None:
        tags = {
            "zoo.role": "parent",
            "zoo.spec_name": spec.name,
            "zoo.spec_hash": h,
            "zoo.data_fingerprint": source.fingerprint(),
            "zoo.data_store": str(source.store),
            "zoo.git_commit": tracking.git_commit(),
            "zoo.version": zoo.__version__,
        }
        parent_id = c.create_run(exp_id, run_name=spec.name, tags=tags).info.run_id
        tracking.log_params(c, parent_id, flatten(spec))
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "spec.toml"
            p.write_text(canonical_toml(spec))
            c.log_artifact(parent_id, str(p))
        log(f"[{spec.name}] new parent run {parent_id} (spec {h})")
    else:
        parent_id = parent.info.run_id
        if parent.info.status != "RUNNING":
            c.update_run(parent_id, status="RUNNING")
        log(f"[{spec.name}] resuming parent run {parent_id} (spec {h})")
    fingerprint = source.fingerprint()
    try:
        # A child left RUNNING by a killed process is dead: mark it so it is not mistaken for live work.
        for run in tracking.child_runs(c, exp_id, parent_id):
            if run.info.status == "RUNNING":
                c.set_terminated(run.info.run_id, status="KILLED")
        done = tracking.finished_children(c, exp_id, parent_id, h)
        cfg = fit_config(spec)
        in_features = len(spec.data.fields)
        per_seed: dict[int, list[xr.DataArray]] = {s: [] for s in t.seeds}
        trained = reused = 0
        jobs = [(split, seed) for split in splits for seed in t.seeds]
        bar = tqdm(jobs, desc=spec.name, disable=None)
        for split, seed in bar:
            key = (split.test_year, seed)
            if key in done:
                per_seed[seed].append(
                    tracking.download_scores(c, done[key].info.run_id, "predictions/scores.zarr")
                )
                reused += 1
                continue
            train_days = _dayset(source, split.train, source.day)
            valid_days = _dayset(source, split.valid[:: t.valid_stride], source.day)
            test_days = _dayset(source, split.test, getattr(source, "test_day", source.day))
            child_tags = {
                "zoo.role": "child",
                "mlflow.parentRunId": parent_id,
                "zoo.test_year": str(split.test_year),
                "zoo.seed": str(seed),
                "zoo.spec_hash": h,
                "zoo.data_fingerprint": fingerprint,
            }
            child = c.create_run(exp_id, run_name=f"{spec.name}-{split.test_year}-s{seed}", tags=child_tags)
            cid = child.info.run_id
            try:
                tracking.log_params(
                    c,
                    cid,
                    {
                        "seed": str(seed),
                        "test_year": str(split.test_year),
                        "split": split.describe(source.dates),
                        "purge_days": str(purge),
                    },
                )
                t0 = time.perf_counter()
                torch.manual_seed(seed)
                model = build_model(spec.model, in_features, registry).to(device)
                loss_fn = registry.build("loss", t.loss.name, t.loss.params, 0)
                result = fit(
                    model,
                    loss_fn,
                    train_days,
                    valid_days,
                    cfg,
                    seed,
                    on_epoch=lambda epoch, row, cid=cid: tracking.log_metrics(c, cid, row, step=epoch),
                    desc=f"{spec.name} {split.test_year} s{seed}",
                )
                preds = predict(model, test_days)
                if not preds:
                    raise TrainingError(f"test year {split.test_year}: no day had an eligible stock")
                score = stitch(preds, source.symbols)
                per_seed[seed].append(score)
                with tempfile.TemporaryDirectory() as tmp:
                    wdir = Path(tmp) / "weights"
                    wdir.mkdir()
                    torch.save(model.state_dict(), wdir / "state_dict.pt")
                    c.log_artifacts(cid, str(wdir), "weights")
                    pdir = Path(tmp) / "scores.zarr"
                    tracking.save_scores(score, pdir)
                    c.log_artifacts(cid, str(pdir), "predictions/scores.zarr")
                test_ic = ic_of(score, source.label(spec.data.horizon), t.min_stocks)
                tracking.log_metrics(
                    c,
                    cid,
                    {
                        "best_epoch": result.best_epoch,
                        "best_valid_rank_ic": result.best_valid_ic,
                        "epochs_run": result.epochs_run,
                        "test_rank_ic": test_ic["rank_ic"],
                        "fit_seconds": time.perf_counter() - t0,
                    },
                )
                c.set_terminated(cid, status="FINISHED")
            except BaseException:
                c.set_terminated(cid, status="KILLED" if _interrupted() else "FAILED")
                raise
            trained += 1
            log(
                f"[{spec.name}] {split.test_year} seed {seed}: best epoch {result.best_epoch} "
                f"valid RankIC {result.best_valid_ic:.4f}, test RankIC {test_ic['rank_ic']:.4f} "
                f"({time.perf_counter() - t0:.0f}s)"
            )
            if on_child_done is not None:
                on_child_done(split.test_year, seed)
        seed_scores = {seed: _concat_years(parts) for seed, parts in per_seed.items()}
        score = ensemble(list(seed_scores.values()))
        metrics = parent_metrics(score, source, t.min_stocks)
        metrics.update(seed_metrics(seed_scores, source, t.min_stocks))
        tracking.log_metrics(c, parent_id, metrics)
        with tempfile.TemporaryDirectory() as tmp:
            pdir = Path(tmp) / "ensemble.zarr"
            tracking.save_scores(score, pdir)
            c.log_artifacts(parent_id, str(pdir), "scores/ensemble.zarr")
        c.set_terminated(parent_id, status="FINISHED")
    except BaseException:
        c.set_terminated(parent_id, status="KILLED" if _interrupted() else "FAILED")
        raise
    return SpecResult(spec.name, h, exp_id, parent_id, score, metrics, trained, reused, spec)


def _interrupted() -> bool:
    import sys

    exc = sys.exc_info()[1]
    return isinstance(exc, KeyboardInterrupt | SystemExit)
