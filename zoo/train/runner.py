"""Run specs rolling over test years and seeds: plan -> execute -> collect, tracked in MLflow.

- plan (:func:`plan_spec`): resolve the spec's test years and splits, find or create its parent run
  (resumable by spec hash), read back every finished (year, seed) and turn the rest into
  :class:`~zoo.train.jobs.FitJob` values;
- execute (:func:`execute`): hand the jobs to an executor (serial or Dask) that runs
  :func:`~zoo.train.jobs.run_fit` anywhere; the driver turns the jobs' events and outcomes into
  child runs (:class:`ChildLog`), so only the driver writes to MLflow;
- collect (:func:`collect`): stitch the years, ensemble the seeds, log and close the parent run.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import xarray as xr
from tqdm.auto import tqdm

import zoo
from zoo.train import tracking
from zoo.train.ensemble import ensemble
from zoo.train.jobs import DEFAULT_OPENER, DataRef, FitJob, FitOutcome, register_source
from zoo.train.source import DaySource
from zoo.train.splits import Split, default_test_years, final_split, resolve_purge, rolling_splits
from zoo.train.trainer import FitConfig

#: Horizons the parent run's RankIC / RankICIR / win rate are logged for.
EVAL_HORIZONS = (10, 20)

Log = Callable[[str], None]
OnChildDone = Callable[[int, int], None]


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
        precision=t.precision,
    )


def ic_of(score: xr.DataArray, returns: xr.DataArray, min_stocks: int = 10) -> dict[str, float]:
    """RankIC, RankICIR, IC win rate and date count of ``score`` against ``returns`` (evaluation.ic)."""
    from zoo.evaluation.ic import ic_summary, rank_ic

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


def _concat_years(parts: list[xr.DataArray]) -> xr.DataArray:
    out = xr.concat(parts, dim="date").sortby("date")
    out.name = "score"
    return out


# --------------------------------------------------------------------------- plan


@attrs.define
class SpecPlan:
    """One spec's parent run, its splits, the scores it already has and the jobs still to run."""

    spec: Any
    spec_hash: str
    source: DaySource
    experiment_id: str
    parent_id: str
    splits: list[Split]
    purge: int
    fingerprint: str
    jobs: list[FitJob]
    #: (test year, seed) -> the test year's score (read back from MLflow, or a finished job's).
    scores: dict[tuple[int, int], xr.DataArray]
    reused: int
    trained: int = 0
    errors: list[BaseException] = attrs.field(factory=list)
    closed: bool = False
    #: Outside plugin modules' versions when the plan was made (logged on each child).
    plugin_versions: dict[str, str] = attrs.field(factory=dict)
    #: A final fit (``zoo train --final``): one split up to a date, parent tagged ``zoo.role=final``.
    final: bool = False

    @property
    def complete(self) -> bool:
        """Every (year, seed) has a score."""
        return len(self.scores) == len(self.splits) * len(self.spec.train.seeds)


def _with_test_years(spec, source: DaySource, log: Log):
    t = spec.train
    if t.test_years:
        return spec
    # Resolved before hashing, so the run's spec (and its hash) names the years it tested on.
    years = default_test_years(source.dates, t.train_years, t.valid_years)
    log(f"[{spec.name}] train.test_years not set: testing on {list(years)} (the last full years)")
    return attrs.evolve(spec, train=attrs.evolve(t, test_years=years))


def parent_description(spec, spec_hash: str, tags: Mapping[str, str]) -> str:
    """The parent run's description in the MLflow UI (Markdown): what the spec is and how it was cut."""
    t = spec.train
    loss = getattr(t.loss, "name", t.loss)
    lines = [
        spec.description or f"spec {spec.name}",
        "",
        f"- spec `{spec.name}`, hash `{spec_hash}`; loss `{loss}`",
        f"- test years {list(t.test_years)}, seeds {list(t.seeds)}; train {t.train_years} years, "
        f"validate {t.valid_years}",
        f"- max {t.max_epochs} epochs, patience {t.patience}, "
        + (f"{t.days_per_epoch} days per epoch" if t.days_per_epoch else "every day per epoch"),
        f"- data `{tags.get('zoo.data_store', '')}` (fingerprint `{tags.get('zoo.data_fingerprint', '')}`)",
        f"- commit `{tags.get('zoo.git_commit', '')}`, zoo {tags.get('zoo.version', '')}",
        "",
        f"Metrics starting `{tracking.HEADLINE_PREFIX}` are the headline (seed ensemble, test years "
        "stitched; `0_TOP_excess_*` after `zoo evaluate`).",
    ]
    return "\n".join(lines)


def headline_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The parent's RankIC / RankICIR / IC win rate per horizon under names that sort first in the UI."""
    out = {}
    for h in EVAL_HORIZONS:
        for key, label in (("rank_ic", "RankIC"), ("rank_icir", "RankICIR"), ("ic_win_rate", "IC_win_rate")):
            if f"{key}_{h}d" in metrics:
                out[f"{tracking.HEADLINE_PREFIX}{label}_{h}d"] = metrics[f"{key}_{h}d"]
    return out


def plan_spec(
    spec,
    source: DaySource,
    c,
    experiment_id: str,
    *,
    data: DataRef,
    plugins: Sequence[str] = (),
    log: Log = _quiet,
    run_name: str | None = None,
    final: bool = False,
    until: str | None = None,
) -> SpecPlan:
    """Find or create the spec's parent run and list the (year, seed) fits it still needs as jobs.

    ``run_name`` names a new parent run (default: the spec's name); the spec and its hash keep theirs.
    ``final``: one split instead of the rolling ones, every labelled day up to ``until`` (default: the
    last date with a known label, :func:`~zoo.train.splits.final_split`); the parent is tagged
    ``zoo.role=final`` with the date and the data's last date, and resumes only with the same data.
    """
    import json

    import numpy as np

    from zoo.specs import canonical_toml, flatten, spec_hash

    if not final:
        spec = _with_test_years(spec, source, log)
    t = spec.train
    h = spec_hash(spec)
    purge = resolve_purge(t.purge_days, spec.data.horizon)
    fingerprint = source.fingerprint()
    from zoo.registry import get_registry

    # Outside plugins' code is not in the spec hash; their versions are logged and compared on resume.
    versions = get_registry(tuple(spec.plugins) + tuple(plugins)).outside_versions()
    role, match = "parent", {}
    if final:
        split = final_split(source.dates, until, t.train_years, t.valid_years, purge, spec.data.horizon)
        splits = [split]
        dates = np.asarray(source.dates).astype("datetime64[D]")
        role = "final"
        match = {"zoo.until": str(dates[split.valid[-1]]), "zoo.data_fingerprint": fingerprint}
    else:
        splits = rolling_splits(source.dates, t.test_years, t.train_years, t.valid_years, purge)
    parent = tracking.find_parent(c, experiment_id, h, role, match)
    if parent is None:
        tags = {
            "zoo.role": role,
            "zoo.spec_name": spec.name,
            "zoo.spec_hash": h,
            "zoo.data_fingerprint": fingerprint,
            "zoo.data_store": str(source.store),
            "zoo.git_commit": tracking.git_commit(),
            "zoo.version": zoo.__version__,
        }
        if versions:
            tags[tracking.PLUGINS_TAG] = tracking.dump_versions(versions)
        schema = getattr(source, "schema", None)
        if schema is not None:  # what `zoo predict` checks a later cube against
            tags["zoo.data_schema"] = json.dumps(schema(), sort_keys=True)
        if final:
            tags.update(match)
            tags["zoo.data_last_date"] = str(np.asarray(source.dates).astype("datetime64[D]")[-1])
        tags[tracking.NOTE_TAG] = parent_description(spec, h, tags)
        name = f"{run_name or spec.name}-final" if final else run_name or spec.name
        parent_id = c.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        tracking.log_params(c, parent_id, flatten(spec))
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "spec.toml"
            p.write_text(canonical_toml(spec))
            c.log_artifact(parent_id, str(p))
        log(f"[{spec.name}] new {role} run {parent_id} (spec {h})")
        if final:
            log(f"[{spec.name}] final fit: {splits[0].describe(source.dates)}")
    else:
        parent_id = parent.info.run_id
        if parent.info.status != "RUNNING":
            c.update_run(parent_id, status="RUNNING")
        log(f"[{spec.name}] resuming {role} run {parent_id} (spec {h})")
        changed = tracking.version_changes(tracking.load_versions(parent.data.tags), versions)
        if changed:
            log(
                f"[{spec.name}] plugin versions changed since this run started ({'; '.join(changed)}): "
                f"finished fits are reused as they are; the new fits use the new code (the spec hash "
                f"does not cover plugin code: use another experiment to start afresh)"
            )
            c.set_tag(parent_id, tracking.PLUGINS_TAG + "_resumed", tracking.dump_versions(versions))
    # A child left RUNNING by a killed process is dead: mark it so it is not mistaken for live work.
    for run in tracking.child_runs(c, experiment_id, parent_id):
        if run.info.status == "RUNNING":
            c.set_terminated(run.info.run_id, status="KILLED")
    done = tracking.finished_children(c, experiment_id, parent_id, h)
    text = canonical_toml(spec)
    token = uuid.uuid4().hex[:8]
    scores: dict[tuple[int, int], xr.DataArray] = {}
    jobs: list[FitJob] = []
    for split in splits:
        for seed in t.seeds:
            key = (split.test_year, seed)
            if key in done:
                scores[key] = tracking.download_scores(c, done[key].info.run_id, "predictions/scores.zarr")
            else:
                jobs.append(FitJob(text, h, spec.name, tuple(plugins), split, seed, data, token))
    return SpecPlan(
        spec,
        h,
        source,
        experiment_id,
        parent_id,
        splits,
        purge,
        fingerprint,
        jobs,
        scores,
        len(scores),
        plugin_versions=versions,
        final=final,
    )


# --------------------------------------------------------------------------- execute


class ChildLog:
    """The driver's side of running jobs: child runs created, fed and closed from jobs' events."""

    def __init__(self, c, plans: Sequence[SpecPlan], log: Log, on_child_done: OnChildDone | None) -> None:
        n_jobs = sum(len(plan.jobs) for plan in plans)
        #: One bar over every fit of the run (quiet when stderr is not a terminal).
        self.bar = tqdm(total=n_jobs, desc="fits", unit="fit", disable=None)
        self.c = c
        self.log = log
        self.on_child_done = on_child_done
        self.plan_of = {job.key: plan for plan in plans for job in plan.jobs}
        self.job_of = {job.key: job for plan in plans for job in plan.jobs}
        #: job key -> (child run id, epochs logged) of the attempt running now.
        self.running: dict[str, tuple[str, int]] = {}
        self.finished: set[str] = set()

    def _create_child(self, key: str, where: str) -> str:
        job, plan = self.job_of[key], self.plan_of[key]
        tags = {
            "zoo.role": "child",
            "mlflow.parentRunId": plan.parent_id,
            "zoo.test_year": str(job.test_year),
            "zoo.seed": str(job.seed),
            "zoo.spec_hash": plan.spec_hash,
            "zoo.data_fingerprint": plan.fingerprint,
        }
        if where:
            tags["zoo.worker"] = where
        if plan.plugin_versions:
            tags[tracking.PLUGINS_TAG] = tracking.dump_versions(plan.plugin_versions)
        run_name = f"{plan.spec.name}-{job.test_year}-s{job.seed}"
        tags[tracking.NOTE_TAG] = (
            f"`{plan.spec.name}` (spec `{plan.spec_hash}`): test year {job.test_year}, seed {job.seed}; "
            f"{job.split.describe(plan.source.dates)}"
        )
        cid = self.c.create_run(plan.experiment_id, run_name=run_name, tags=tags).info.run_id
        head = tracking.HEADLINE_PREFIX
        tracking.log_metrics(self.c, cid, {f"{head}test_year": job.test_year, f"{head}seed": job.seed})
        params = {
            "seed": str(job.seed),
            "test_year": str(job.test_year),
            "split": job.split.describe(plan.source.dates),
            "purge_days": str(plan.purge),
        }
        tracking.log_params(self.c, cid, params)
        self.running[key] = (cid, 0)
        return cid

    def on_event(self, event: dict) -> None:
        """A job started (create its child; a restarted job's old child is FAILED) or ended an epoch."""
        key = event.get("key")
        if key not in self.job_of or key in self.finished:
            return  # another study's job, or a late event of a job already closed
        if event["kind"] == "start":
            if key in self.running:
                old, _ = self.running.pop(key)
                self.c.set_tag(old, "zoo.failure", "worker lost; the job was restarted on a worker")
                self.c.set_terminated(old, status="FAILED")
                self.log(f"[{self.plan_of[key].spec.name}] {key}: worker lost, the job restarted")
            self._create_child(key, f"{event.get('host', '')}:{event.get('pid', '')}")
        elif event["kind"] == "epoch":
            if key not in self.running:
                self._create_child(key, "")
            cid, n = self.running[key]
            tracking.log_metrics(self.c, cid, event["row"], step=event["epoch"])
            self.running[key] = (cid, max(n, int(event["epoch"]) + 1))

    def on_outcome(self, out: FitOutcome) -> None:
        """Log a finished fit's artifacts and metrics, close its child, keep its score for collect."""
        key = out.key
        plan = self.plan_of[key]
        cid, logged = self.running.get(key) or (self._create_child(key, f"{out.host}:{out.pid}"), 0)
        try:
            if logged == 0:  # no epoch events (an estimator's rounds, or events not in yet): one batch
                tracking.log_history(self.c, cid, out.history)
            for epoch, row in enumerate(out.history[logged:] if logged else [], start=logged):
                tracking.log_metrics(self.c, cid, row, step=epoch)  # events that did not arrive in time
            with tempfile.TemporaryDirectory() as tmp:
                for rel, blob in out.artifacts.items():
                    path = Path(tmp) / "artifacts" / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(blob)
                for top in sorted({Path(rel).parts[0] for rel in out.artifacts}):
                    self.c.log_artifacts(cid, str(Path(tmp) / "artifacts" / top), top)
                pdir = Path(tmp) / "scores.zarr"
                tracking.save_scores(out.score, pdir)
                self.c.log_artifacts(cid, str(pdir), "predictions/scores.zarr")
            metrics = {
                "best_epoch": out.best_epoch,
                "best_valid_rank_ic": out.best_valid_ic,
                "epochs_run": out.epochs_run,
                "test_rank_ic": out.test_rank_ic,
                f"{tracking.HEADLINE_PREFIX}test_RankIC": out.test_rank_ic,
                "fit_seconds": out.timings["fit_seconds"],
                "torch_threads_min": out.timings.get("torch_threads_min"),
                "torch_threads_max": out.timings.get("torch_threads_max"),
            }
            tracking.log_metrics(self.c, cid, metrics)
            self.c.set_terminated(cid, status="FINISHED")
        except BaseException:
            self.c.set_terminated(cid, status="KILLED" if _interrupted() else "FAILED")
            raise
        self.running.pop(key, None)
        self.finished.add(key)
        self.bar.update()
        plan.scores[(out.test_year, out.seed)] = out.score
        plan.trained += 1
        test = "" if plan.final else f", test RankIC {out.test_rank_ic:.4f}"  # a final fit has no test
        self.log(
            f"[{plan.spec.name}] {'final' if plan.final else out.test_year} seed {out.seed}: best epoch "
            f"{out.best_epoch} valid RankIC {out.best_valid_ic:.4f}{test} ({out.timings['fit_seconds']:.0f}s)"
        )
        if self.on_child_done is not None:
            self.on_child_done(out.test_year, out.seed)

    def on_error(self, key: str, exc: BaseException) -> None:
        """A job raised (or its worker died too often): only its child is FAILED."""
        plan = self.plan_of[key]
        cid = self.running.pop(key, (None, 0))[0]
        if cid is None:
            cid = self._create_child(key, "")
            self.running.pop(key)
        self.c.set_tag(cid, "zoo.failure", f"{type(exc).__name__}: {exc}"[:5000])
        self.c.set_terminated(cid, status="FAILED")
        self.finished.add(key)
        self.bar.update()
        plan.errors.append(exc)
        self.log(f"[{plan.spec.name}] {key} failed: {type(exc).__name__}: {exc}")

    def abort(self, status: str) -> None:
        """Close every child still running with ``status`` (the driver is going down)."""
        for cid, _ in self.running.values():
            self.c.set_terminated(cid, status=status)
        self.running.clear()

    def close(self) -> None:
        """Close the progress bar."""
        self.bar.close()


def execute(
    plans: Sequence[SpecPlan],
    executor,
    children: ChildLog,
    on_spec_done: Callable[[SpecPlan], None],
    poll_seconds: float = 0.5,
) -> None:
    """Run every plan's jobs on ``executor``; a spec is collected as soon as its last job is in.

    A job that raises marks only its child FAILED and the others go on. Anything raised in the driver
    (Ctrl-C included) cancels the jobs still queued or running and marks their children KILLED.
    """
    pending = [job for plan in plans for job in plan.jobs]
    pending.reverse()  # pop() from the end keeps the planned order
    left = {id(plan): len(plan.jobs) for plan in plans}
    for plan in plans:
        if not plan.jobs:
            on_spec_done(plan)
    running: dict[Any, FitJob] = {}
    executor.start(children.on_event)
    try:
        while pending or running:
            while pending and len(running) < executor.max_in_flight:
                job = pending.pop()
                running[executor.submit(job)] = job
            for fut in executor.wait(list(running), poll_seconds):
                job = running.pop(fut)
                plan = children.plan_of[job.key]
                try:
                    outcome = fut.result()
                except Exception as exc:  # the job's failure (a worker lost too often included)
                    children.on_error(job.key, exc)
                else:
                    children.on_outcome(outcome)
                left[id(plan)] -= 1
                if left[id(plan)] == 0:
                    on_spec_done(plan)
    except BaseException:
        executor.cancel(list(running))
        children.abort("KILLED")
        raise


# --------------------------------------------------------------------------- collect


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
        _log_model(plan, c)
        tracking.log_metrics(c, plan.parent_id, metrics)
    else:
        metrics = parent_metrics(score, plan.source, t.min_stocks)
        metrics.update(seed_metrics(seed_scores, plan.source, t.min_stocks))
        tracking.log_metrics(c, plan.parent_id, {**headline_metrics(metrics), **metrics})
        _log_model(plan, c)  # the newest test year's seeds, as a loadable (pyfunc) model
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
    )


#: Artifact folder of a final run holding the deployable model (``zoo predict``, ``zoo register``).
MODEL_DIR = "model"


def _log_model(plan: SpecPlan, c) -> None:
    """Gather the spec and every seed's weights under the parent's ``model/`` (one loadable folder).

    Layout: ``spec.toml``, ``meta.json`` (spec hash, seeds, data fingerprint / schema / dates) and
    ``seed<N>/`` with that seed's ``weights/`` files (``state_dict.pt`` for a network). A final run
    has one split; a study parent gives its newest test year's. The same folder is logged again as
    an MLflow pyfunc model under ``pyfunc/`` (``zoo.train.pyfunc_log``).
    """
    import json
    import shutil

    import numpy as np

    from zoo import runs
    from zoo.errors import TrainingError
    from zoo.specs import canonical_toml
    from zoo.train.pyfunc_log import log_pyfunc

    split = plan.splits[-1]
    dates = np.asarray(plan.source.dates).astype("datetime64[D]")
    children = tracking.finished_children(c, plan.experiment_id, plan.parent_id, plan.spec_hash)
    tags = c.get_run(plan.parent_id).data.tags
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / MODEL_DIR
        root.mkdir()
        (root / "spec.toml").write_text(canonical_toml(plan.spec))
        for seed in plan.spec.train.seeds:
            child = children[(split.test_year, seed)]
            weights = runs.local_artifact(c, child.info.run_id, "weights", tmp, TrainingError)
            shutil.copytree(weights, root / f"seed{seed}")
        meta = {
            "format": 1,
            "kind": "final" if plan.final else "study",
            "test_year": None if plan.final else int(split.test_year),
            "spec_name": plan.spec.name,
            "spec_hash": plan.spec_hash,
            "seeds": list(plan.spec.train.seeds),
            "plugins": json.loads(tags.get("zoo.plugins", "[]")),
            "data_fingerprint": plan.fingerprint,
            "data_schema": json.loads(tags["zoo.data_schema"]) if "zoo.data_schema" in tags else None,
            "data_store": str(plan.source.store),
            "data_last_date": str(dates[-1]),
            "train": [str(dates[split.train[0]]), str(dates[split.train[-1]])],
            "valid": [str(dates[split.valid[0]]), str(dates[split.valid[-1]])],
            "until": str(dates[split.valid[-1]]),
            "run_id": plan.parent_id,
        }
        (root / "meta.json").write_text(json.dumps(meta, indent=1))
        c.log_artifacts(plan.parent_id, str(root), MODEL_DIR)
        log_pyfunc(c, plan.parent_id, root)


# --------------------------------------------------------------------------- the whole run


def run_specs(
    runs: Sequence[tuple[Any, DaySource]],
    *,
    experiment: str | None = None,
    uri: str | None = None,
    executor=None,
    opener: str = DEFAULT_OPENER,
    plugins: Sequence[str] = (),
    log: Log = _quiet,
    on_child_done: OnChildDone | None = None,
    run_names: Sequence[str | None] = (),
    description: str = "",
    final: bool = False,
    until: str | None = None,
) -> list[SpecResult]:
    """Plan every ``(spec, source)``, run all their jobs on ``executor`` (serial by default), collect each.

    One experiment (``experiment`` or the first spec's name; its UI description ``description`` or the
    first spec's) holds a parent run per spec. A finished
    (year, seed) of a parent with the same spec hash is never redone. A failing job marks its child
    FAILED, the other jobs still finish and are kept, then its parent is FAILED and the error raised.
    """
    from zoo.train.executors import SerialExecutor

    if not runs:
        return []
    executor = executor or SerialExecutor()
    uri = uri or tracking.tracking_uri(runs[0][0].train.tracking_uri)
    c = tracking.client(uri)
    exp_id = tracking.ensure_experiment(
        c, experiment or runs[0][0].name, uri, description=description or runs[0][0].description
    )
    registered: list[tuple[str, Any]] = []
    plans: list[SpecPlan] = []
    results: dict[int, SpecResult] = {}

    def on_spec_done(plan: SpecPlan) -> None:
        if not plan.errors and plan.complete:
            results[id(plan)] = collect(plan, c)

    if executor.remote:
        from zoo.train.jobs import resolve_opener

        resolve_opener(opener)  # workers will import it by name: fail here, clearly, when they cannot
    try:
        names = list(run_names) + [None] * (len(runs) - len(run_names))
        for (spec, source), run_name in zip(runs, names, strict=True):
            if not executor.remote:
                # The driver's own source serves its in-process jobs (and keeps its day cache).
                register_source(opener, spec.data, source)
                registered.append((opener, spec.data))
            plans.append(
                plan_spec(
                    spec,
                    source,
                    c,
                    exp_id,
                    data=DataRef(opener, str(source.store)),
                    plugins=plugins,
                    log=log,
                    run_name=run_name,
                    final=final,
                    until=until,
                )
            )
        n_jobs = sum(len(p.jobs) for p in plans)
        if n_jobs:
            log(f"{n_jobs} fits to run on {executor.describe()}")
        children = ChildLog(c, plans, log, on_child_done)
        try:
            execute(plans, executor, children, on_spec_done)
        finally:
            children.close()
        errors = [e for p in plans for e in p.errors]
        if errors:
            failed = [p.spec.name for p in plans if p.errors]
            log(
                f"{len(errors)} fit(s) failed in {failed}; every finished fit is kept, rerun to redo the rest"
            )
            raise errors[0]
    except BaseException:
        status = "KILLED" if _interrupted() else "FAILED"
        for plan in plans:
            if not plan.closed:
                c.set_terminated(plan.parent_id, status=status)
        raise
    finally:
        from zoo.train import jobs as fitjobs

        for key in registered:
            fitjobs._SOURCES.pop(key, None)
    return [results[id(p)] for p in plans]


def run_spec(
    spec,
    source: DaySource,
    *,
    experiment: str | None = None,
    uri: str | None = None,
    executor=None,
    log: Log = _quiet,
    on_child_done: OnChildDone | None = None,
    run_name: str | None = None,
    plugins: Sequence[str] = (),
    final: bool = False,
    until: str | None = None,
) -> SpecResult:
    """Train ``spec`` rolling over its test years for every seed; one parent run, a child per (year, seed).

    ``final``: instead, one fit per seed on every labelled day up to ``until`` (the deployable model,
    logged as a ``zoo.role=final`` run with a ``model/`` folder for ``zoo predict``).
    """
    (result,) = run_specs(
        [(spec, source)],
        experiment=experiment,
        uri=uri,
        executor=executor,
        plugins=plugins,
        log=log,
        on_child_done=on_child_done,
        run_names=[run_name],
        final=final,
        until=until,
    )
    return result


def _interrupted() -> bool:
    exc = sys.exc_info()[1]
    return isinstance(exc, KeyboardInterrupt | SystemExit)
