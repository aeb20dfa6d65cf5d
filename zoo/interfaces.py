"""The slots a model is composed of, and the contract each slot's modules keep.

Shapes: N stocks of one day, T steps, F fields, d width.

| slot          | forward                                   | must expose                    |
|---------------|-------------------------------------------|--------------------------------|
| decomposition | ``x (N,T,F)`` -> ``{name: (N,T,F)}``      | ``components: tuple[str, ...]``|
| encoder       | ``x (N,T,F_in)`` -> ``(N,T',d)``          | ``out_features: int``          |
| mixer         | ``h (N,T',d), ctx`` -> ``(N,T',d)``       |                                |
| fusion        | ``{branch: (N,T_b,d)}, ctx`` -> ``(N,T',d)`` | (config: optional ``check``) |
| head          | ``h (N,T',d)`` -> ``(N,)``                |                                |
| loss          | ``pred (N,), target (N,), mask (N,)`` -> scalar | ``label_norm: str``      |
| estimator     | not a module: ``build(config, n_features)`` -> :class:`EstimatorSetup` |   |
| factor        | ``__call__(cube)`` -> ``(date, symbol)`` float32 DataArray |                |

Encoders and heads treat every stock on its own (the model may run them over blocks of stocks);
stocks meet only in mixers (and losses). A fusion is where the branches meet: it gets every enabled
branch's output in the spec's order and returns the one sequence the norm, trunk and head see
(``sum``, the default, adds equal-shaped branches; ``cross_attention`` lets one branch's steps attend
to the others', so branches of different lengths compose). A fusion's config class may define
``check(branches: tuple[str, ...])``, refusing with a RegistryError the enabled branch names it cannot
fuse; the spec loader and ``build_model`` call it, so such a spec fails before any data is read.

``ctx`` is the day's side information, a mapping of tensors of length N: at least ``size`` (float),
``industry`` (int64) and ``mask`` (bool, True where the stock is valid). Stocks with ``mask`` False
take part in no cross-sectional statistic. A mixer's config class may define ``ctx_keys()`` returning
``{config field: ctx key}`` for the keys it reads; the spec loader refuses a key the day batches do not
carry (``datasets.batches.CTX_KEYS``), naming the field, before any data is read or run created.

An ``estimator`` (a classic trained baseline, ``[model] estimator = {name = ...}``) replaces the whole
network: it is fitted on per-day feature rows (``datasets.features``) by ``zoo.train.classic``. Its
builder gets the number of features and returns an :class:`EstimatorSetup`: an unfitted
scikit-learn-API regressor and, optionally, how its ``fit`` uses the validation split (early stopping).
A run's seed reaches it through its ``random_state`` parameter(s).

A ``factor`` is no model part: it is a baseline score computed from the whole data cube (an
``xarray.Dataset``, schema in docs/ARCHITECTURE.md) with numpy/xarray, no torch. Its value at date t
uses data up to t only, and it is NaN where it cannot be computed. Evaluation shows the configured
factors beside every model (``[evaluate] baselines``), masked to the models' dates and stocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
import numpy as np
import torch

from zoo.errors import RegistryError

DECOMPOSITION = "decomposition"
ENCODER = "encoder"
MIXER = "mixer"
FUSION = "fusion"
HEAD = "head"
LOSS = "loss"
ESTIMATOR = "estimator"
FACTOR = "factor"

#: Every slot, in the order a model is composed (an estimator stands in for the whole network); then
#: the baseline factors, which stand beside models.
SLOTS: tuple[str, ...] = (DECOMPOSITION, ENCODER, MIXER, FUSION, HEAD, LOSS, ESTIMATOR, FACTOR)

#: The fusion a spec without ``model.fusion`` gets (and the one its canonical form leaves out).
DEFAULT_FUSION = "sum"

#: Label normalisations a loss may ask for.
LABEL_NORMS: tuple[str, ...] = ("rank", "zscore")

Context = Mapping[str, torch.Tensor]

if TYPE_CHECKING:
    import xarray as xr


@runtime_checkable
class Factor(Protocol):
    """What a ``factor`` builder returns: a causal ``(date, symbol)`` float32 score of a cube."""

    def __call__(self, cube: xr.Dataset) -> xr.DataArray:
        """The score on the cube's dates and symbols; the value at t uses data up to t only."""
        ...


@attrs.frozen(eq=False)
class ValidationSet:
    """The validation split as an estimator sees it: every validation day's rows, in date order."""

    #: ``(rows, n_features)`` float32 features.
    X: np.ndarray
    #: ``(rows,)`` float32 labels, normalised per day as the spec's loss asks.
    y: np.ndarray
    #: Mean daily RankIC of predictions for ``X`` (``(rows,) -> float``): the early-stopping
    #: criterion of the neural models, so both kinds pick their stopping point the same way.
    rank_ic: Callable[[np.ndarray], float]


@attrs.frozen(eq=False)
class EstimatorSetup:
    """What an ``estimator`` component builds: an unfitted regressor and how its fit uses validation."""

    #: A scikit-learn-API regressor: ``fit(X, y, **fit_params)``, ``predict(X)``, ``get/set_params``.
    estimator: Any
    #: Keyword arguments for ``estimator.fit`` built from the validation split (e.g. LightGBM's
    #: ``eval_X`` / ``eval_y`` and early-stopping callback); None: the fit does not look at validation.
    fit_params: Callable[[ValidationSet], Mapping[str, Any]] | None = None


def require_ctx(ctx: Context | None, key: str, component: str) -> torch.Tensor:
    """Return ``ctx[key]`` or fail with a message naming the component and the keys present."""
    if ctx is None or key not in ctx:
        present = sorted(ctx) if ctx is not None else []
        raise RegistryError(
            f"{component} needs ctx[{key!r}] (the day's side information), but ctx has {present}; "
            f"pass it in the day batch's ctx or choose a component that does not need it"
        )
    return ctx[key]


def valid_mask(ctx: Context | None, n: int, device: torch.device) -> torch.Tensor:
    """The day's validity mask from ``ctx`` (all True when ctx carries none)."""
    if ctx is not None and "mask" in ctx:
        mask = ctx["mask"].to(device=device, dtype=torch.bool)
        if mask.shape != (n,):
            raise RegistryError(f"ctx['mask'] has shape {tuple(mask.shape)}, expected ({n},)")
        return mask
    return torch.ones(n, dtype=torch.bool, device=device)
