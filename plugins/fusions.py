"""Built-in fusions, where the branches meet (``sum``, ``cross_attention``).

Contract: ``{branch: (N,T_b,d)}, ctx -> (N,T',d)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from attrs import field, frozen, validators
from torch import nn
from zoo.plugins._attention import Attention

from zoo import hookimpl
from zoo.errors import RegistryError
from zoo.interfaces import FUSION, Context
from zoo.registry import Component


@frozen
class SumConfig:
    """No parameters: the branches' representations are added step by step."""


class SumFusion(nn.Module):
    """The branches added, in the spec's order (every branch must have the same steps and width)."""

    #: Each stock's output depends on that stock's inputs only (``zoo.compose.stockwise``).
    stockwise = True

    def forward(self, parts: Mapping[str, torch.Tensor], ctx: Context | None = None) -> torch.Tensor:
        """``sum_b parts[b]``."""
        fused, first = None, None
        for name, h in parts.items():
            if fused is None:
                fused, first = h, name
                continue
            if fused.shape != h.shape:
                raise RegistryError(
                    f"branch {name!r} outputs {tuple(h.shape)} but branch {first!r} {tuple(fused.shape)}; "
                    f"the sum fusion adds branches, so their steps and widths must match (branches of "
                    f'different lengths need model.fusion = {{ name = "cross_attention" }})'
                )
            fused = fused + h
        if fused is None:
            raise RegistryError("the sum fusion got no branch")
        return fused


@frozen
class CrossAttentionFusionConfig:
    """Per stock, one branch's steps (the queries) attend to the steps of the other branches."""

    #: The branch whose steps query (and whose length the trunk sees); "" = the first enabled branch.
    query: str = ""
    heads: int = field(default=4, validator=validators.ge(1))

    def check(self, branches: tuple[str, ...]) -> None:
        """Refuse fewer than two branches or an unknown query branch."""
        if len(branches) < 2:
            raise RegistryError(
                f"the cross_attention fusion needs at least two enabled branches, got {list(branches)}; "
                f"use the sum fusion for one branch"
            )
        if self.query and self.query not in branches:
            raise RegistryError(
                f"cross_attention fusion: query branch {self.query!r} is not an enabled branch; "
                f"enabled branches: {', '.join(branches)}"
            )


class CrossAttentionFusion(nn.Module):
    """``q + Attention(LayerNorm(q), LayerNorm(other branches' steps))`` for every stock on its own.

    The other branches' steps are concatenated along time, so they may have any length (multi-scale
    patches); the output has the query branch's steps. No step mask: every step lies inside the
    stock's window, which ends at the day being scored, so no step holds data after that day.
    """

    #: Each stock attends to its own steps only (``zoo.compose.stockwise``).
    stockwise = True

    def __init__(self, d: int, cfg: CrossAttentionFusionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm_query, self.norm_context = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attend = Attention(d, cfg.heads)

    def forward(self, parts: Mapping[str, torch.Tensor], ctx: Context | None = None) -> torch.Tensor:
        """The query branch plus what its steps read from the other branches' steps."""
        self.cfg.check(tuple(parts))
        name = self.cfg.query or next(iter(parts))
        q = parts[name]
        context = torch.cat([h for other, h in parts.items() if other != name], dim=1)
        return q + self.attend(self.norm_query(q), self.norm_context(context))

    def extra_repr(self) -> str:
        return f"query={self.cfg.query!r}, heads={self.cfg.heads}"


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in fusions."""
    return [
        Component(FUSION, "sum", SumConfig, lambda cfg, d: SumFusion(), doc="add the branches step by step"),
        Component(
            FUSION,
            "cross_attention",
            CrossAttentionFusionConfig,
            lambda cfg, d: CrossAttentionFusion(d, cfg),
            doc="one branch's steps attend to the other branches' steps, per stock (residual)",
        ),
    ]
