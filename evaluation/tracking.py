"""Evaluate runs logged in MLflow (layout in docs/ARCHITECTURE.md) and log the results back to them.

``evaluate_runs(target)`` takes a study (experiment name), one parent or child run id, or a list of
parent run ids; reads each parent's ``scores/ensemble.zarr``, ``spec.toml`` and ``zoo.data_store`` tag;
evaluates all of them together (one model per parent, named by its spec); writes the tables, plots and
``report.html`` to a local folder; logs that folder under ``evaluation/`` and the headline numbers as
``eval.*`` metrics to every parent.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import xarray as xr

from evaluation.report import EvalResult, evaluate
from zoo.errors import EvaluationError
from zoo.specs.evaluate import EvalSpec

SCORE_ARTIFACT = "scores/ensemble.zarr"
SPEC_ARTIFACT = "spec.toml"
ARTIFACT_DIR = "evaluation"
METRIC_PREFIX = "eval."


def tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db`` (the trainer's default)."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path.cwd() / 'mlflow.db').resolve()}"


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    try:
        c = MlflowClient(tracking_uri=uri)
        c.search_experiments(max_results=1)
    except Exception as exc:  # MLflow raises many types for a bad store
        raise EvaluationError(f"cannot open the MLflow store {uri!r}: {exc}") from exc
    return c


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


def _get_run(c, run_id: str):
    try:
        return c.get_run(run_id)
    except Exception:  # an unknown id raises MlflowException; treat the text as a study name
        return None


def resolve_parents(c, target: str | Sequence[str]) -> tuple[str, list[Any]]:
    """The experiment name and the parent runs that ``target`` names (see the module docstring)."""
    if not isinstance(target, str):
        runs = []
        for rid in target:
            run = _get_run(c, rid)
            if run is None:
                raise EvaluationError(f"no MLflow run with id {rid!r}")
            runs.append(_parent_of(c, run))
        if not runs:
            raise EvaluationError("no run ids given to evaluate")
        return c.get_experiment(runs[0].info.experiment_id).name, runs
    run = _get_run(c, target) if re.fullmatch(r"[0-9a-f]{32}", target) else None
    if run is not None:
        parent = _parent_of(c, run)
        return c.get_experiment(parent.info.experiment_id).name, [parent]
    exp = c.get_experiment_by_name(target)
    if exp is None:
        known = sorted(e.name for e in c.search_experiments())
        raise EvaluationError(f"{target!r} is neither a run id nor a study (experiment); studies: {known}")
    runs = c.search_runs(
        [exp.experiment_id],
        filter_string="tags.`zoo.role` = 'parent'",
        order_by=["attributes.start_time DESC"],
        max_results=5000,
    )
    newest: dict[str, Any] = {}
    for run in runs:  # the newest parent of each spec name
        newest.setdefault(run.data.tags.get("zoo.spec_name", run.info.run_name), run)
    if not newest:
        raise EvaluationError(f"study {target!r} has no parent runs (tag zoo.role=parent)")
    return exp.name, list(reversed(list(newest.values())))


def _parent_of(c, run):
    tags = run.data.tags
    if tags.get("zoo.role") == "child" and "mlflow.parentRunId" in tags:
        return c.get_run(tags["mlflow.parentRunId"])
    return run


def _local_artifact(c, run_id: str, path: str, tmp: str) -> Path:
    """A local path of a run's artifact: in place for a file store, else downloaded into ``tmp``."""
    root = c.get_run(run_id).info.artifact_uri
    if root.startswith("file://") or root.startswith("/"):
        from urllib.parse import unquote, urlparse

        local = Path(unquote(urlparse(root).path) if root.startswith("file://") else root) / path
        if local.exists():
            return local
    try:
        return Path(c.download_artifacts(run_id, path, tmp))
    except Exception as exc:
        raise EvaluationError(f"run {run_id} has no artifact {path!r} ({exc})") from exc


def load_score(path: Path, run_id: str) -> xr.DataArray:
    """The ``score`` DataArray (date, symbol) of a Zarr store written by the trainer."""
    try:
        ds = xr.open_zarr(path, consolidated=False)
    except Exception as exc:
        raise EvaluationError(f"run {run_id}: cannot read {path} as a Zarr score store ({exc})") from exc
    if "score" not in ds:
        raise EvaluationError(f"run {run_id}: {path} has no 'score' array (has {list(ds.data_vars)})")
    da = ds["score"].load()
    # Zarr v3 returns numpy StringDType, which does not cast to "<U"; go through a list
    return da.assign_coords(symbol=np.array(da["symbol"].values.tolist(), dtype=str))


def eval_spec_from_toml(text: str, where: str) -> EvalSpec:
    """The ``[evaluate]`` section of a spec's TOML text as an EvalSpec (defaults when absent)."""
    try:
        table = tomllib.loads(text).get("evaluate", {})
    except tomllib.TOMLDecodeError as exc:
        raise EvaluationError(f"{where}: not valid TOML ({exc})") from exc
    return _build_spec(table, where)


def _build_spec(table: Mapping[str, Any], where: str) -> EvalSpec:
    known = {a.name for a in attrs.fields(EvalSpec)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise EvaluationError(f"{where}: unknown evaluate key(s) {unknown}; known: {sorted(known)}")
    try:
        return EvalSpec(**table)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{where}: evaluate section: {exc}") from exc


def apply_overrides(spec: EvalSpec, overrides: Sequence[str]) -> EvalSpec:
    """``evaluate.KEY=VALUE`` (TOML value) overrides, e.g. ``evaluate.horizons=[5, 10]``."""
    table = attrs.asdict(spec)
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip().removeprefix("evaluate.")
        if not sep or not key:
            raise EvaluationError(f"--set {item!r}: expected evaluate.KEY=VALUE")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value  # a bare word is a string, like the spec loader's --set
        if "." in key:  # e.g. groups.all=10
            head, _, sub = key.partition(".")
            table[head] = {**dict(table.get(head, {})), sub: parsed}
        else:
            table[key] = parsed
    return _build_spec(table, "--set")


def _open_cube(store: str, run_id: str) -> xr.Dataset:
    from datasets.schema import open_cube  # the datasets package knows "embedded", "synth" and paths

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

    ``out_dir`` defaults to ``reports/<study>``; ``cube`` skips opening the runs' data store (tests).
    """
    c = _client(tracking_uri(uri))
    experiment, runs = resolve_parents(c, target)
    notes: list[str] = []
    scores, names, spec, store, fingerprint = [], {}, None, None, None
    with tempfile.TemporaryDirectory() as tmp:
        for run in runs:
            rid = run.info.run_id
            tags = run.data.tags
            name = tags.get("zoo.spec_name") or run.info.run_name or rid[:8]
            if name in names:
                name = f"{name}-{tags.get('zoo.spec_hash', rid)[:6]}"
            try:
                path = _local_artifact(c, rid, SCORE_ARTIFACT, tmp)
            except EvaluationError:
                notes.append(f"skipped {name} ({rid}): no {SCORE_ARTIFACT} yet (unfinished run?)")
                continue
            scores.append(load_score(path, rid).expand_dims(model=[name]))
            names[name] = rid
            try:
                text = _local_artifact(c, rid, SPEC_ARTIFACT, tmp).read_text()
                this_spec = eval_spec_from_toml(text, f"run {rid} {SPEC_ARTIFACT}")
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
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", experiment)
    out = Path(out_dir) if out_dir is not None else Path("reports") / slug
    for note in notes:
        echo(f"note: {note}")
    result = evaluate(stacked, cube, spec, out, title=f"DecompZoo evaluation: {experiment}")
    if log_to_mlflow:
        for model, rid in names.items():
            for path in dict.fromkeys(result.files):  # this evaluation's files only, not stale ones
                c.log_artifact(rid, str(path), ARTIFACT_DIR)
            _log_metrics(c, rid, result.metrics[model])
    return StudyEvaluation(result=result, parents=names, out_dir=out, experiment=experiment, notes=notes)


def _log_metrics(c, run_id: str, metrics: Mapping[str, float]) -> None:
    from mlflow.entities import Metric

    ts = int(time.time() * 1000)
    items = [Metric(METRIC_PREFIX + k, float(v), ts, 0) for k, v in metrics.items() if np.isfinite(v)]
    for i in range(0, len(items), 900):  # MLflow's log_batch takes at most 1000 metrics
        c.log_batch(run_id, metrics=items[i : i + 900])
