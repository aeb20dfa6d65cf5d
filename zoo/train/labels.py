"""Per-day label standardisation and rank correlation, vectorised in torch."""

from __future__ import annotations

import torch

from zoo.errors import TrainingError


def rank_(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share the mean of their positions, 0-based) of the valid entries.

    Invalid entries sort last and get arbitrary values; mask them out. Every shape is known before
    the data is seen (no ``nonzero``), so on a GPU this never waits for the device.
    """
    filled = torch.where(valid, values, torch.full_like(values, torch.inf))
    ordered, order = torch.sort(filled, stable=True)
    # The first and last sorted position holding each value: its tie group's span.
    first = torch.searchsorted(ordered, ordered, right=False)
    last = torch.searchsorted(ordered, ordered, right=True) - 1
    ranks = torch.empty_like(values)
    ranks[order] = (first + last).to(values.dtype) / 2
    return ranks


def _zscore(v: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    n = valid.sum().clamp(min=1)
    vz = torch.where(valid, v, torch.zeros_like(v))
    mean = vz.sum() / n
    var = (torch.where(valid, v - mean, torch.zeros_like(v)) ** 2).sum() / n
    out = (v - mean) / torch.sqrt(var + 1e-12)
    return torch.where(valid, out, torch.zeros_like(v))


#: MAD -> standard deviation for a normal distribution (the same constant the window clip uses).
MAD_SCALE = 1.4826


def winsorize(y: torch.Tensor, valid: torch.Tensor, clip_mad: float) -> torch.Tensor:
    """Clip the valid entries at median ± ``clip_mad`` × 1.4826 × MAD of the valid entries (0 = off)."""
    if clip_mad <= 0:
        return y
    # nanmedian over the valid entries (the rest set to NaN) is the valid entries' (lower) median,
    # with no data-dependent shape: a GPU never waits for the host here.
    nan = torch.full_like(y, float("nan"))
    med = torch.nanmedian(torch.where(valid, y, nan))
    band = clip_mad * MAD_SCALE * torch.nanmedian(torch.where(valid, (y - med).abs(), nan))
    clipped = torch.where(valid, torch.minimum(torch.maximum(y, med - band), med + band), y)
    return torch.where(valid.sum() >= 3, clipped, y)


def normalize_labels(y: torch.Tensor, valid: torch.Tensor, how: str, clip_mad: float = 0.0) -> torch.Tensor:
    """Standardise one day's labels over the valid stocks: ``rank`` (ranks, z-scored) or ``zscore``.

    With ``clip_mad`` > 0 the labels are first winsorised at median ± clip_mad MADs (the report's
    去极值 before its z-score). Invalid entries come out as 0 and must stay masked in the loss.
    """
    valid = valid & torch.isfinite(y)
    y = winsorize(y, valid, clip_mad)
    if how == "zscore":
        return _zscore(y, valid)
    if how == "rank":
        return _zscore(rank_(y, valid), valid)
    raise TrainingError(
        f"unknown label normalisation {how!r}; a loss's label_norm must be 'rank' or 'zscore'"
    )


def rank_ic_tensor(pred: torch.Tensor, y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """:func:`rank_ic` as a 0-d float tensor on the inputs' device (no wait for the device)."""
    valid = valid & torch.isfinite(y) & torch.isfinite(pred)
    n = valid.sum()
    rp = _zscore(rank_(pred, valid), valid)
    ry = _zscore(rank_(y, valid), valid)
    ic = (rp * ry).sum() / n
    return torch.where(n >= 3, ic, torch.full_like(ic, float("nan")))


def rank_ic(pred: torch.Tensor, y: torch.Tensor, valid: torch.Tensor) -> float:
    """Spearman correlation of ``pred`` and ``y`` over the valid, finite entries (NaN if < 3).

    A constant side scores 0, so a collapsed model never looks good to early stopping.
    """
    return float(rank_ic_tensor(pred, y, valid))
