"""Built-in decompositions: ``identity`` ({raw}) and the causal ``moving_average`` ({trend, residual})."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from attrs import field, frozen, validators
from torch import nn

from zoo import hookimpl
from zoo.interfaces import DECOMPOSITION
from zoo.registry import Component


@frozen
class IdentityConfig:
    """No parameters: the whole input is one component, ``raw``."""


class IdentityDecomposition(nn.Module):
    """``x -> {"raw": x}``."""

    components = ("raw",)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return the input as the single component ``raw``."""
        return {"raw": x}


@frozen
class MovingAverageConfig:
    """Trend = causal moving average over ``window`` days; residual = input - trend."""

    window: int = field(default=5, validator=validators.ge(1))


class MovingAverageDecomposition(nn.Module):
    """Causal trend/residual split: the pad repeats the oldest value, so trend[t] uses x[<= t] only."""

    components = ("trend", "residual")

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split ``x (N,T,F)`` into ``trend`` and ``residual`` of the same shape."""
        if self.window == 1:
            return {"trend": x, "residual": torch.zeros_like(x)}
        series = x.transpose(1, 2)  # (N, F, T): pool over time
        padded = torch.cat([series[..., :1].expand(-1, -1, self.window - 1), series], dim=-1)
        trend = F.avg_pool1d(padded, kernel_size=self.window, stride=1).transpose(1, 2)
        return {"trend": trend, "residual": x - trend}

    def extra_repr(self) -> str:
        return f"window={self.window}, causal=True"


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in decompositions."""
    return [
        Component(
            DECOMPOSITION,
            "identity",
            IdentityConfig,
            lambda cfg, f: IdentityDecomposition(),
            doc="no decomposition: one component 'raw'",
        ),
        Component(
            DECOMPOSITION,
            "moving_average",
            MovingAverageConfig,
            lambda cfg, f: MovingAverageDecomposition(cfg.window),
            doc="causal moving-average trend + residual (Autoformer/DLinear, oldest-end pad)",
        ),
    ]
