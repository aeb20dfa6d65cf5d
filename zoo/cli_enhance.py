"""`zoo enhance`: the index-enhancement back-test of a trained run (or every run of a study) from MLflow."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import typer

from zoo.errors import ZooError
from zoo.tracking.store import local_artifact, open_client, resolve_parents, run_labels
from zoo.tracking.store import tracking_uri as runs_store_uri

SCORE_ARTIFACT = "scores/ensemble.zarr"
ARTIFACT_DIR = "enhance"


def enhance_spec_from_toml(text: str, overrides: Sequence[str] = (), source: str = "spec.toml"):
    """The ``[enhance]`` section of a spec's TOML text with ``--set enhance.KEY=VALUE`` overrides applied."""
    from zoo.specs import EnhanceSpec, load_section

    return load_section(text, "enhance", EnhanceSpec, overrides, source)


def _spec_text(c, run_id: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return local_artifact(c, run_id, "spec.toml", tmp).read_text(encoding="utf-8")
        except ZooError:  # an old run without the artifact: the [enhance] defaults apply
            return ""


def enhance_run(
    c,
    run,
    indexes: Sequence[str],
    overrides: Sequence[str] = (),
    store: str | None = None,
    styles: bool = True,
    cache: dict | None = None,
) -> tuple[dict, dict[str, float]]:
    """Back-test one parent run on each index; log tables and plots under ``enhance/``, every statistic
    in ``metrics/enhance_<index>.csv`` and the headline ones as ``0_enhance_<index>_*`` metrics."""
    from zoo.datasets import open_cube
    from zoo.evaluation.enhance import run_backtest
    from zoo.evaluation.enhance.report import headline_metrics, write_outputs
    from zoo.tracking.metrics import log_parent_metrics
    from zoo.tracking.parent import enhance_headline
    from zoo.tracking.runs import download_scores

    run_id = run.info.run_id
    spec = enhance_spec_from_toml(_spec_text(c, run_id), overrides, source=f"run {run_id} spec.toml")
    store = store or run.data.tags.get("zoo.data_store")
    if not store:
        raise ZooError(f"run {run_id} has no zoo.data_store tag: name the cube with --store")
    cache = {} if cache is None else cache
    if store not in cache:  # a study's runs usually share one cube: read it and its styles once
        cache.clear()
        cache[store] = {"cube": open_cube(store)}
    cube = cache[store]["cube"]
    score = download_scores(c, run_id, SCORE_ARTIFACT)
    exposures = None
    if styles and spec.style_band != float("inf"):
        from zoo.evaluation.styles import style_exposures

        key = ("styles", spec.styles)
        if key not in cache[store]:
            cache[store][key] = style_exposures(cube, spec.styles or None)
        exposures = cache[store][key]
    names = tuple(indexes) or spec.indexes
    results = {}
    for index in names:
        typer.echo(f"enhance {run.info.run_name or run_id}: {index}", err=True)
        results[index] = run_backtest(cube, score, index, spec, exposures)
    metrics = headline_metrics(results)
    with tempfile.TemporaryDirectory() as tmp:
        out = write_outputs(
            results, Path(tmp) / ARTIFACT_DIR, title=f"Index enhancement: {run.info.run_name}"
        )
        c.log_artifacts(run_id, str(out), ARTIFACT_DIR)
    # the headline (excess return and Sharpe per index) as metrics, every number in one table per index
    for index in names:
        own = {k: v for k, v in metrics.items() if k.startswith(f"enhance_{index}_")}
        log_parent_metrics(c, run_id, f"{ARTIFACT_DIR}_{index}", own, enhance_headline(own))
    return results, metrics


def register(app: typer.Typer) -> None:
    """Add ``zoo enhance`` to the zoo app."""

    @app.command("enhance")
    def enhance(
        run_or_study: str = typer.Argument(..., help="A parent run id, or a study (MLflow experiment) name."),
        index: list[str] = typer.Option(
            [], "--index", "-i", help="Index to enhance (repeatable); default: the spec's enhance.indexes."
        ),
        set_: list[str] = typer.Option(
            [], "--set", help="Override an enhance key, e.g. --set enhance.max_turnover=0.2"
        ),
        store: str = typer.Option("", "--store", help="Cube to use instead of the run's zoo.data_store tag."),
        no_styles: bool = typer.Option(False, "--no-styles", help="Skip the style-exposure constraint."),
        report: Path = typer.Option(
            None,
            "--report",
            help="Also write the study's enhancement report here (default: reports/<study>/).",
        ),
        tracking_uri: str = typer.Option(
            "", "--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI)."
        ),
    ) -> None:
        """Back-test the index-enhanced portfolio of a run's (or study's) scores; log it to MLflow."""
        import re

        import matplotlib.pyplot as plt

        from zoo.cli_common import announce_store
        from zoo.evaluation.enhance.report import plot_excess_nav, summary_markdown
        from zoo.tracking.store import reports_dir

        announce_store(tracking_uri or None)
        c = open_client(runs_store_uri(tracking_uri or None))
        name, runs, skipped = resolve_parents(c, run_or_study)
        for line in skipped:
            typer.echo(f"note: {line}", err=True)
        out_dir = report or reports_dir(name)
        out_dir.mkdir(parents=True, exist_ok=True)
        sections, cache = [], {}
        for run, label in zip(runs, run_labels(runs), strict=True):
            results, metrics = enhance_run(c, run, index, set_, store or None, not no_styles, cache)
            png = f"enhance_{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}_{run.info.run_id[:8]}.png"
            fig = plot_excess_nav(results, title=f"{label}: excess NAV")
            fig.savefig(out_dir / png, dpi=120)
            plt.close(fig)
            sections.append(
                summary_markdown(results, title=f"{label} (run {run.info.run_id})") + f"\n![]({png})\n"
            )
            for key, value in metrics.items():
                if key.endswith(("excess_return", "tracking_error", "excess_sharpe", "turnover")):
                    typer.echo(f"{label:24s} {key:40s} {value: .4f}")
        path = out_dir / "enhance.md"
        path.write_text(f"# Index enhancement: {name}\n\n" + "\n".join(sections), encoding="utf-8")
        typer.echo(f"enhancement report: {path}")
