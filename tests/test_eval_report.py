"""evaluate(): every table, plot and headline number from scores and a cube; the printed summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from zoo.evaluation.ic import forward_returns
from zoo.evaluation.report import evaluate, format_ic_table, markdown_table, top_group_line
from zoo.evaluation.testing import tiny_cube

from zoo.errors import EvaluationError
from zoo.specs.evaluate import EvalSpec

STYLE = dict(beta_window=20, momentum_window=20, momentum_skip=5, liquidity_window=5, reversal_window=5)


def _setup(n_dates=90, n_sym=60, seed=0):
    rng = np.random.default_rng(seed)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_dates, n_sym)), axis=0))
    member = np.zeros(close.shape, bool)
    member[:, :30] = True
    cube = tiny_cube(close, volume=rng.uniform(1e5, 1e6, close.shape), universes={"csi300": member})
    fwd = forward_returns(cube, 5)
    good = fwd + 0.02 * xr.DataArray(rng.normal(size=close.shape), coords=fwd.coords, dims=fwd.dims)
    good[:30] = np.nan  # scores exist only for a "test period"
    noise = xr.DataArray(rng.normal(size=close.shape), coords=fwd.coords, dims=fwd.dims).where(good.notnull())
    scores = xr.concat([good, noise], dim=pd.Index(["Good-IC", "Noise-MSE"], name="model")).rename("score")
    spec = EvalSpec(
        horizons=(2, 5),
        universes=("all", "csi300"),
        groups={"all": 5, "csi300": 3},
        min_stocks=5,
        baselines=("reversal_5", "low_vol_20"),
    )
    return cube, scores, spec


def test_evaluate_writes_everything_and_ranks_models(tmp_path):
    cube, scores, spec = _setup()
    res = evaluate(scores, cube, spec, tmp_path, style_params=STYLE)
    names = {p.name for p in tmp_path.iterdir()}
    for stem in (
        "ic_2d",
        "ic_5d",
        "top_all",
        "top_csi300",
        "groups_all",
        "yearly_all",
        "styles",
        "factor_corr",
    ):
        assert {f"{stem}.csv", f"{stem}.md"} <= names, stem
    for png in (
        "ic_series_5d",
        "groups_all",
        "excess_nav_all",
        "yearly_excess_csi300",
        "styles",
        "factor_corr",
    ):
        assert f"{png}.png" in names and (tmp_path / f"{png}.png").stat().st_size > 1000, png
    from zoo.evaluation.tracking import eval_spec_from_toml

    assert eval_spec_from_toml((tmp_path / "eval_spec.toml").read_text(), "x") == spec
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 10
    assert "Fig. 13" in html and "Good-IC" in html
    md = (tmp_path / "report.md").read_text()
    assert "![groups_all](groups_all.png)" in md
    # the informative score beats noise on every headline number
    g, n = res.metrics["Good-IC"], res.metrics["Noise-MSE"]
    assert g["ic5.all.rank_ic"] > 0.5 > abs(n["ic5.all.rank_ic"])
    assert g["top.all.excess_ann_return"] > n["top.all.excess_ann_return"]
    # 5 groups + the universe benchmark; two models, two baselines
    assert res.ladders["all"].shape == (6, 4)
    assert res.ladders["csi300"].shape == (4, 4)
    assert (
        list(res.ladders["all"].columns)
        == res.columns
        == [
            "Good-IC",
            "Noise-MSE",
            "reversal_5 (baseline)",
            "low_vol_20 (baseline)",
        ]
    )
    assert res.factor_corr.loc["Good-IC", "Noise-MSE"] == pytest.approx(
        res.factor_corr.loc["Noise-MSE", "Good-IC"]
    )
    assert list(res.styles.columns) == list(spec.styles)
    # CSV round trip of the Fig. 8 table
    back = pd.read_csv(tmp_path / "ic_5d.csv", index_col=[0, 1])
    assert back.loc[("all", "RankIC"), "Good-IC"] == pytest.approx(
        res.ic_tables[5].loc[("all", "RankIC"), "Good-IC"]
    )


def test_summary_text_has_fig8_rows_and_top_line():
    cube, scores, spec = _setup()
    res = evaluate(scores, cube, spec, None, style_params=STYLE)
    text = format_ic_table(res, 5, "all")
    lines = text.splitlines()
    assert lines[0].startswith("5-day RankIC")
    assert "Good-IC" in lines[1] and "Noise-MSE" in lines[1]
    assert [ln.split()[0] for ln in lines[2:5]] == ["RankIC", "RankICIR", "IC"]
    # the baselines stand right of a '|', by their factor names, with a footnote saying what they are
    assert lines[1].split() == ["Good-IC", "Noise-MSE", "|", "reversal_5", "low_vol_20"]
    assert all(ln.count("|") == 1 for ln in lines[1:5]) and lines[5].startswith("right of '|': baseline")
    line = top_group_line(res, "Good-IC")
    assert line.startswith("TOP group (all, 5 groups) Good-IC: ann. return")
    assert "turnover" in line
    # "ann. excess" is the report's: annualised TOP return minus the universe's
    s = res.groups[("Good-IC", "all")].top_stats()
    assert f"ann. excess {(s['ann_return'] - s['bench_ann_return']) * 100:.2f}%," in line
    assert (
        res.top_tables["all"].loc["Annualised excess (TOP - universe)", "Good-IC"] == s["excess_ann_return"]
    )
    assert "TOP group" in res.summary() and "low_vol_20 (baseline): ann. return" in res.summary()
    with pytest.raises(EvaluationError, match="universe"):
        top_group_line(res, "Good-IC", "csi500")


def test_single_score_and_bad_inputs():
    cube, scores, spec = _setup()
    one = scores.sel(model="Good-IC").drop_vars("model")
    plain = EvalSpec(horizons=(5,), universes=("all",), groups={"all": 4}, styles=(), baselines=())
    res = evaluate(one, cube, plain)
    assert res.models == res.columns == ["score"] and res.factor_corr is None and res.styles is None
    assert "|" not in format_ic_table(res, 5)
    with pytest.raises(EvaluationError, match="no symbol"):
        evaluate(scores.assign_coords(symbol=[f"X{i}" for i in range(60)]), cube, spec)
    with pytest.raises(EvaluationError, match="universe 'csi500'"):
        evaluate(scores, cube, EvalSpec(universes=("all", "csi500"), horizons=(5,), styles=()))


def test_markdown_table_shape():
    df = pd.DataFrame({"a": [1.0, np.nan]}, index=pd.Index(["x", "y"], name="k"))
    assert markdown_table(df).splitlines() == ["| k | a |", "|---|---|", "| x | 1 |", "| y | n/a |"]


def test_tear_sheet_numbers_formatting_and_partial_year(tmp_path):
    """alphalens' additions against independent computations; percentages; a partial year not annualised."""
    from scipy import stats
    from zoo.evaluation.groups import MIN_YEAR_DAYS, weekly_schedule
    from zoo.evaluation.report import formatted

    rng = np.random.default_rng(1)
    n_dates, n_sym = 150, 40
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_dates, n_sym)), axis=0))
    # 2021-08-02 + 150 business days ends a few days into 2022: a partial last year
    cube = tiny_cube(close, start="2021-08-02")
    fwd = forward_returns(cube, 5)
    score = (fwd + 0.05 * xr.DataArray(rng.normal(size=close.shape), coords=fwd.coords, dims=fwd.dims)).where(
        np.arange(n_dates)[:, None] >= 20
    )
    scores = score.expand_dims(model=["M"]).rename("score")
    spec = EvalSpec(
        horizons=(5,), universes=("all",), groups={"all": 4}, min_stocks=5, styles=(), baselines=()
    )
    res = evaluate(scores, cube, spec, tmp_path)
    # IC t-stat: Newey-West (statsmodels' HAC, lags >= horizon - 1); skew and friends equal scipy's
    import statsmodels.api as sm

    ic = res.ic_series[("M", 5, "all")].dropna().to_numpy()
    hac = sm.OLS(ic, np.ones(ic.size)).fit(cov_type="HAC", cov_kwds={"maxlags": 4})
    assert res.ic_stats.loc[(5, "Newey-West lags"), "M"] == 4  # max(5 - 1, floor(4 (n/100)^(2/9)) = 3)
    assert res.ic_stats.loc[(5, "Newey-West t (IC)"), "M"] == pytest.approx(hac.tvalues[0], rel=1e-12)
    assert res.ic_stats.loc[(5, "Newey-West t (IC)"), "M"] != pytest.approx(
        stats.ttest_1samp(ic, 0).statistic
    )
    assert res.ic_stats.loc[(5, "IC skew"), "M"] == pytest.approx(stats.skew(ic))
    # monthly IC = the mean of that month's daily ICs
    daily = res.ic_series[("M", 5, "all")]
    sept = daily[(daily.index.year == 2021) & (daily.index.month == 9)].mean()
    assert res.monthly_ic["M"].loc[2021, 9] == pytest.approx(sept)
    # rank autocorrelation between consecutive weekly signals, by scipy
    signal, _ = weekly_schedule(cube["date"].values)
    ac = res.rank_autocorr["M"]
    k = int(np.searchsorted(signal, np.flatnonzero(cube["date"].values == ac.index[3].to_datetime64())[0]))
    a, b = score.values[signal[k]], score.values[signal[k - 1]]
    ok = np.isfinite(a) & np.isfinite(b)
    assert ac.iloc[3] == pytest.approx(stats.spearmanr(a[ok], b[ok]).statistic)
    # spread and turnover tables come from the group test
    g = res.groups[("M", "all")]
    sp = (g.returns[4] - g.returns[1]).dropna()
    assert res.spread_tables["all"].loc["Mean daily spread", "M"] == pytest.approx(sp.mean())
    assert res.turnover_tables["all"]["M"].tolist() == pytest.approx(g.turnover.mean().tolist())
    # the partial year: its days are counted, its Sharpe is not annualised
    yearly = res.yearly_tables["all"]["M"]
    assert 0 < yearly.loc[(2022, "Days")] < MIN_YEAR_DAYS and np.isnan(yearly.loc[(2022, "Excess Sharpe")])
    assert yearly.loc[(2021, "Days")] >= MIN_YEAR_DAYS and np.isfinite(yearly.loc[(2021, "Excess Sharpe")])
    # the page: percentages for returns, the new figures embedded, a scrolling box around each table
    page = (tmp_path / "report.html").read_text()
    ann = res.top_tables["all"].loc["Annualised return", "M"]
    assert f"<td>{ann * 100:.2f}%</td>" in page
    assert f"<td>{res.ladders['all'].loc[4, 'M'] * 100:.2f}%</td>" in page
    for png in ("ic_hist_qq_5d", "ic_monthly_5d", "group_navs_all", "spread_all", "rank_autocorr_all"):
        assert f'alt="{png}"' in page and (tmp_path / f"{png}.png").stat().st_size > 1000, png
    assert "Newey-West t (IC)" in page and "Mean one-way turnover by group" in page
    assert page.count("<div class='scroll'>") == page.count("<table>")
    text = formatted(
        pd.DataFrame({"m": [0.1234, 1.5, np.nan]}, index=["r", "s", "t"]), {"r": "pct", "s": "num2"}
    )
    assert text["m"].tolist() == ["12.34%", "1.50", "n/a"]
