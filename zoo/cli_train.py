"""``zoo train``, ``zoo study``, ``zoo compare``, ``zoo ui`` and the main job ``zoo main``."""

from __future__ import annotations

import shlex
import time
from contextlib import contextmanager
from pathlib import Path

import typer

from zoo.cli_common import (
    AUTO_WORKERS_OPTION,
    CLUSTER_HOST_OPTION,
    GPUS_OPTION,
    SCHEDULER_OPTION,
    SET_OPTION_HELP,
    URI_OPTION,
    WORKERS_OPTION,
    announce_store,
    plugins_of,
)


@contextmanager
def _executor(workers: int, scheduler: str | None, gpus_per_fit: float, host: str):
    """The executor the options ask for, closed (local cluster stopped) when the command ends."""
    from zoo.train.executors import LOCALHOST, make_executor

    if host != LOCALHOST and not workers:
        raise typer.BadParameter("--cluster-host only applies to a local cluster (--workers N)")
    ex = make_executor(workers, scheduler, gpus_per_fit, host, echo=_echo)
    try:
        if ex.remote:
            _echo(f"fits run on {ex.describe()}")
        yield ex
    finally:
        ex.close()


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


def _print_verdicts(results, sources: dict, uri: str, selection_years, plugins) -> None:
    """The paired tests of the study's models (and against the best baseline of their specs)."""
    from zoo.train.verdicts import report_verdicts, study_ics

    spec = results[0].spec
    ics = study_ics(
        results,
        sources[spec.data],
        spec.evaluate.baselines,
        (*plugins, *spec.plugins),
        spec.train.min_stocks,
    )
    report_verdicts(ics, results, uri, typer.echo, selection_years)


def _ui_hint(uri: str, experiment: str) -> None:
    typer.echo(f"\nRuns are in MLflow ({uri}), experiment {experiment!r}. Open the UI with:")
    from zoo.tracking import runs as tracking

    typer.echo("    zoo ui" + ("" if uri == tracking.tracking_uri() else f" --uri {uri}"))
    typer.echo("and compare the runs in the terminal with:")
    typer.echo(f"    zoo compare --experiment {experiment}")


def _train(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Spec TOML file or built-in name (zoo list specs)."),
    data: str = typer.Option(None, "--data", help="Data store: embedded, synth, synth:N or a Zarr path."),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP),
    experiment: str = typer.Option(
        None, "--experiment", "-e", help="MLflow experiment (default: the spec's name)."
    ),
    uri: str = URI_OPTION,
    workers: int = WORKERS_OPTION,
    scheduler: str = SCHEDULER_OPTION,
    gpus_per_fit: float = GPUS_OPTION,
    cluster_host: str = CLUSTER_HOST_OPTION,
    final: bool = typer.Option(
        False, "--final", help="Train the deployable model: every seed on all labelled days up to --until."
    ),
    until: str = typer.Option(
        None, "--until", help="Last training day of --final (YYYY-MM-DD) [the last date with a known label]."
    ),
) -> None:
    """Train one spec rolling over its test years and seeds; resumes a finished (year, seed) from MLflow.

    With --final: one fit per seed on every labelled day up to --until (validation = the last
    train.valid_years), logged as a run tagged zoo.role=final that zoo predict and zoo register use.
    """
    from zoo.specs import load_spec, variant_name
    from zoo.tracking import runs as tracking
    from zoo.train.data import open_source
    from zoo.train.runner import run_spec

    if until and not final:
        raise typer.BadParameter("--until only applies to a final fit (--final)")
    loaded = load_spec(spec, overrides=[*set_, *_data_override(data)], plugins=plugins_of(ctx))
    uri = uri or tracking.tracking_uri(loaded.train.tracking_uri)
    run_name = variant_name(loaded.name, set_)
    if run_name != loaded.name:
        _echo(
            f"run name {run_name!r}: spec {loaded.name!r} with the components you --set "
            f"(--set name=... names the spec itself)"
        )
    announce_store(uri)
    t0 = time.perf_counter()
    with _executor(workers, scheduler, gpus_per_fit, cluster_host) as ex:
        res = run_spec(
            loaded,
            open_source(loaded.data),
            experiment=experiment,
            uri=uri,
            log=_echo,
            executor=ex,
            run_name=run_name,
            plugins=plugins_of(ctx),
            final=final,
            until=until,
        )
    if final:
        typer.echo(
            f"final model: run {res.parent_run_id} ({res.trained} seed(s) trained, {res.reused} reused) "
            f"in {time.perf_counter() - t0:.0f}s; score the latest date with:\n    zoo predict "
            f"{res.parent_run_id}\nregister it with:\n    zoo register {res.parent_run_id} --name NAME"
        )
        return
    _print_metrics([res])
    typer.echo(
        f"trained {res.trained}, reused {res.reused} (year, seed) runs in {time.perf_counter() - t0:.0f}s"
    )
    _ui_hint(uri, experiment or loaded.name)


def _study(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Study TOML file or built-in name (zoo list specs)."),
    data: str = typer.Option(None, "--data", help="Data store for every variant."),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP + " Applies to every variant."),
    experiment: str = typer.Option(
        None, "--experiment", "-e", help="MLflow experiment (default: the study's name)."
    ),
    uri: str = URI_OPTION,
    workers: int = WORKERS_OPTION,
    scheduler: str = SCHEDULER_OPTION,
    gpus_per_fit: float = GPUS_OPTION,
    cluster_host: str = CLUSTER_HOST_OPTION,
) -> None:
    """Run a study (a list or grid of specs) as sibling parent runs; rerun it to resume where it stopped."""
    from zoo.tracking import runs as tracking
    from zoo.train.data import open_source
    from zoo.train.jobs import DEFAULT_OPENER
    from zoo.train.study import load_study, run_study

    study = load_study(file)
    uri = uri or tracking.tracking_uri()
    announce_store(uri)
    t0 = time.perf_counter()
    sources: dict = {}

    def keep_source(spec_data):
        sources[spec_data] = open_source(spec_data)
        return sources[spec_data]

    with _executor(workers, scheduler, gpus_per_fit, cluster_host) as ex:
        results = run_study(
            study,
            [*set_, *_data_override(data)],
            plugins_of(ctx),
            uri=uri,
            experiment=experiment,
            log=_echo,
            executor=ex,
            open_source=keep_source,
            opener=DEFAULT_OPENER,  # what workers call: keep_source only keeps the driver's copy
        )
    _print_metrics(results)
    _print_verdicts(results, sources, uri, study.selection_years, plugins_of(ctx))
    typer.echo(f"{len(results)} specs in {time.perf_counter() - t0:.0f}s")
    _ui_hint(uri, experiment or study.name)


def _compare(
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment (default: the latest one)."),
    uri: str = URI_OPTION,
) -> None:
    """Print an experiment's parent runs side by side: the spec keys that differ, then the metrics."""
    import pandas as pd

    from zoo.tracking import runs as tracking
    from zoo.train.report import compare_runs

    uri = uri or tracking.tracking_uri()
    announce_store(uri)
    table = compare_runs(uri, experiment)
    typer.echo(f"experiment: {table.attrs['experiment']}")
    with pd.option_context("display.max_colwidth", 40, "display.width", 200):
        typer.echo(table.to_string())
    for h, pairs in table.attrs["pairwise"].items():
        typer.echo(f"\n{h}-day paired tests, row minus column: mean daily RankIC difference (Newey-West t):")
        with pd.option_context("display.width", 250, "display.max_columns", None):
            typer.echo(pairs.to_string())
    for line in table.attrs["skipped"]:
        typer.echo(line)


def _ui(
    uri: str = URI_OPTION,
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free one)."),
) -> None:
    """Start the MLflow UI on the tracking store (127.0.0.1 only) and print its address; Ctrl-C stops it."""
    from zoo.tracking import runs as tracking
    from zoo.train.ui import interrupt_on_termination, mark_experiments, start_ui

    uri = uri or tracking.tracking_uri()
    interrupt_on_termination()  # a SIGTERM while the server starts stops it too
    announce_store(uri)
    experiments = mark_experiments(uri)
    # a first start imports MLflow's server app: minutes on a busy machine
    server = start_ui(uri, port, timeout=300)
    typer.echo(f"MLflow UI on {uri}: {server.url}   (Ctrl-C to stop; log: {server.log_path})")
    for study in experiments:
        typer.echo(f"  {study.name}: {study.runs_url(server.url)}")
        if study.compare_url(server.url):
            typer.echo(f"    compare its {len(study.parents)} models: {study.compare_url(server.url)}")
    server.wait()


def _server(
    folder: Path = typer.Option(Path("."), "--folder", help="Where mlflow.db and mlartifacts/ live."),
    host: str = typer.Option("127.0.0.1", "--host", help="Listen address (default loopback only)."),
    port: int = typer.Option(5000, "--port", help="Port (0: a free one)."),
    credentials: Path = typer.Option(
        None,
        "--credentials",
        help="Owner-only file with USER:PASSWORD [$MLFLOW_TRACKING_USERNAME, $MLFLOW_TRACKING_PASSWORD].",
    ),
    auth: bool = typer.Option(False, "--auth", help="Require a login on a loopback address too."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Serve a non-loopback address without a login (anyone can read and write)."
    ),
) -> None:
    """A tracking server for a cluster: sqlite + served artifacts in FOLDER; prints the URI to use.

    On any address but loopback it requires a login (MLflow's basic-auth app) unless --insecure.
    """
    from zoo.errors import ZooError
    from zoo.train import server_auth
    from zoo.train.ui import interrupt_on_termination, start_tracking_server

    interrupt_on_termination()
    locked = auth or not (server_auth.is_loopback(host) or insecure)
    creds = server_auth.read_credentials(credentials) if locked else None
    if locked and creds is None:
        raise ZooError(
            f"zoo server --host {host}: "
            + ("--auth" if auth else "a server others can reach")
            + " needs a login; set "
            f"{server_auth.USER_ENV} and {server_auth.PASSWORD_ENV} (or --credentials FILE with "
            f"USER:PASSWORD), or pass --insecure to serve every run to anyone who can reach the port"
        )
    if not locked and not server_auth.is_loopback(host):
        typer.echo(
            f"warning: --insecure: the MLflow server listens on {host} with no login: anyone who can "
            f"reach it can read and change every run (docs/security.md).",
            err=True,
        )
    # A first start creates the database and imports MLflow's server app: minutes on a busy machine.
    server = start_tracking_server(folder, host, port, timeout=600, log_dir=folder, auth=creds)
    if creds is not None:
        typer.echo(
            f"login required: clients set {server_auth.USER_ENV}={creds.username} and "
            f"{server_auth.PASSWORD_ENV} (never on a command line)"
        )
    typer.echo(f"MLflow tracking server: {server.url}   (Ctrl-C to stop; log: {server.log_path})")
    typer.echo(f"use it with: --uri {server.url}   or   export MLFLOW_TRACKING_URI={server.url}")
    server.wait()


def _main(
    ctx: typer.Context,
    data: str = typer.Option("embedded", "--data", help="embedded (real A-share slice), synth, or a store."),
    full: bool = typer.Option(
        False, "--full", help="The report's settings (3 seeds, 100 epochs ...): hours."
    ),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP + " Applied after the cuts."),
    experiment: str = typer.Option(
        None,
        "--experiment",
        "-e",
        help="Experiment (default: main, main-synth, main-full or main-synth-full).",
    ),
    uri: str = URI_OPTION,
    workers: int = AUTO_WORKERS_OPTION,
    scheduler: str = SCHEDULER_OPTION,
    gpus_per_fit: float = GPUS_OPTION,
    cluster_host: str = CLUSTER_HOST_OPTION,
) -> None:
    """The main job: GRU and DecompGRU x IC / weighted-MSE, rolling yearly, a Fig. 8 table, then the UI."""
    from zoo.train.main_job import default_workers, run_main

    announce_store(uri)
    if workers is None:
        workers = 0 if scheduler else default_workers()
    with _executor(workers, scheduler, gpus_per_fit, cluster_host) as ex:
        run_main(
            data=data,
            full=full,
            extra=set_,
            experiment=experiment,
            uri=uri,
            plugins=plugins_of(ctx),
            echo=typer.echo,
            executor=ex,
        )


def _benchmark(
    ctx: typer.Context,
    data: str = typer.Option(
        ..., "--data", help="The whole market as a Zarr store (zoo data ingest; docs/data.md)."
    ),
    out: Path = typer.Option(Path("results/benchmark"), "--out", help="Folder for the CSVs and README.md."),
    index: str = typer.Option("csi500", "--index", help="Index of the enhancement back-test."),
    set_: list[str] = typer.Option([], "--set", help=SET_OPTION_HELP),
    uri: str = URI_OPTION,
    workers: int = AUTO_WORKERS_OPTION,
    scheduler: str = SCHEDULER_OPTION,
    cluster_host: str = CLUSTER_HOST_OPTION,
) -> None:
    """The whole-market benchmark (specs/studies/benchmark.toml): train, evaluate, enhance, write results/.

    Resumable: a rerun reuses every finished (spec, year, seed) from MLflow and redoes only the rest.
    """
    import pandas as pd

    from zoo.cli_enhance import enhance_run
    from zoo.tracking import runs as tracking
    from zoo.tracking.source import command
    from zoo.train.benchmark import BENCHMARK_STUDY, seed_table, write_results
    from zoo.train.main_job import default_workers, run_main
    from zoo.train.report import display_name

    announce_store(uri)
    typed = shlex.join(command())  # as typed (zoo.cli records it)
    if workers is None:
        workers = 0 if scheduler else default_workers()
    with _executor(workers, scheduler, 0.0, cluster_host) as ex:
        res = run_main(
            data=data,
            extra=set_,
            experiment=BENCHMARK_STUDY,
            uri=uri,
            plugins=plugins_of(ctx),
            echo=typer.echo,
            study_path=BENCHMARK_STUDY,
            executor=ex,
        )
    c = tracking.client(uri or tracking.tracking_uri())
    parents = {display_name(r.name): r.parent_run_id for r in res["results"]}
    prefix = f"enhance_{index}_"
    rows = {}
    for name, pid in parents.items():
        _, metrics = enhance_run(c, c.get_run(pid), [index])
        rows[name] = {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}
    folder = write_results(out, res, seed_table(c, parents), pd.DataFrame(rows), typed)
    typer.echo(f"results: {folder}/README.md and its CSVs")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``study``, ``compare``, ``ui``, ``server`` and ``main``."""
    app.command("train")(_train)
    app.command("study")(_study)
    app.command("compare")(_compare)
    app.command("ui")(_ui)
    app.command("server")(_server)
    app.command("main")(_main)
    app.command("benchmark")(_benchmark)
