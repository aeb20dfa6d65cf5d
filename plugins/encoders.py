"""Built-in components (filled in by the owner of this module)."""

from __future__ import annotations

from zoo import hookimpl


@hookimpl
def zoo_components() -> list:
    """Components of this module."""
    return []
