"""Built-in cross-sectional mixers (identity, demean, group_demean): ``(N,T',d), ctx -> (N,T',d)``."""

from __future__ import annotations

import torch
from attrs import field, frozen, validators
from torch import nn

from zoo import hookimpl
from zoo.errors import RegistryError
from zoo.interfaces import MIXER, Context, require_ctx, valid_mask
from zoo.registry import Component


@frozen
class IdentityConfig:
    """No parameters: stocks do not interact."""


class IdentityMixer(nn.Module):
    """Returns its input unchanged."""

    def forward(self, h: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """``h`` unchanged."""
        return h


def _masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weight = mask.to(h.dtype)
    count = weight.sum().clamp_min(1.0)
    return torch.einsum("n,ntd->td", weight, h) / count


@frozen
class DemeanConfig:
    """No parameters: subtract the mean over all valid stocks, per step."""


class Demean(nn.Module):
    """``h - mean_over_valid_stocks(h)`` at every step."""

    def forward(self, h: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """De-mean every step over the day's valid stocks."""
        mask = valid_mask(ctx, h.shape[0], h.device)
        return h - _masked_mean(h, mask)


@frozen
class GroupDemeanConfig:
    """Split the day's valid stocks into groups by ``ctx[by]`` and subtract each group's mean, per step."""

    groups: int = field(default=5, validator=validators.ge(1))
    by: str = "size"
    #: "quantile": equal-count groups of a numeric field; "category": its integer codes are the groups.
    mode: str = field(default="quantile", validator=validators.in_(("quantile", "category")))


def quantile_groups(values: torch.Tensor, mask: torch.Tensor, groups: int) -> torch.Tensor:
    """Quantile group (0 .. groups-1) of every stock among the valid ones; ties share a group.

    Invalid stocks sort last as +inf instead of being dropped, so no shape depends on the data and a
    GPU never waits for the host; a valid stock's count of valid stocks below it is unchanged.
    """
    filled = torch.where(mask, values, torch.full_like(values, torch.inf))
    ordered = torch.sort(filled).values
    below = torch.searchsorted(ordered, values.contiguous(), right=False)
    return (below * groups // mask.sum().clamp_min(1)).clamp_(0, groups - 1)


class GroupDemean(nn.Module):
    """Per step, ``h`` minus the mean of the stock's own group (valid stocks only enter the means)."""

    def __init__(self, cfg: GroupDemeanConfig) -> None:
        super().__init__()
        self.groups, self.by, self.mode = cfg.groups, cfg.by, cfg.mode

    def group_ids(self, ctx: Context | None, n: int, device: torch.device) -> torch.Tensor:
        """The group of every stock for this day (masked stocks get one too, but enter no mean)."""
        values = require_ctx(ctx, self.by, f"mixer group_demean(by={self.by!r})").to(device)
        mask = valid_mask(ctx, n, device)
        if values.shape != (n,):
            raise RegistryError(
                f"group_demean: ctx[{self.by!r}] has shape {tuple(values.shape)}, expected ({n},)"
            )
        # The input checks below read values on the host: on an accelerator that would stall every
        # step, so they run on the CPU only (the day source guarantees finite sizes for eligible stocks).
        on_host = values.device.type == "cpu"
        if self.mode == "category":
            ids = values.long()
            if on_host and ids.numel() and (ids.min() < 0 or ids.max() >= self.groups):
                raise RegistryError(
                    f"group_demean(mode='category'): ctx[{self.by!r}] codes must be in 0..{self.groups - 1}; "
                    f"set groups to the number of categories"
                )
            return ids
        values = values.float()
        if on_host and not torch.isfinite(values[mask]).all():
            raise RegistryError(
                f"group_demean: ctx[{self.by!r}] is NaN/inf for a valid stock; mask it or fill it"
            )
        return quantile_groups(values, mask, self.groups)

    def forward(self, h: torch.Tensor, ctx: Context | None = None) -> torch.Tensor:
        """Subtract each stock's group mean at every step."""
        n = h.shape[0]
        ids = self.group_ids(ctx, n, h.device)
        # Group sums add up hundreds of stocks: accumulate them in float32 even under bf16 autocast.
        hf = h.float()
        weight = valid_mask(ctx, n, h.device).to(hf.dtype)
        sums = hf.new_zeros((self.groups, *h.shape[1:])).index_add_(0, ids, hf * weight[:, None, None])
        counts = hf.new_zeros(self.groups).index_add_(0, ids, weight).clamp_min(1.0)
        return (hf - (sums / counts[:, None, None])[ids]).to(h.dtype)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, by={self.by!r}, mode={self.mode!r}"


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in cross-sectional mixers."""
    return [
        Component(MIXER, "identity", IdentityConfig, lambda cfg, d: IdentityMixer(), doc="no interaction"),
        Component(
            MIXER,
            "demean",
            DemeanConfig,
            lambda cfg, d: Demean(),
            doc="subtract the mean over all valid stocks, per step",
        ),
        Component(
            MIXER,
            "group_demean",
            GroupDemeanConfig,
            lambda cfg, d: GroupDemean(cfg),
            doc="subtract the mean of the stock's quantile group (by ctx[by]), per step",
        ),
    ]
