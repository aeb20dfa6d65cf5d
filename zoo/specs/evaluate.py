"""The ``[evaluate]`` section: horizons, universes and group counts of the factor tests."""

from __future__ import annotations

from attrs import field, frozen


@frozen
class EvalSpec:
    """Settings of the report's factor tests."""

    horizons: tuple[int, ...] = field(default=(10, 20), converter=tuple)
    universes: tuple[str, ...] = field(default=("all", "csi300", "csi500", "csi1000"), converter=tuple)
