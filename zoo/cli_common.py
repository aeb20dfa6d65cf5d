"""Helpers shared by the cli_* modules."""

from __future__ import annotations

import typer


def plugins_of(ctx: typer.Context) -> tuple[str, ...]:
    """The ``--plugin`` modules given on the command line (global option)."""
    root = ctx.find_root()
    return tuple((root.obj or {}).get("plugins", ()))


SET_OPTION_HELP = "Override a spec key, e.g. --set train.patience=5 (repeatable)."
