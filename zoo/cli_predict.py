"""``zoo predict`` (score one date with a logged model) and ``zoo register`` (MLflow Model Registry)."""

from __future__ import annotations

from pathlib import Path

import typer

from zoo.cli_common import URI_OPTION, plugins_of


def _predict(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., help="A final run id, a study (experiment) name or run id, or models:/NAME/VERSION."
    ),
    date: str = typer.Option("latest", "--date", help="latest, or a trading day YYYY-MM-DD of the cube."),
    out: Path = typer.Option(
        None, "--out", help="Output .parquet or .csv [predictions/<spec name>-<date>.parquet]."
    ),
    top: int = typer.Option(20, "--top", help="Print the K best-scored stocks.", min=0),
    data: str = typer.Option(None, "--data", help="Data store to score [the one the model was trained on]."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto [the spec's train.device]."),
    uri: str = URI_OPTION,
    trust_pickles: bool = typer.Option(
        False,
        "--trust-pickles",
        help="Also load an older zoo's pickled estimator (estimator.joblib); it runs any code stored in it.",
    ),
) -> None:
    """Score every eligible stock on a date with a logged model's seeds (ensembled); write and log it."""
    import attrs
    import pandas as pd

    from zoo.tracking import runs as tracking
    from zoo.train import predict as zp
    from zoo.train.data import open_source

    uri = uri or tracking.tracking_uri()
    c = tracking.client(uri)
    bundle = zp.load_model(c, target, plugins_of(ctx), trust_pickles)
    data_spec = bundle.spec.data if not data else attrs.evolve(bundle.spec.data, store=data)
    source = open_source(data_spec)
    pred = zp.score_date(bundle, source, date, device)
    path = zp.write_table(pred.table, out or zp.default_out(bundle, pred.date))
    rid = zp.log_prediction(c, bundle, pred, source, target, path)
    what = f"test year {bundle.test_year} of study run" if bundle.kind == "study" else "final run"
    typer.echo(
        f"{bundle.spec.name}: {len(bundle.weights)} seed(s) of {what} {bundle.run_id} "
        f"(labels up to {bundle.trained_until or '?'}), scored {len(pred.table)} stocks on {pred.date} "
        f"from {source.store}"
    )
    if bundle.trained_until and str(pred.date) <= bundle.trained_until:
        typer.echo(
            f"note: {pred.date} is not after the model's last training label ({bundle.trained_until}): "
            f"an in-sample score, not a forecast"
        )
    if top:
        with pd.option_context("display.width", 200, "display.max_columns", None):
            typer.echo(pred.table.head(top).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    typer.echo(f"wrote {path.resolve()}  (MLflow prediction run {rid})")


def _register(
    run: str = typer.Argument(..., help="A final run id (zoo train SPEC --final), or its experiment's name."),
    name: str = typer.Option(..., "--name", help="Registered model name."),
    uri: str = URI_OPTION,
) -> None:
    """Register a final run's model (spec + each seed's weights) in the MLflow Model Registry."""
    from zoo.tracking import runs as tracking
    from zoo.train import predict as zp

    uri = uri or tracking.tracking_uri()
    version = zp.register(tracking.client(uri), run, name)
    typer.echo(f"registered models:/{name}/{version}   (zoo predict models:/{name}/{version})")


def register(app: typer.Typer) -> None:
    """Add ``predict`` and ``register``."""
    app.command("predict")(_predict)
    app.command("register")(_register)
