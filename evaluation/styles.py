"""Barra-like style exposures computed from the cube, causal and standardised per date.

Every exposure at date t uses bars up to the close of t only. Definitions (docs/evaluation.md):

* ``size``: the cube's ``size`` variable (log market cap or the documented proxy); ``log(mcap)`` if absent.
* ``beta``: slope of the stock's daily return on the market's over the trailing ``beta_window`` days.
* ``momentum``: sum of daily log returns from t-``momentum_window``+1 to t-``momentum_skip``.
* ``residual_volatility``: standard deviation of the residual of that beta regression.
* ``liquidity``: log of the mean daily traded value (vwap x volume, zero on days without a bar) over the
  trailing ``liquidity_window`` days divided by the market cap of t (a turnover rate).
* ``reversal``: sum of daily log returns over the trailing ``reversal_window`` days.

Daily returns are close-to-close, NaN where either bar is missing or ``breach`` is set at t; the market
return is the mcap(t-1)-weighted mean over the universe members of t-1 (equal weight without ``mcap``).
A rolling value needs at least ``min_obs_frac`` of its window as finite returns, else it is NaN.
Standardisation per date, over the universe's members only (others are NaN): clip at the median
+/- 5 x 1.4826 MAD, then subtract the mean and divide by the standard deviation.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from zoo.datasets.calc import min_observations, one_day_simple_returns
from zoo.evaluation.cube import check_dates, close_panel, field_panel, flag_panel, rolling_sum, universe_mask

from zoo.errors import EvaluationError

STYLES: tuple[str, ...] = ("size", "beta", "momentum", "residual_volatility", "liquidity", "reversal")


def daily_returns(cube: xr.Dataset) -> np.ndarray:
    """Close-to-close simple returns ``(date, symbol)`` float64; NaN on a missing bar or a breach at t."""
    return one_day_simple_returns(close_panel(cube, "daily returns"), flag_panel(cube, "breach"))


def market_returns(cube: xr.Dataset, returns: np.ndarray, universe: str = "all") -> np.ndarray:
    """Cap-weighted (mcap of t-1) mean return of the universe's members at t-1, one value per date."""
    member = universe_mask(cube, universe, "market return")
    weight = np.ones(returns.shape)
    if "mcap" in cube.variables:
        weight = cube["mcap"].transpose("date", "symbol").values.astype(np.float64)
    prev_w = np.full(returns.shape, np.nan)
    prev_w[1:] = np.where(member[:-1] & (weight[:-1] > 0), weight[:-1], np.nan)
    ok = np.isfinite(prev_w) & np.isfinite(returns)
    wsum = np.where(ok, prev_w, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, np.where(ok, prev_w * returns, 0.0).sum(axis=1) / wsum, np.nan)


def _beta_resvol(
    ret: np.ndarray, mkt: np.ndarray, window: int, min_obs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling OLS slope and residual std of ``ret`` on ``mkt`` over pairwise-finite days, by prefix sums."""
    m = np.broadcast_to(mkt[:, None], ret.shape)
    ok = np.isfinite(ret) & np.isfinite(m)
    y = np.where(ok, ret, np.nan)
    x = np.where(ok, m, np.nan)
    n, _ = rolling_sum(np.where(ok, 1.0, np.nan), window)
    sx, _ = rolling_sum(x, window)
    sy, _ = rolling_sum(y, window)
    sxx, _ = rolling_sum(x * x, window)
    sxy, _ = rolling_sum(x * y, window)
    syy, _ = rolling_sum(y * y, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        var_x = sxx / n - mx * mx
        var_y = syy / n - my * my
        cov = sxy / n - mx * my
        beta = cov / var_x
        resid = np.sqrt(np.clip(var_y - cov * beta, 0.0, None))
    bad = (n < min_obs) | ~(var_x > 1e-18)
    beta[bad] = np.nan
    resid[bad] = np.nan
    return beta, resid


def _trailing_logret(logret: np.ndarray, start_lag: int, end_lag: int, min_obs: int) -> np.ndarray:
    """Sum of ``logret`` over rows t-start_lag .. t-end_lag (inclusive); NaN below ``min_obs`` values."""
    finite = np.isfinite(logret)
    csum = np.zeros((logret.shape[0] + 1, logret.shape[1]))
    np.cumsum(np.where(finite, logret, 0.0), axis=0, out=csum[1:])
    ccnt = np.zeros(csum.shape, dtype=np.int64)
    np.cumsum(finite, axis=0, out=ccnt[1:])
    t = np.arange(logret.shape[0])
    hi = t - end_lag + 1  # prefix index one past the last row used
    lo = np.maximum(t - start_lag, 0)
    valid = hi > lo
    hi_c, lo_c = np.clip(hi, 0, None), np.clip(lo, 0, None)
    total = csum[hi_c] - csum[lo_c]
    count = ccnt[hi_c] - ccnt[lo_c]
    out = np.where(count >= min_obs, total, np.nan)
    out[~valid] = np.nan
    return out


def standardise(values: np.ndarray, member: np.ndarray, mad_clip: float = 5.0) -> np.ndarray:
    """Per-date robust clip then z-score over the members with a finite value; NaN elsewhere."""
    v = np.where(member & np.isfinite(values), values, np.nan)
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN dates stay NaN on purpose
            med = np.nanmedian(v, axis=1, keepdims=True)
            mad = np.nanmedian(np.abs(v - med), axis=1, keepdims=True) * 1.4826
            if mad_clip > 0:
                lim = mad_clip * mad
                v = np.where(mad > 0, np.clip(v, med - lim, med + lim), v)
            mean = np.nanmean(v, axis=1, keepdims=True)
            std = np.nanstd(v, axis=1, keepdims=True)
            z = (v - mean) / np.where(std > 0, std, np.nan)
    return z


def raw_style(cube: xr.Dataset, name: str, **params: float) -> np.ndarray:
    """One style's unstandardised exposure ``(date, symbol)`` float64 (see the module docstring)."""
    return _raw_styles(cube, (name,), **params)[name]


def _raw_styles(
    cube: xr.Dataset,
    styles: tuple[str, ...],
    *,
    beta_window: int = 252,
    momentum_window: int = 252,
    momentum_skip: int = 21,
    liquidity_window: int = 21,
    reversal_window: int = 21,
    min_obs_frac: float = 0.5,
    universe: str = "all",
) -> dict[str, np.ndarray]:
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise EvaluationError(f"unknown style(s) {unknown}; known styles: {list(STYLES)}")
    if momentum_skip >= momentum_window:
        raise EvaluationError(
            f"momentum_skip={momentum_skip} must be below momentum_window={momentum_window}"
        )
    check_dates(cube, "style exposures")
    out: dict[str, np.ndarray] = {}
    need_ret = {"beta", "residual_volatility", "momentum", "reversal"} & set(styles)
    ret = daily_returns(cube) if need_ret else None
    if "size" in styles:
        if "size" in cube.variables:
            out["size"] = cube["size"].transpose("date", "symbol").values.astype(np.float64)
        elif "mcap" in cube.variables:
            mcap = cube["mcap"].transpose("date", "symbol").values.astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["size"] = np.where(mcap > 0, np.log(mcap), np.nan)
        else:
            raise EvaluationError(
                "style 'size' needs the cube variable 'size' or 'mcap'; the cube has neither"
            )
    if {"beta", "residual_volatility"} & set(styles):
        mkt = market_returns(cube, ret, universe)
        beta, resid = _beta_resvol(
            ret, mkt, beta_window, min_observations(beta_window, min_obs_frac, floor=2)
        )
        out["beta"], out["residual_volatility"] = beta, resid
    if {"momentum", "reversal"} & set(styles):
        with np.errstate(invalid="ignore"):
            logret = np.log1p(ret)
        span = momentum_window - momentum_skip
        out["momentum"] = _trailing_logret(
            logret, momentum_window - 1, momentum_skip, min_observations(span, min_obs_frac, floor=2)
        )
        out["reversal"] = _trailing_logret(
            logret, reversal_window - 1, 0, min_observations(reversal_window, min_obs_frac, floor=2)
        )
    if "liquidity" in styles:
        if "mcap" not in cube.variables:
            raise EvaluationError(
                "style 'liquidity' needs the cube variable 'mcap' (turnover = value / mcap)"
            )
        price = field_panel(cube, "vwap")
        close = close_panel(cube, "style 'liquidity'")
        price = close if price is None else np.where(np.isfinite(price) & (price > 0), price, close)
        volume = field_panel(cube, "volume")
        if volume is None:
            raise EvaluationError("style 'liquidity' needs the bar field 'volume'")
        value = np.where(np.isfinite(price * volume), price * volume, 0.0)
        total, _ = rolling_sum(value, liquidity_window)
        mcap = cube["mcap"].transpose("date", "symbol").values.astype(np.float64)
        rows = np.arange(value.shape[0])
        enough = (rows + 1 >= liquidity_window)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            turnover = total / liquidity_window / mcap
            out["liquidity"] = np.where(enough & (turnover > 0), np.log(turnover), np.nan)
    return {s: out[s] for s in styles}


def style_exposures(
    cube: xr.Dataset,
    styles: tuple[str, ...] | list[str] | None = None,
    *,
    standardised: bool = True,
    universe: str = "all",
    beta_window: int = 252,
    momentum_window: int = 252,
    momentum_skip: int = 21,
    liquidity_window: int = 21,
    reversal_window: int = 21,
    min_obs_frac: float = 0.5,
    mad_clip: float = 5.0,
) -> xr.DataArray:
    """Style exposures ``(style, date, symbol)`` float32, standardised per date over ``universe``, causal."""
    names = tuple(styles) if styles is not None else STYLES
    raw = _raw_styles(
        cube,
        names,
        beta_window=beta_window,
        momentum_window=momentum_window,
        momentum_skip=momentum_skip,
        liquidity_window=liquidity_window,
        reversal_window=reversal_window,
        min_obs_frac=min_obs_frac,
        universe=universe,
    )
    member = universe_mask(cube, universe, "style exposures")
    layers = [standardise(raw[s], member, mad_clip) if standardised else raw[s] for s in names]
    data = np.stack(layers).astype(np.float32)
    return xr.DataArray(
        data,
        dims=("style", "date", "symbol"),
        coords={"style": list(names), "date": cube["date"].values, "symbol": cube["symbol"].values},
        name="style_exposure",
        attrs={
            "standardised": int(standardised),
            "universe": universe,
            "beta_window": beta_window,
            "momentum_window": momentum_window,
            "momentum_skip": momentum_skip,
            "liquidity_window": liquidity_window,
            "reversal_window": reversal_window,
        },
    )
