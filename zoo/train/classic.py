"""Classic trained baselines: an ``estimator`` component fitted on window features, rolled like a network.

A spec with ``[model] estimator = {name = ...}`` is trained here instead of by ``zoo.train.trainer``,
on the same splits, seeds and days: its rows are the eligible stocks of every training day
(``datasets.features``, from the deep models' own raw windows), its target the spec's label
normalised per day as the spec's loss would have it (``label_norm``: ``rank`` for ``ic``, ``zscore``
for ``weighted_mse``), its validation split the same (strided) validation days, scored by mean daily
RankIC. Predictions come back in the trainer's ``(date, symbols, scores)`` form, so stitching,
seed ensembles and tracking are shared with the neural models.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import TrainingError
from zoo.interfaces import ESTIMATOR, EstimatorSetup, ValidationSet
from zoo.train import estimator_io
from zoo.train.labels import normalize_labels
from zoo.train.source import capability
from zoo.train.trainer import FitResult

#: The fitted estimator's artifact inside the child run's ``weights/`` folder (a data document,
#: ``zoo.train.estimator_io``), and its feature names.
ESTIMATOR_FILE, FEATURES_FILE = "estimator.json", "features.json"
#: What zoo before 0.3.1 wrote instead (``joblib.dump``: a pickle); read only with ``--trust-pickles``.
PICKLED_ESTIMATOR_FILE = "estimator.joblib"


def is_classic(spec) -> bool:
    """True when the spec names an estimator instead of a network."""
    return getattr(spec.model, "estimator", None) is not None


def _rows(
    days: Sequence[Any], label_norm: str, min_stocks: int, clip_mad: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, per-day normalised labels and day numbers of the usable days' labelled stocks."""
    xs, ys, ds = [], [], []
    for day in days:
        if day is None or day.y is None:
            continue
        ok = np.isfinite(day.y)
        if int(ok.sum()) < min_stocks:  # the trainer's rule for a usable day
            continue
        # the trainer's own normalisation, so the target is exactly what the loss would see
        y = normalize_labels(torch.from_numpy(day.y), torch.from_numpy(ok), label_norm, clip_mad).numpy()
        xs.append(day.x[ok])
        ys.append(y[ok])
        ds.append(np.full(int(ok.sum()), len(ds), np.int64))
    if not xs:
        k = next((d.x.shape[1] for d in days if d is not None), 0)
        return np.zeros((0, k), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys).astype(np.float32), np.concatenate(ds)


def daily_rank_ic(y: np.ndarray, day: np.ndarray) -> Callable[[np.ndarray], float]:
    """``pred -> mean over days of the Spearman correlation of pred and y`` for rows grouped by ``day``.

    A day whose prediction is constant scores 0 (as in the trainer), so a model that has not split
    yet never looks best to early stopping.
    """
    from zoo.datasets.labels import rank_ic_series

    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    counts = np.diff(np.r_[starts, len(day)])
    row = np.repeat(np.arange(len(starts)), counts)
    col = np.arange(len(day)) - np.repeat(starts, counts)
    shape = (len(starts), int(counts.max(initial=0)))
    y_panel = np.full(shape, np.nan, np.float32)
    y_panel[row, col] = y

    def rank_ic(pred: np.ndarray) -> float:
        p = np.full(shape, np.nan, np.float32)
        p[row, col] = np.asarray(pred, dtype=np.float32)
        ic = np.nan_to_num(rank_ic_series(p, y_panel), nan=0.0)
        return float(ic.mean()) if len(ic) else float("nan")

    return rank_ic


def _set_params(estimator: Any, suffix: str, value: int) -> None:
    """Set every ``suffix`` parameter (``random_state``, ``step__random_state``, ...) to ``value``."""
    names = [k for k in estimator.get_params() if k == suffix or k.endswith(f"__{suffix}")]
    if names:
        estimator.set_params(**dict.fromkeys(names, value))


def history_of(estimator: Any) -> list[dict[str, float]]:
    """Per-iteration metrics of a boosted model (``evals_result_``: ``{set: {metric: [...]}}``)."""
    evals = getattr(estimator, "evals_result_", None) or {}
    series = {f"{s}_{m}": list(v) for s, metrics in evals.items() for m, v in metrics.items()}
    n = max((len(v) for v in series.values()), default=0)
    return [{k: float(v[i]) for k, v in series.items() if i < len(v)} for i in range(n)]


def fit_estimator(
    setup: EstimatorSetup,
    train_days: Sequence[Any],
    valid_days: Sequence[Any],
    label_norm: str,
    seed: int,
    min_stocks: int = 10,
    label_clip_mad: float = 0.0,
    desc: str = "estimator",
) -> FitResult:
    """Fit ``setup.estimator`` in place on the training days; validation as the component asks.

    ``*_days`` are ``datasets.features.FeatureDay`` (or None). The result reads like the trainer's:
    ``best_epoch`` = boosting rounds kept (0 for a one-shot fit), ``epochs_run`` = rounds run,
    ``history`` = per-round validation metrics, ``best_valid_ic`` = validation RankIC of the model kept.
    """
    x, y, _ = _rows(train_days, label_norm, min_stocks, label_clip_mad)
    if len(y) == 0:
        raise TrainingError(f"{desc}: no training day has at least {min_stocks} valid labelled stocks")
    xv, yv, dv = _rows(valid_days, label_norm, min_stocks, label_clip_mad)
    if len(yv) == 0:
        raise TrainingError(
            f"{desc}: the validation split has no day with {min_stocks}+ valid labelled stocks; "
            f"check the data or the split"
        )
    valid = ValidationSet(xv, yv, daily_rank_ic(yv, dv))
    est = setup.estimator
    _set_params(est, "random_state", int(seed))
    params = dict(setup.fit_params(valid)) if setup.fit_params is not None else {}
    try:
        est.fit(x, y, **params)
    except (ValueError, TypeError) as exc:
        raise TrainingError(f"{desc}: {type(est).__name__}.fit failed: {exc}") from exc
    best_ic = valid.rank_ic(est.predict(xv))
    history = history_of(est)
    rounds = len(history)
    best_round = int(getattr(est, "best_iteration_", 0) or rounds)
    planned = est.get_params().get("n_estimators")
    stopped = bool(rounds) and isinstance(planned, int) and rounds < planned
    if not math.isfinite(best_ic):
        raise TrainingError(f"{desc}: the validation split gave no finite RankIC")
    return FitResult(best_round, float(best_ic), max(rounds, 1), history, stopped)


def predict_estimator(
    estimator: Any, days: Sequence[Any]
) -> list[tuple[np.datetime64, np.ndarray, np.ndarray]]:
    """Scores per day as ``(date, symbols, scores)`` (the trainer's ``predict`` form), one predict call."""
    days = [d for d in days if d is not None and len(d.symbols)]
    if not days:
        return []
    scores = np.asarray(estimator.predict(np.concatenate([d.x for d in days])), dtype=np.float32)
    bounds = np.cumsum([0] + [len(d.symbols) for d in days])
    return [
        (np.datetime64(d.date, "ns"), d.symbols, scores[bounds[i] : bounds[i + 1]].copy())
        for i, d in enumerate(days)
    ]


def save_estimator(document: str, folder: Path) -> None:
    """Write the estimator's data document and its feature names (JSON, column order) into ``folder``."""
    from zoo.datasets.features import FEATURES

    (Path(folder) / ESTIMATOR_FILE).write_text(document)
    (Path(folder) / FEATURES_FILE).write_text(json.dumps(list(FEATURES)))


def fit_split(
    spec, source, split, seed: int, registry, desc: str = "estimator"
) -> tuple[FitResult, list[tuple[np.datetime64, np.ndarray, np.ndarray]], Callable[[Path], None]]:
    """Build, fit and predict one (test year, seed) of an estimator spec.

    Returns the fit result, the test days' predictions and a writer of the model's files (the
    runner logs them under ``weights/``).
    """
    from zoo.datasets.features import FEATURES

    if capability(source, "features") is None:
        raise TrainingError(
            f"{desc}: the data source {type(source).__name__} gives no window features; an estimator "
            f"spec needs a cube source (zoo.train.data.CubeSource)"
        )
    t = spec.train
    ref = spec.model.estimator
    setup = registry.build(ESTIMATOR, ref.name, ref.params, len(FEATURES))
    if not isinstance(setup, EstimatorSetup):
        raise TrainingError(
            f"estimator {ref.name!r} built a {type(setup).__name__}, not a zoo.interfaces.EstimatorSetup"
        )
    loss_fn = registry.build("loss", t.loss.name, t.loss.params, 0)
    result = fit_estimator(
        setup,
        source.features(split.train),
        source.features(split.valid[:: t.valid_stride]),
        loss_fn.label_norm,
        seed,
        min_stocks=t.min_stocks,
        # the loss's own label winsorisation too (weighted_mse's label_clip_mad), as the trainer does
        label_clip_mad=float(getattr(loss_fn, "label_clip_mad", 0.0)),
        desc=desc,
    )
    # The test year is scored by the stored document read back, so what is logged is what scored.
    document = estimator_io.to_json(setup.estimator, desc)
    stored = estimator_io.from_json(document, f"{desc}: {ESTIMATOR_FILE}")
    preds = predict_estimator(stored, source.features(split.test, test=True))
    return result, preds, lambda folder: save_estimator(document, folder)
