"""The ``[train]`` section: loss, optimiser, early stopping, seeds and the rolling test years."""

from __future__ import annotations

from attrs import field, frozen, validators

from zoo.specs.model import ComponentRef


@frozen
class TrainSpec:
    """How a model is trained and rolled over the test years."""

    loss: ComponentRef = field(factory=lambda: ComponentRef("ic"))
    lr: float = field(default=1e-3, validator=validators.gt(0))
    max_epochs: int = field(default=100, validator=validators.ge(1))
    patience: int = field(default=15, validator=validators.ge(1))
    seeds: tuple[int, ...] = field(default=(0, 42, 3407), converter=tuple)
    test_years: tuple[int, ...] = field(factory=tuple, converter=tuple)
    train_years: int = field(default=4, validator=validators.ge(1))
    valid_years: int = field(default=1, validator=validators.ge(1))
    #: Trading days between train / valid / test; None means label horizon + 1.
    purge_days: int | None = None
    device: str = "cpu"
