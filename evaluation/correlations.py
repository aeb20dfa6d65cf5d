"""Mean cross-sectional correlations: scores with styles (Fig. 6) and with each other (Fig. 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from zoo.evaluation.ic import MIN_STOCKS, cross_corr, with_model_dim


def _on_grid(x: xr.DataArray, like: xr.DataArray) -> xr.DataArray:
    return x.reindex(date=like["date"].values, symbol=like["symbol"].values).transpose("date", "symbol")


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def style_correlation(
    scores: xr.DataArray,
    exposures: xr.DataArray,
    *,
    universe: np.ndarray | None = None,
    method: str = "spearman",
    min_count: int = MIN_STOCKS,
) -> pd.DataFrame:
    """Mean over dates of the per-date correlation of each model's score with each style (models x styles).

    ``exposures`` is ``(style, date, symbol)`` (``evaluation.styles.style_exposures``); ``universe`` a
    boolean ``(date, symbol)`` mask on the exposures' grid.
    """
    scores = with_model_dim(scores)
    table = {}
    for style in exposures["style"].values:
        expo = exposures.sel(style=style).drop_vars("style", errors="ignore").transpose("date", "symbol")
        table[str(style)] = {
            str(m): _mean(
                cross_corr(
                    _on_grid(scores.sel(model=m), expo),
                    expo,
                    method=method,
                    mask=universe,
                    min_count=min_count,
                )
            )
            for m in scores["model"].values
        }
    out = pd.DataFrame(table)
    out.index.name = "model"
    return out


def factor_correlation(
    scores: xr.DataArray,
    *,
    universe: np.ndarray | None = None,
    like: xr.DataArray | None = None,
    method: str = "spearman",
    min_count: int = MIN_STOCKS,
) -> pd.DataFrame:
    """Mean over dates of the per-date correlation between every pair of models' scores (models x models).

    ``universe`` is a boolean ``(date, symbol)`` mask on the grid of ``like`` (default: the scores' grid).
    """
    scores = with_model_dim(scores)
    grid = like if like is not None else scores.isel(model=0)
    panels = {str(m): _on_grid(scores.sel(model=m), grid) for m in scores["model"].values}
    names = list(panels)
    mat = np.eye(len(names))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            c = _mean(cross_corr(panels[a], panels[b], method=method, mask=universe, min_count=min_count))
            mat[i, j] = mat[j, i] = c
    return pd.DataFrame(mat, index=pd.Index(names, name="model"), columns=names)
