"""Built-in components. Each module registers through ``zoo.hookimpl`` exactly as a third party would."""

from __future__ import annotations

#: Built-in plugin modules, registered first by every plugin manager (datasette's DEFAULT_PLUGINS).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "zoo.plugins.decompositions",
    "zoo.plugins.encoders",
    "zoo.plugins.mixers",
    "zoo.plugins.fusions",
    "zoo.plugins.heads",
    "zoo.plugins.losses",
    "zoo.plugins.factors",
    "zoo.plugins.estimators",
)
