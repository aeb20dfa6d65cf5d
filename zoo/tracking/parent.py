"""What a parent run shows: its description in the MLflow UI and its headline metrics."""

from __future__ import annotations

from collections.abc import Mapping

from zoo.tracking import runs as tracking

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
