"""An outside plugin that (wrongly) registers a mixer name the built-ins already use."""

from __future__ import annotations

from zoo import hookimpl
from zoo.registry import Component


@hookimpl
def zoo_components() -> list[Component]:
    from zoo.plugins.mixers import Demean, DemeanConfig

    return [Component("mixer", "demean", DemeanConfig, lambda cfg, d: Demean())]
