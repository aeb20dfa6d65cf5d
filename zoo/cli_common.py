"""Helpers shared by the cli_* modules."""

from __future__ import annotations

import typer


def plugins_of(ctx: typer.Context) -> tuple[str, ...]:
    """The ``--plugin`` modules given on the command line (global option)."""
    root = ctx.find_root()
    return tuple((root.obj or {}).get("plugins", ()))


SET_OPTION_HELP = "Override a spec key, e.g. --set train.patience=5 (repeatable)."


def announce_store(uri: str | None = None) -> None:
    """Print (to stderr) where the MLflow store and ``reports/`` are, unless they are the repository's."""
    from zoo.tracking.store import location_notice

    line = location_notice(uri)
    if line:
        typer.echo(line, err=True)


# --------------------------------------------------------------------------- shared option groups
# One definition each; a command declares ``uri: str = URI_OPTION`` (typer reads, never changes, them).

URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else mlflow.db in $ZOO_HOME or here)."
#: ``--uri``: the MLflow store.
URI_OPTION = typer.Option(None, "--uri", help=URI_HELP)

WORKERS_HELP = "Run the fits on a local Dask cluster of N worker processes (0 = serially, in this process)."
SCHEDULER_HELP = "Run the fits on an existing Dask cluster (e.g. tcp://10.0.0.5:8786) instead."
GPUS_HELP = "Share of a worker's GPU resource each fit asks for (0.25: four fits per GPU)."
CLUSTER_HOST_HELP = "Address the local Dask cluster and dashboard listen on (default 127.0.0.1 only)."
#: The executor group: ``--workers`` (0: serial), ``--scheduler``, ``--gpus-per-fit``, ``--cluster-host``.
WORKERS_OPTION = typer.Option(0, "--workers", "-w", help=WORKERS_HELP, min=0)
#: ``--workers`` of the commands that pick a local cluster themselves when it is left out (``zoo main``).
AUTO_WORKERS_OPTION = typer.Option(
    None, "--workers", "-w", help=WORKERS_HELP + " (default: min(2, CPU cores))", min=0
)
SCHEDULER_OPTION = typer.Option(None, "--scheduler", help=SCHEDULER_HELP)
GPUS_OPTION = typer.Option(0.0, "--gpus-per-fit", help=GPUS_HELP, min=0.0)
CLUSTER_HOST_OPTION = typer.Option("127.0.0.1", "--cluster-host", help=CLUSTER_HOST_HELP)
