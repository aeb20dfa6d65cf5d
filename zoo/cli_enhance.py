"""`zoo` commands for this area (mounted by zoo.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the zoo app."""
