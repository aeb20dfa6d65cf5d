"""Stratified stock samples for training steps: every group keeps its share of the day's stocks."""

from __future__ import annotations

import numpy as np


def stratified_sample(groups: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Ascending positions of ``k`` of the ``len(groups)`` stocks, each group keeping its share.

    Each group gets ``floor(k * n_g / n)`` stocks, and the ``k`` left over go to the largest remainders
    (ties to the lower group label), so the shares match to within one stock. The stocks inside a group
    are a uniform random draw from ``rng``. ``k <= 0`` or ``k >= n`` keeps every stock.
    """
    n = len(groups)
    if k <= 0 or k >= n:
        return np.arange(n)
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    quota = counts * (k / n)
    take = np.floor(quota).astype(np.int64)
    left = k - int(take.sum())
    if left:
        take[np.argsort(-(quota - take), kind="stable")[:left]] += 1
    order = np.lexsort((rng.random(n), inverse))  # by group, in random order inside each group
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts
    return np.flatnonzero(rank < take[inverse])
