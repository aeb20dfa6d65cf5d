"""Built-in temporal encoders: ``patch_conv``, ``gru`` and ``dsconv``; ``(N,T,F_in) -> (N,T',d)``."""

from __future__ import annotations

import torch
from attrs import field, frozen, validators
from torch import nn

from zoo import hookimpl
from zoo.interfaces import ENCODER
from zoo.registry import Component


def _check_length(x: torch.Tensor, kernel: int, name: str) -> None:
    if x.shape[1] < kernel:
        raise ValueError(f"{name}: the input has {x.shape[1]} steps, fewer than its kernel {kernel}")


@frozen
class PatchConvConfig:
    """Non-overlapping patches embedded by a Conv1d (no padding)."""

    width: int = field(default=64, validator=validators.ge(1))
    kernel: int = field(default=3, validator=validators.ge(1))
    stride: int = field(default=3, validator=validators.ge(1))


class PatchConv(nn.Module):
    """Conv1d over time, kernel = stride by default: T -> floor((T - k) / s) + 1 steps."""

    def __init__(self, in_features: int, cfg: PatchConvConfig) -> None:
        super().__init__()
        self.kernel = cfg.kernel
        self.conv = nn.Conv1d(in_features, cfg.width, cfg.kernel, stride=cfg.stride)
        self.out_features = cfg.width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed patches of ``x (N,T,F)`` to ``(N,T',width)``."""
        _check_length(x, self.kernel, "patch_conv")
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


@frozen
class GRUConfig:
    """A GRU whose output is kept at every step."""

    hidden: int = field(default=64, validator=validators.ge(1))
    layers: int = field(default=1, validator=validators.ge(1))


class GRUEncoder(nn.Module):
    """``nn.GRU`` (batch first), all steps returned: ``(N,T,F) -> (N,T,hidden)``."""

    def __init__(self, in_features: int, cfg: GRUConfig) -> None:
        super().__init__()
        self.gru = nn.GRU(in_features, cfg.hidden, num_layers=cfg.layers, batch_first=True)
        self.out_features = cfg.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the GRU over time and return every step's hidden state."""
        out, _ = self.gru(x)
        return out


@frozen
class DSConvConfig:
    """Depthwise-separable conv: depthwise Conv1d (kernel = stride, no padding) + pointwise to ``width``."""

    width: int = field(default=64, validator=validators.ge(1))
    kernel: int = field(default=3, validator=validators.ge(1))
    stride: int = field(default=3, validator=validators.ge(1))


class DSConv(nn.Module):
    """Per-field depthwise conv over time, then a 1x1 conv mixing fields to ``width``."""

    def __init__(self, in_features: int, cfg: DSConvConfig) -> None:
        super().__init__()
        self.kernel = cfg.kernel
        self.depthwise = nn.Conv1d(
            in_features, in_features, cfg.kernel, stride=cfg.stride, groups=in_features
        )
        self.pointwise = nn.Conv1d(in_features, cfg.width, 1)
        self.out_features = cfg.width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,T,F) -> (N,T',width)``."""
        _check_length(x, self.kernel, "dsconv")
        return self.pointwise(self.depthwise(x.transpose(1, 2))).transpose(1, 2)


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in temporal encoders."""
    return [
        Component(
            ENCODER,
            "patch_conv",
            PatchConvConfig,
            lambda cfg, f: PatchConv(f, cfg),
            doc="Conv1d patch embedding, kernel = stride = 3, no padding",
        ),
        Component(
            ENCODER,
            "gru",
            GRUConfig,
            lambda cfg, f: GRUEncoder(f, cfg),
            doc="GRU, every step's hidden state kept",
        ),
        Component(
            ENCODER,
            "dsconv",
            DSConvConfig,
            lambda cfg, f: DSConv(f, cfg),
            doc="depthwise (kernel = stride = 3) + pointwise conv",
        ),
    ]
