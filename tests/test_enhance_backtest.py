"""Index enhancement: every constraint on every rebalance, foresight vs constant score, costs, look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from zoo.evaluation.enhance import run_backtest
from zoo.evaluation.enhance.toy import forward_return, toy_market

from zoo.errors import EvaluationError
from zoo.specs.enhance import EnhanceSpec, parse_relax_step

#: Absolute tolerance on weights, sums and exposures: HiGHS and Clarabel meet their constraints to
#: about 1e-8; 1e-6 leaves room for scaling while still catching any real breach (bands are >= 1e-3).
TOL = 1e-6
#: The report's bounds, with the style band and constituent floor tightened so that on this toy market
#: every constraint binds in some week (at 0.3 / 80 % those two never bind here, and could not fail).
BINDING = {"style_band": 0.1, "min_constituent_weight": 0.9}


@pytest.fixture(scope="module")
def market() -> tuple[xr.Dataset, xr.DataArray]:
    """120 stocks, 60 in the index, 26 weeks, 2 % of stock-days flagged of each kind."""
    return toy_market(
        n_symbols=120, n_days=130, n_index=60, n_styles=3, n_industries=6, flag_rate=0.02, seed=1
    )


@pytest.fixture(scope="module", params=["HIGHS", "CLARABEL"])
def foresight(market, request):
    """A perfect-foresight back-test (each main solver): it pushes every constraint to its bound."""
    cube, expo = market
    spec = EnhanceSpec(indexes=("toy",), solver=request.param, fallback_solvers=(), **BINDING)
    res = run_backtest(cube, forward_return(cube), "toy", spec, expo)
    assert set(res.rebalances["solver"]) == {request.param}
    return res


def _limits(spec: EnhanceSpec, relaxed: str, initial: bool) -> dict[str, float]:
    """The bounds in force after the logged relaxation steps, recomputed from the spec."""
    base = {
        "turnover": np.inf if initial else spec.max_turnover,
        "style": spec.style_band,
        "industry": spec.industry_band,
        "stock_band": spec.stock_band,
        "constituent": spec.min_constituent_weight,
    }
    for step in filter(None, relaxed.split(";")):
        name, factor = parse_relax_step(step)
        spec_value = {
            "turnover": spec.max_turnover,
            "style": spec.style_band,
            "industry": spec.industry_band,
            "stock_band": spec.stock_band,
            "constituent": spec.min_constituent_weight,
        }[name]
        base[name] = np.inf if np.isinf(factor) or np.isinf(base[name]) else spec_value * factor
    return base


def test_every_constraint_holds_on_every_rebalance(market, foresight):
    """Checked from the cube and the weights alone, not from the optimiser's own bookkeeping."""
    cube, expo = market
    spec = EnhanceSpec(indexes=("toy",), **BINDING)
    res = foresight
    dates = pd.DatetimeIndex(cube["date"].values)
    close = pd.DataFrame(cube["bars"].sel(field="close").values).ffill().to_numpy()
    bench_all = cube["index_weight"].sel(index="toy").values.astype(np.float64)
    industry = cube["industry"].values
    flags = {k: cube[k].values for k in ("suspended", "limit_up", "limit_down", "st")}
    trade_dates = pd.DatetimeIndex(res.weights["trade_date"].values)
    assert len(trade_dates) >= 20
    prev_post, prev_t = None, None
    for k, day in enumerate(trade_dates):
        t = dates.get_loc(day)
        w = res.weights.values[k]
        pre = res.pre_weights.values[k]
        row = res.rebalances.loc[day]
        assert row["status"] in ("optimal", "relaxed")
        lim = _limits(spec, row["relaxed"], bool(row["initial"]))
        # the drifted weights follow from the previous trade and the prices alone
        if prev_post is None:
            np.testing.assert_array_equal(pre, 0.0)
        else:
            grown = prev_post * close[t] / close[prev_t]
            grown = grown / (grown.sum() + 1.0 - prev_post.sum())
            np.testing.assert_allclose(pre, grown, atol=1e-9)
        b = bench_all[t]
        active = w - b
        assert w.min() >= -TOL
        assert abs(w.sum() - 1.0) <= TOL
        assert w[b > 0].sum() >= lim["constituent"] - TOL
        # tradability: physical, never relaxed
        sus, up, down, st = (flags[f][t] for f in ("suspended", "limit_up", "limit_down", "st"))
        frozen = sus | up | down  # the report excludes them: neither bought nor sold
        np.testing.assert_allclose(w[frozen], pre[frozen], atol=TOL)
        assert np.all(w[st] <= pre[st] + TOL)
        # the band may be missed only by a stock that tradability pins at its drifted weight
        outside_band = np.abs(active) > lim["stock_band"] + TOL
        pinned = np.abs(w - pre) <= TOL
        assert np.all(pinned[outside_band]), f"{day}: band broken by tradable stocks"
        assert np.all((sus | up | down | st)[outside_band] | (k == 0))
        style_gap = np.nan_to_num(expo.values[:, t, :].astype(np.float64)) @ active
        assert np.all(np.abs(style_gap) <= lim["style"] + TOL)
        ind_gap = np.bincount(industry, weights=active)
        assert np.all(np.abs(ind_gap) <= lim["industry"] + TOL)
        assert np.abs(w - pre).sum() <= lim["turnover"] + TOL
        assert row["turnover"] == pytest.approx(np.abs(w - pre).sum(), abs=1e-12)
        prev_post, prev_t = w, t


def test_perfect_foresight_beats_the_index_widely(foresight):
    stats = foresight.stats["all"]
    assert stats["excess_return"] > 0.30  # annualised; the constant score below stays within 2 %
    assert foresight.daily["excess_nav"].iloc[-1] > 1.10
    assert stats["excess_sharpe"] > 5
    # the turnover limit binds: the model wants to trade more than 30 % a week
    assert stats["turnover"] == pytest.approx(0.30, abs=0.01)


def test_constant_score_tracks_the_index(market):
    cube, expo = market
    fwd = forward_return(cube)
    const = xr.ones_like(fwd).where(np.isfinite(fwd))
    res = run_backtest(cube, const, "toy", EnhanceSpec(indexes=("toy",)), expo)
    stats = res.stats["all"]
    assert abs(stats["excess_return"]) < 0.02
    assert stats["tracking_error"] < 0.01
    assert stats["turnover"] < 0.02
    # held close to the benchmark: only the weight of unbuyable (flagged) constituents is missed
    assert res.rebalances["active_share"].max() < 0.05


def test_no_look_ahead_future_changes_leave_the_past(market):
    """Scrambling scores, prices, weights and flags after day T leaves every decision up to T unchanged."""
    cube, expo = market
    score = forward_return(cube).fillna(0.0)  # known at every date, so perturbing the future is visible
    spec = EnhanceSpec(indexes=("toy",))
    base = run_backtest(cube, score, "toy", spec, expo)
    cut = 70
    rng = np.random.default_rng(5)
    cube2 = cube.copy(deep=True)
    cube2["bars"].values[cut + 1 :] *= rng.uniform(0.5, 1.5, size=cube2["bars"].values[cut + 1 :].shape)
    cube2["index_weight"].values[:, cut + 1 :] = rng.permutation(
        cube2["index_weight"].values[0, cut + 1 :].T
    ).T
    cube2["limit_up"].values[cut + 1 :] = rng.random(cube2["limit_up"].values[cut + 1 :].shape) < 0.3
    score2 = score.copy(deep=True)
    score2.values[cut + 1 :] = rng.normal(size=score2.values[cut + 1 :].shape)
    expo2 = expo.copy(deep=True)
    expo2.values[:, cut + 1 :] = rng.normal(size=expo2.values[:, cut + 1 :].shape)
    other = run_backtest(cube2, score2, "toy", spec, expo2)
    day = cube["date"].values[cut]
    past = base.weights["trade_date"].values <= day
    assert past.sum() >= 10
    np.testing.assert_allclose(other.weights.values[past], base.weights.values[past], atol=1e-12)
    np.testing.assert_allclose(
        other.daily.loc[:day, "nav"].to_numpy(), base.daily.loc[:day, "nav"].to_numpy(), rtol=1e-12
    )
    assert not np.allclose(other.weights.values[~past], base.weights.values[~past])


def test_bad_inputs_raise_evaluation_errors(market):
    cube, expo = market
    score = forward_return(cube)
    with pytest.raises(EvaluationError, match="unknown index 'csi300'"):
        run_backtest(cube, score, "csi300", EnhanceSpec(), expo)
    with pytest.raises(EvaluationError, match="no finite value"):
        run_backtest(cube, score * np.nan, "toy", EnhanceSpec(), expo)
    with pytest.raises(EvaluationError, match="dims"):
        run_backtest(cube, score.isel(date=0), "toy", EnhanceSpec(), expo)
    with pytest.raises(EvaluationError, match="style exposures"):
        run_backtest(cube, score, "toy", EnhanceSpec(), expo.isel(style=0))
