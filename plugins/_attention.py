"""Multi-head attention on ``torch.nn.functional.scaled_dot_product_attention``, shared by the
``cross_attention`` mixer and fusion (a helper module, not a plugin: it registers nothing)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention of queries on keys/values, ``heads`` heads of width ``d / heads``, no dropout.

    Layouts: ``batch_first`` ``(B, L, d)`` (e.g. a stock's steps attend to its other steps) or
    sequence-first ``(L, B, d)`` (e.g. ``(N, T', d)``: at every step, stocks attend to stocks), so a
    stock-major tensor is never transposed into a copy. ``key_mask (S,)`` (True = may be attended to)
    is the same for every batch row. Queries go in blocks so that one SDPA call never holds more than
    ``score_budget`` attention scores, whichever kernel torch picks (the fused CPU/CUDA kernels hold
    none; the math fallback holds one block's).
    """

    #: At most this many attention scores (B x heads x query block x S) per SDPA call: 2**24 floats = 64 MiB.
    score_budget: int = 2**24

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"attention width {d} is not divisible by heads={heads}")
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))

    def _split(self, x: torch.Tensor, batch_first: bool) -> torch.Tensor:
        """``(B, L, d)`` or ``(L, B, d)`` -> a ``(B, heads, L, d / heads)`` view (no copy)."""
        a, b, d = x.shape
        x = x.view(a, b, self.heads, d // self.heads)
        return x.transpose(1, 2) if batch_first else x.permute(1, 2, 0, 3)

    def query_block(self, batch: int, keys: int) -> int:
        """How many queries one SDPA call takes so that its scores stay within ``score_budget``."""
        return max(1, self.score_budget // max(1, batch * self.heads * keys))

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        key_mask: torch.Tensor | None = None,
        batch_first: bool = True,
    ) -> torch.Tensor:
        """``(B, L, d), (B, S, d) -> (B, L, d)`` (or ``(L, B, d), (S, B, d) -> (L, B, d)``)."""
        q = self._split(self.q(query), batch_first)
        k, v = self._split(self.k(key), batch_first), self._split(self.v(key), batch_first)
        attn_mask = None if key_mask is None else key_mask.view(1, 1, 1, -1)
        block = self.query_block(q.shape[0], k.shape[2])
        parts = [
            F.scaled_dot_product_attention(q_block, k, v, attn_mask=attn_mask)
            for q_block in torch.split(q, block, dim=2)
        ]
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)  # (B, heads, L, e)
        out = out.transpose(1, 2) if batch_first else out.permute(2, 0, 1, 3)
        return self.out(out.reshape(*query.shape))
