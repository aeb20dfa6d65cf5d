"""Built-in head: ``linear`` on the last step; ``(N,T',d) -> (N,)``."""

from __future__ import annotations

import torch
from attrs import frozen
from torch import nn

from zoo import hookimpl
from zoo.interfaces import HEAD
from zoo.registry import Component


@frozen
class LinearConfig:
    """A linear map of the last step's representation to one score."""

    bias: bool = True


class LinearHead(nn.Module):
    """``Linear(d, 1)`` of ``h[:, -1]``, squeezed to ``(N,)``."""

    def __init__(self, in_features: int, cfg: LinearConfig) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1, bias=cfg.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """One score per stock from the last step."""
        return self.linear(h[:, -1, :]).squeeze(-1)


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in heads."""
    return [
        Component(
            HEAD, "linear", LinearConfig, lambda cfg, d: LinearHead(d, cfg), doc="Linear on the last step"
        )
    ]
