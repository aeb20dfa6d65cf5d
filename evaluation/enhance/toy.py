"""A small hand-made market for the enhancement tests and bench: cube, style exposures, forward returns.

Not the project's synthetic market (that lives in ``datasets``): this one is only as rich as the
optimiser needs — a cap-weighted stand-in index, industries, standardised styles that drive returns,
and sparse suspended / limit / ST flags — and is built in milliseconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def toy_market(
    n_symbols: int = 60,
    n_days: int = 80,
    n_index: int = 30,
    n_styles: int = 3,
    n_industries: int = 5,
    flag_rate: float = 0.01,
    seed: int = 0,
    start: str = "2021-01-04",
) -> tuple[xr.Dataset, xr.DataArray]:
    """Return ``(cube, exposures)``: a cube in the project's schema and ``exposures(style, date, symbol)``."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_days).to_numpy().astype("datetime64[ns]")
    symbols = np.array([f"S{i:04d}" for i in range(n_symbols)])
    industry = rng.integers(0, n_industries, n_symbols).astype(np.int16)
    base = rng.normal(size=(n_styles, 1, n_symbols))
    drift = 0.05 * np.cumsum(rng.normal(size=(n_styles, n_days, n_symbols)), axis=1)
    raw = base + drift
    expo = (raw - raw.mean(axis=2, keepdims=True)) / raw.std(axis=2, keepdims=True)
    style_ret = rng.normal(0, 0.004, size=(n_days, n_styles))
    ind_ret = rng.normal(0, 0.006, size=(n_days, n_industries))
    ret = (
        np.einsum("dk,kds->ds", style_ret, expo)
        + ind_ret[:, industry]
        + rng.normal(0, 0.015, size=(n_days, n_symbols))
    )
    ret[0] = 0.0
    close = 10.0 * np.cumprod(1.0 + ret, axis=0)
    shares = np.exp(rng.normal(0, 1.0, n_symbols))
    mcap = close * shares
    rank = np.argsort(np.argsort(-mcap[0]))
    members = rank < n_index
    weight = np.where(members[None, :], mcap, 0.0)
    weight /= weight.sum(axis=1, keepdims=True)

    def flags() -> np.ndarray:
        out = rng.random((n_days, n_symbols)) < flag_rate
        out[0] = False
        return out

    suspended, limit_up, limit_down, st = flags(), flags(), flags(), flags()
    close_obs = close.copy()
    close_obs[suspended] = np.nan
    bars = np.repeat(close_obs[:, :, None], 6, axis=2)
    bars[:, :, 5] = np.where(suspended, np.nan, 1e6)
    fields = ["open", "high", "low", "close", "vwap", "volume"]
    coords = {"date": dates, "symbol": symbols, "field": fields, "index": ["toy"]}
    cube = xr.Dataset(
        {
            "bars": (("date", "symbol", "field"), bars.astype(np.float32)),
            "mcap": (("date", "symbol"), mcap.astype(np.float32)),
            "industry": (("symbol",), industry),
            "listed": (("date", "symbol"), np.ones((n_days, n_symbols), bool)),
            "suspended": (("date", "symbol"), suspended),
            "limit_up": (("date", "symbol"), limit_up & ~suspended),
            "limit_down": (("date", "symbol"), limit_down & ~suspended & ~limit_up),
            "st": (("date", "symbol"), st),
            "index_weight": (("index", "date", "symbol"), weight[None].astype(np.float32)),
        },
        coords=coords,
        attrs={"source": "evaluation.enhance.toy", "schema_version": 1},
    )
    exposures = xr.DataArray(
        expo.astype(np.float32),
        dims=("style", "date", "symbol"),
        coords={"style": [f"style{k}" for k in range(n_styles)], "date": dates, "symbol": symbols},
        name="exposure",
    )
    return cube, exposures


def forward_return(cube: xr.Dataset, days: int = 5, lag: int = 1) -> xr.DataArray:
    """close(t + lag + days) / close(t + lag) - 1 per (date, symbol): a perfect-foresight score."""
    close = cube["bars"].sel(field="close").transpose("date", "symbol")
    # pandas ffill: xarray's needs bottleneck, which is not a dependency.
    filled = close.copy(data=pd.DataFrame(close.values).ffill().to_numpy())
    fwd = filled.shift(date=-(lag + days)) / filled.shift(date=-lag) - 1.0
    return fwd.rename("score").astype(np.float32)
