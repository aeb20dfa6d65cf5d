"""``zoo train``, ``zoo study``, ``zoo compare``, ``zoo ui`` and the main job ``zoo main``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from zoo.cli_common import SET_OPTION_HELP, plugins_of

URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)."


def _echo(msg: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(msg)


def _data_override(data: str | None) -> list[str]:
    if not data:
        return []
    return [f"data.store={_toml_str(data)}"]


def _toml_str(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a valid TOML basic string


def _print_metrics(results) -> None:
    import pandas as pd

    from zoo.train.report import fig8_table, seed_table

    table = fig8_table({r.name: r.metrics for r in results}, 10)
    typer.echo("\n10-day RankIC (ensemble of seeds, test years stitched):")
    typer.echo(table.round(3).to_string())
    seeds = seed_table({r.name: r.metrics for r in results})
    typer.echo("\nRankIC per seed (test years stitched), the seeds' mean, sample std and range:")
    with pd.option_context("display.width", 250, "display.max_columns", None):
        typer.echo(seeds.round(4).to_string())


def _ui_hint(uri: str, experiment: str) -> None:
    typer.echo(f"\nRuns are in MLflow ({uri}), experiment {experiment!r}. Open the UI with:")
    from zoo.train import tracking

    typer.echo("    zoo ui" + ("" if uri == tracking.tracking_uri() else f" --uri {uri}"))
    typer.echo("and compare the runs in the terminal with:")
    typer.echo(f"    zoo compare --experiment {experiment}")


def _train(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Spec TOML file, e.g. specs/decompgru.toml."),
    data: str = typer.Option(None, "--data", help="Data store: embedded, synth, synth:N or a Zarr path."),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP),
    experiment: str = typer.Option(None, "--experiment", "-e", help="MLflow experiment [spec name]."),
    uri: str = typer.Option(None, "--uri", help=URI_HELP),
) -> None:
    """Train one spec rolling over its test years and seeds; resumes a finished (year, seed) from MLflow."""
    from zoo.specs import load_spec
    from zoo.train import tracking
    from zoo.train.data import open_source
    from zoo.train.runner import run_spec

    loaded = load_spec(spec, overrides=[*set_, *_data_override(data)], plugins=plugins_of(ctx))
    uri = uri or tracking.tracking_uri(loaded.train.tracking_uri)
    t0 = time.perf_counter()
    res = run_spec(loaded, open_source(loaded.data), experiment=experiment, uri=uri, log=_echo)
    _print_metrics([res])
    typer.echo(
        f"trained {res.trained}, reused {res.reused} (year, seed) runs in {time.perf_counter() - t0:.0f}s"
    )
    _ui_hint(uri, experiment or loaded.name)


def _study(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Study TOML file, e.g. specs/studies/main.toml."),
    data: str = typer.Option(None, "--data", help="Data store for every variant."),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP + " Applies to every variant."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="MLflow experiment [study name]."),
    uri: str = typer.Option(None, "--uri", help=URI_HELP),
) -> None:
    """Run a study (a list or grid of specs) as sibling parent runs; rerun it to resume where it stopped."""
    from zoo.train import tracking
    from zoo.train.study import load_study, run_study

    study = load_study(file)
    uri = uri or tracking.tracking_uri()
    t0 = time.perf_counter()
    results = run_study(
        study, [*set_, *_data_override(data)], plugins_of(ctx), uri=uri, experiment=experiment, log=_echo
    )
    _print_metrics(results)
    typer.echo(f"{len(results)} specs in {time.perf_counter() - t0:.0f}s")
    _ui_hint(uri, experiment or study.name)


def _compare(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment (default: the latest one)."),
    uri: str = typer.Option(None, "--uri", help=URI_HELP),
) -> None:
    """Print an experiment's parent runs side by side: the spec keys that differ, then the metrics."""
    import pandas as pd

    from zoo.train import tracking
    from zoo.train.report import compare_runs

    table = compare_runs(uri or tracking.tracking_uri(), experiment)
    typer.echo(f"experiment: {table.attrs['experiment']}")
    with pd.option_context("display.max_colwidth", 40, "display.width", 200):
        typer.echo(table.to_string())


def _ui(
    uri: str = typer.Option(None, "--uri", help=URI_HELP),
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free one)."),
) -> None:
    """Start the MLflow UI on the tracking store (127.0.0.1 only) and print its address; Ctrl-C stops it."""
    from zoo.train import tracking
    from zoo.train.ui import start_ui

    uri = uri or tracking.tracking_uri()
    server = start_ui(uri, port)
    typer.echo(f"MLflow UI on {uri}: {server.url}   (Ctrl-C to stop; log: {server.log_path})")
    try:
        while server.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _main(
    ctx: typer.Context,
    data: str = typer.Option("embedded", "--data", help="embedded (real A-share slice), synth, or a store."),
    full: bool = typer.Option(
        False, "--full", help="The report's settings (3 seeds, 100 epochs ...): hours."
    ),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP + " Applied after the cuts."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment [main[-synth][-full]]."),
    uri: str = typer.Option(None, "--uri", help=URI_HELP),
) -> None:
    """The main job: GRU and DecompGRU x IC / weighted-MSE, rolling yearly, a Fig. 8 table, then the UI."""
    from zoo.train.main_job import run_main

    run_main(
        data=data,
        full=full,
        extra=set_,
        experiment=experiment,
        uri=uri,
        plugins=plugins_of(ctx),
        echo=typer.echo,
    )


def register(app: typer.Typer) -> None:
    """Add ``train``, ``study``, ``compare``, ``ui`` and ``main``."""
    app.command("train")(_train)
    app.command("study")(_study)
    app.command("compare")(_compare)
    app.command("ui")(_ui)
    app.command("main")(_main)
