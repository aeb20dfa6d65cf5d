"""Addresses of the MLflow UI (3.x) that open on what a zoo reader compares.

What the UI's address can hold (read from MLflow 3.18's bundled UI code and its sources):

- ``orderByKey`` / ``orderByAsc`` (with ``searchFilter``, ``startTime``, ``lifecycleFilter``,
  ``datasetsFilter``, ``modelVersionFilter``) sort and filter the runs table, but the columns shown
  are not in the address: they live in the browser's storage, and sorting by a metric through the
  address does not add its column.
- ``viewStateShareKey=KEY`` loads a whole view, sort and columns included, from the experiment tag
  ``mlflow.sharedViewState.KEY`` (JSON), the tag the UI's own "Share" button writes. So the zoo writes
  that tag and prints its address (:func:`share_runs_view`, :func:`runs_table_url`).
- ``workflowType=machine_learning`` picks the model-training layout instead of the GenAI one; without
  it the UI takes the browser's stored choice (the sidebar switch; GenAI until a user flips it), not
  the experiment's ``mlflow.experimentKind`` tag. Links the UI makes itself (a run's page from the
  runs table) do not carry it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from urllib.parse import quote

from zoo.tracking.runs import HEADLINE_PREFIX

SHARE_TAG_PREFIX = "mlflow.sharedViewState."
SHARE_PARAM = "viewStateShareKey"
WORKFLOW_QUERY = "workflowType=machine_learning"
#: The metric the runs table is sorted by (descending).
SORT_METRIC = f"{HEADLINE_PREFIX}RankIC_10d"
#: Metric columns the runs table shows, in order (those no run has are simply not drawn).
HEADLINE_COLUMNS = tuple(
    HEADLINE_PREFIX + m
    for m in (
        "RankIC_10d",
        "RankICIR_10d",
        "IC_win_rate_10d",
        "RankIC_10d_seed_std",
        "RankIC_20d",
        "vs_best_baseline_RankIC_10d",
        "vs_best_baseline_NW_t_10d",
        "TOP_excess_all",
        "TOP_sharpe_all",
    )
)
#: Attribute columns shown before them (the UI's own names).
ATTRIBUTE_COLUMNS = ("Source", "Dataset")
#: Column widths in pixels (a metric's header and about 6 digits; a dataset's name and digest).
METRIC_WIDTH = 120
ATTRIBUTE_WIDTH = 190
#: The runs the shared view lists: the parent runs (their children are on each parent's page).
PARENTS_FILTER = "tags.`zoo.role` = 'parent'"


def column_key(kind: str, name: str) -> str:
    """The UI's key of a runs-table column, e.g. ``metrics.`0_RankIC_10d```."""
    return f"{kind}.`{name}`"


def runs_view(metrics: Sequence[str] = HEADLINE_COLUMNS, sort: str = SORT_METRIC) -> dict:
    """A runs-table view of the parent runs: sorted by ``sort`` (highest first), the attribute and
    ``metrics`` columns shown."""
    return {
        # sorted by a metric, the UI lists child runs flat beside their parents: show the parents
        "searchFilter": PARENTS_FILTER,
        "orderByKey": column_key("metrics", sort),
        "orderByAsc": False,
        "selectedColumns": [column_key("attributes", a) for a in ATTRIBUTE_COLUMNS]
        + [column_key("metrics", m) for m in metrics],
        # the UI would order metric columns by name and give each a wide default
        "columnOrder": [column_key("metrics", m) for m in metrics]
        + [column_key("attributes", a) for a in ATTRIBUTE_COLUMNS],
        "columnWidths": {
            **{column_key("metrics", m): METRIC_WIDTH for m in metrics},
            **{column_key("attributes", a): ATTRIBUTE_WIDTH for a in ATTRIBUTE_COLUMNS},
        },
    }


def view_key(view: dict) -> str:
    """A share key naming this view's content (a changed view gets a new key)."""
    digest = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:12]
    return f"zoo-{digest}"


def share_runs_view(c, experiment_id: str, view: dict | None = None) -> str:
    """Store ``view`` (default :func:`runs_view`) as the experiment's shared view; its key."""
    view = view or runs_view()
    key = view_key(view)
    tag = SHARE_TAG_PREFIX + key
    if c.get_experiment(experiment_id).tags.get(tag) is None:
        c.set_experiment_tag(experiment_id, tag, json.dumps(view, sort_keys=True))
    return key


def runs_table_url(url: str, experiment_id: str, share_key: str = "") -> str:
    """The runs table of an experiment in the model-training layout (with a shared view, if given)."""
    query = WORKFLOW_QUERY + (f"&{SHARE_PARAM}={share_key}" if share_key else "")
    return f"{url}/#/experiments/{experiment_id}/runs?{query}"


def compare_url(url: str, experiment_id: str, run_ids: Sequence[str]) -> str:
    """The compare page of ``run_ids`` in the model-training layout."""
    runs = quote(json.dumps(list(run_ids)), safe="")
    exps = quote(json.dumps([str(experiment_id)]), safe="")
    return f"{url}/#/compare-runs?runs={runs}&experiments={exps}&{WORKFLOW_QUERY}"


def run_url(url: str, experiment_id: str, run_id: str) -> str:
    """A run's page in the model-training layout."""
    return f"{url}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW_QUERY}"
