"""What a parent run shows: its description in the MLflow UI and its headline metrics."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.tracking import runs as tracking
from zoo.tracking.children import Log
from zoo.tracking.source import log_dataset, source_tags

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
        "stitched; `0_TOP_*` after `zoo evaluate`, `0_enhance_*` after `zoo enhance`); every other "
        "number is in the CSV tables under `metrics/` (artifacts).",
    ]
    return "\n".join(lines)


def headline_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The parent's RankIC / RankICIR / IC win rate per horizon and the seeds' mean and spread of the
    RankIC, under names that sort first in the UI (``0_RankIC_10d``, ``0_RankIC_10d_seed_std`` ...)."""
    out = {}
    keys = (("rank_ic", "RankIC"), ("rank_icir", "RankICIR"), ("ic_win_rate", "IC_win_rate"))
    for h in EVAL_HORIZONS:
        for key, label in keys:
            if f"{key}_{h}d" in metrics:
                out[f"{tracking.HEADLINE_PREFIX}{label}_{h}d"] = metrics[f"{key}_{h}d"]
        for stat in ("mean", "std"):
            if f"rank_ic_{h}d_seed_{stat}" in metrics:
                out[f"{tracking.HEADLINE_PREFIX}RankIC_{h}d_seed_{stat}"] = metrics[
                    f"rank_ic_{h}d_seed_{stat}"
                ]
    return out


#: The TOP group's statistics a parent shows (``zoo evaluate``): metric key -> headline label.
TOP_HEADLINE = {"excess_ann_return": "excess", "sharpe": "sharpe", "turnover": "turnover"}
#: The enhancement statistics a parent shows per index (``zoo enhance``).
ENHANCE_HEADLINE = ("excess_return", "excess_sharpe")


def top_headline(metrics: Mapping[str, float], universe: str) -> dict[str, float]:
    """``0_TOP_excess_<u>``, ``0_TOP_sharpe_<u>``, ``0_TOP_turnover_<u>``: the TOP group's annualised
    excess return, Sharpe and turnover on the headline universe, from a model's ``zoo evaluate`` metrics."""
    return {
        f"{tracking.HEADLINE_PREFIX}TOP_{label}_{universe}": metrics[f"top.{universe}.{key}"]
        for key, label in TOP_HEADLINE.items()
        if f"top.{universe}.{key}" in metrics
    }


def enhance_headline(metrics: Mapping[str, float]) -> dict[str, float]:
    """``0_enhance_<index>_excess_return`` and ``_excess_sharpe`` from ``enhance_<index>_<stat>`` metrics."""
    return {
        tracking.HEADLINE_PREFIX + k: v
        for k, v in metrics.items()
        if k.startswith("enhance_") and k.endswith(tuple(f"_{s}" for s in ENHANCE_HEADLINE))
    }


#: Spec keys repeated as parent-run params named to sort first: the compare page's parallel-coordinates
#: plot starts on the first three params (by name) that differ between the runs.
HEADLINE_PARAMS = {"decomposition": "model.decomposition.name", "loss": "train.loss.name"}


def headline_params(params: Mapping[str, str], run_name: str) -> dict[str, str]:
    """``0_decomposition``, ``0_loss`` (those the spec has) and ``0_variant`` (the run's name)."""
    out = {
        f"{tracking.HEADLINE_PREFIX}{k}": params[key] for k, key in HEADLINE_PARAMS.items() if key in params
    }
    return {**out, f"{tracking.HEADLINE_PREFIX}variant": run_name}


def create_parent(c, experiment_id: str, spec: Any, tags: dict[str, str], run_name: str) -> str:
    """A new parent run: ``tags``, its description and source tags, its data as a dataset input, the
    spec's params (less its description, which is the run's; with :func:`headline_params`) and
    ``spec.toml``; its id."""
    from zoo.specs import canonical_toml, flatten

    tags[tracking.NOTE_TAG] = parent_description(spec, tags["zoo.spec_hash"], tags)
    tags.update(source_tags())  # the UI's Source column: the zoo command, git commit and branch
    parent_id = c.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
    log_dataset(c, parent_id, tags.get("zoo.data_store", ""), tags.get("zoo.data_fingerprint", ""))
    params = flatten(spec)
    params.pop("description", None)  # the run's description says it; as a param it clutters compare
    tracking.log_params(c, parent_id, {**headline_params(params, run_name), **params})
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
