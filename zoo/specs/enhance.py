"""The ``[enhance]`` section: constraints and costs of the index-enhanced portfolio."""

from __future__ import annotations

from attrs import frozen


@frozen
class EnhanceSpec:
    """Settings of the index-enhancement back-test."""

    indexes: tuple[str, ...] = ("csi300", "csi500", "csi1000")
