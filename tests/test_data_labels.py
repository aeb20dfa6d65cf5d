"""Labels: exact forward returns, masking, neutralisation orthogonality, per-date normalisation, caching."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo.datasets.calc import forward_simple_returns as forward_returns
from zoo.datasets.labels import (
    ensure_labels,
    neutralize,
    normalize_cross_section,
    rank_ic_series,
)
from zoo.datasets.synth import make_market

from zoo.errors import DataError


def _close(d=30, s=4, seed=0):
    rng = np.random.default_rng(seed)
    return np.exp(np.cumsum(rng.normal(0, 0.02, (d, s)), axis=0)) * 10


def test_forward_return_reads_exactly_t_plus_1_to_t_plus_1_plus_h():
    close = _close()
    h = 5
    y = forward_returns(close, np.zeros_like(close, dtype=bool), h)
    t = 7
    assert y[t, 2] == pytest.approx(close[t + 1 + h, 2] / close[t + 1, 2] - 1, rel=1e-6)
    # perturb every day except t+1 and t+1+h: the label at t does not move
    for k in range(close.shape[0]):
        if k in (t + 1, t + 1 + h):
            continue
        c2 = close.copy()
        c2[k] *= 1.5
        assert forward_returns(c2, np.zeros_like(c2, dtype=bool), h)[t, 2] == y[t, 2]
    for k in (t + 1, t + 1 + h):
        c2 = close.copy()
        c2[k] *= 1.5
        assert forward_returns(c2, np.zeros_like(c2, dtype=bool), h)[t, 2] != y[t, 2]
    # the last h+1 dates have no label
    assert np.isnan(y[-(h + 1) :]).all() and np.isfinite(y[: -(h + 1)]).all()


def test_forward_return_masks_gaps_and_breaches():
    close = _close()
    h, t = 4, 10
    gap = close.copy()
    gap[t + 3, 0] = np.nan  # a suspension inside the label span
    y = forward_returns(gap, np.zeros_like(gap, dtype=bool), h)
    assert np.isnan(y[t, 0]) and np.isfinite(y[t, 1])
    breach = np.zeros_like(close, dtype=bool)
    breach[t + 2, 1] = True  # price series broken between t+1 and t+2: inside the span
    y = forward_returns(close, breach, h)
    assert np.isnan(y[t, 1])
    assert np.isfinite(y[t + 1, 1])  # a breach at t+2 is before the next label's span (t+3 ..)
    breach2 = np.zeros_like(close, dtype=bool)
    breach2[t + 1, 1] = True  # between t and t+1: irrelevant to close(t+1) -> close(t+1+h)
    assert np.isfinite(forward_returns(close, breach2, h)[t, 1])
    with pytest.raises(DataError):
        forward_returns(close, breach, 0)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(8, 60),
    k=st.integers(1, 5),
)
def test_neutralised_labels_orthogonal_to_size_and_industries(seed, n, k):
    rng = np.random.default_rng(seed)
    d = 3
    ind = rng.integers(0, k, n)
    size = rng.normal(20, 1.5, (d, n)).astype(np.float32)
    y = (0.3 * size + ind[None] * 0.1 + rng.normal(0, 1, (d, n))).astype(np.float32)
    valid = rng.random((d, n)) > 0.15
    res = neutralize(y, size, ind, valid)
    assert np.isnan(res[~valid]).all()
    for t in range(d):
        ok = valid[t]
        r = res[t, ok].astype(np.float64)
        assert abs(np.sum(r * size[t, ok])) < 1e-3 * max(1.0, np.abs(size[t, ok]).sum())
        for g in np.unique(ind[ok]):
            assert abs(r[ind[ok] == g].sum()) < 1e-4
        # equals the least-squares residual with explicit dummies
        x = np.column_stack([size[t, ok]] + [(ind[ok] == g).astype(float) for g in np.unique(ind[ok])])
        beta, *_ = np.linalg.lstsq(x, y[t, ok].astype(np.float64), rcond=None)
        assert np.allclose(r, y[t, ok] - x @ beta, atol=1e-4)


def test_normalize_rank_and_zscore():
    y = np.array([[3.0, np.nan, 1.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    r = normalize_cross_section(y, "rank")
    assert np.isnan(r[0, 1])
    assert np.allclose(r[0, [0, 2, 3, 4]], [0.5, -0.5, 0.0, 0.0])
    assert np.allclose(r[1], 0.0)  # all tied
    z = normalize_cross_section(y, "zscore")
    v = z[0, np.isfinite(z[0])]
    assert abs(v.mean()) < 1e-6 and abs(v.std() - 1) < 1e-5
    assert np.allclose(z[1], 0.0)  # constant -> 0, never NaN/inf
    assert np.array_equal(normalize_cross_section(y, None), y, equal_nan=True)
    with pytest.raises(DataError, match="unknown"):
        normalize_cross_section(y, "minmax")


def test_rank_ic_series_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 50)), rng.normal(size=(4, 50))
    a[0, :3] = np.nan
    ic = rank_ic_series(a, b)
    ok = np.isfinite(a[0])
    assert ic[0] == pytest.approx(spearmanr(a[0, ok], b[0, ok]).statistic)
    assert ic[2] == pytest.approx(spearmanr(a[2], b[2]).statistic)


def test_ensure_labels_cached_and_recomputed_when_stale():
    cube = make_market(n_stocks=40, start="2020-01-01", end="2020-08-31", seed=2)
    a = ensure_labels(cube, (10, 20))
    assert a["label_raw"].dims == ("horizon", "date", "symbol")
    assert ensure_labels(a, (10,)) is a  # fresh: nothing recomputed
    bars = a["bars"].values.copy()
    s = int(np.flatnonzero(np.isfinite(bars[50:80, :, 3]).all(axis=0))[0])
    bars[60, s, 3] *= 1.2
    stale = a.assign(bars=(a["bars"].dims, bars))
    b = ensure_labels(stale, (10,))
    assert b is not stale
    assert not np.array_equal(b["label_raw"].values, a["label_raw"].values, equal_nan=True)
    c = ensure_labels(a, (5,))  # a new horizon joins the old ones
    assert [int(h) for h in c["horizon"].values] == [5, 10, 20]
    assert np.array_equal(
        c["label_raw"].sel(horizon=10).values, a["label_raw"].sel(horizon=10).values, equal_nan=True
    )
    # neutralised labels are orthogonal to size within the "all" universe on each date
    neu = a["label_neutral"].sel(horizon=10).values
    size = a["size"].values
    for t in range(0, 100, 10):
        ok = np.isfinite(neu[t])
        assert abs(np.dot(neu[t, ok], size[t, ok] - size[t, ok].mean())) < 1e-3


def test_persisted_labels_are_read_back_not_recomputed(tmp_path):
    from zoo.datasets import open_cube, write_cube

    cube = make_market(n_stocks=30, start="2020-01-01", end="2020-06-30", seed=6).drop_vars("expected_return")
    path = write_cube(cube.drop_dims("horizon"), tmp_path / "c.zarr")
    opened = open_cube(path)
    assert "label_raw" not in opened.data_vars
    with_labels = ensure_labels(opened, (10,), persist=True)
    again = open_cube(path)
    assert "label_neutral" in again.data_vars
    assert ensure_labels(again, (10,)) is again  # fresh: read back, not recomputed
    assert np.array_equal(again["label_raw"].values, with_labels["label_raw"].values, equal_nan=True)
