"""An outside plugin used by the tests: a mixer that blends each stock with the day's median-free mean.

It lives outside every DecompZoo package and registers exactly like a third-party module would.
"""

from __future__ import annotations

import torch
from attrs import field, frozen, validators
from torch import nn

from zoo import hookimpl
from zoo.registry import Component


@frozen
class ShrinkConfig:
    """How far each stock is pulled towards the cross-sectional mean (0 = not at all)."""

    strength: float = field(default=0.5, validator=validators.ge(0.0))


class ShrinkToMean(nn.Module):
    """``h - strength * mean(h)`` with a learnable gate, so it has parameters to train."""

    def __init__(self, width: int, cfg: ShrinkConfig) -> None:
        super().__init__()
        self.strength = cfg.strength
        self.gate = nn.Parameter(torch.ones(width))

    def forward(self, h: torch.Tensor, ctx=None) -> torch.Tensor:
        return h - self.strength * self.gate * h.mean(dim=0, keepdim=True)


@hookimpl
def zoo_components() -> list[Component]:
    return [
        Component(
            "mixer",
            "shrink_to_mean",
            ShrinkConfig,
            lambda cfg, d: ShrinkToMean(d, cfg),
            doc="test plugin: shrink towards the cross-sectional mean",
        )
    ]
