"""RankIC equals scipy's spearmanr date by date; forward returns respect gaps, breaches and time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import pearsonr, spearmanr
from zoo.evaluation.ic import (
    cross_corr,
    forward_returns,
    ic_study,
    ic_summary,
    ic_table,
    label_returns,
    rank_ic,
)
from zoo.evaluation.testing import tiny_cube

from zoo.errors import EvaluationError


def _panel(values, dates, symbols):
    return xr.DataArray(values, dims=("date", "symbol"), coords={"date": dates, "symbol": symbols})


def test_forward_returns_exact_and_masked():
    close = np.array(
        [
            [10, 20, 30],
            [11, 20, 30],
            [12, np.nan, 33],
            [13, 22, 36],
            [14, 24, 30],
            [15, 26, 31],
        ],
        dtype=float,
    )
    breach = np.zeros(close.shape, bool)
    breach[4, 2] = True  # a price break between rows 3 and 4
    cube = tiny_cube(close, breach=breach)
    fr = forward_returns(cube, 2).values
    # t=0: close[3] / close[1] - 1
    assert fr[0, 0] == pytest.approx(13 / 11 - 1)
    assert np.isnan(fr[0, 1])  # close[2] missing inside t+1..t+3
    assert fr[0, 2] == pytest.approx(36 / 30 - 1)  # the breach at row 4 is after the period
    assert fr[1, 0] == pytest.approx(14 / 12 - 1)
    assert np.isnan(fr[1, 1])  # starts at the missing bar
    assert np.isnan(fr[1, 2])  # breach at row 4 is inside 2 -> 4
    assert fr[2, 1] == pytest.approx(26 / 22 - 1)
    assert np.isnan(fr[2, 2])  # breach at row 4 inside 3 -> 5
    assert np.isnan(fr[3:]).all()  # the period runs past the cube
    # a breach on the buy day itself (row t+1) does not break close(t+1) -> close(t+1+h)
    breach2 = np.zeros(close.shape, bool)
    breach2[1, 0] = True
    assert forward_returns(tiny_cube(close, breach=breach2), 2).values[0, 0] == pytest.approx(13 / 11 - 1)


def test_forward_returns_do_not_look_past_their_period():
    rng = np.random.default_rng(0)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (30, 5)), axis=0))
    base = forward_returns(tiny_cube(close), 5).values
    bumped = close.copy()
    bumped[20:] *= 1.5
    after = forward_returns(tiny_cube(bumped), 5).values
    # the value at t uses rows t+1 .. t+6 only: t <= 13 is untouched
    np.testing.assert_array_equal(base[:14], after[:14])
    assert not np.allclose(base[14], after[14])


def test_rank_ic_matches_spearmanr_with_ties_and_nans():
    rng = np.random.default_rng(1)
    n_dates, n_sym = 12, 25
    score = rng.integers(0, 6, (n_dates, n_sym)).astype(float)  # many ties
    ret = rng.normal(0, 1, (n_dates, n_sym)).round(1)  # ties in returns too
    score[rng.random(score.shape) < 0.15] = np.nan
    ret[rng.random(ret.shape) < 0.15] = np.nan
    ret[3, :] = np.nan  # a date with nothing to correlate
    score[5, 10:] = np.nan  # a date with few usable stocks
    dates = pd.bdate_range("2022-01-03", periods=n_dates)
    symbols = [f"S{i}" for i in range(n_sym)]
    ic = rank_ic(_panel(score, dates, symbols), _panel(ret, dates, symbols), min_count=5)
    assert list(ic.index) == list(dates)
    for t in range(n_dates):
        ok = np.isfinite(score[t]) & np.isfinite(ret[t])
        if ok.sum() < 5:
            assert np.isnan(ic.iloc[t])
            continue
        expected = spearmanr(score[t, ok], ret[t, ok]).statistic
        assert ic.iloc[t] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(ic.iloc[3])


def test_rank_ic_universe_mask_and_alignment():
    rng = np.random.default_rng(2)
    score = rng.normal(size=(6, 20))
    ret = rng.normal(size=(6, 20))
    dates = pd.bdate_range("2022-01-03", periods=6)
    symbols = [f"S{i}" for i in range(20)]
    member = np.zeros((6, 20), bool)
    member[:, :12] = True
    # the score's symbols in another order and with an extra symbol the returns lack
    sc = _panel(score, dates, symbols).isel(symbol=slice(None, None, -1))
    extra = _panel(np.ones((6, 1)), dates, ["ZZZ"])
    sc = xr.concat([sc, extra], dim="symbol")
    ic = rank_ic(sc, _panel(ret, dates, symbols), member)
    for t in range(6):
        assert ic.iloc[t] == pytest.approx(spearmanr(score[t, :12], ret[t, :12]).statistic, abs=1e-12)


def test_ic_summary_exact():
    ic = pd.Series([0.1, -0.05, 0.2, np.nan, 0.15])
    s = ic_summary(ic)
    x = np.array([0.1, -0.05, 0.2, 0.15])
    assert s["rank_ic"] == pytest.approx(x.mean())
    assert s["rank_icir"] == pytest.approx(x.mean() / x.std(ddof=1))
    assert s["win_rate"] == pytest.approx(0.75)
    assert s["n_dates"] == 4


def test_ic_study_and_table_layout():
    rng = np.random.default_rng(3)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (40, 30)), axis=0))
    member = np.zeros(close.shape, bool)
    member[:, :15] = True
    cube = tiny_cube(close, universes={"csi300": member})
    fwd = forward_returns(cube, 2)
    perfect = fwd.fillna(0.0)
    noise = xr.DataArray(rng.normal(size=close.shape), coords=fwd.coords, dims=fwd.dims)
    scores = xr.concat([perfect, noise], dim=pd.Index(["oracle", "noise"], name="model"))
    summary, series = ic_study(scores, cube, horizons=(2, 5), universes=("all", "csi300"))
    assert len(summary) == 2 * 2 * 2
    oracle = summary.query("model == 'oracle' and horizon == 2 and universe == 'all'").iloc[0]
    assert oracle["rank_ic"] == pytest.approx(1.0) and oracle["win_rate"] == 1.0
    table = ic_table(summary, 2)
    assert list(table.columns) == ["oracle", "noise"]
    assert table.index.tolist()[:3] == [("all", "RankIC"), ("all", "RankICIR"), ("all", "IC win rate")]
    assert table.loc[("csi300", "RankIC"), "oracle"] == pytest.approx(1.0)
    assert series[("noise", 5, "csi300")].notna().sum() > 20


def test_label_choice_errors():
    cube = tiny_cube(np.ones((5, 3)))
    with pytest.raises(EvaluationError, match="label_neutral"):
        label_returns(cube, 10, "neutral")
    with pytest.raises(EvaluationError, match="'raw' or 'neutral'"):
        label_returns(cube, 10, "excess")
    with pytest.raises(EvaluationError, match="horizon"):
        forward_returns(cube, 0)


def test_raw_label_matches_the_datasets_label():
    """evaluation's raw forward return is the cube's ``label_raw`` calculation (``datasets.calc``)."""
    calc = pytest.importorskip("zoo.datasets.calc")
    rng = np.random.default_rng(4)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (40, 12)), axis=0))
    close[rng.random(close.shape) < 0.05] = np.nan
    breach = rng.random(close.shape) < 0.03
    cube = tiny_cube(close, breach=breach)
    for h in (1, 3, 10):
        ours = forward_returns(cube, h).values
        theirs = calc.forward_simple_returns(cube["bars"].sel(field="close").values, breach, h)
        np.testing.assert_array_equal(ours, theirs)


@settings(max_examples=25, deadline=None)
@given(
    data=arrays(
        np.float64,
        (4, 12),
        # integers (many ties) so that exp(x) stays strictly increasing in floating point
        elements=st.one_of(st.integers(-20, 20).map(float), st.just(np.nan)),
    ),
    seed=st.integers(0, 10_000),
)
def test_rank_ic_law_monotone_invariance(data, seed):
    """RankIC is spearmanr per date and unchanged by a strictly increasing transform of the score."""
    assume(np.isfinite(data).any())  # an all-NaN score is refused with an EvaluationError
    rng = np.random.default_rng(seed)
    ret = rng.normal(size=data.shape)
    dates = pd.bdate_range("2022-01-03", periods=data.shape[0])
    symbols = [f"S{i}" for i in range(data.shape[1])]
    ic = rank_ic(_panel(data, dates, symbols), _panel(ret, dates, symbols), min_count=3)
    ic_t = rank_ic(_panel(np.exp(data) * 3 + 1, dates, symbols), _panel(ret, dates, symbols), min_count=3)
    np.testing.assert_allclose(ic.to_numpy(), ic_t.to_numpy(), atol=1e-12, equal_nan=True)
    for t in range(data.shape[0]):
        ok = np.isfinite(data[t])
        if ok.sum() >= 3 and np.unique(data[t, ok]).size > 1:
            assert ic.iloc[t] == pytest.approx(spearmanr(data[t, ok], ret[t, ok]).statistic, abs=1e-12)
        else:
            assert np.isnan(ic.iloc[t])


def test_neutral_label_is_read_from_the_cube():
    rng = np.random.default_rng(6)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (20, 15)), axis=0))
    cube = tiny_cube(close)
    neutral = rng.normal(size=(1, 20, 15)).astype(np.float32)
    cube["label_neutral"] = (("horizon", "date", "symbol"), neutral)
    cube = cube.assign_coords(horizon=[5])
    lab = label_returns(cube, 5, "neutral")
    np.testing.assert_array_equal(lab.values, neutral[0])
    score = lab.copy(data=neutral[0] * 2 + 1)
    summary, _ = ic_study(score.expand_dims(model=["m"]), cube, horizons=(5,), label="neutral")
    assert summary.loc[0, "rank_ic"] == pytest.approx(1.0)
    with pytest.raises(EvaluationError, match="horizons"):
        label_returns(cube, 10, "neutral")


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    exact32=st.booleans(),
)
def test_rank_rows_equals_scipy_rankdata(rows, cols, seed, exact32):
    """The hand-written ranker (both its integer-key and argsort paths) is scipy's rankdata, NaN kept."""
    from scipy.stats import rankdata
    from zoo.evaluation.ic import rank_rows

    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (rows, cols)).astype(np.float64)  # many ties
    x[rng.random((rows, cols)) < 0.2] = np.nan
    x[rng.random((rows, cols)) < 0.05] = np.inf
    x[rng.random((rows, cols)) < 0.05] = -0.0
    if not exact32:
        x = x + rng.random((rows, cols)) * 1e-9  # not float32-exact: the argsort path
    expected = rankdata(x, axis=1, nan_policy="omit")
    np.testing.assert_array_equal(rank_rows(x), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_corr_of_a_constant_row_is_nan(dtype):
    # the mean of twenty 0.1s is not exactly 0.1, so the deviations are ~1e-17, not 0: a constant
    # row must still give NaN, not a tiny correlation that enters style and factor means
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 20)).astype(dtype)
    b = rng.normal(size=(4, 20)).astype(dtype)
    a[0] = dtype(0.1)
    b[1] = dtype(0.1)
    a[3] = dtype(0.1) + dtype(1e-4) * a[3]  # nearly constant but not: a real correlation
    for method in ("pearson", "spearman"):
        got = cross_corr(a, b, method=method, min_count=5)
        assert np.isnan(got[:2]).all(), (method, got[:2])
        ref = pearsonr if method == "pearson" else spearmanr
        want = [ref(a[i].astype(np.float64), b[i].astype(np.float64))[0] for i in (2, 3)]
        np.testing.assert_allclose(got[2:], want, rtol=1e-6)


def test_ic_stats_match_scipy_and_statsmodels():
    import statsmodels.api as sm
    from scipy import stats
    from zoo.evaluation.ic import ic_stats

    rng = np.random.default_rng(3)
    ic = pd.Series(rng.normal(0.03, 0.1, 200), index=pd.bdate_range("2021-01-04", periods=200))
    ic.iloc[[5, 50]] = np.nan  # dates without an IC count in nothing
    x = ic.dropna().to_numpy()
    out = ic_stats(ic, horizon=10)
    # the t-stat is Newey-West with lags max(10 - 1, floor(4 (198/100)^(2/9)) = 4) = 9, two-sided normal p
    hac = sm.OLS(x, np.ones(x.size)).fit(cov_type="HAC", cov_kwds={"maxlags": 9})
    assert out["nw_lags"] == 9
    assert out["t_stat"] == pytest.approx(hac.tvalues[0], abs=1e-10)
    assert out["p_value"] == pytest.approx(hac.pvalues[0], abs=1e-10)
    assert out["t_stat"] != pytest.approx(stats.ttest_1samp(x, 0.0).statistic, rel=1e-3)  # not the plain t
    assert out["mean"] == pytest.approx(x.mean()) and out["std"] == pytest.approx(x.std(ddof=1))
    assert out["risk_adjusted"] == pytest.approx(x.mean() / x.std(ddof=1))
    assert out["skew"] == pytest.approx(stats.skew(x)) and out["kurtosis"] == pytest.approx(stats.kurtosis(x))
    assert out["n_dates"] == 198
    assert np.isnan(ic_stats(ic.iloc[:1])["t_stat"])


def test_monthly_ic_by_hand():
    from zoo.evaluation.ic import monthly_ic

    idx = pd.DatetimeIndex(["2021-01-04", "2021-01-05", "2021-03-01", "2022-01-03"])
    table = monthly_ic(pd.Series([0.1, 0.3, -0.2, np.nan], index=idx))
    assert table.index.tolist() == [2021] and table.columns.tolist() == list(range(1, 13))
    assert table.loc[2021, 1] == pytest.approx(0.2) and table.loc[2021, 3] == pytest.approx(-0.2)
    assert table.loc[2021].isna().sum() == 10


def test_rank_autocorrelation_matches_scipy_date_by_date():
    from scipy import stats
    from zoo.evaluation.ic import rank_autocorrelation

    rng = np.random.default_rng(4)
    n_d, n_s = 12, 30
    values = np.cumsum(rng.normal(size=(n_d, n_s)), axis=0)
    values[rng.random(values.shape) < 0.1] = np.nan
    score = xr.DataArray(
        values,
        dims=("date", "symbol"),
        coords={"date": pd.bdate_range("2021-01-04", periods=n_d), "symbol": [f"S{i}" for i in range(n_s)]},
    )
    mask = rng.random(values.shape) < 0.9
    rows = np.array([1, 4, 6, 11])
    ac = rank_autocorrelation(score, rows, mask, min_count=5)
    assert list(ac.index) == list(score["date"].values[rows[1:]])
    for k in range(1, rows.size):
        a, b = values[rows[k]], values[rows[k - 1]]
        ok = np.isfinite(a) & np.isfinite(b) & mask[rows[k]]
        assert ac.iloc[k - 1] == pytest.approx(stats.spearmanr(a[ok], b[ok]).statistic, rel=1e-10)
    # a score that keeps its ranks has autocorrelation 1
    steady = score.copy(data=np.tile(np.arange(n_s, dtype=float), (n_d, 1)))
    assert rank_autocorrelation(steady, rows).to_numpy() == pytest.approx(1.0)
