"""Style exposures match their definitions, are standardised per date and never look ahead."""

from __future__ import annotations

import numpy as np
import pytest
from zoo.evaluation.styles import STYLES, daily_returns, market_returns, raw_style, style_exposures
from zoo.evaluation.testing import tiny_cube

from zoo.errors import EvaluationError

PARAMS = dict(beta_window=12, momentum_window=10, momentum_skip=3, liquidity_window=4, reversal_window=5)


def _cube(seed: int = 0, n_dates: int = 40, n_sym: int = 7):
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.02, (n_dates, n_sym))
    close = 10 * np.exp(np.cumsum(ret, axis=0))
    close[5, 2] = np.nan  # a missing bar
    close[20:23, 4] = np.nan  # a suspension
    volume = rng.uniform(1e5, 1e6, close.shape)
    mcap = rng.uniform(1e9, 1e10, close.shape)
    breach = np.zeros(close.shape, bool)
    breach[30, 1] = True
    return tiny_cube(close, volume=volume, mcap=mcap, breach=breach)


def test_daily_returns_mask_gaps_and_breaches():
    cube = _cube()
    close = cube["bars"].sel(field="close").values.astype(float)
    ret = daily_returns(cube)
    assert np.isnan(ret[0]).all()
    assert np.isnan(ret[5, 2]) and np.isnan(ret[6, 2])
    assert np.isnan(ret[30, 1])
    assert ret[10, 3] == pytest.approx(close[10, 3] / close[9, 3] - 1)


def test_market_return_is_cap_weighted_on_previous_day():
    cube = _cube()
    ret = daily_returns(cube)
    mcap = cube["mcap"].values.astype(float)
    mkt = market_returns(cube, ret)
    t = 12
    ok = np.isfinite(ret[t])
    expected = np.sum(mcap[t - 1, ok] * ret[t, ok]) / np.sum(mcap[t - 1, ok])
    assert mkt[t] == pytest.approx(expected, rel=1e-9)


def test_raw_styles_match_definitions():
    cube = _cube()
    close = cube["bars"].sel(field="close").values.astype(float)
    ret = daily_returns(cube)
    mkt = market_returns(cube, ret)
    t, s = 30, 3
    # momentum: log returns t-9 .. t-3 = log(close[t-3] / close[t-10])
    mom = raw_style(cube, "momentum", **PARAMS)
    assert mom[t, s] == pytest.approx(np.log(close[t - 3, s] / close[t - 10, s]), rel=1e-9)
    rev = raw_style(cube, "reversal", **PARAMS)
    assert rev[t, s] == pytest.approx(np.log(close[t, s] / close[t - 5, s]), rel=1e-9)
    # beta and residual volatility: OLS over the 12 trailing days
    y, x = ret[t - 11 : t + 1, s], mkt[t - 11 : t + 1]
    slope, icpt = np.polyfit(x, y, 1)
    assert raw_style(cube, "beta", **PARAMS)[t, s] == pytest.approx(slope, rel=1e-7)
    resid = y - (slope * x + icpt)
    assert raw_style(cube, "residual_volatility", **PARAMS)[t, s] == pytest.approx(resid.std(), rel=1e-6)
    # with a missing day in the window only the pairwise-finite days count (stock 4 suspended 20..22)
    t, s = 26, 4
    y, x = ret[t - 11 : t + 1, s], mkt[t - 11 : t + 1]
    ok = np.isfinite(y)
    assert ok.sum() == 8
    slope, _ = np.polyfit(x[ok], y[ok], 1)
    assert raw_style(cube, "beta", **PARAMS)[t, s] == pytest.approx(slope, rel=1e-6)
    # liquidity: log(mean traded value over 4 days / mcap of t)
    vol = cube["bars"].sel(field="volume").values.astype(float)
    vwap = cube["bars"].sel(field="vwap").values.astype(float)
    mcap = cube["mcap"].values.astype(float)
    liq = raw_style(cube, "liquidity", **PARAMS)
    t = 15
    assert liq[t, 0] == pytest.approx(
        np.log(np.mean(vwap[t - 3 : t + 1, 0] * vol[t - 3 : t + 1, 0]) / mcap[t, 0])
    )
    np.testing.assert_allclose(raw_style(cube, "size"), cube["size"].values, rtol=1e-6)


def test_too_few_observations_give_nan():
    cube = _cube()
    assert np.isnan(raw_style(cube, "beta", **PARAMS)[:6]).all()  # needs 6 of 12 days
    mom = raw_style(cube, "momentum", **PARAMS)
    # rows t-9..t-3 need 4 finite returns of 7; returns start at row 1, so t=7 is the first with 4
    assert np.isnan(mom[:7]).all() and np.isfinite(mom[7]).all()


def test_standardised_per_date_over_members():
    cube = _cube()
    cube["in_universe"].values[0, :, 6] = False
    exp = style_exposures(cube, **PARAMS)
    assert exp.dims == ("style", "date", "symbol") and exp.dtype == np.float32
    assert list(exp["style"].values) == list(STYLES)
    assert np.isnan(exp.values[:, :, 6]).all()
    z = exp.sel(style="momentum").values[25:]
    np.testing.assert_allclose(np.nanmean(z, axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(np.nanstd(z, axis=1), 1, atol=1e-5)


def test_outlier_is_clipped_before_zscore():
    cube = _cube(n_sym=30)
    size = cube["size"].values.copy()
    size[:, 0] = 1e6
    cube["size"].values = size
    z = style_exposures(cube, ["size"]).values[0]
    assert np.nanmax(z[:, 0]) < 6  # clipped, otherwise about sqrt(29) = 5.4 with the rest squashed to 0
    assert np.nanstd(z[:, 1:], axis=1).min() > 0.3


def test_no_look_ahead():
    cube = _cube()
    base = style_exposures(cube, **PARAMS).values
    t0 = 25
    bumped = cube.copy(deep=True)
    bars = bumped["bars"].values.copy()
    rng = np.random.default_rng(9)
    bars[t0 + 1 :] *= rng.uniform(0.5, 2.0, bars[t0 + 1 :].shape).astype(np.float32)
    bumped["bars"].values = bars
    bumped["mcap"].values[t0 + 1 :] *= 3
    after = style_exposures(bumped, **PARAMS).values
    np.testing.assert_array_equal(base[:, : t0 + 1], after[:, : t0 + 1])
    assert not np.allclose(np.nan_to_num(base[:, t0 + 1 :]), np.nan_to_num(after[:, t0 + 1 :]))


def test_bad_input_errors():
    cube = _cube()
    with pytest.raises(EvaluationError, match="unknown style"):
        style_exposures(cube, ["value"])
    with pytest.raises(EvaluationError, match="'mcap'"):
        style_exposures(cube.drop_vars("mcap"), ["liquidity"])
    with pytest.raises(EvaluationError, match="universe 'csi300'"):
        style_exposures(cube, ["size"], universe="csi300")
