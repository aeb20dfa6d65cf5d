"""DecompZoo core: contracts, registry, specs, composition, training and tracking.

Kept light on import (no torch) so that ``datasets`` and ``evaluation`` can use ``zoo.errors``.
"""

from __future__ import annotations

from zoo.errors import DataError, EvaluationError, RegistryError, SpecError, TrainingError, ZooError
from zoo.hookspecs import hookimpl

__version__ = "0.1.0"

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
