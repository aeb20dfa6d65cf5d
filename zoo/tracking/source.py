"""What fills the UI's Source and Dataset columns: MLflow's source tags and a dataset input per run.

- :func:`source_tags`: ``mlflow.source.name`` (the zoo command; the UI shows the text after its
  last ``/``, so path arguments are given by their last part; ``zoo.command`` keeps the command
  as typed), ``mlflow.source.type`` = ``LOCAL``, ``mlflow.source.git.commit`` / ``.branch``.
- :func:`log_dataset`: the run's data as an MLflow dataset input, name = the store (a path's last
  part), digest = the cube fingerprint, source = the path (``local``) or the store name
  (``embedded``, ``synth:N``: data made by code, ``code``).
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from zoo.tracking import store

#: The command line a zoo process runs (``zoo.cli.main`` sets it); else the Python program's argv.
_COMMAND: list[str] = []
#: MLflow's input tag saying what a dataset was used for.
CONTEXT_TAG = "mlflow.data.context"


def set_command(argv: Sequence[str]) -> None:
    """Record the command this process runs (``["zoo", "train", ...]``), logged on every new run."""
    _COMMAND[:] = [str(a) for a in argv]
    _source_tags.cache_clear()


def command() -> list[str]:
    """The command line of this process: the one :func:`set_command` recorded, else ``sys.argv``."""
    return list(_COMMAND) or [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]


def display_command(argv: Sequence[str]) -> str:
    """The command as the UI's Source column can show it: every path by its last part (no ``/`` left)."""
    return shlex.join(re.sub(r"[^\s=]*/", "", a.rstrip("/")) for a in argv)


def _git(*args: str) -> str:
    root = store.repo_root() or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def source_tags() -> dict[str, str]:
    """MLflow's source tags for a run started by this process (the git ones only inside a checkout)."""
    return dict(_source_tags())


@functools.lru_cache(maxsize=1)
def _source_tags() -> dict[str, str]:
    argv = command()
    tags = {
        "mlflow.source.name": display_command(argv)[:500],
        "mlflow.source.type": "LOCAL",
        "zoo.command": shlex.join(argv)[:5000],
    }
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        branch = _git("rev-parse", "--abbrev-ref", "HEAD")
        if branch and branch != "HEAD":  # a detached checkout has no branch
            tags["mlflow.source.git.branch"] = branch
    return tags


def dataset_entity(data_store: str, fingerprint: str):
    """The MLflow dataset of a zoo data store: name, digest = fingerprint, source (path or name)."""
    from mlflow.entities import Dataset

    is_path = "/" in data_store or Path(data_store).suffix == ".zarr"
    name = data_store.rstrip("/").rsplit("/", 1)[-1] if is_path else data_store
    source_type, source = (
        ("local", {"uri": data_store}) if is_path else ("code", {"tags": {"zoo.data_store": data_store}})
    )
    return Dataset(
        name=name or "data",
        digest=(fingerprint or "unknown")[:36],
        source_type=source_type,
        source=json.dumps(source),
    )


def log_dataset(c, run_id: str, data_store: str, fingerprint: str, context: str = "training") -> None:
    """Record the run's data as an MLflow dataset input (the UI's Dataset column)."""
    from mlflow.entities import DatasetInput, InputTag

    entity = dataset_entity(data_store, fingerprint)
    c.log_inputs(run_id, datasets=[DatasetInput(entity, tags=[InputTag(CONTEXT_TAG, context)])])
