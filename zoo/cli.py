"""The ``zoo`` command line: one typer app, sub-commands mounted from the cli_* modules."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

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


def _print_version(value: bool) -> None:
    if value:
        import zoo

        typer.echo(f"decompzoo {zoo.__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    plugin: list[str] = typer.Option(
        [],
        "--plugin",
        "-p",
        metavar="MODULE",
        help="Import MODULE as a plugin (repeatable), after built-ins and entry points.",
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """Global options shared by every command."""
    ctx.obj = {"plugins": tuple(plugin)}


for _module in (cli_model, cli_data, cli_train, cli_predict, cli_eval, cli_enhance):
    _module.register(app)


#: Exit code of a command stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
#: Commands whose rerun resumes at the first unfinished (year, seed).
RESUMABLE = ("train", "study", "main")
#: Help placeholders by Python type; typer >= 0.20 shows ``<bool>``, ``<list[str]>`` ... instead.
_METAVARS = {int: "N", float: "X", str: "TEXT"}


def _plain_metavars(cmd: Any) -> None:
    """Show a plain placeholder for each option (none for flags, arguments and --help)."""
    # typer vendors its own click, so parameters are told apart by click's attributes, not classes
    params = list(cmd.params)
    help_option = cmd.get_help_option(cmd.context_class(cmd))  # built lazily, cached on the command
    params += [help_option] if help_option is not None else []
    for param in params:
        if param.param_type_name == "argument" or getattr(param, "is_flag", False):
            shown = ""
        elif param.name == "set_":
            shown = "KEY=VALUE"
        else:
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", str)
            shown = param.metavar or _METAVARS.get(annotation, "PATH" if annotation is Path else "VALUE")
        if param.param_type_name == "argument":
            param.metavar = param.metavar or param.name.upper()
        else:
            param.metavar = param.metavar or (shown or None)
        # typer's help writes the type column from these two; an instance attribute overrides both
        param.display_type = param.display_type_rich = lambda ctx=None, _shown=shown: _shown
    for sub in getattr(cmd, "commands", {}).values():
        _plain_metavars(sub)


def command() -> Any:
    """The click command behind ``app``, with plain help placeholders."""
    cmd = typer.main.get_command(app)
    _plain_metavars(cmd)
    return cmd


def resume_hint(argv: list[str]) -> str | None:
    """How to resume an interrupted ``zoo train``/``study``/``main`` (None for other commands)."""
    commands = {c.name or c.callback.__name__ for c in app.registered_commands} | {"data"}
    first = next((a for a in argv if a in commands), None)  # the sub-command, not an argument
    if first not in RESUMABLE:
        return None
    return (
        f"to resume, run the same command again: {shlex.join(['zoo', *argv])}\n"
        f"(finished (year, seed) fits are reused from MLflow; the rest start over)"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zoo`` script: a ZooError becomes one message and exit code 2."""
    if not sys.stderr.isatty():  # MLflow's artifact download bars would litter logs and pipes
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    argv = list(sys.argv[1:] if argv is None else argv)
    from zoo.tracking.source import set_command

    set_command(["zoo", *argv])  # each run it starts names this command as its MLflow source
    try:
        # click reports usage errors itself and exits; typer turns Ctrl-C into a silent exit 130
        command().main(args=argv, prog_name="zoo", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == INTERRUPTED:
            _interrupted(argv)
        return code
    except ZooError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        hint = resume_hint(argv) if getattr(exc, "resumable", False) else None
        if hint:  # e.g. the Dask scheduler went away: the same command picks up where it stopped
            typer.echo(hint.splitlines()[0], err=True)
        return 2
    except KeyboardInterrupt:
        _interrupted(argv)
        return INTERRUPTED
    return 0


def _interrupted(argv: list[str]) -> None:
    hint = resume_hint(argv)
    typer.echo("interrupted" + (f"; {hint}" if hint else ""), err=True)


if __name__ == "__main__":
    sys.exit(main())
