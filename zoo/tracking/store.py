"""The MLflow run store as training, evaluation and enhancement all see it (no torch here).

Layout: docs/ARCHITECTURE.md ("MLflow layout"). One place resolves the store, opens a client, turns
a command-line target (study name, parent or child run id, list of ids) into parent runs, and finds a
run's artifact on disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from zoo.errors import ZooError

DEFAULT_DB = "mlflow.db"
#: Environment variable naming the folder of the default store (``mlflow.db``) and of ``reports/``.
HOME_ENV = "ZOO_HOME"
REPORTS_DIR = "reports"


def zoo_home() -> Path:
    """Where the default store and ``reports/`` live: ``$ZOO_HOME``, else the working folder."""
    home = os.environ.get(HOME_ENV, "").strip()
    return (Path(home).expanduser() if home else Path.cwd()).resolve()


def repo_root() -> Path | None:
    """The checkout this package runs from (the folder holding ``pyproject.toml``), or None if installed."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def reports_dir(study: str) -> Path:
    """``reports/<study>`` in the zoo home (relative when that is the working folder, as printed)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", study)
    home = Path(REPORTS_DIR) if not os.environ.get(HOME_ENV, "").strip() else zoo_home() / REPORTS_DIR
    return home / slug


def tracking_uri(uri: str | None = None, spec_uri: str = "") -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else the spec's, else ``sqlite:///<zoo home>/mlflow.db``."""
    chosen = uri or os.environ.get("MLFLOW_TRACKING_URI") or spec_uri
    return chosen or f"sqlite:///{zoo_home() / DEFAULT_DB}"


def location_notice(uri: str | None = None) -> str | None:
    """One line naming the store and the reports folder, or None when both are the repository's own.

    A user who runs from another folder otherwise finds an empty UI and no reports where they looked.
    """
    uri = tracking_uri(uri)
    reports = zoo_home() / REPORTS_DIR
    root = repo_root()
    db = sqlite_path(uri)
    if root is not None and reports.parent == root and db is not None and db.resolve().parent == root:
        return None
    how = f" (${HOME_ENV})" if os.environ.get(HOME_ENV, "").strip() else f" (set ${HOME_ENV} to pin them)"
    return f"store: {uri}; reports: {reports}/{how}"


def git_commit() -> str:
    """The checkout's commit (``+dirty`` when it has changes), or ``unknown`` outside git."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and in-memory sqlite)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


@contextmanager
def store_lock(uri: str, timeout: float = 300.0) -> Iterator[None]:
    """Hold ``<db>.lock`` beside a sqlite store (other stores: nothing to hold; the server serialises).

    MLflow creates and migrates a new sqlite store in many steps; two processes doing it at once
    break it for good ("Online migration expected to match one row ... 'alembic_version'").
    """
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    from filelock import FileLock, Timeout

    db.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(db) + ".lock")
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise ZooError(
            f"{db}.lock: another process has held the MLflow store's lock for {timeout:.0f}s"
        ) from None
    try:
        yield
    finally:
        lock.release()


def open_client(uri: str, error: type[ZooError] = ZooError):
    """An ``MlflowClient`` on ``uri``; a store MLflow cannot open raises ``error`` naming it.

    A new sqlite store is created (tables, migrations) under :func:`store_lock`, one process at a time;
    a sqlite store moved or copied with its ``mlartifacts/`` reads and writes the artifacts beside it
    (``zoo.tracking.portable.rehome``).
    """
    from mlflow.tracking import MlflowClient

    try:
        with store_lock(uri):
            _follow_move(uri)
            c = MlflowClient(tracking_uri=uri)
            c.search_experiments(max_results=1)
    except ZooError as exc:
        raise error(str(exc)) from None
    except Exception as exc:  # MLflow raises many types for a bad store
        raise error(f"cannot open the MLflow store {uri!r}: {exc}") from exc
    return c


def _follow_move(uri: str) -> None:
    """Point a moved sqlite store's artifact locations at its own ``mlartifacts/`` (and say so)."""
    import sys

    from zoo.tracking.portable import rehome

    db = sqlite_path(uri)
    if db is None:
        return
    for old, new in rehome(db.resolve()).items():
        print(f"store moved: artifact locations under {old} now point to {new}", file=sys.stderr)


def _get_run(c, run_id: str):
    try:
        return c.get_run(run_id)
    except Exception:  # an unknown id raises MlflowException; the caller decides what it means
        return None


def parent_of(c, run):
    """The parent run of a child run; a parent (or a plain run) is its own."""
    tags = run.data.tags
    if tags.get("zoo.role") == "child" and "mlflow.parentRunId" in tags:
        return c.get_run(tags["mlflow.parentRunId"])
    return run


class Parents(NamedTuple):
    """What a command-line target resolves to: the experiment, the parent runs, and what was left out."""

    experiment: str
    runs: list[Any]
    #: One line per parent run left out, with the reason (a failed rerun, an older duplicate ...).
    skipped: list[str]


def _describe(run: Any) -> str:
    tags = run.data.tags
    name = run.info.run_name or tags.get("zoo.spec_name", "?")
    return f"{name} ({run.info.run_id[:8]}, spec {tags.get('zoo.spec_hash', '?')}, {run.info.status})"


def pick_parents(runs: Sequence[Any]) -> tuple[list[Any], list[str]]:
    """The newest FINISHED parent of each spec hash (oldest first) and a line per parent left out.

    A failed, killed or still running rerun never hides a finished run of the same spec, and two
    specs that share a name (``--set`` variants) are both kept: runs are told apart by spec hash.
    """
    ordered = sorted(runs, key=lambda r: r.info.start_time or 0, reverse=True)
    chosen: dict[str, Any] = {}
    for run in ordered:
        key = run.data.tags.get("zoo.spec_hash") or run.info.run_id
        if run.info.status == "FINISHED":
            chosen.setdefault(key, run)
    skipped = []
    for run in ordered:
        key = run.data.tags.get("zoo.spec_hash") or run.info.run_id
        keep = chosen.get(key)
        if keep is run:
            continue
        if keep is None:
            why = "no run of this spec finished"
        elif run.info.status == "FINISHED":
            why = f"an older run of the same spec; the newer finished {keep.info.run_id[:8]} is used"
        else:
            why = f"not finished; the finished {keep.info.run_id[:8]} of the same spec is used"
        skipped.append(f"skipped {_describe(run)}: {why}")
    return list(reversed(list(chosen.values()))), skipped


def run_labels(runs: Sequence[Any]) -> list[str]:
    """A unique display name per run: its run name, with its spec hash added where names clash."""
    names = [r.info.run_name or r.data.tags.get("zoo.spec_name") or r.info.run_id[:8] for r in runs]
    return [
        f"{n}@{r.data.tags.get('zoo.spec_hash', r.info.run_id)[:6]}" if names.count(n) > 1 else n
        for n, r in zip(names, runs, strict=True)
    ]


def resolve_parents(c, target: str | Sequence[str], error: type[ZooError] = ZooError) -> Parents:
    """(experiment name, parent runs, skipped) for a study name, a parent or child run id, or ids.

    A study gives the newest *finished* parent run of each spec hash, oldest first (:func:`pick_parents`);
    run ids are taken as given.
    """
    if not isinstance(target, str):
        runs = []
        for rid in target:
            run = _get_run(c, rid)
            if run is None:
                raise error(f"no MLflow run with id {rid!r}")
            runs.append(parent_of(c, run))
        if not runs:
            raise error("no run ids given")
        return Parents(c.get_experiment(runs[0].info.experiment_id).name, runs, [])
    run = _get_run(c, target) if re.fullmatch(r"[0-9a-f]{32}", target) else None
    if run is not None:
        parent = parent_of(c, run)
        return Parents(c.get_experiment(parent.info.experiment_id).name, [parent], [])
    exp = c.get_experiment_by_name(target)
    if exp is None:
        known = sorted(e.name for e in c.search_experiments())
        raise error(f"{target!r} is neither a run id nor a study (experiment); studies: {known}")
    found = c.search_runs(
        [exp.experiment_id],
        filter_string="tags.`zoo.role` = 'parent'",
        order_by=["attributes.start_time DESC"],
        max_results=5000,
    )
    if not found:
        raise error(f"study {target!r} has no parent runs (tag zoo.role=parent)")
    chosen, skipped = pick_parents(found)
    if not chosen:
        raise error(f"study {target!r} has no finished parent run: " + "; ".join(skipped))
    return Parents(exp.name, chosen, skipped)


def local_artifact(c, run_id: str, path: str, tmp: str, error: type[ZooError] = ZooError) -> Path:
    """A local path of a run's artifact: read in place from a local store, else downloaded into ``tmp``."""
    root = c.get_run(run_id).info.artifact_uri
    if root.startswith("file://") or root.startswith("/"):
        from urllib.parse import unquote, urlparse

        local = Path(unquote(urlparse(root).path) if root.startswith("file://") else root) / path
        if local.exists():
            return local
    try:
        return Path(c.download_artifacts(run_id, path, tmp))
    except Exception as exc:
        raise error(f"run {run_id} has no artifact {path!r} ({exc})") from exc


def load_score(path: str | Path, error: type[ZooError] = ZooError) -> Any:
    """The ``score`` DataArray of a Zarr store written by the trainer, read into memory."""
    import numpy as np
    import xarray as xr

    try:
        ds = xr.open_zarr(path, consolidated=False)
    except Exception as exc:
        raise error(f"cannot read {path} as a Zarr score store ({exc})") from exc
    if "score" not in ds:
        raise error(f"{path} has no 'score' array (variables: {list(ds.data_vars)})")
    da = ds["score"].load()
    # Zarr v3 gives numpy StringDType symbols, which do not cast to "<U"; go through a list
    return da.assign_coords(symbol=np.array(da["symbol"].values.tolist(), dtype=str))


def run_score(c, run_id: str, path: str, error: type[ZooError] = ZooError) -> Any:
    """A run's score artifact as an in-memory DataArray (read in place when the store is local)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return load_score(local_artifact(c, run_id, path, tmp, error), error)
