"""Daily RankIC of a (date, symbol) score against labels, vectorised (used for the parent run's metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def daily_rank_ic(score: xr.DataArray, label: xr.DataArray, min_stocks: int = 10) -> pd.Series:
    """Spearman correlation per date over stocks where both are finite (dates with too few dropped)."""
    score, label = xr.align(score, label, join="inner")
    s = score.transpose("date", "symbol").values.astype(np.float64)
    y = label.transpose("date", "symbol").values.astype(np.float64)
    both = np.isfinite(s) & np.isfinite(y)
    s = np.where(both, s, np.nan)
    y = np.where(both, y, np.nan)
    rs = pd.DataFrame(s).rank(axis=1).to_numpy()
    ry = pd.DataFrame(y).rank(axis=1).to_numpy()
    n = both.sum(axis=1)
    rs = rs - np.nanmean(np.where(both, rs, np.nan), axis=1, keepdims=True)
    ry = ry - np.nanmean(np.where(both, ry, np.nan), axis=1, keepdims=True)
    num = np.nansum(rs * ry, axis=1)
    den = np.sqrt(np.nansum(rs * rs, axis=1) * np.nansum(ry * ry, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        ic = num / den
    ic[(n < min_stocks) | ~np.isfinite(ic)] = np.nan
    out = pd.Series(ic, index=pd.DatetimeIndex(score["date"].values), name="rank_ic")
    return out.dropna()


def ic_summary(ic: pd.Series) -> dict[str, float]:
    """RankIC (mean), RankICIR (mean / std of the daily series) and IC win rate (share of days > 0)."""
    if len(ic) == 0:
        return {"rank_ic": float("nan"), "rank_icir": float("nan"), "ic_win_rate": float("nan"), "n_days": 0}
    std = float(ic.std(ddof=1)) if len(ic) > 1 else float("nan")
    return {
        "rank_ic": float(ic.mean()),
        "rank_icir": float(ic.mean() / std) if std and np.isfinite(std) and std > 0 else float("nan"),
        "ic_win_rate": float((ic > 0).mean()),
        "n_days": int(len(ic)),
    }
