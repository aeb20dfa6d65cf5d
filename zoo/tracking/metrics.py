"""A parent run's metrics: the few a reader compares as MLflow metrics, every number in CSV tables.

A parent run logs at most :data:`MAX_PARENT_METRICS` metrics, all named ``0_...`` so they sort
first in the UI (:func:`headline` checks the prefix). Everything a command computes (the
headline ones included, under their plain names: ``rank_ic_10d``, ``eval.ic10.csi300.rank_ic``,
``enhance_csi500_turnover`` ...) goes to the CSV artifact ``metrics/<table>.csv`` (columns
``metric``, ``value``; the run page shows it as a table). Each writer has its own table
(``training``, ``evaluation``, ``enhance_<index>``), so a rerun replaces its own numbers only.
:func:`run_metrics` reads a run's metrics and all its tables back as one mapping.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.tracking import runs as tracking
from zoo.tracking import store

#: The most metrics a parent run carries (the headline); the rest are in its tables.
MAX_PARENT_METRICS = 30
#: Artifact folder of a run's metric tables.
TABLE_DIR = "metrics"


def headline(metrics: Mapping[str, float]) -> dict[str, float]:
    """``metrics`` as parent-run metrics; every name must start with the headline prefix ``0_``."""
    wrong = sorted(k for k in metrics if not k.startswith(tracking.HEADLINE_PREFIX))
    if wrong:
        raise ValueError(f"parent-run metrics must start with {tracking.HEADLINE_PREFIX!r}: {wrong}")
    return {k: float(v) for k, v in metrics.items()}


def table_path(table: str) -> str:
    """The artifact path of a metric table: ``metrics/<table>.csv``."""
    return f"{TABLE_DIR}/{table}.csv"


def write_table(c, run_id: str, table: str, metrics: Mapping[str, float]) -> None:
    """Log ``metrics`` as the run's ``metrics/<table>.csv``, rows in the given order (replaces the table)."""
    import pandas as pd

    frame = pd.DataFrame({"metric": list(metrics), "value": [float(v) for v in metrics.values()]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{table}.csv"
        frame.to_csv(path, index=False)
        c.log_artifact(run_id, str(path), TABLE_DIR)


def log_parent_metrics(
    c, run_id: str, table: str, metrics: Mapping[str, float], head: Mapping[str, float]
) -> None:
    """Write every number of ``metrics`` to the table ``table``; log only ``head`` (``0_...``) as metrics."""
    head = headline(head)
    write_table(c, run_id, table, metrics)
    tracking.log_metrics(c, run_id, head)  # NaN ones are skipped


def read_tables(c, run_id: str) -> dict[str, float]:
    """Every ``metrics/*.csv`` table of a run as one mapping (none: empty)."""
    import pandas as pd

    try:
        files = [f.path for f in c.list_artifacts(run_id, TABLE_DIR) if f.path.endswith(".csv")]
    except Exception:  # a run without the folder, or a store that cannot list it
        return {}
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rel in sorted(files):
            frame = pd.read_csv(store.local_artifact(c, run_id, rel, tmp))
            out.update(zip(frame["metric"].astype(str), frame["value"].astype(float), strict=True))
    return out


def run_metrics(c, run: Any) -> dict[str, float]:
    """A run's numbers: its tables (``metrics/*.csv``) and its logged metrics (these win on a clash)."""
    return {**read_tables(c, run.info.run_id), **run.data.metrics}
