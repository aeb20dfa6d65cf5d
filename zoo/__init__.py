"""DecompZoo core: contracts, registry, specs, composition, training and tracking.

Kept light on import (no torch) so that ``datasets`` and ``evaluation`` can use ``zoo.errors``.
"""

from __future__ import annotations

from zoo.errors import DataError, EvaluationError, RegistryError, SpecError, TrainingError, ZooError
from zoo.hookspecs import hookimpl

#: The one version of the distribution (pyproject.toml reads it from here; ``zoo --version`` prints it).
__version__ = "0.3.0"

__all__ = [
    "DataError",
    "EvaluationError",
    "RegistryError",
    "SpecError",
    "TrainingError",
    "ZooError",
    "__version__",
    "hookimpl",
]
