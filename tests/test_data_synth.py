"""The synthetic market: invariants, determinism, universes, and the planted (known) signal."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from zoo.datasets import validate_cube
from zoo.datasets.labels import ensure_labels, rank_ic_series
from zoo.datasets.synth import make_market, oracle_rank_ic
from zoo.datasets.universes import month_starts

from zoo.errors import DataError


@pytest.fixture(scope="module")
def cube():
    return make_market(n_stocks=150, start="2019-01-01", end="2020-12-31", seed=3)


def test_schema_is_valid(cube):
    validate_cube(cube)
    assert cube["bars"].dtype == np.float32 and cube["bars"].dims == ("date", "symbol", "field")
    assert 10 <= len(cube.attrs["industry_names"]) <= 30


def test_ohlc_vwap_order_and_volume(cube):
    o, h, lo, c, v, vol = (cube["bars"].values[..., i] for i in range(6))
    have = np.isfinite(c)
    assert have.any()
    for arr in (o, h, lo, v, vol):
        assert np.array_equal(np.isfinite(arr), have)  # a bar is all there or all missing
    eps = 1e-4 * h[have]
    assert (lo[have] <= np.minimum(o, c)[have] + eps).all()
    assert (h[have] >= np.maximum(o, c)[have] - eps).all()
    assert ((v[have] >= lo[have] - eps) & (v[have] <= h[have] + eps)).all()
    assert (vol[have] > 0).all() and (lo[have] > 0).all()


def test_price_limits_and_flags(cube):
    close = pd.DataFrame(cube["bars"].values[..., 3])
    prev = close.ffill().shift(1).to_numpy()
    c = close.to_numpy()
    st = cube["st"].values
    lim = np.where(st, 0.05, 0.10)
    first = np.cumsum(np.isfinite(c), axis=0) == 1
    ok = np.isfinite(c) & np.isfinite(prev) & ~first
    move = c[ok] / prev[ok] - 1
    assert (np.abs(move) <= lim[ok] + 1e-4).all()
    up, dn = cube["limit_up"].values, cube["limit_down"].values
    assert up.any() and dn.any() and not (up & dn).any()
    # a flagged limit-up closes at the limit; an unflagged close sits strictly inside it
    assert np.allclose(c[up] / prev[up] - 1, lim[up], atol=1e-4)
    inside = ok & ~up & ~dn
    assert (np.abs(c[inside] / prev[inside] - 1) < lim[inside] + 1e-6).all()


def test_listing_suspension_masks(cube):
    listed, susp = cube["listed"].values, cube["suspended"].values
    c = cube["bars"].values[..., 3]
    assert not np.isfinite(c[~listed]).any()
    assert not np.isfinite(c[susp]).any() and susp.any()
    assert (susp <= listed).all()
    assert (~listed[0]).any() and (~listed[-1]).any()  # listings and delistings happen
    assert np.isnan(cube["mcap"].values[~listed]).all()
    assert cube["st"].values.any()


def test_universes_tiers_disjoint_ranked_and_weights(cube):
    uni = cube["in_universe"].values
    tiers = cube.attrs["index_tiers"]
    assert not (uni[1] & uni[2]).any() and not (uni[1] & uni[3]).any() and not (uni[2] & uni[3]).any()
    size = cube["size"].values
    for t0 in month_starts(pd.DatetimeIndex(cube["date"].values))[1:]:
        counts = uni[1:, t0].sum(axis=1)
        assert list(counts) == tiers
        prev = size[t0 - 1]
        # every CSI 300 stand-in member was larger (yesterday) than every CSI 500 one, and so on
        assert prev[uni[1, t0]].min() >= prev[uni[2, t0]].max()
        assert prev[uni[2, t0]].min() >= prev[uni[3, t0]].max()
    w = cube["index_weight"].values.astype(np.float64)
    sums = w.sum(axis=2)
    live = sums > 0
    assert live[:, -1].all()
    assert np.allclose(sums[live], 1.0, atol=1e-5)
    assert ((w > 0) <= uni[1:]).all()  # weight only on members


def test_deterministic_by_seed():
    a = make_market(n_stocks=30, start="2020-01-01", end="2020-06-30", seed=11)
    b = make_market(n_stocks=30, start="2020-01-01", end="2020-06-30", seed=11)
    c = make_market(n_stocks=30, start="2020-01-01", end="2020-06-30", seed=12)
    assert a.identical(b)
    assert not np.array_equal(a["bars"].values, c["bars"].values, equal_nan=True)


def test_bad_arguments_raise_data_error():
    with pytest.raises(DataError, match="n_stocks"):
        make_market(n_stocks=3)
    with pytest.raises(DataError, match="business days"):
        make_market(n_stocks=20, start="2020-01-01", end="2020-01-10")


def test_oracle_rank_ic_grows_with_signal_strength():
    weak = make_market(n_stocks=120, start="2018-01-01", end="2019-12-31", seed=5, signal_strength=1.0)
    strong = make_market(n_stocks=120, start="2018-01-01", end="2019-12-31", seed=5, signal_strength=6.0)
    none = make_market(n_stocks=120, start="2018-01-01", end="2019-12-31", seed=5, signal_strength=0.0)
    ic_w, ic_s, ic_0 = (oracle_rank_ic(c, 10) for c in (weak, strong, none))
    assert 0.05 < ic_w < ic_s
    assert ic_s > 0.35
    assert ic_0 != ic_0 or abs(ic_0) < 0.03  # no planted signal: expected_return is 0 (IC undefined)
    assert oracle_rank_ic(strong, 20) > 0.3


def _mean_ic(cube, factor, horizon=10):
    cube = ensure_labels(cube, (horizon,))
    lab = cube["label_raw"].sel(horizon=horizon).values
    mask = cube["in_universe"].values[0] & ~cube["suspended"].values
    return float(np.nanmean(rank_ic_series(factor, lab, mask)))


def test_planted_pieces_are_visible_in_past_prices():
    """Trend relative to size-group peers predicts; so does short-term reversal of residual moves."""
    kw = dict(n_stocks=200, start="2018-01-01", end="2019-12-31", seed=9, signal_strength=6.0)
    trend_only = make_market(reversal_weight=0.0, **kw)
    rev_only = make_market(trend_weight=0.0, **kw)
    for cube in (trend_only, rev_only):
        close = pd.DataFrame(cube["bars"].values[..., 3]).ffill()
        mom = np.log(close.shift(5) / close.shift(65)).to_numpy()  # skips the transient
        rev = -np.log(close / close.shift(3)).to_numpy()
        size = cube["size"].values
        # momentum net of the stock's size-quintile mean on that date
        q = pd.DataFrame(size).rank(axis=1, pct=True).to_numpy()
        grp = np.floor(np.nan_to_num(q, nan=0.0) * 4.999)
        rel = mom.copy()
        for g in range(5):
            m = np.where(grp == g, mom, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # dates before 65 days of history
                gmean = np.nanmean(m, axis=1, keepdims=True)
            rel = np.where(grp == g, mom - gmean, rel)
        if cube is trend_only:
            assert _mean_ic(cube, rel) > 0.1
            assert abs(_mean_ic(cube, rev)) < _mean_ic(cube, rel)
        else:
            assert _mean_ic(cube, rev) > 0.1
            assert abs(_mean_ic(cube, rel)) < 0.05
