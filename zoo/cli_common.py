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
