"""The ``zoo`` command line: one typer app, sub-commands mounted from the cli_* modules."""

from __future__ import annotations

import os
import sys

import typer

from zoo import cli_data, cli_enhance, cli_eval, cli_model, cli_predict, cli_train
from zoo.errors import ZooError

app = typer.Typer(
    name="zoo",
    help="DecompZoo: compose, train and evaluate deep cross-sectional stock-factor models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    plugin: list[str] = typer.Option(
        [], "--plugin", "-p", help="Import MODULE as a plugin (repeatable), after built-ins and entry points."
    ),
) -> None:
    """Global options shared by every command."""
    ctx.obj = {"plugins": tuple(plugin)}


for _module in (cli_model, cli_data, cli_train, cli_predict, cli_eval, cli_enhance):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zoo`` script: a ZooError becomes one message and exit code 2."""
    if not sys.stderr.isatty():  # MLflow's artifact download bars would litter logs and pipes
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        app(args=argv, standalone_mode=True)  # click reports usage errors itself and exits
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ZooError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
