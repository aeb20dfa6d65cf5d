"""Mean cross-sectional correlations of scores with styles and with each other."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import pearsonr, spearmanr
from zoo.evaluation.correlations import factor_correlation, style_correlation


def _grid(n_dates=8, n_sym=40):
    dates = pd.bdate_range("2022-03-01", periods=n_dates)
    return {"date": dates, "symbol": [f"S{i}" for i in range(n_sym)]}


def test_style_correlation_is_mean_of_daily_correlations():
    rng = np.random.default_rng(0)
    c = _grid()
    a = rng.normal(size=(8, 40))
    b = a + rng.normal(size=(8, 40))
    style = rng.normal(size=(2, 8, 40))
    style[0] = a**3  # a monotone transform: rank correlation 1, Pearson below 1
    b[2, :5] = np.nan
    scores = xr.DataArray(
        np.stack([a, b]), dims=("model", "date", "symbol"), coords={"model": ["A", "B"], **c}
    )
    expo = xr.DataArray(style, dims=("style", "date", "symbol"), coords={"style": ["cube", "noise"], **c})
    table = style_correlation(scores, expo)
    assert table.index.tolist() == ["A", "B"] and table.columns.tolist() == ["cube", "noise"]
    assert table.loc["A", "cube"] == pytest.approx(1.0)
    expected = np.mean(
        [spearmanr(b[t][np.isfinite(b[t])], style[1, t][np.isfinite(b[t])]).statistic for t in range(8)]
    )
    assert table.loc["B", "noise"] == pytest.approx(expected)
    pear = style_correlation(scores, expo, method="pearson")
    assert pear.loc["A", "cube"] == pytest.approx(
        np.mean([pearsonr(a[t], a[t] ** 3).statistic for t in range(8)])
    )
    assert pear.loc["A", "cube"] < 0.99


def test_factor_correlation_matrix_with_universe_mask():
    rng = np.random.default_rng(1)
    c = _grid()
    a = rng.normal(size=(8, 40))
    b = a + 0.5 * rng.normal(size=(8, 40))
    d = rng.normal(size=(8, 40))
    scores = xr.DataArray(
        np.stack([a, b, d]), dims=("model", "date", "symbol"), coords={"model": ["A", "B", "C"], **c}
    )
    member = np.zeros((8, 40), bool)
    member[:, 10:] = True
    mat = factor_correlation(scores, universe=member)
    assert mat.shape == (3, 3)
    np.testing.assert_allclose(np.diag(mat), 1.0)
    np.testing.assert_allclose(mat.to_numpy(), mat.to_numpy().T)
    expected = np.mean([spearmanr(a[t, 10:], b[t, 10:]).statistic for t in range(8)])
    assert mat.loc["A", "B"] == pytest.approx(expected)
    assert mat.loc["A", "B"] > 0.6 > abs(mat.loc["A", "C"])
