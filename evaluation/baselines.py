"""Baseline factors beside the models, on exactly the models' dates and stocks (docs/evaluation.md).

A baseline is a registered ``factor`` component (``zoo list factor``), built through the zoo registry
like any plugin (this package never imports ``plugins``). ``baseline_scores`` computes each one on the
whole cube (its value at t uses data up to t only) and keeps it only on the cells where every model
has a finite score, so every table compares the models with the baselines on the same cross-sections;
the universes are applied later by the same code as for the models. A baseline that cannot be computed
on such a cell (e.g. too little history) is NaN there, as a model score would be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from zoo.errors import EvaluationError, ZooError

#: Appended to a factor's name to label its column in every table, CSV and plot.
BASELINE_SUFFIX = " (baseline)"

FactorBuilder = Callable[[str], Callable[[xr.Dataset], xr.DataArray]]


def baseline_label(name: str) -> str:
    """The column label of baseline ``name``, e.g. ``low_vol_20 (baseline)``."""
    return f"{name}{BASELINE_SUFFIX}"


def is_baseline(label: str) -> bool:
    """True for a column label made by ``baseline_label``."""
    return str(label).endswith(BASELINE_SUFFIX)


def short_name(label: str) -> str:
    """A baseline label without its suffix (the factor's name); other labels unchanged."""
    label = str(label)
    return label[: -len(BASELINE_SUFFIX)] if is_baseline(label) else label


def _registry_builder(plugins: Sequence[str] = ()) -> FactorBuilder:
    # Imported here: the registry loads the built-in plugins (torch among them), which only a
    # baseline computation needs; importing ``evaluation`` stays light.
    from zoo.registry import get_registry

    registry = get_registry(tuple(plugins))
    return lambda name: registry.build("factor", name)


def model_mask(scores: xr.DataArray) -> xr.DataArray:
    """``(date, symbol)`` True where every model of ``scores`` (model, date, symbol) is finite."""
    if "model" not in scores.dims:
        return xr.apply_ufunc(np.isfinite, scores)
    return xr.apply_ufunc(np.isfinite, scores).all("model")


def baseline_scores(
    cube: xr.Dataset,
    names: Sequence[str],
    mask: xr.DataArray,
    *,
    build: FactorBuilder | None = None,
    plugins: Sequence[str] = (),
) -> xr.DataArray:
    """The baselines ``(model, date, symbol)`` float32 on ``mask``'s grid, NaN where ``mask`` is False.

    ``names`` are factor components; the ``model`` coordinate holds their labels (``baseline_label``).
    ``build`` maps a name to a factor (default: the registry with ``plugins``).
    """
    if not names:
        raise EvaluationError("no baselines named; pass at least one factor name")
    build = build or _registry_builder(plugins)
    grid = mask.transpose("date", "symbol")
    keep = grid.values.astype(bool)
    layers = []
    for i, name in enumerate(names):
        try:
            value = build(name)(cube)
        except ZooError as exc:
            raise EvaluationError(f"evaluate.baselines[{i}] ({name!r}): {exc}") from None
        if not isinstance(value, xr.DataArray) or set(value.dims) != {"date", "symbol"}:
            raise EvaluationError(
                f"factor {name!r} must return a (date, symbol) DataArray, got {type(value).__name__}"
                + (f" with dims {value.dims}" if isinstance(value, xr.DataArray) else "")
            )
        on_grid = value.reindex(date=grid["date"].values, symbol=grid["symbol"].values)
        layers.append(np.where(keep, on_grid.transpose("date", "symbol").values, np.nan))
    return xr.DataArray(
        np.stack(layers).astype(np.float32),
        dims=("model", "date", "symbol"),
        coords={"model": [baseline_label(n) for n in names], "date": grid["date"], "symbol": grid["symbol"]},
        name="score",
    )
