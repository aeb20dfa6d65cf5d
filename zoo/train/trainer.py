"""The trainer: one day per step, Adam, early stopping on validation RankIC, best weights restored."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from zoo.errors import TrainingError
from zoo.train.days import Day
from zoo.train.device import autocast, matmul_precision, model_device
from zoo.train.labels import normalize_labels, rank_ic_tensor

#: On an accelerator the step progress bar reads the running loss (a wait for the device) this rarely.
LOG_EVERY = 50


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
    #: "fp32", "tf32" or "bf16" (see ``zoo.train.device``): the model's arithmetic; losses stay float32.
    precision: str = "fp32"


def fit_config(spec) -> FitConfig:
    """The trainer settings a spec's ``[train]`` section asks for."""
    t = spec.train
    return FitConfig(
        lr=t.lr,
        max_epochs=t.max_epochs,
        patience=t.patience,
        days_per_epoch=t.days_per_epoch,
        min_stocks=t.min_stocks,
        grad_clip=t.grad_clip,
        precision=t.precision,
    )


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
    if mask is None:
        mask = torch.ones(day.n, dtype=torch.bool, device=day.x.device)
    else:
        mask = mask.to(torch.bool)
    if day.y is not None:
        mask = mask & torch.isfinite(day.y)
    return mask


def _usable(day: Day | None, min_stocks: int) -> bool:
    """A day with labels and at least ``min_stocks`` valid labelled stocks (counted on the host if known)."""
    if day is None or day.y is None:
        return False
    n = day.n_labelled if day.n_labelled is not None else int(day_mask(day).sum())
    return n >= min_stocks


def _check_device(day: Day, device: torch.device) -> None:
    """The day's tensors must already be where the model is: the trainer never copies a day per step."""
    if day.x.device != device:
        raise TrainingError(
            f"the day {np.datetime_as_string(day.date, 'D')} is on {day.x.device} but the model is on "
            f"{device}; build the day source on the run's device (zoo.train.source.on_device)"
        )


def evaluate_rank_ic(
    model: nn.Module, days: Sequence[Day | None], min_stocks: int = 10, precision: str = "fp32"
) -> float:
    """Mean daily RankIC of the model's scores against the days' labels (NaN when no usable day).

    The daily values stay on the model's device until the end: one wait for the device per call.
    """
    model.eval()
    device = model_device(model)
    ics = []
    with torch.no_grad(), matmul_precision(device, precision):
        for day in days:
            if not _usable(day, min_stocks):
                continue
            _check_device(day, device)
            with autocast(device, precision):
                pred = model(day.x, day.ctx)
            ics.append(rank_ic_tensor(pred.float(), day.y, day_mask(day)))
    if not ics:
        return float("nan")
    values = torch.stack(ics).cpu().numpy().astype(np.float64)
    values = values[np.isfinite(values)]
    return float(np.mean(values)) if len(values) else float("nan")


def predict(
    model: nn.Module, days: Sequence[Day | None], precision: str = "fp32"
) -> list[tuple[np.datetime64, np.ndarray, np.ndarray]]:
    """Scores per day as ``(date, symbols, scores)``; masked-out stocks get NaN.

    Scores stay on the model's device until every day is scored, then come to the host in one copy.
    """
    model.eval()
    device = model_device(model)
    kept: list[Day] = []
    scores = []
    with torch.no_grad(), matmul_precision(device, precision):
        for day in tqdm(days, desc="predict", leave=False, disable=None):
            if day is None:
                continue
            _check_device(day, device)
            with autocast(device, precision):
                pred = model(day.x, day.ctx).float()
            mask = day.ctx.get("mask")
            if mask is not None:
                pred = torch.where(mask.to(torch.bool), pred, torch.full_like(pred, float("nan")))
            kept.append(day)
            scores.append(pred)
    if not kept:
        return []
    host = torch.cat(scores).cpu().numpy()
    parts = np.split(host, np.cumsum([d.n for d in kept])[:-1])
    return [(d.date, d.symbols, part) for d, part in zip(kept, parts, strict=True)]


def train_step(
    model: nn.Module,
    loss_fn: nn.Module,
    opt: torch.optim.Optimizer,
    day: Day,
    label_norm: str,
    config: FitConfig,
    before_update: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """One Adam step on one day, everything on the model's device; returns the loss, unread.

    Nothing here reads a value on the host (no ``item``, no data-dependent shape), so on a GPU the
    host queues the next step while this one runs. ``before_update`` sees the loss before backward.
    """
    _check_device(day, model_device(model))
    mask = day_mask(day)
    # A loss may ask for winsorised labels (the weighted MSE does; see docs/training.md).
    target = normalize_labels(day.y, mask, label_norm, float(getattr(loss_fn, "label_clip_mad", 0.0)))
    with autocast(day.x.device, config.precision):
        pred = model(day.x, day.ctx)
    loss = loss_fn(pred.float(), target, mask)
    if before_update is not None:
        before_update(loss)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    opt.step()
    return loss.detach()


class _Losses:
    """One epoch's step losses, kept on the device and read on the host only when asked.

    ``eager`` (on the CPU, where reading is free) checks each loss as it comes, so a non-finite one
    stops the fit before it updates the weights.
    """

    def __init__(self, desc: str, epoch: int, eager: bool = False) -> None:
        self.desc, self.epoch, self.eager = desc, epoch, eager
        self.values: list[torch.Tensor] = []
        self.dates: list[np.datetime64] = []
        self.checked = 0

    def add(self, loss: torch.Tensor, date: np.datetime64) -> None:
        """Keep one step's loss (a device scalar)."""
        self.values.append(loss.detach())
        self.dates.append(date)
        if self.eager and not torch.isfinite(loss):
            self.read()  # raises, naming the day

    def read(self) -> np.ndarray:
        """Every loss so far as float64 (one wait for the device); a non-finite one is a TrainingError."""
        host = torch.stack(self.values).cpu().numpy().astype(np.float64) if self.values else np.zeros(0)
        bad = np.flatnonzero(~np.isfinite(host[self.checked :]))
        if len(bad):
            k = self.checked + int(bad[0])
            raise TrainingError(
                f"{self.desc}: the loss became {host[k]} on {np.datetime_as_string(self.dates[k], 'D')} "
                f"in epoch {self.epoch}; lower train.lr or check the data for extreme values"
            )
        self.checked = len(host)
        return host


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
    if label_norm is None:
        raise TrainingError(f"loss {type(loss_fn).__name__} has no label_norm ('rank' or 'zscore')")
    device = model_device(model)
    # On the CPU reading a loss costs nothing, so a bad step stops the fit before it updates the
    # weights (as always); on an accelerator losses are read once per epoch (or LOG_EVERY steps).
    on_host = device.type == "cpu"
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True if device.type == "cuda" else None)
    n_train = len(train_days)
    if n_train == 0:
        raise TrainingError("the training split has no days")
    best_ic, best_epoch, best_state = -math.inf, -1, None
    history: list[dict[str, float]] = []
    bad_epochs = 0
    stopped = False
    epochs = tqdm(range(config.max_epochs), desc=desc, leave=False, disable=None)
    with matmul_precision(device, config.precision):
        for epoch in epochs:
            model.train()
            order = rng.permutation(n_train)
            if config.days_per_epoch and config.days_per_epoch < n_train:
                order = order[: config.days_per_epoch]
            losses = _Losses(desc, epoch, eager=on_host)
            steps = tqdm(order, desc=f"epoch {epoch}", leave=False, disable=None)
            for i in steps:
                day = train_days[int(i)]
                if not _usable(day, config.min_stocks):
                    continue
                record = functools.partial(losses.add, date=day.date)
                train_step(model, loss_fn, opt, day, label_norm, config, before_update=record)
                if not steps.disable and (on_host or len(losses.values) % LOG_EVERY == 0):
                    steps.set_postfix(loss=f"{np.mean(losses.read()):.4f}", refresh=False)
            if not losses.values:
                raise TrainingError(
                    f"{desc}: no training day has at least {config.min_stocks} valid labelled stocks"
                )
            train_loss = float(np.mean(losses.read()))
            valid_ic = evaluate_rank_ic(model, valid_days, config.min_stocks, config.precision)
            row = {"train_loss": train_loss, "valid_rank_ic": valid_ic}
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
