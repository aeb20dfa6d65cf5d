"""The one exception family every DecompZoo error belongs to."""

from __future__ import annotations


class ZooError(Exception):
    """Base of every error DecompZoo raises on purpose; its message tells the user what to do."""


class RegistryError(ZooError):
    """A component is unknown, registered twice, or cannot be built."""


class SpecError(ZooError):
    """A spec file or override is malformed: wrong key, type or value."""


class DataError(ZooError):
    """A data file or store is missing, malformed or inconsistent."""


class TrainingError(ZooError):
    """Training or tracking cannot go on (e.g. no eligible days in a split)."""


class EvaluationError(ZooError):
    """A factor evaluation cannot be computed from what it was given."""
