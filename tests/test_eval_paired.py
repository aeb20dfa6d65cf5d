"""Paired Newey-West tests of daily RankIC series: against statsmodels, exact values, verdict lines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from zoo.evaluation.paired import (
    best_baseline,
    hac_mean,
    ic_test,
    nw_lags,
    paired_table,
    paired_test,
    verdict_lines,
    verdict_metrics,
)

from zoo.errors import EvaluationError


def _ar1(n: int, phi: float, mean: float, seed: int) -> np.ndarray:
    """A hand-built autocorrelated series (AR(1) around ``mean``), like overlapping-label daily ICs."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0, 0.1, n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x + mean


def _days(n: int, start: str = "2020-01-01") -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=n, name="date")


def test_hac_mean_equals_statsmodels_ols_hac_and_cov_hac():
    import statsmodels.api as sm
    from statsmodels.stats.sandwich_covariance import cov_hac

    x = _ar1(400, 0.8, 0.02, seed=3)
    for lags in (0, 1, 9, 19):
        ours = hac_mean(x, lags)
        fit = sm.OLS(x, np.ones(x.size)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
        assert ours.mean == pytest.approx(fit.params[0], abs=1e-12)
        assert ours.se == pytest.approx(fit.bse[0], abs=1e-10)
        assert ours.t == pytest.approx(fit.tvalues[0], abs=1e-10)
        assert ours.p == pytest.approx(fit.pvalues[0], abs=1e-10)
        plain = sm.OLS(x, np.ones(x.size)).fit()
        se = np.sqrt(cov_hac(plain, nlags=lags, use_correction=False)[0, 0])
        assert ours.se == pytest.approx(se, abs=1e-10)
    # overlap makes the plain t-test overstate the evidence: NW's standard error is larger
    plain_se = x.std(ddof=1) / np.sqrt(x.size)
    assert hac_mean(x, 9).se > 2 * plain_se


def test_hac_mean_exact_values_of_a_tiny_case():
    # x = 1, 2, 3, 6: mean 3, residuals -2, -1, 0, 3; gamma0 = 14, gamma1 = 2; Bartlett weight at lag 1
    # is 1 - 1/2: S = 14 + 2 * 0.5 * 2 = 16; var(mean) = S / n^2 = 1, so se = 1 and t = 3
    out = hac_mean([1.0, 2.0, 3.0, 6.0], 1)
    assert (out.mean, out.se, out.t, out.lags, out.n) == (3.0, 1.0, 3.0, 1, 4)
    # lag 0 is White's: var(mean) = 14 / 16
    assert hac_mean([1.0, 2.0, 3.0, 6.0], 0).se == pytest.approx(np.sqrt(14 / 16), abs=1e-15)
    nan = hac_mean([1.0, 1.0, 1.0], 1)  # no variation: no t
    assert nan.mean == 1.0 and np.isnan(nan.t)


def test_lag_rule_covers_the_label_overlap():
    assert nw_lags(10, 727) == 9  # 3 test years of 10-day labels: the overlap (4 (7.27)^(2/9) = 6.2)
    assert nw_lags(20, 727) == 19
    assert nw_lags(1, 727) == 6  # no overlap: Newey-West's rule of thumb
    assert nw_lags(1, 0) == 0
    with pytest.raises(EvaluationError, match="horizon"):
        nw_lags(0, 100)


def test_paired_test_uses_only_the_dates_both_series_have():
    days = _days(300)
    a = pd.Series(_ar1(300, 0.7, 0.05, seed=1), index=days)
    b = pd.Series(_ar1(300, 0.7, 0.03, seed=2), index=days)
    a.iloc[:20] = np.nan  # a model without scores at first
    b = b.drop(days[-15:])  # a baseline whose last labels are unknown
    t = paired_test(a, b, 10)
    both = days[20:-15]
    d = (a[both] - b[both]).to_numpy()
    assert t.n == both.size
    assert t.lags == nw_lags(10, both.size) == 9
    expected = hac_mean(d, 9)
    assert (t.mean, t.se, t.t) == (expected.mean, expected.se, expected.t)
    assert ic_test(a, 10).n == 280


def _table_inputs():
    days = _days(500)
    base_hi = pd.Series(_ar1(500, 0.8, 0.04, seed=4), index=days)
    base_lo = pd.Series(_ar1(500, 0.8, 0.01, seed=5), index=days)
    strong = base_hi + pd.Series(_ar1(500, 0.3, 0.05, seed=6), index=days) * 0.2 + 0.05
    z = _ar1(500, 0.3, 0.0, seed=7)
    weak = base_hi + pd.Series(z - z.mean() + 0.001, index=days) * 0.2  # a mean difference of 0.0002
    series = {"Strong": strong, "Weak": weak, "hi (baseline)": base_hi, "lo (baseline)": base_lo}
    return series, ["Strong", "Weak"], ["lo (baseline)", "hi (baseline)"]


def test_paired_table_best_baseline_other_models_and_verdict_lines():
    series, models, bases = _table_inputs()
    assert best_baseline(series, bases) == "hi (baseline)"  # the highest mean RankIC, wherever listed
    table = paired_table(series, models, bases, 10)
    assert list(table.index) == [
        ("Strong", "hi (best baseline)"),
        ("Strong", "Weak"),
        ("Weak", "hi (best baseline)"),
        ("Weak", "Strong"),
    ]
    row = table.loc[("Strong", "hi (best baseline)")]
    t = paired_test(series["Strong"], series["hi (baseline)"], 10)
    assert (row["diff"], row["nw_t"], row["lags"], row["dates"]) == (t.mean, t.t, 9, 500)
    assert table.loc[("Weak", "Strong"), "nw_t"] == pytest.approx(-table.loc[("Strong", "Weak"), "nw_t"])
    strong, weak = verdict_lines(table)
    assert strong == f"Strong - hi: {row['diff']:+.3f} RankIC a day, NW t = {row['nw_t']:.1f} (lags 9)"
    assert row["nw_t"] >= 2
    w = table.loc[("Weak", "hi (best baseline)")]
    assert abs(w["nw_t"]) < 2
    said = f"({w['diff']:+.3f} RankIC a day, NW t = {w['nw_t']:.1f}, lags 9)"
    assert weak == f"Weak: not distinguishable from hi {said}"
    assert verdict_metrics(table, "Strong", 10) == {
        "0_vs_best_baseline_RankIC_10d": row["diff"],
        "0_vs_best_baseline_NW_t_10d": row["nw_t"],
    }
    # no baseline: the models only against each other, no verdict line
    alone = paired_table(series, models, [], 20)
    assert list(alone.index) == [("Strong", "Weak"), ("Weak", "Strong")]
    assert verdict_lines(alone) == [] and verdict_metrics(alone, "Strong", 20) == {}


def test_seed_spread_of_the_difference():
    series, models, bases = _table_inputs()
    base = series["hi (baseline)"]
    seeds = {"Strong": {0: base + 0.01, 1: base + 0.03, 2: base + 0.05}}
    table = paired_table(series, models, bases, 10, seeds)
    row = table.loc[("Strong", "hi (best baseline)")]
    assert (row["seed_mean"], row["seeds"]) == (pytest.approx(0.03), 3)
    assert row["seed_std"] == pytest.approx(0.02)
    assert "; 3 single seeds +0.030 +- 0.020" in verdict_lines(table)[0]
    assert table.loc[("Weak", "hi (best baseline)"), "seeds"] == 0  # Weak has one seed


def test_report_pairs_models_with_baselines_and_spreads_seeds(tmp_path):
    """evaluate(): paired tables per horizon, verdicts in the summary and the pages, seeds' spread."""
    from test_eval_report import _setup
    from zoo.evaluation.ic import forward_returns, rank_ic
    from zoo.evaluation.report import evaluate

    cube, scores, spec = _setup()
    rng = np.random.default_rng(5)
    good = scores.sel(model="Good-IC").drop_vars("model")
    seeds = {"Good-IC": {s: good + 0.01 * s * rng.normal(size=good.shape) for s in (0, 1, 2)}}
    res = evaluate(scores, cube, spec, tmp_path, seed_scores=seeds, style_params=None)
    table = res.paired[5]
    best = best_baseline({b: res.ic_series[(b, 5, "all")] for b in res.baselines}, res.baselines)
    row = table.loc[("Good-IC", f"{best.removesuffix(' (baseline)')} (best baseline)")]
    t = paired_test(res.ic_series[("Good-IC", 5, "all")], res.ic_series[(best, 5, "all")], 5)
    assert (row["diff"], row["nw_t"], row["lags"]) == (t.mean, t.t, t.lags)
    ret = forward_returns(cube, 5)
    per_seed = [
        float((rank_ic(sc, ret) - res.ic_series[(best, 5, "all")]).mean()) for sc in seeds["Good-IC"].values()
    ]
    assert row["seeds"] == 3 and row["seed_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert res.metrics["Good-IC"]["ic5.all.vs_best_baseline.nw_t"] == row["nw_t"]
    assert ("Noise-MSE", "Good-IC") in table.index
    lines = verdict_lines(res.paired[2])
    assert lines and lines[0] in res.summary() and lines[0] in (tmp_path / "report.md").read_text()
    assert (tmp_path / "paired_5d.csv").is_file() and "Paired tests" in (tmp_path / "report.html").read_text()
