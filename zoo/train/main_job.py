"""The main job (README command one): the report's Fig. 8 study on the embedded real data."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from zoo import catalog
from zoo.tracking import runs as tracking
from zoo.train.report import display_name, fig8_table
from zoo.train.study import load_study

#: The built-in study ``zoo main`` runs (``specs/studies/main.toml``, shipped in the package).
MAIN_STUDY = "main"

#: What ``zoo main`` cuts (and how it changes the report's recipe) unless --full: ``(override, why)``
#: pairs, kept in the study file (``cuts`` and ``recipe`` in ``specs/studies/main.toml``).
_MAIN = load_study(MAIN_STUDY)
MAIN_CUTS: tuple[tuple[str, str], ...] = _MAIN.cuts
MAIN_RECIPE: tuple[tuple[str, str], ...] = _MAIN.recipe
#: The synthetic market ``--data synth`` uses without --full (the full default market has 1,000 stocks).
MAIN_SYNTH_STORE = "synth:300"

#: The report's Fig. 8 (10-day, CSI All Share, 2019-2025, Wind data), for orientation only.
REPORT_FIG8 = {
    "GRU-IC": {"rank_ic_10d": 0.125, "rank_icir_10d": 0.99, "ic_win_rate_10d": 0.86},
    "GRU-MSE": {"rank_ic_10d": 0.107, "rank_icir_10d": 1.10, "ic_win_rate_10d": 0.87},
    "DecompGRU-IC": {"rank_ic_10d": 0.130, "rank_icir_10d": 1.10, "ic_win_rate_10d": 0.88},
    "DecompGRU-MSE": {"rank_ic_10d": 0.110, "rank_icir_10d": 1.09, "ic_win_rate_10d": 0.87},
}


def default_workers() -> int:
    """Dask workers ``zoo main`` starts by default: one per core, at most 2 (memory: ~1.5 GB each)."""
    import os

    return max(1, min(2, os.cpu_count() or 1))


def _json_str(text: str) -> str:
    import json

    return json.dumps(text)


#: Oracle columns of the synthetic tables: column name -> the source method giving its prediction.
ORACLES: dict[str, str] = {"oracle": "expected_return", "feasible oracle": "feasible_return"}


def oracle_metrics(
    source, score_dates: pd.DatetimeIndex, min_stocks: int = 10, which: str = "expected_return"
) -> dict[str, float] | None:
    """RankIC of the source's ``which`` oracle (planted or feasible) on the test dates, or None."""
    from zoo.evaluation.ic import ic_of
    from zoo.tracking.parent import EVAL_HORIZONS
    from zoo.train.source import capability

    out: dict[str, float] = {}
    predict = capability(source, which)
    if predict is None:
        return None
    for h in EVAL_HORIZONS:
        er = predict(h)
        if er is None:
            return None
        er = er.sel(date=er["date"].isin(score_dates.values))
        summary = ic_of(er, source.label(h), min_stocks)
        out.update({f"rank_ic_{h}d": summary["rank_ic"], f"rank_icir_{h}d": summary["rank_icir"]})
        out[f"ic_win_rate_{h}d"] = summary["win_rate"]
    return out


def baseline_metrics(
    results, source, names: Sequence[str], plugins: Sequence[str] = (), min_stocks: int = 10
) -> dict[str, dict[str, float]]:
    """Fig. 8 metrics of each baseline factor, scored only where every model of ``results`` has a score.

    The same ``ic_of`` against the same ``source.label(h)`` as the models' parent metrics, so a
    baseline column differs from a model column only in the score (``zoo.train.verdicts.study_ics``).
    """
    from zoo.train.verdicts import study_ics

    return study_ics(results, source, names, plugins, min_stocks).baseline_metrics()


def _study_ics(results, sources: dict, plugins: Sequence[str]):
    """The daily RankICs of the models, their seeds and the first spec's baselines (None without data)."""
    from zoo.train.verdicts import study_ics

    if not sources:
        return None
    spec = results[0].spec
    return study_ics(
        results,
        next(iter(sources.values())),
        spec.evaluate.baselines,
        tuple(plugins) + tuple(spec.plugins),
        spec.train.min_stocks,
        names=[display_name(r.name) for r in results],
    )


def _oracle_columns(results, sources: dict) -> dict[str, dict[str, float]]:
    """The synthetic market's oracle columns (planted and feasible) on the models' test dates."""
    src = next(iter(sources.values()))
    dates = pd.DatetimeIndex(results[0].score["date"].values)
    columns = {}
    for column, which in ORACLES.items():
        oracle = oracle_metrics(src, dates, which=which)
        if oracle is not None:
            columns[column] = oracle
    return columns


def _settings(study, data: str, full: bool, echo: Callable[[str], None]) -> tuple[str, list[str]]:
    """The store and the overrides the job adds (the study's cuts and recipe unless ``full``), printed."""
    store = data
    overrides: list[str] = []
    if full:
        echo("zoo main --full: the report's settings (3 seeds, up to 100 epochs, patience 15, all days).")
    elif study.cuts or study.recipe:
        if data == "synth":
            store = MAIN_SYNTH_STORE
        echo("zoo main: default settings are cut to finish in about 15 minutes on a 2-core CPU:")
        for override, why in study.cuts:
            echo(f"  --set {override:<28} {why}")
            overrides.append(override)
        if store != data:
            echo(f"  --data {store:<27} a 300-stock synthetic market instead of 1,000 stocks")
        echo("and changes the report's label (results/training/evidence-of-skill.md):")
        for override, why in study.recipe:
            echo(f"  --set {override:<28} {why}")
            overrides.append(override)
        echo("  (zoo main --full runs the report's settings; any --set given here is applied after these.)")
    if not full:
        # Small per-day batches gain little from a second thread and lose a lot when the cores are busy.
        overrides.append("train.threads=1")
    return store, overrides


def run_main(
    data: str = "embedded",
    full: bool = False,
    extra: Sequence[str] = (),
    experiment: str | None = None,
    uri: str | None = None,
    plugins: Sequence[str] = (),
    echo: Callable[[str], None] = print,
    study_path: str | Path = MAIN_STUDY,
    executor=None,
) -> dict:
    """Run the main study, print the Fig. 8 tables and how to open the UI; return the tables."""
    from tqdm.auto import tqdm

    from zoo.evaluation.report import text_table
    from zoo.train.data import open_source
    from zoo.train.jobs import DEFAULT_OPENER
    from zoo.train.study import run_study, study_scores
    from zoo.train.verdicts import report_verdicts

    t0 = time.perf_counter()
    study_path = catalog.resolve(study_path, "study")
    study = load_study(study_path)
    store, overrides = _settings(study, data, full, echo)
    overrides += [f"data.store={_json_str(store)}", *extra]
    experiment = experiment or "-".join(
        ["main", *(["synth"] if data == "synth" else []), *(["full"] if full else [])]
    )
    uri = uri or tracking.tracking_uri()
    echo(f"data: {store}; study: {study_path.name} ({len(study.variants)} specs)")
    echo(f"MLflow: {uri}, experiment {experiment!r}")

    sources: dict = {}

    def keep_source(spec_data):
        src = open_source(spec_data)
        sources[spec_data] = src
        return src

    results = run_study(
        study,
        overrides,
        plugins,
        uri=uri,
        experiment=experiment,
        open_source=keep_source,
        opener=DEFAULT_OPENER,  # what workers call: keep_source only keeps the driver's copy
        log=tqdm.write,
        executor=executor,
    )
    metrics = {display_name(r.name): r.metrics for r in results}
    extra_cols = _oracle_columns(results, sources) if data == "synth" or store.startswith("synth") else {}
    ics = _study_ics(results, sources, plugins)
    if ics is not None:
        extra_cols.update(ics.baseline_metrics())
    tables = {}
    for h in (10, 20):
        tables[h] = fig8_table(metrics, h, extra_cols)
        first, last = pd.DatetimeIndex(results[0].score["date"].values)[[0, -1]]
        echo(
            f"\n{h}-day horizon, universe '{results[0].spec.data.universe}', test "
            f"{first.date()}..{last.date()} (layout of the report's Fig. {8 if h == 10 else 9}):"
        )
        echo(text_table(tables[h], 3))
    verdicts = {} if ics is None else report_verdicts(ics, results, uri, echo, study.selection_years)
    echo("\nThe report's Fig. 8 (Wind data, CSI All Share, 2019-2025), for orientation only:")
    echo(fig8_table(REPORT_FIG8, 10).to_string())
    evaluation = evaluate_study(results, sources, uri, echo)
    elapsed = time.perf_counter() - t0
    trained = sum(r.trained for r in results)
    reused = sum(r.reused for r in results)
    echo(f"\n{len(results)} specs, {trained} (year, seed) runs trained, {reused} reused, in {elapsed:.0f}s.")
    echo(f"Runs are in MLflow: {uri}, experiment {experiment!r}. Open the UI with:")
    echo("    zoo ui" + ("" if uri == tracking.tracking_uri() else f" --uri {uri}"))
    echo(f"or compare in the terminal: zoo compare --experiment {experiment}")
    return {
        "tables": tables,
        "results": results,
        "scores": study_scores(results),
        "elapsed": elapsed,
        "experiment": experiment,
        "evaluation": evaluation,
        "verdicts": verdicts,
    }


def evaluate_study(results, sources: dict, uri: str, echo: Callable[[str], None]):
    """Run the report's factor tests on the study's parent runs and print the TOP-group lines."""
    from zoo.evaluation.tracking import evaluate_runs

    cube = next(iter(sources.values())).cube if sources else None
    study = evaluate_runs([r.parent_run_id for r in results], uri=uri, cube=cube, echo=echo)
    first = study.result
    echo("\nWeekly quantile-group test (signal on the week's last day, trade at the next week's first close,")
    echo("limit-up/down and suspended stocks excluded, no costs), TOP group; ann. excess = annualised TOP")
    echo("return - annualised universe return (the report's Fig. 13):")
    for model in first.columns:
        echo("  " + first.top_line(model))
    echo(f"All tables and plots (IC by universe, groups, styles, correlations): {study.report}")
    return study
