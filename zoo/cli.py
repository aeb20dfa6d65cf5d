"""The ``zoo`` command line: one typer app, sub-commands mounted from the cli_* modules."""

from __future__ import annotations

import sys

import click
import typer

from zoo import cli_data, cli_enhance, cli_eval, cli_model, cli_train
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


for _module in (cli_model, cli_data, cli_train, cli_eval, cli_enhance):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zoo`` script: a ZooError becomes one message and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except ZooError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:  # usage errors: unknown option, missing argument …
        exc.show()
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
