"""Score arrays: stitch daily predictions into (date, symbol) arrays and average seeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from zoo.errors import TrainingError


def stitch(
    preds: Sequence[tuple[np.datetime64, np.ndarray, np.ndarray]], symbols: Sequence[str] | np.ndarray
) -> xr.DataArray:
    """Daily ``(date, symbols, scores)`` into one ``score`` DataArray (date, symbol), NaN where unscored."""
    symbols = np.asarray(symbols)
    pos = {s: i for i, s in enumerate(symbols.tolist())}
    dates = np.array([p[0] for p in preds], dtype="datetime64[ns]")
    out = np.full((len(preds), len(symbols)), np.nan, dtype=np.float32)
    for row, (_, syms, scores) in enumerate(preds):
        try:
            cols = np.fromiter((pos[s] for s in np.asarray(syms).tolist()), dtype=np.int64, count=len(syms))
        except KeyError as exc:
            raise TrainingError(
                f"prediction names symbol {exc.args[0]!r} that the cube does not have"
            ) from None
        out[row, cols] = scores
    return xr.DataArray(out, dims=("date", "symbol"), coords={"date": dates, "symbol": symbols}, name="score")


def standardize(score: xr.DataArray) -> xr.DataArray:
    """Z-score each date's cross-section (NaN stays NaN; a constant day becomes 0)."""
    mean = score.mean("symbol", skipna=True)
    std = score.std("symbol", skipna=True)
    z = (score - mean) / std.where(std > 0)
    z = z.where(~(score.notnull() & (std == 0)), 0.0)
    return z.astype(np.float32)


def ensemble(scores: Sequence[xr.DataArray]) -> xr.DataArray:
    """Per-date mean of the seeds' standardised scores (dims date, symbol, named ``score``)."""
    if not scores:
        raise TrainingError("no seed scores to ensemble")
    aligned = xr.align(*[standardize(s) for s in scores], join="outer")
    stacked = xr.concat(aligned, dim="seed")
    out = stacked.mean("seed", skipna=True).astype(np.float32)
    out.name = "score"
    return out.sortby("date")
