"""MLflow tracking: store resolution, experiment / parent / child runs, params, artifacts, resume."""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from zoo.errors import TrainingError
from zoo.tracking import store
from zoo.tracking.portable import ARTIFACT_DIR

_PARAMS_PER_CALL = 100  # MLflow's log_batch limits
_METRICS_PER_CALL = 1000


def tracking_uri(spec_uri: str = "") -> str:
    """``MLFLOW_TRACKING_URI``, else the spec's, else ``sqlite:///<cwd>/mlflow.db`` (MLflow 3's default)."""
    return store.tracking_uri(None, spec_uri)


def artifact_root(uri: str) -> str:
    """Artifact root of new experiments: ``mlartifacts/`` beside a sqlite file, else the server's."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        return (db.parent / ARTIFACT_DIR).resolve().as_uri()
    return ""


def client(uri: str):
    """An ``MlflowClient`` on ``uri``; a store MLflow cannot open is a TrainingError naming it."""
    return store.open_client(uri, TrainingError)


#: MLflow 3's experiment tag for what an experiment holds; versions that read it open a "machine
#: learning" experiment on its runs table instead of the GenAI overview (traces, token usage).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
ML_EXPERIMENT_KIND = "custom_model_development"
#: The tag the MLflow UI shows (and edits) as an experiment's or a run's description.
NOTE_TAG = "mlflow.note.content"
#: Prefix of the headline metrics: it sorts them first in the UI's runs table and compare page.
HEADLINE_PREFIX = "0_"


def describe_experiment(c, experiment_id: str, description: str = "") -> None:
    """Mark the experiment as model training and write ``description`` as its UI description.

    Only tags that differ are written; on a resume the study file's description replaces one
    edited in the UI (the file is the source of truth).
    """
    tags = c.get_experiment(experiment_id).tags
    wanted = {EXPERIMENT_KIND_TAG: ML_EXPERIMENT_KIND}
    if description:
        wanted[NOTE_TAG] = description
    for key, value in wanted.items():
        if tags.get(key) != value:
            c.set_experiment_tag(experiment_id, key, value)


def ensure_experiment(c, name: str, uri: str, attempts: int = 5, description: str = "") -> str:
    """The id of experiment ``name``, created (with artifacts under ``mlartifacts/``) when missing.

    Safe when several processes ask at once: a sqlite store is locked around the get-or-create, and
    on any store a create that lost the race ("already exists") reads the winner's experiment. The
    experiment is tagged as model training, with ``description`` as its UI description.
    """
    exp_id = _get_or_create_experiment(c, name, uri, attempts)
    describe_experiment(c, exp_id, description)
    return exp_id


def _get_or_create_experiment(c, name: str, uri: str, attempts: int) -> str:
    root = artifact_root(uri)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    location = f"{root}/{slug}" if root else None
    last: Exception | None = None
    for attempt in range(attempts):
        with store.store_lock(uri):
            exp = c.get_experiment_by_name(name)
            if exp is not None:
                if exp.lifecycle_stage == "deleted":
                    c.restore_experiment(exp.experiment_id)
                return exp.experiment_id
            try:
                return c.create_experiment(name, artifact_location=location)
            except Exception as exc:  # MlflowException / IntegrityError: another process created it
                if "already exists" not in str(exc) and "UNIQUE" not in str(exc):
                    raise TrainingError(f"cannot create MLflow experiment {name!r} in {uri}: {exc}") from exc
                last = exc
        time.sleep(0.05 * (attempt + 1))
    raise TrainingError(f"cannot create MLflow experiment {name!r} in {uri}: {last}")


def git_commit() -> str:
    """The working tree's commit (``+dirty`` when it has changes), or ``unknown`` outside git."""
    return store.git_commit()


def log_params(c, run_id: str, params: Mapping[str, str]) -> None:
    """Log params in chunks (MLflow takes 100 per call and 6000 characters per value)."""
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), _PARAMS_PER_CALL):
        c.log_batch(run_id, params=items[i : i + _PARAMS_PER_CALL])


def log_metrics(c, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log finite metrics, 1,000 a call (NaN ones are skipped, MLflow stores them poorly)."""

    from mlflow.entities import Metric

    ts = int(time.time() * 1000)
    items = [
        Metric(k, float(v), ts, step or 0) for k, v in metrics.items() if v is not None and np.isfinite(v)
    ]
    for i in range(0, len(items), _METRICS_PER_CALL):
        c.log_batch(run_id, metrics=items[i : i + _METRICS_PER_CALL])


def log_history(c, run_id: str, rows: list[Mapping[str, float]]) -> None:
    """Log per-step metrics (step = row index) in as few calls as MLflow allows (1,000 a call)."""
    import time

    from mlflow.entities import Metric

    ts = int(time.time() * 1000)
    items = [
        Metric(k, float(v), ts, step)
        for step, row in enumerate(rows)
        for k, v in row.items()
        if v is not None and np.isfinite(v)
    ]
    for i in range(0, len(items), _METRICS_PER_CALL):
        c.log_batch(run_id, metrics=items[i : i + _METRICS_PER_CALL])


#: Tag holding the outside plugins' versions, JSON ``{module: "dist==v" or "sha256:..."}``.
PLUGINS_TAG = "zoo.plugins"


def dump_versions(versions: Mapping[str, str]) -> str:
    """The plugin versions as a tag value (sorted JSON)."""
    return json.dumps(dict(versions), sort_keys=True)


def load_versions(tags: Mapping[str, str]) -> dict[str, str]:
    """The plugin versions a run logged (none logged: empty)."""
    try:
        return dict(json.loads(tags.get(PLUGINS_TAG, "{}")))
    except (ValueError, TypeError):
        return {}


def version_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """One line per plugin module added, removed or at another version between two runs."""
    return [
        f"{name}: {old.get(name, '(none)')} -> {new.get(name, '(none)')}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def find_parent(
    c, experiment_id: str, spec_hash: str, role: str = "parent", tags: Mapping[str, str] | None = None
):
    """The newest parent run (``zoo.role`` = ``role``) of this spec hash and these ``tags``, or None."""
    where = [f"tags.`zoo.role` = '{role}'", f"tags.`zoo.spec_hash` = '{spec_hash}'"]
    where += [f"tags.`{k}` = '{v}'" for k, v in (tags or {}).items()]
    runs = c.search_runs(
        [experiment_id], filter_string=" AND ".join(where), order_by=["attributes.start_time DESC"]
    )
    return runs[0] if runs else None


def child_runs(c, experiment_id: str, parent_id: str) -> list:
    """Every child run of a parent (any status)."""
    return list(
        c.search_runs(
            [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'", max_results=5000
        )
    )


def finished_children(c, experiment_id: str, parent_id: str, spec_hash: str) -> dict[tuple[int, int], Any]:
    """Finished child runs of the parent with the same spec hash, keyed by (test year, seed)."""
    done = {}
    for run in child_runs(c, experiment_id, parent_id):
        tags = run.data.tags
        if run.info.status == "FINISHED" and tags.get("zoo.spec_hash") == spec_hash:
            done[(int(tags["zoo.test_year"]), int(tags["zoo.seed"]))] = run
    return done


def save_scores(score: xr.DataArray, path: str | Path) -> Path:
    """Write a ``score`` DataArray as a Zarr store (symbols as variable-length strings)."""
    path = Path(path)
    da = score.copy()
    da = da.assign_coords(symbol=np.asarray(da["symbol"].values).astype(object))
    da.name = "score"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        da.to_dataset().to_zarr(path, mode="w", consolidated=False)
    return path


def load_scores(path: str | Path) -> xr.DataArray:
    """Read a ``score`` Zarr store written by :func:`save_scores` into memory."""
    return store.load_score(path, TrainingError)


def download_scores(c, run_id: str, artifact_path: str) -> xr.DataArray:
    """Load a run's score artifact (read in place from a local store; downloaded from a remote one)."""
    return store.run_score(c, run_id, artifact_path, TrainingError)
