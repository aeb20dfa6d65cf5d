"""The whole spec: one experiment = model + data + training + evaluation (+ enhancement)."""

from __future__ import annotations

from attrs import field, frozen, validators

from zoo.specs.data import DataSpec
from zoo.specs.enhance import EnhanceSpec
from zoo.specs.evaluate import EvalSpec
from zoo.specs.model import ModelSpec
from zoo.specs.train import TrainSpec


@frozen
class ExperimentSpec:
    """Everything that defines a run; its canonical form and hash are logged with it."""

    name: str = field(validator=validators.min_len(1))
    model: ModelSpec
    description: str = ""
    plugins: tuple[str, ...] = field(factory=tuple, converter=tuple)
    data: DataSpec = field(factory=DataSpec)
    train: TrainSpec = field(factory=TrainSpec)
    evaluate: EvalSpec = field(factory=EvalSpec)
    enhance: EnhanceSpec = field(factory=EnhanceSpec)
