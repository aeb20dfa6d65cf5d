"""The trainer: one day per step, Adam, early stopping on validation RankIC, best weights restored."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from zoo.errors import TrainingError
from zoo.train.days import Day
from zoo.train.labels import normalize_labels, rank_ic


@attrs.frozen
class FitConfig:
    """Optimiser and stopping settings of one fit."""

    lr: float = 1e-3
    max_epochs: int = 100
    patience: int = 15
    #: Training days drawn (without replacement) per epoch; 0 = every training day.
    days_per_epoch: int = 0
    #: Stocks a day needs (valid and labelled) to be used for a step.
    min_stocks: int = 10
    #: Clip the gradient norm at this value (0 = off); the report is silent, off by default.
    grad_clip: float = 0.0


@attrs.frozen
class FitResult:
    """What a fit produced: best weights (already loaded into the model) and per-epoch history."""

    best_epoch: int
    best_valid_ic: float
    epochs_run: int
    history: list[dict[str, float]]
    stopped_early: bool


def day_mask(day: Day) -> torch.Tensor:
    """Stocks that count in the loss and in the IC: valid per ctx and with a finite label."""
    mask = day.ctx.get("mask")
    mask = torch.ones(day.n, dtype=torch.bool) if mask is None else mask.to(torch.bool)
    if day.y is not None:
        mask = mask & torch.isfinite(day.y)
    return mask


def _usable(day: Day | None, min_stocks: int) -> bool:
    return day is not None and day.y is not None and int(day_mask(day).sum()) >= min_stocks


def evaluate_rank_ic(model: nn.Module, days: Sequence[Day | None], min_stocks: int = 10) -> float:
    """Mean daily RankIC of the model's scores against the days' labels (NaN when no usable day)."""
    model.eval()
    ics = []
    with torch.no_grad():
        for day in days:
            if not _usable(day, min_stocks):
                continue
            pred = model(day.x, day.ctx)
            ics.append(rank_ic(pred.float(), day.y, day_mask(day)))
    ics = [v for v in ics if math.isfinite(v)]
    return float(np.mean(ics)) if ics else float("nan")


def predict(
    model: nn.Module, days: Sequence[Day | None]
) -> list[tuple[np.datetime64, np.ndarray, np.ndarray]]:
    """Scores per day as ``(date, symbols, scores)``; masked-out stocks get NaN."""
    model.eval()
    out = []
    with torch.no_grad():
        for day in tqdm(days, desc="predict", leave=False, disable=None):
            if day is None:
                continue
            pred = model(day.x, day.ctx).float().numpy().copy()
            mask = day.ctx.get("mask")
            if mask is not None:
                pred[~mask.numpy().astype(bool)] = np.nan
            out.append((day.date, day.symbols, pred))
    return out


def fit(
    model: nn.Module,
    loss_fn: nn.Module,
    train_days: Sequence[Day | None],
    valid_days: Sequence[Day | None],
    config: FitConfig,
    seed: int,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` in place and restore the weights of the epoch with the best validation RankIC.

    The model must already be built under ``torch.manual_seed(seed)``; the day order of every epoch
    comes from ``seed`` too, so a fit is reproducible on CPU.
    """
    label_norm = getattr(loss_fn, "label_norm", None)
    # A loss may ask for winsorised labels (the weighted MSE does; see docs/training.md).
    label_clip_mad = float(getattr(loss_fn, "label_clip_mad", 0.0))
    if label_norm is None:
        raise TrainingError(f"loss {type(loss_fn).__name__} has no label_norm ('rank' or 'zscore')")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n_train = len(train_days)
    if n_train == 0:
        raise TrainingError("the training split has no days")
    best_ic, best_epoch, best_state = -math.inf, -1, None
    history: list[dict[str, float]] = []
    bad_epochs = 0
    stopped = False
    epochs = tqdm(range(config.max_epochs), desc=desc, leave=False, disable=None)
    for epoch in epochs:
        model.train()
        order = rng.permutation(n_train)
        if config.days_per_epoch and config.days_per_epoch < n_train:
            order = order[: config.days_per_epoch]
        losses = []
        steps = tqdm(order, desc=f"epoch {epoch}", leave=False, disable=None)
        for i in steps:
            day = train_days[int(i)]
            if not _usable(day, config.min_stocks):
                continue
            mask = day_mask(day)
            target = normalize_labels(day.y, mask, label_norm, label_clip_mad)
            pred = model(day.x, day.ctx)
            loss = loss_fn(pred, target, mask)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"{desc}: the loss became {loss.item()} on {np.datetime_as_string(day.date, 'D')} "
                    f"in epoch {epoch}; lower train.lr or check the data for extreme values"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            losses.append(loss.item())
            steps.set_postfix(loss=f"{np.mean(losses):.4f}", refresh=False)
        if not losses:
            raise TrainingError(
                f"{desc}: no training day has at least {config.min_stocks} valid labelled stocks"
            )
        valid_ic = evaluate_rank_ic(model, valid_days, config.min_stocks)
        row = {"train_loss": float(np.mean(losses)), "valid_rank_ic": valid_ic}
        history.append(row)
        if on_epoch is not None:
            on_epoch(epoch, row)
        epochs.set_postfix(loss=f"{row['train_loss']:.4f}", valid_ic=f"{valid_ic:.4f}", refresh=False)
        # A NaN validation IC (no usable day) never counts as an improvement.
        if math.isfinite(valid_ic) and valid_ic > best_ic:
            best_ic, best_epoch, bad_epochs = valid_ic, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= config.patience:
                stopped = True
                break
    if best_state is None:
        raise TrainingError(
            f"{desc}: the validation split gave no finite RankIC (no day with {config.min_stocks}+ "
            f"valid labelled stocks); check the data or the split"
        )
    model.load_state_dict(best_state)
    return FitResult(best_epoch, float(best_ic), len(history), history, stopped)
