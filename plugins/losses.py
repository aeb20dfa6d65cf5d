"""Built-in losses (slot ``loss``): the report's IC loss and its long-end weighted MSE.

A loss module takes one day's cross-section ``pred (N,)``, ``target (N,)`` and an optional validity
``mask (N,)`` and returns a scalar. Its ``label_norm`` tells the trainer how to standardise the
day's labels before they reach it: ``"rank"`` for the IC loss, ``"zscore"`` for the weighted MSE; an
optional ``label_clip_mad`` asks for the labels to be winsorised first (the weighted MSE's default 1.5).
"""

from __future__ import annotations

import torch
from attrs import field, frozen, validators
from torch import nn

from zoo import hookimpl
from zoo.registry import Component


def _select(pred: torch.Tensor) -> bool:
    """Whether kept entries are selected (on the CPU) rather than weighted (see ``_masked``)."""
    return pred.device.type == "cpu"


def _masked(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None):
    """The entries where mask is True and the target is finite: ``(pred, target, weight)``.

    On the CPU they are selected (``weight`` None), which keeps the sums exactly as they always were.
    Elsewhere selecting would make the host wait for the device to learn how many there are, so
    every entry is kept with a 0/1 ``weight`` (dropped ones zeroed) and the shape stays fixed.
    """
    keep = torch.isfinite(target)
    if mask is not None:
        keep = keep & mask.to(dtype=torch.bool)
    if _select(pred):
        return pred[keep], target[keep], None
    zero = torch.zeros_like(pred)
    return torch.where(keep, pred, zero), torch.where(keep, target, zero), keep.to(pred.dtype)


@frozen
class ICLossConfig:
    """Negative Pearson correlation within the cross-section (labels rank-normalised)."""

    #: Added to the variances so a constant prediction gives a finite gradient, not NaN.
    eps: float = field(default=1e-8, validator=validators.gt(0))


class ICLoss(nn.Module):
    """``-corr(pred, target)`` over the day's valid stocks."""

    label_norm = "rank"

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None):
        """The negative correlation; 0 (with a graph) when fewer than two stocks are valid."""
        p, t, w = _masked(pred, target, mask)
        if w is None:
            if p.numel() < 2:
                return pred.sum() * 0.0
            p = p - p.mean()
            t = t - t.mean()
            corr = (p * t).sum() / torch.sqrt((p * p).sum() * (t * t).sum() + self.eps)
            return -corr
        n = w.sum()
        p = (p - p.sum() / n.clamp_min(1)) * w
        t = (t - t.sum() / n.clamp_min(1)) * w
        corr = (p * t).sum() / torch.sqrt((p * p).sum() * (t * t).sum() + self.eps)
        return torch.where(n >= 2, -corr, pred.sum() * 0.0)


@frozen
class WeightedMSEConfig:
    """``s = ReLU(y - tau)``, ``w = 1 + alpha (sigmoid(s) - 0.5)``, ``L = mean(w (pred - y)^2)``."""

    tau: float = 1.0
    alpha: float = field(default=2.0, validator=validators.ge(0))
    #: Winsorise each day's labels at median ± this many MADs (x 1.4826) before the z-score: the
    #: report's 去极值. Without it the fat tails and the long-end weight make the fit load on
    #: volatility (results/training/evidence-of-skill.md). 0 turns it off.
    label_clip_mad: float = field(default=1.5, validator=validators.ge(0))


class WeightedMSELoss(nn.Module):
    """MSE whose weight grows with the label above ``tau`` (the long end), on z-scored labels."""

    label_norm = "zscore"

    def __init__(self, tau: float = 1.0, alpha: float = 2.0, label_clip_mad: float = 0.0) -> None:
        super().__init__()
        self.tau = tau
        self.alpha = alpha
        #: The trainer winsorises the day's labels at this many MADs before z-scoring them.
        self.label_clip_mad = label_clip_mad

    def weights(self, target: torch.Tensor) -> torch.Tensor:
        """The per-stock weight ``1 + alpha (sigmoid(ReLU(y - tau)) - 0.5)``, in [1, 1 + alpha/2)."""
        s = torch.relu(target - self.tau)
        return 1.0 + self.alpha * (torch.sigmoid(s) - 0.5)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None):
        """The weighted mean squared error over the day's valid stocks."""
        p, t, w = _masked(pred, target, mask)
        if w is None:
            if p.numel() == 0:
                return pred.sum() * 0.0
            return (self.weights(t) * (p - t) ** 2).mean()
        n = w.sum()
        mse = (w * self.weights(t) * (p - t) ** 2).sum() / n.clamp_min(1)
        return torch.where(n > 0, mse, pred.sum() * 0.0)


def _build_ic(config: ICLossConfig, in_features: int) -> ICLoss:
    return ICLoss(eps=config.eps)


def _build_wmse(config: WeightedMSEConfig, in_features: int) -> WeightedMSELoss:
    return WeightedMSELoss(tau=config.tau, alpha=config.alpha, label_clip_mad=config.label_clip_mad)


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in losses ``ic`` and ``weighted_mse``."""
    return [
        Component(
            "loss",
            "ic",
            ICLossConfig,
            _build_ic,
            doc="negative Pearson correlation within the day, on rank-normalised labels",
        ),
        Component(
            "loss",
            "weighted_mse",
            WeightedMSEConfig,
            _build_wmse,
            doc="long-end weighted MSE (tau=1, alpha=2), on labels winsorised at 1.5 MADs and z-scored",
        ),
    ]
