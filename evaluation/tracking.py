"""Evaluate runs logged in MLflow (layout in docs/ARCHITECTURE.md) and log the results back to them.

``evaluate_runs(target)`` takes a study (experiment name), one parent or child run id, or a list of
parent run ids; reads each parent's ``scores/ensemble.zarr``, ``spec.toml`` and ``zoo.data_store`` tag;
evaluates all of them together (one model per parent, named by its spec); writes the tables, plots and
``report.html`` to a local folder; logs that folder under ``evaluation/``, the headline numbers as
``eval.*`` rows of every parent's ``metrics/evaluation.csv`` (the baselines' as ``eval.baseline.<factor>.*``,
to each parent) and the TOP group's on the headline universe as its ``0_TOP_*`` metrics.
"""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import xarray as xr
from zoo.evaluation.baselines import short_name
from zoo.evaluation.report import EvalResult, evaluate

from zoo.errors import EvaluationError, SpecError
from zoo.specs.evaluate import EvalSpec
from zoo.specs.loader import converter, load_section
from zoo.tracking import store as runs
from zoo.tracking.metrics import log_parent_metrics
from zoo.tracking.parent import top_headline
from zoo.tracking.store import (
    local_artifact,
    open_client,
    reports_dir,
    resolve_parents,
    run_labels,
    tracking_uri,
)

SCORE_ARTIFACT = "scores/ensemble.zarr"
#: A child run's (one test year, one seed) score: the seeds' spread of the paired tests.
CHILD_SCORE_ARTIFACT = "predictions/scores.zarr"
SPEC_ARTIFACT = "spec.toml"
ARTIFACT_DIR = "evaluation"
METRIC_PREFIX = "eval."
#: The parent run's table of evaluation metrics (``metrics/evaluation.csv``).
EVAL_TABLE = "evaluation"


@dataclass
class StudyEvaluation:
    """What ``evaluate_runs`` did: the evaluation, the parent run of each model, the local report."""

    result: EvalResult
    parents: dict[str, str]
    out_dir: Path
    experiment: str
    notes: list[str] = field(default_factory=list)

    @property
    def report(self) -> Path:
        """The self-contained HTML report of the study."""
        return self.out_dir / "report.html"


def load_score(path: Path, run_id: str) -> xr.DataArray:
    """The ``score`` DataArray (date, symbol) of a Zarr store written by the trainer."""
    try:
        return runs.load_score(path, EvaluationError)
    except EvaluationError as exc:
        raise EvaluationError(f"run {run_id}: {exc}") from None


def eval_spec_from_toml(text: str, where: str, overrides: Sequence[str] = ()) -> EvalSpec:
    """The ``[evaluate]`` section of a spec's TOML text as an EvalSpec (defaults when absent)."""
    try:
        return load_section(text, "evaluate", EvalSpec, overrides, where)
    except SpecError as exc:
        raise EvaluationError(str(exc)) from None


def apply_overrides(spec: EvalSpec, overrides: Sequence[str]) -> EvalSpec:
    """``evaluate.KEY=VALUE`` overrides (TOML values; the prefix may be left out): ``horizons=[5, 10]``."""
    text = tomli_w.dumps({"evaluate": converter.unstructure(spec)})
    keyed = [o if o.strip().startswith("evaluate.") else f"evaluate.{o.strip()}" for o in overrides]
    return eval_spec_from_toml(text, "--set", keyed)


def _open_cube(store: str, run_id: str) -> xr.Dataset:
    from zoo.datasets import open_cube  # the datasets package knows "embedded", "synth" and paths

    if not store:
        raise EvaluationError(f"run {run_id} has no zoo.data_store tag; cannot find its data cube")
    return open_cube(store)


def evaluate_runs(
    target: str | Sequence[str],
    *,
    uri: str | None = None,
    out_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    log_to_mlflow: bool = True,
    echo: Callable[[str], None] = print,
    cube: xr.Dataset | None = None,
) -> StudyEvaluation:
    """Evaluate a study / run(s) from MLflow; write and log tables, plots, metrics and the report.

    ``out_dir`` defaults to ``reports/<study>`` in the zoo home (``$ZOO_HOME`` or here); ``cube``
    skips opening the runs' data store (tests).
    """
    c = open_client(tracking_uri(uri), EvaluationError)
    experiment, runs, skipped = resolve_parents(c, target, EvaluationError)
    notes: list[str] = list(skipped)
    scores, names, spec, store, fingerprint = [], {}, None, None, None
    provenance: dict[str, dict[str, str]] = {}
    seeds: dict[str, dict[int, xr.DataArray]] = {}
    plugins: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run, name in zip(runs, run_labels(runs), strict=True):
            rid = run.info.run_id
            tags = run.data.tags
            try:
                path = local_artifact(c, rid, SCORE_ARTIFACT, tmp, EvaluationError)
            except EvaluationError:
                notes.append(f"skipped {name} ({rid}): no {SCORE_ARTIFACT} yet (unfinished run?)")
                continue
            scores.append(load_score(path, rid).expand_dims(model=[name]))
            names[name] = rid
            provenance[name] = run_provenance(run)
            seeds[name] = seed_scores(c, run, tmp)
            try:
                text = local_artifact(c, rid, SPEC_ARTIFACT, tmp, EvaluationError).read_text()
                this_spec = eval_spec_from_toml(text, f"run {rid} {SPEC_ARTIFACT}")
                plugins += _spec_plugins(text)
            except EvaluationError as exc:
                notes.append(f"{name}: {exc}; using the default [evaluate] settings")
                this_spec = EvalSpec()
            if spec is None:
                spec = this_spec
            elif this_spec != spec:
                notes.append(f"{name}: its [evaluate] section differs; the first run's is used for the study")
            fp = tags.get("zoo.data_fingerprint")
            if store is None:
                store, fingerprint = tags.get("zoo.data_store", ""), fp
            elif fp and fingerprint and fp != fingerprint:
                raise EvaluationError(
                    f"runs {list(names.values())} were trained on different data (fingerprints "
                    f"{fingerprint} and {fp}); evaluate them separately"
                )
    if not scores:
        raise EvaluationError(f"nothing to evaluate in {target!r}: " + "; ".join(notes))
    spec = apply_overrides(spec, overrides) if overrides else spec
    cube = cube if cube is not None else _open_cube(store, next(iter(names.values())))
    stacked = xr.concat(scores, dim="model", join="outer").rename("score")
    out = Path(out_dir) if out_dir is not None else reports_dir(experiment)
    for note in notes:
        echo(f"note: {note}")
    result = evaluate(
        stacked,
        cube,
        spec,
        out,
        title=f"DecompZoo evaluation: {experiment}",
        plugins=tuple(dict.fromkeys(plugins)),
        provenance=provenance_table(provenance),
        seed_scores=seeds,
    )
    if log_to_mlflow:
        # the baselines were scored on every model's cells together: each parent gets the same numbers
        base = {
            f"baseline.{short_name(b)}.{k}": v for b in result.baselines for k, v in result.metrics[b].items()
        }
        for model, rid in names.items():
            for path in dict.fromkeys(result.files):  # this evaluation's files only, not stale ones
                c.log_artifact(rid, str(path), ARTIFACT_DIR)
            eval_metrics = {**result.metrics[model], **base}
            # the TOP group's headline as metrics; every number in the run's evaluation table
            head = top_headline(result.metrics[model], result.spec.headline_universe)
            table = {METRIC_PREFIX + k: v for k, v in eval_metrics.items()}
            log_parent_metrics(c, rid, EVAL_TABLE, table, head)
    return StudyEvaluation(result=result, parents=names, out_dir=out, experiment=experiment, notes=notes)


def seed_scores(c, run, tmp: str) -> dict[int, xr.DataArray]:
    """Each seed's own score of a parent run (its finished children's test years stitched), for the
    seeds' spread of the paired tests; {} with fewer than two complete seeds."""
    by_seed: dict[int, dict[int, Any]] = {}
    spec_hash = run.data.tags.get("zoo.spec_hash")
    children = c.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}' AND tags.`zoo.role` = 'child'",
        order_by=["attributes.start_time DESC"],
        max_results=5000,
    )
    for child in children:
        t = child.data.tags
        if child.info.status == "FINISHED" and t.get("zoo.spec_hash") == spec_hash and "zoo.seed" in t:
            by_seed.setdefault(int(t["zoo.seed"]), {}).setdefault(int(t.get("zoo.test_year", 0)), child)
    years = max((set(y) for y in by_seed.values()), key=len, default=set())
    complete = {s: runs_ for s, runs_ in by_seed.items() if set(runs_) == years}
    if len(complete) < 2:
        return {}
    out = {}
    for seed, runs_ in complete.items():
        parts = []
        for child in runs_.values():
            cid = child.info.run_id
            try:
                path = local_artifact(c, cid, CHILD_SCORE_ARTIFACT, tmp, EvaluationError)
            except EvaluationError:
                return {}  # a child without its score: no spread rather than a wrong one
            parts.append(load_score(path, cid))
        out[seed] = xr.concat(parts, dim="date").sortby("date")
    return out


#: Training settings shown in the report's provenance table: flattened spec key, label.
TRAIN_KEYS: tuple[tuple[str, str], ...] = (
    ("train.loss.name", "loss"),
    ("train.test_years", "test years"),
    ("train.seeds", "seeds"),
    ("train.train_years", "train years"),
    ("train.valid_years", "valid years"),
    ("train.max_epochs", "max epochs"),
    ("train.patience", "patience"),
    ("train.days_per_epoch", "days per epoch (0: all)"),
    ("train.lr", "learning rate"),
)


def _train_defaults() -> dict[str, str]:
    """The ``[train]`` defaults (the report's settings) as the strings MLflow params hold."""
    import json

    import attrs

    from zoo.specs import TrainSpec

    out = {}
    for f in attrs.fields(TrainSpec):
        default = f.default.factory() if isinstance(f.default, attrs.Factory) else f.default
        if isinstance(default, tuple) and default:
            out[f"train.{f.name}"] = json.dumps(list(default))
        elif isinstance(default, int | float) and not isinstance(default, bool):
            out[f"train.{f.name}"] = str(default)
    return out


def run_provenance(run) -> dict[str, str]:
    """Where a parent run's scores come from: run, spec hash, commit, data and its training settings.

    A setting that differs from the ``[train]`` default (the report's) is shown as "value (default D)":
    those are the run's training cuts.
    """
    tags, params = run.data.tags, run.data.params
    defaults = _train_defaults()
    out = {
        "run": run.info.run_id,
        "status": run.info.status,
        "spec hash": tags.get("zoo.spec_hash", "?"),
        "git commit": tags.get("zoo.git_commit", "?"),
        "zoo version": tags.get("zoo.version", "?"),
        "data": f"{tags.get('zoo.data_store', '?')} ({tags.get('zoo.data_fingerprint', '?')})",
    }
    for key, label in TRAIN_KEYS:
        value = params.get(key, "?")
        default = defaults.get(key)
        out[label] = value if default is None or value in ("?", default) else f"{value} (default {default})"
    return out


def provenance_table(rows: Mapping[str, Mapping[str, str]]) -> Any:
    """The per-model provenance as a table (rows: what, columns: models), with the evaluation's own commit."""
    import pandas as pd

    table = pd.DataFrame(rows)
    table.index.name = "provenance"
    evaluated = pd.DataFrame({m: [runs.git_commit()] for m in rows}, index=["evaluated at commit"])
    return pd.concat([table, evaluated]).rename_axis("provenance")


def _spec_plugins(text: str) -> list[str]:
    """The ``plugins`` a logged spec names (their factors may be baselines); none if unreadable."""
    try:
        value = tomllib.loads(text).get("plugins", [])
    except tomllib.TOMLDecodeError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []
