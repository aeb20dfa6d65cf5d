"""Built-in components. Each module registers through ``zoo.hookimpl`` exactly as a third party would."""

from __future__ import annotations

#: Built-in plugin modules, registered first by every plugin manager (datasette's DEFAULT_PLUGINS).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "plugins.decompositions",
    "plugins.encoders",
    "plugins.mixers",
    "plugins.fusions",
    "plugins.heads",
    "plugins.losses",
    "plugins.factors",
    "plugins.estimators",
)
