"""Built-in classic trained baselines (slot ``estimator``): LightGBM and a ridge regression.

Each builder returns a :class:`zoo.interfaces.EstimatorSetup` around an unfitted scikit-learn-API
regressor; ``zoo.train.classic`` fits it on per-day window features (``datasets.features``) with the
same splits, seeds and labels as the neural models. ``lightgbm`` and ``sklearn`` are imported only
when a component is built, so listing the registry stays cheap.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
from attrs import field, frozen, validators

from zoo import hookimpl
from zoo.interfaces import ESTIMATOR, EstimatorSetup, ValidationSet
from zoo.registry import Component

#: Name of the validation set and of its metric in LightGBM's ``evals_result_`` (history key
#: ``valid_rank_ic``, the neural fits' per-epoch metric).
VALID_NAME, METRIC_NAME = "valid", "rank_ic"


@frozen
class LightGBMConfig:
    """Gradient-boosted trees (``lightgbm.LGBMRegressor``), early-stopped on validation RankIC.

    Defaults start from qlib's Alpha158 LightGBM benchmark (colsample 0.8879, subsample 0.8789,
    lambda_l1 205.7, lambda_l2 581.0, early stopping 50) scaled down to ~20 features and about
    100,000 training rows instead of 158 and ~600,000: 31 leaves (not 210), depth 6 (not 8), a
    learning rate of 0.05 (not 0.2) with up to 1,000 rounds.
    """

    n_estimators: int = field(default=1000, validator=validators.ge(1))
    learning_rate: float = field(default=0.05, validator=validators.gt(0))
    num_leaves: int = field(default=31, validator=validators.ge(2))
    #: -1 = no limit.
    max_depth: int = field(default=6, validator=validators.ge(-1))
    min_child_samples: int = field(default=20, validator=validators.ge(1))
    #: Row share per tree; used every round (LightGBM ignores it unless subsample_freq > 0,
    #: which qlib's benchmark config leaves at 0).
    subsample: float = field(default=0.8789, validator=[validators.gt(0), validators.le(1)])
    subsample_freq: int = field(default=1, validator=validators.ge(0))
    colsample_bytree: float = field(default=0.8879, validator=[validators.gt(0), validators.le(1)])
    reg_alpha: float = field(default=205.6999, validator=validators.ge(0))
    reg_lambda: float = field(default=580.9768, validator=validators.ge(0))
    #: Stop after this many rounds without a better validation RankIC (0 = run all n_estimators).
    early_stopping_rounds: int = field(default=50, validator=validators.ge(0))
    #: OpenMP threads. One by default: LightGBM's all-cores default ran 30x slower per round on
    #: this busy 2-core machine (334 vs 11 ms, 15,000 rows); raise it on an idle many-core one.
    n_jobs: int = field(default=1, validator=validators.ge(1))


def _rank_ic_metric(valid: ValidationSet):
    """A LightGBM ``eval_metric``: the validation split's mean daily RankIC (higher is better)."""

    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[str, float, bool]:
        # Rows are the validation set's own, in its order; the day structure lives in valid.rank_ic.
        return METRIC_NAME, valid.rank_ic(y_pred), True

    return metric


def build_lightgbm(cfg: LightGBMConfig, n_features: int) -> EstimatorSetup:
    """An unfitted ``LGBMRegressor`` (L2 objective) whose fit early-stops on validation RankIC."""
    import lightgbm

    model = lightgbm.LGBMRegressor(
        n_estimators=cfg.n_estimators,
        learning_rate=cfg.learning_rate,
        num_leaves=cfg.num_leaves,
        max_depth=cfg.max_depth,
        min_child_samples=cfg.min_child_samples,
        subsample=cfg.subsample,
        subsample_freq=cfg.subsample_freq,
        colsample_bytree=cfg.colsample_bytree,
        reg_alpha=cfg.reg_alpha,
        reg_lambda=cfg.reg_lambda,
        random_state=0,  # replaced by the run's seed
        n_jobs=cfg.n_jobs,
        # Only the RankIC metric below is evaluated: stopping on validation L2 would pick the round by
        # the wrong goal (the neural models stop on validation RankIC too).
        metric="None",
        # Same seed + data + thread count gives the same trees.
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
    )

    def fit_params(valid: ValidationSet) -> Mapping[str, Any]:
        callbacks = []
        if cfg.early_stopping_rounds > 0:
            callbacks.append(lightgbm.early_stopping(cfg.early_stopping_rounds, verbose=False))
        # LightGBM 4.7 deprecates eval_set for eval_X / eval_y; older 4.x only has eval_set.
        if "eval_X" in inspect.signature(model.fit).parameters:
            data: dict[str, Any] = {"eval_X": (valid.X,), "eval_y": (valid.y,)}
        else:
            data = {"eval_set": [(valid.X, valid.y)]}
        return {
            **data,
            "eval_names": [VALID_NAME],
            "eval_metric": _rank_ic_metric(valid),
            "callbacks": callbacks,
        }

    return EstimatorSetup(model, fit_params)


@frozen
class RidgeConfig:
    """Standardised features, then an L2-penalised linear regression (``Pipeline([scale, ridge])``)."""

    alpha: float = field(default=1.0, validator=validators.ge(0))
    fit_intercept: bool = True


def build_ridge(cfg: RidgeConfig, n_features: int) -> EstimatorSetup:
    """An unfitted ``Pipeline([StandardScaler, Ridge])``; a closed-form fit that ignores validation."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = Pipeline(
        [("scale", StandardScaler()), ("ridge", Ridge(alpha=cfg.alpha, fit_intercept=cfg.fit_intercept))]
    )
    return EstimatorSetup(model)


@hookimpl
def zoo_components() -> list[Component]:
    """The built-in estimators."""
    return [
        Component(
            ESTIMATOR,
            "lightgbm",
            LightGBMConfig,
            build_lightgbm,
            doc="LightGBM regressor on window features, early-stopped on validation RankIC",
        ),
        Component(
            ESTIMATOR, "ridge", RidgeConfig, build_ridge, doc="StandardScaler + Ridge on window features"
        ),
    ]
