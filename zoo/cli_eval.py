"""`zoo evaluate`: the report's factor tests on runs logged in MLflow (mounted by zoo.cli)."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate_command(
    target: list[str] = typer.Argument(
        ..., metavar="RUN_OR_STUDY", help="A study (MLflow experiment) name, or one or more run ids."
    ),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow store; default $MLFLOW_TRACKING_URI, else mlflow.db in $ZOO_HOME or here.",
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for tables, plots and report.html [$ZOO_HOME/reports/<study>]."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override an evaluate key, e.g. --set evaluate.horizons=[10] (repeatable)."
    ),
    no_log: bool = typer.Option(False, "--no-log", help="Write files only; log nothing to MLflow."),
) -> None:
    """IC, quantile groups, styles and factor correlations of the runs' ensemble scores."""
    from zoo.cli_common import announce_store
    from zoo.evaluation.tracking import evaluate_runs

    announce_store(tracking_uri)
    study = evaluate_runs(
        target[0] if len(target) == 1 else target,
        uri=tracking_uri,
        out_dir=out,
        overrides=tuple(set_),
        log_to_mlflow=not no_log,
        echo=typer.echo,
    )
    typer.echo(study.result.summary())
    where = "" if no_log else f" and logged under {', '.join(study.parents.values())}/evaluation"
    typer.echo(f"report: {study.report}{where}")


def register(app: typer.Typer) -> None:
    """Add ``zoo evaluate`` to the zoo app."""
    app.command("evaluate")(evaluate_command)
