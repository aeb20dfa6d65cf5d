"""What a parent run shows: its description in the MLflow UI and its headline metrics."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.tracking import runs as tracking
from zoo.tracking.children import Log

#: Horizons the parent run's RankIC / RankICIR / win rate are logged for.
EVAL_HORIZONS = (10, 20)


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


def top_excess_headline(metrics: Mapping[str, float], universes: Sequence[str]) -> dict[str, float]:
    """``0_TOP_excess_<universe>``: the TOP group's annualised excess from a model's ``zoo evaluate``
    metrics, logged beside the trainer's headline ICs."""
    return {
        f"{tracking.HEADLINE_PREFIX}TOP_excess_{u}": metrics[f"top.{u}.excess_ann_return"] for u in universes
    }


def create_parent(c, experiment_id: str, spec: Any, tags: dict[str, str], run_name: str) -> str:
    """A new parent run: ``tags`` and its description, the spec's params and ``spec.toml``; its id."""
    from zoo.specs import canonical_toml, flatten

    tags[tracking.NOTE_TAG] = parent_description(spec, tags["zoo.spec_hash"], tags)
    parent_id = c.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
    tracking.log_params(c, parent_id, flatten(spec))
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "spec.toml"
        p.write_text(canonical_toml(spec))
        c.log_artifact(parent_id, str(p))
    return parent_id


def resume_parent(c, parent: Any, versions: Mapping[str, str], log: Log, spec_name: str) -> str:
    """Reopen ``parent`` (RUNNING again) and say so, and whether plugin versions changed; its id."""
    parent_id = parent.info.run_id
    if parent.info.status != "RUNNING":
        c.update_run(parent_id, status="RUNNING")
    tags = parent.data.tags
    log(f"[{spec_name}] resuming {tags.get('zoo.role')} run {parent_id} (spec {tags.get('zoo.spec_hash')})")
    changed = tracking.version_changes(tracking.load_versions(tags), versions)
    if changed:
        log(
            f"[{spec_name}] plugin versions changed since this run started ({'; '.join(changed)}): "
            f"finished fits are reused as they are; the new fits use the new code (the spec hash "
            f"does not cover plugin code: use another experiment to start afresh)"
        )
        c.set_tag(parent_id, tracking.PLUGINS_TAG + "_resumed", tracking.dump_versions(versions))
    return parent_id


def kill_dead_children(c, experiment_id: str, parent_id: str) -> None:
    """Mark KILLED the children left RUNNING by a killed process (not to be mistaken for live work)."""
    for run in tracking.child_runs(c, experiment_id, parent_id):
        if run.info.status == "RUNNING":
            c.set_terminated(run.info.run_id, status="KILLED")
