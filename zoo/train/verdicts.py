"""Verdicts of a study's models: each against the best baseline and the others, on the same days.

The daily RankICs here are the ones the study's tables summarise (``ic_of``: the ensemble score
against ``source.label(h)``), the baselines scored on exactly the cells where every model has a
score; ``zoo.evaluation.paired`` turns them into Newey-West paired tests and one line per model. The
difference and its t against the best baseline are logged to each parent run as headline metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

#: Parent-run tag naming the best baseline at horizon h (the metrics' ``versus``).
BEST_TAG = "zoo.best_baseline_{h}d"
#: Parent-run artifact: the ensemble's daily RankIC, one column per horizon (``zoo compare`` pairs them).
IC_ARTIFACT = "verdicts/ic_daily.csv"


@dataclass
class StudyICs:
    """Daily RankIC per horizon of every model (ensemble and each seed) and every baseline."""

    models: list[str]
    baselines: list[str]
    #: horizon -> name (model or baseline label) -> daily RankIC
    series: dict[int, dict[str, pd.Series]] = field(default_factory=dict)
    #: horizon -> model -> seed -> daily RankIC (models with two seeds or more)
    seeds: dict[int, dict[str, dict[int, pd.Series]]] = field(default_factory=dict)

    def baseline_metrics(self) -> dict[str, dict[str, float]]:
        """Each baseline's ``rank_ic_{h}d``, ``rank_icir_{h}d``, ``ic_win_rate_{h}d`` (table columns)."""
        from zoo.evaluation.ic import ic_summary

        out: dict[str, dict[str, float]] = {b: {} for b in self.baselines}
        for h, by_name in self.series.items():
            for b in self.baselines:
                s = ic_summary(by_name[b])
                out[b][f"rank_ic_{h}d"] = s["rank_ic"]
                out[b][f"rank_icir_{h}d"] = s["rank_icir"]
                out[b][f"ic_win_rate_{h}d"] = s["win_rate"]
        return out

    def tables(self) -> dict[int, pd.DataFrame]:
        """Per horizon, the paired tests (``zoo.evaluation.paired.paired_table``)."""
        from zoo.evaluation.paired import paired_table

        return {
            h: paired_table(by_name, self.models, self.baselines, h, self.seeds.get(h))
            for h, by_name in self.series.items()
        }


def study_ics(
    results: Sequence,
    source,
    baselines: Sequence[str] = (),
    plugins: Sequence[str] = (),
    min_stocks: int = 10,
    names: Sequence[str] | None = None,
    horizons: Sequence[int] | None = None,
) -> StudyICs:
    """The daily RankICs of the study's ensemble scores, seeds and baselines against ``source.label(h)``.

    ``names`` are the models' names in the tables (default: the results' own); the baselines (factor
    names of the registry, with ``plugins`` loaded) are scored only where every model has a score.
    ``horizons`` default to the parent runs' (``zoo.train.runner.EVAL_HORIZONS``).
    """
    import xarray as xr

    from zoo.evaluation.baselines import baseline_scores, model_mask
    from zoo.evaluation.ic import rank_ic
    from zoo.tracking.parent import EVAL_HORIZONS

    horizons = EVAL_HORIZONS if horizons is None else horizons

    names = list(names) if names is not None else [r.name for r in results]
    base = None
    if baselines:
        scores = xr.concat([r.score for r in results], dim="model", join="outer")
        base = baseline_scores(source.cube, list(baselines), model_mask(scores), plugins=plugins)
    labels = [str(b) for b in base["model"].values] if base is not None else []
    out = StudyICs(names, labels)
    for h in horizons:
        label = source.label(h)
        by_name = {n: rank_ic(r.score, label, None, min_stocks) for n, r in zip(names, results, strict=True)}
        for b in labels:
            by_name[b] = rank_ic(base.sel(model=b).drop_vars("model"), label, None, min_stocks)
        out.series[h] = by_name
        out.seeds[h] = {
            n: {s: rank_ic(sc, label, None, min_stocks) for s, sc in r.seed_scores.items()}
            for n, r in zip(names, results, strict=True)
            if len(getattr(r, "seed_scores", {})) > 1
        }
    return out


def selection_note(selection_years: Sequence[int] | None, test_years: Sequence[int]) -> str:
    """One line: which years chose the study's settings, and whether its test years are among them."""
    if selection_years is None:
        return "selection years: not recorded in the study file (set [study] selection_years)"
    if not selection_years:
        return "selection years: none (no setting of this study was chosen on its data's results)"
    chose = ", ".join(str(y) for y in selection_years)
    used = sorted(set(selection_years) & {int(y) for y in test_years})
    if not test_years:
        return f"selection years {chose}: the settings were chosen on these years' results"
    if used:
        return (
            f"selection years {chose}: the settings were chosen on test years {used}, so verdicts there are "
            "in-sample; only other years test the choice"
        )
    return f"selection years {chose}: no test year {sorted(test_years)} was used to choose the settings"


def report_verdicts(
    ics: StudyICs,
    results: Sequence,
    uri: str,
    echo: Callable[[str], None],
    selection_years: Sequence[int] | None = None,
) -> dict[int, pd.DataFrame]:
    """Print one verdict line per model and horizon, log the headline metrics on each parent; the tables."""
    from zoo.evaluation.paired import T_THRESHOLD, pairwise_text, verdict_lines

    tables = ics.tables()
    for h, table in tables.items():
        if len(ics.models) > 1:
            echo(f"\n{h}-day paired tests, row minus column: mean daily RankIC difference (Newey-West t):")
            with pd.option_context("display.width", 250, "display.max_columns", None):
                echo(pairwise_text(table).to_string())
        lines = verdict_lines(table)
        if not lines:
            continue
        echo(
            f"\n{h}-day verdicts against the best baseline (highest mean RankIC on the same cells): mean "
            f"daily RankIC difference, Newey-West t (lags >= {h - 1}), a verdict when |t| >= {T_THRESHOLD:g}:"
        )
        for line in lines:
            echo("  " + line)
    test_years = sorted({int(y) for r in results for y in r.spec.train.test_years})
    echo(selection_note(selection_years, test_years))
    log_verdicts(tables, results, ics, uri)
    return tables


def log_verdicts(tables: Mapping[int, pd.DataFrame], results: Sequence, ics: StudyICs, uri: str) -> None:
    """Headline metrics (difference and NW t against the best baseline), tags and the daily RankICs
    (``IC_ARTIFACT``) on every parent run."""
    import tempfile
    from pathlib import Path

    from zoo.evaluation.paired import best_of, verdict_metrics
    from zoo.tracking import runs as tracking

    c = tracking.client(uri)
    for name, r in zip(ics.models, results, strict=True):
        daily = pd.DataFrame({str(h): by_name[name] for h, by_name in ics.series.items()})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(IC_ARTIFACT).name
            daily.to_csv(path)
            c.log_artifact(r.parent_run_id, str(path), str(Path(IC_ARTIFACT).parent))
        metrics: dict[str, float] = {}
        for h, table in tables.items():
            metrics.update(verdict_metrics(table, name, h))
            best = best_of(table)
            if best is not None:
                c.set_tag(r.parent_run_id, BEST_TAG.format(h=h), best)
        tracking.log_metrics(c, r.parent_run_id, metrics)
