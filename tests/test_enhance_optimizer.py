"""Index enhancement on hand-built tiny cases: costs and turnover by hand, relaxation, holds, the spec."""

from __future__ import annotations

import math

import attrs
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from zoo.evaluation.enhance import RebalanceInput, run_backtest, solve_rebalance, week_schedule
from zoo.evaluation.enhance.stats import calmar_ratio, enhance_stats, max_drawdown, year_complete

from zoo.specs.enhance import EnhanceSpec

FIELDS = ["open", "high", "low", "close", "vwap", "volume"]


def tiny_cube(close: np.ndarray, weight: np.ndarray, dates: list[str], **flags: np.ndarray) -> xr.Dataset:
    """A cube with the given (date, symbol) closes and one index 'idx' with the given weights."""
    n_days, n_sym = close.shape
    bars = np.repeat(close[:, :, None], 6, axis=2).astype(np.float32)
    data = {
        "bars": (("date", "symbol", "field"), bars),
        "industry": (("symbol",), np.zeros(n_sym, np.int16)),
        "index_weight": (("index", "date", "symbol"), weight[None].astype(np.float32)),
    }
    for name, value in flags.items():
        data[name] = (("date", "symbol"), value)
    coords = {
        "date": pd.DatetimeIndex(dates).to_numpy(),
        "symbol": [f"S{i}" for i in range(n_sym)],
        "field": FIELDS,
        "index": ["idx"],
    }
    return xr.Dataset(data, coords=coords)


def test_costs_and_turnover_match_a_hand_computation():
    # Fri | Mon (trade 1) Tue | Fri | Mon (trade 2) Tue. Stocks A, B in the index (50/50), C outside.
    dates = ["2021-01-08", "2021-01-11", "2021-01-12", "2021-01-15", "2021-01-18", "2021-01-19"]
    close = np.array(
        [
            [10, 10, 10],
            [10, 10, 10],
            [11, 10, 9],  # A +10 %, C -10 %
            [11, 10, 9],
            [11, 10, 9],
            [11, 12, 9],  # B +20 %
        ],
        dtype=np.float64,
    )
    weight = np.tile([0.5, 0.5, 0.0], (6, 1))
    cube = tiny_cube(close, weight, dates)
    # week 1 prefers C > A > B, week 2 B > A > C
    score_rows = [[2, 1, 3]] * 3 + [[2, 3, 1]] * 3
    score = xr.DataArray(np.array(score_rows, float), dims=("date", "symbol"), coords={
        "date": cube["date"].values, "symbol": cube["symbol"].values})  # fmt: skip
    spec = EnhanceSpec(stock_band=0.2, industry_band=1.0, max_turnover=0.3, min_constituent_weight=0.8)
    res = run_backtest(cube, score, "idx", spec)

    # Build from cash: C at its cap b + 0.2 = 0.2, B at its floor 0.5 - 0.2 = 0.3, A takes the rest.
    w1 = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(res.weights.values[0], w1, atol=1e-7)
    # Tuesday: A +10 %, C -10 %: the book grows by 1.03, the index by 1.05.
    drift = np.array([0.55, 0.3, 0.18]) / 1.03
    np.testing.assert_allclose(res.pre_weights.values[1], drift, atol=1e-9)
    # Week 2: sell C and buy B, limited by turnover 0.3 = 2 x 0.15.
    w2 = drift + np.array([0.0, 0.15, -0.15])
    np.testing.assert_allclose(res.weights.values[1], w2, atol=1e-7)
    np.testing.assert_allclose(res.rebalances["turnover"].to_numpy(), [1.0, 0.3], atol=1e-7)
    # Costs: 0.125 % of every unit traded: 1.0 bought at the build, 0.15 sold + 0.15 bought in week 2.
    np.testing.assert_allclose(res.rebalances["cost"].to_numpy(), [0.00125, 0.000375], atol=1e-12)
    nav = 0.99875 * 1.03 * (1 - 0.000375) * (1 + 0.2 * w2[1])
    assert res.daily["nav"].iloc[-1] == pytest.approx(nav, abs=1e-7)
    assert res.daily["bench_nav"].iloc[-1] == pytest.approx(1.05 * 1.1)
    assert res.daily.index[0] == pd.Timestamp("2021-01-11")  # starts in cash at the first trade close
    # the initial build is left out of the average turnover
    assert res.stats.loc["turnover", "all"] == pytest.approx(0.3, abs=1e-7)


def test_an_infeasible_week_is_relaxed_and_recorded():
    # The index swaps all its members between week 1 and week 2: the +/-0.8 % bands force ~2.0 of
    # turnover, so the 30 % limit (and 60 % after the first step) cannot hold.
    n = 20
    dates = ["2021-01-08", "2021-01-11", "2021-01-15", "2021-01-18", "2021-01-19"]
    close = np.full((5, n), 10.0)
    weight = np.zeros((5, n))
    weight[:3, :10] = 0.1
    weight[3:, 10:] = 0.1
    cube = tiny_cube(close, weight, dates)
    score = xr.DataArray(
        np.tile(np.linspace(0, 1, n), (5, 1)),
        dims=("date", "symbol"),
        coords={"date": cube["date"].values, "symbol": cube["symbol"].values},
    )
    res = run_backtest(cube, score, "idx", EnhanceSpec())
    log = res.rebalances
    assert list(log["status"]) == ["optimal", "relaxed"]
    # turnover*2 was not enough, turnover*inf was; the unneeded style*2 and industry*2 were undone
    assert log["relaxed"].iloc[1] == "turnover*inf"
    w = res.weights.values[1]
    assert np.all(np.abs(w - weight[3]) <= 0.008 + 1e-6)  # the bands still hold after relaxing turnover
    assert log["turnover"].iloc[1] > 1.8


def test_unbuyable_initial_build_holds_cash_and_goes_on():
    # Every stock is limit-up on the first trade date: nothing can be bought, the week is held in cash
    # (logged as "hold"), and the next week builds the book.
    n = 4
    dates = ["2021-01-08", "2021-01-11", "2021-01-15", "2021-01-18", "2021-01-19"]
    close = np.full((5, n), 10.0)
    close[4] = 11.0
    weight = np.full((5, n), 0.25)
    limit_up = np.zeros((5, n), bool)
    limit_up[1] = True
    cube = tiny_cube(close, weight, dates, limit_up=limit_up)
    score = xr.DataArray(
        np.tile(np.arange(n, dtype=float), (5, 1)),
        dims=("date", "symbol"),
        coords={"date": cube["date"].values, "symbol": cube["symbol"].values},
    )
    res = run_backtest(cube, score, "idx", EnhanceSpec(industry_band=1.0))
    log = res.rebalances
    assert list(log["status"]) == ["hold", "optimal"]
    assert "infeasible after every relaxation" in log["messages"].iloc[0]
    assert log["invested"].iloc[0] == 0.0 and log["invested"].iloc[1] == pytest.approx(1.0, abs=1e-7)
    assert res.daily["nav"].iloc[-1] == pytest.approx(1.1 * (1 - 0.00125), abs=1e-6)


def test_tradability_bounds_on_one_rebalance():
    prev = np.array([0.30, 0.30, 0.20, 0.20, 0.0])
    inp = RebalanceInput(
        symbols=np.array(list("ABCDE")),
        score=np.array([5.0, 4.0, -5.0, -4.0, 9.0]),
        bench=np.array([0.25, 0.25, 0.25, 0.25, 0.0]),
        prev=prev,
        industry=np.zeros(5, int),
        exposures=np.zeros((0, 5)),
        suspended=np.array([False, False, False, True, False]),  # D frozen
        limit_up=np.array([True, False, False, False, False]),  # A cannot be bought
        limit_down=np.array([False, False, True, False, False]),  # C cannot be sold
        st=np.array([False, False, False, False, True]),  # E is never bought
    )
    spec = EnhanceSpec(stock_band=0.5, max_turnover=2.0, min_constituent_weight=0.0)
    res = solve_rebalance(inp, spec)
    w = res.weights
    assert res.status == "optimal"
    # limit-up A, limit-down C and suspended D are frozen; ST E is not bought: B takes the rest
    np.testing.assert_allclose(w[[0, 2, 3, 4]], [0.30, 0.20, 0.20, 0.0], atol=1e-7)
    assert w[1] == pytest.approx(0.30, abs=1e-6)
    exit_ = solve_rebalance(inp, EnhanceSpec(stock_band=0.5, max_turnover=2.0, st_policy="exit"))
    assert exit_.weights[4] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("flag", ["limit_up", "limit_down"])
def test_a_stock_at_its_price_limit_is_neither_bought_nor_sold(flag):
    # A (held above its benchmark weight, worst score) would be sold, B (held below, best member
    # score) and E (top-scored outsider) would be bought: at a price limit none of them trades.
    flagged = np.array([True, True, False, False, True, False])
    inp = RebalanceInput(
        symbols=np.array(list("ABCDEF")),
        score=np.array([-5.0, 5.0, 1.0, 0.0, 9.0, 2.0]),
        bench=np.array([0.25, 0.25, 0.25, 0.25, 0.0, 0.0]),
        prev=np.array([0.30, 0.20, 0.25, 0.25, 0.0, 0.0]),
        industry=np.zeros(6, int),
        exposures=np.zeros((0, 6)),
        **{flag: flagged},
    )
    res = solve_rebalance(inp, EnhanceSpec(max_turnover=2.0))
    np.testing.assert_allclose(res.weights[flagged], inp.prev[flagged], atol=1e-9)
    assert res.status == "optimal"
    assert res.weights[5] == pytest.approx(0.008, abs=1e-7)  # the unflagged outsider is bought to its cap
    # the same stocks unflagged do trade, so the freeze is what holds them
    free = solve_rebalance(attrs.evolve(inp, **{flag: None}), EnhanceSpec(max_turnover=2.0))
    assert np.all(np.abs(free.weights - inp.prev)[flagged] > 1e-3)


@pytest.mark.parametrize("flag", ["limit_up", "limit_down"])
def test_backtest_never_buys_a_top_scored_outsider_at_its_price_limit(flag):
    # C is outside the index and the best score; on the trade date it is at a price limit.
    dates = ["2021-01-08", "2021-01-11", "2021-01-12"]
    close = np.full((3, 3), 10.0)
    weight = np.tile([0.5, 0.5, 0.0], (3, 1))
    at_limit = np.zeros((3, 3), bool)
    at_limit[1, 2] = True
    cube = tiny_cube(close, weight, dates, **{flag: at_limit})
    score = xr.DataArray(
        np.tile([1.0, 2.0, 3.0], (3, 1)),
        dims=("date", "symbol"),
        coords={"date": cube["date"].values, "symbol": cube["symbol"].values},
    )
    res = run_backtest(cube, score, "idx", EnhanceSpec(industry_band=1.0))
    assert res.weights.sel(symbol="S2").values.tolist() == [0.0]
    assert res.weights.values.sum() == pytest.approx(1.0, abs=1e-7)


def test_week_schedule_uses_iso_weeks():
    dates = pd.DatetimeIndex(
        ["2020-12-30", "2020-12-31", "2021-01-04", "2021-01-08", "2021-01-12"]
    ).to_numpy()
    decide, trade = week_schedule(dates)
    # 2020-12-31 (Thu, ISO week 53) -> 2021-01-04 (Mon); 2021-01-08 (Fri) -> 2021-01-12 (Tue)
    assert decide.tolist() == [1, 3] and trade.tolist() == [2, 4]


def test_stats_on_a_hand_built_series():
    idx = pd.DatetimeIndex(["2021-12-30", "2021-12-31", "2022-01-03", "2022-01-04"])
    port = np.array([0.0, 0.10, -0.10, 0.0])
    daily = pd.DataFrame({"port_ret": port, "bench_ret": np.zeros(4)}, index=idx)
    daily["excess_ret"] = port
    reb = pd.DataFrame(
        {"initial": [True, False, False], "turnover": [1.0, 0.2, 0.4]},
        index=pd.DatetimeIndex(["2021-12-30", "2021-12-31", "2022-01-03"]),
    )
    stats = enhance_stats(daily, reb, days_per_year=4)
    assert stats.loc["excess_return", "all"] == pytest.approx(0.99 ** (4 / 4) - 1)
    assert stats.loc["excess_return", "2021"] == pytest.approx(0.10)
    assert stats.loc["excess_return", "2022"] == pytest.approx(-0.10)
    assert stats.loc["excess_max_drawdown", "all"] == pytest.approx(-0.10)
    assert stats.loc["excess_max_drawdown", "2022"] == pytest.approx(-0.10)  # peak carried over from 2021
    assert stats.loc["tracking_error", "all"] == pytest.approx(np.std(port, ddof=1) * 2)
    assert stats.loc["excess_sharpe", "all"] == pytest.approx(0.0, abs=1e-12)
    assert stats.loc["calmar", "2021"] != stats.loc["calmar", "2021"]  # no drawdown in 2021: NaN
    assert stats.loc["turnover", "all"] == pytest.approx(0.3)
    assert stats.loc["turnover", "2021"] == pytest.approx(0.2)
    assert max_drawdown(np.array([1.0, 1.2, 0.9, 1.3])) == pytest.approx(0.9 / 1.2 - 1)


def _leg(start: float, peak: float, drop: float, end: float, n_up: int, n_after: int) -> np.ndarray:
    """Daily returns: rise from ``start`` to ``peak`` in ``n_up`` days, fall by ``drop``, end at ``end``."""
    up = (peak / start) ** (1 / n_up) - 1
    after = (end / (peak * (1 - drop))) ** (1 / n_after) - 1
    return np.r_[np.full(n_up, up), -drop, np.full(n_after, after)]


def test_calmar_per_year_as_the_report_computes_it():
    # 2020: 243 days, excess +6.44 %, drawdown -5.31 % (the report's CSI 300 2020 column: Calmar 1.26);
    # 2021: a partial year of 38 days, +3.69 %, -1.1 % (its 2025-02-28 column: Calmar 3.35).
    days20 = pd.bdate_range("2020-01-01", "2020-12-31")[-243:]
    days21 = pd.bdate_range("2021-01-04", periods=38)
    ex = np.r_[_leg(1.0, 1.05, 0.0531, 1.0644, 100, 142), _leg(1.0, 1.02, 0.011, 1.0369, 10, 27)]
    idx = days20.append(days21)
    daily = pd.DataFrame({"excess_ret": ex}, index=idx)
    reb = pd.DataFrame({"initial": [True], "turnover": [1.0]}, index=idx[:1])
    stats = enhance_stats(daily, reb, days_per_year=252)
    assert stats.loc["excess_return", "2020"] == pytest.approx(0.0644)  # a year's excess: not annualised
    assert stats.loc["excess_max_drawdown", "2020"] == pytest.approx(-0.0531)
    calmar20 = stats.loc["calmar", "2020"]
    assert calmar20 == pytest.approx((1.0644 ** (252 / 243) - 1) / 0.0531) and round(calmar20, 2) == 1.26
    assert stats.loc["excess_max_drawdown", "2021"] == pytest.approx(-0.011)
    assert stats.loc["calmar", "2021"] == pytest.approx(0.0369 / 0.011)  # partial last year: as it is
    growth = 1.0644 * 1.0369
    assert stats.loc["calmar", "all"] == pytest.approx((growth ** (252 / 281) - 1) / 0.0531)
    # the same days inside a calendar that goes on into 2022: 2021 is complete, so it is annualised
    calendar = idx.append(pd.DatetimeIndex(["2022-01-04"]))
    assert not year_complete(idx[-1], calendar.insert(len(idx), pd.Timestamp("2021-03-01")))
    assert year_complete(idx[-1], calendar) and year_complete(pd.Timestamp("2020-12-31"))
    full = enhance_stats(daily, reb, days_per_year=252, calendar=calendar)
    assert full.loc["calmar", "2021"] == pytest.approx((1.0369 ** (252 / 38) - 1) / 0.011)


#: The report's Fig. 26 per index: excess %, |excess max drawdown| %, Calmar; 2020 .. 2024 and 2025-02-28.
REPORT_FIG26 = {
    "csi300": (
        [6.44, 8.53, 11.21, 2.46, 5.85, 3.69],
        [5.31, 3.5, 6.04, 2.62, 6.71, 1.1],
        [1.26, 2.53, 1.94, 0.98, 0.91, 3.35],
    ),
    "csi500": (
        [14.94, 9.55, 15.35, 5.66, 4.38, 3.67],
        [7.15, 3.72, 5.89, 3.28, 7.21, 2.44],
        [2.17, 2.67, 2.72, 1.8, 0.63, 1.50],
    ),
    "csi1000": (
        [19.44, 15.56, 19.8, 7.89, 7.85, 3.29],
        [4.69, 2.91, 3.9, 2.47, 8.6, 2.75],
        [4.31, 5.56, 5.31, 3.34, 0.95, 1.19],
    ),
}


@pytest.mark.parametrize("index", sorted(REPORT_FIG26))
def test_calmar_ratio_reproduces_the_reports_table(index):
    excess, drawdown, calmar = REPORT_FIG26[index]
    days = [243, 243, 242, 242, 242, 38]  # China's trading days in 2020 .. 2024; the last year is partial
    full = [True] * 5 + [False]
    got = [
        calmar_ratio(1 + e / 100, -d / 100, n, 252, annualise=a)
        for e, d, n, a in zip(excess, drawdown, days, full, strict=True)
    ]
    # the report's rows are rounded to 2 decimals, so their ratio agrees to about 0.01
    np.testing.assert_allclose(got, calmar, atol=0.011)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"relax_order": ("turnover*0.5",)},
        {"relax_order": ("volume*2",)},
        {"relax_order": ("constituent*2",)},
        {"min_constituent_weight": 1.5},
        {"stock_band": -0.1},
        {"solver": "GUROBI"},
        {"st_policy": "sell"},
    ],
)
def test_spec_refuses_bad_values(kwargs):
    with pytest.raises(ValueError):
        EnhanceSpec(**kwargs)


def test_spec_defaults_are_the_reports():
    spec = EnhanceSpec()
    assert (spec.min_constituent_weight, spec.stock_band, spec.style_band) == (0.8, 0.008, 0.3)
    assert (spec.industry_band, spec.max_turnover) == (0.02, 0.3)
    # "双边千2.5": 0.25 % for a buy and a sell together, i.e. 0.125 % of the value traded on each side
    assert spec.cost_rate == 0.00125
    assert EnhanceSpec(cost_rate=0.0025).cost_rate == 0.0025  # the other reading stays one override away
    assert math.isinf(float(spec.relax_order[3].split("*")[1]))


def test_relaxation_keeps_only_the_steps_the_week_needs():
    # A is suspended holding 45 % against a 25 % benchmark weight: its industry is at least 10 points
    # overweight, so industry*2 (4 %) is not enough and industry*inf is needed; nothing else is.
    inp = RebalanceInput(
        symbols=np.array(list("ABCD")),
        score=np.array([0.0, 3.0, 2.0, 1.0]),
        bench=np.full(4, 0.25),
        prev=np.array([0.45, 0.15, 0.20, 0.20]),
        industry=np.array([0, 0, 1, 1]),
        exposures=np.zeros((0, 4)),
        suspended=np.array([True, False, False, False]),
    )
    spec = EnhanceSpec(stock_band=0.1)
    res = solve_rebalance(inp, spec)
    assert res.status == "relaxed"
    assert res.relaxed == ("industry*inf",)
    assert res.n_pinned == 1 and res.weights[0] == pytest.approx(0.45, abs=1e-9)
    assert math.isinf(res.limits.industry) and res.limits.turnover == spec.max_turnover
    assert np.abs(res.weights - inp.prev).sum() <= spec.max_turnover + 1e-6
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-6)
    # with a ladder that cannot drop the industry limit the week is held, logged, and nothing dies
    held = solve_rebalance(inp, EnhanceSpec(stock_band=0.1, relax_order=("turnover*inf", "style*inf")))
    assert held.status == "hold" and "infeasible after every relaxation" in held.messages[-1]
    np.testing.assert_array_equal(held.weights, inp.prev)
