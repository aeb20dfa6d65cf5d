"""Day batches: shapes, a naive reference, eligibility, breach cuts, and no look-ahead."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo.datasets.batches import CTX_KEYS, DayBatches, eligible_dates, normalize_windows
from zoo.datasets.labels import ensure_labels
from zoo.datasets.synth import make_market

from zoo.errors import DataError
from zoo.specs.data import DataSpec

W = 30
KW = dict(window=W, min_history=20, horizon=5)


@pytest.fixture(scope="module")
def cube():
    c = make_market(n_stocks=60, start="2020-01-01", end="2020-12-31", seed=4)
    # plant a few breaches so the cut is exercised
    br = c["breach"].values.copy()
    listed = c["listed"].values & np.isfinite(c["bars"].values[..., 3])
    rng = np.random.default_rng(0)
    cells = np.argwhere(listed[40:200]) + [40, 0]
    for d, s in cells[rng.choice(len(cells), 25, replace=False)]:
        br[d, s] = True
    return ensure_labels(c.assign(breach=(("date", "symbol"), br)), (5,))


def _reference(cube, t, idx, window, clip_mad=5.0, zscore=True):
    """Plain per-stock copying loop: the definition the vectorised code must match."""
    bars = cube["bars"].values
    br = cube["breach"].values
    x = np.full((len(idx), window, 6), np.nan)
    for n, s in enumerate(idx):
        for w in range(window):
            day = t - window + 1 + w
            if day < 0:
                continue
            if br[day + 1 : t + 1, s].any():  # a breach after this day, up to t: stale
                continue
            x[n, w] = bars[day, s]
        x[n, :, :5] /= bars[t, s, 3]
        x[n, :, 5] /= np.nanmean(x[n, :, 5])
    flat = x.reshape(len(idx), -1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        med = np.nanmedian(flat, axis=0)
        mad = np.nanmedian(np.abs(flat - med), axis=0)
        band = clip_mad * 1.4826 * mad
        flat = np.clip(flat, med - band, med + band)
        if zscore:
            mu, sd = np.nanmean(flat, axis=0), np.nanstd(flat, axis=0)
            flat = np.where(sd > 1e-8, (flat - mu) / np.where(sd > 1e-8, sd, 1), 0.0)
    return np.nan_to_num(flat.reshape(x.shape), nan=0.0)


def test_shapes_types_and_ctx(cube):
    b = DayBatches(cube, **KW)
    assert len(b) > 100
    day = b[0]
    n = len(day.symbols)
    assert day.x.shape == (n, W, 6) and day.x.dtype == np.float32
    assert day.y.shape == (n,) and day.y.dtype == np.float32 and np.isfinite(day.y).all()
    assert set(day.ctx) == {"size", "size_group", "industry", "mask"} == set(CTX_KEYS)  # what specs may ask
    assert day.ctx["size"].dtype == np.float32 and day.ctx["size_group"].dtype == np.int64
    assert day.ctx["industry"].dtype == np.int64 and day.ctx["mask"].dtype == bool
    assert np.isfinite(day.x).all()
    assert (b.dates == pd.DatetimeIndex(cube["date"].values)[b.positions]).all()
    # rank labels span [-0.5, 0.5]
    assert day.y.min() == pytest.approx(-0.5) and day.y.max() == pytest.approx(0.5)


def test_matches_naive_per_stock_reference(cube):
    b = DayBatches(cube, **KW)
    checked = 0
    for i in (0, len(b) // 3, len(b) // 2, len(b) - 1):
        day = b[i]
        t = int(b.positions[i])
        ref = _reference(cube, t, day.index, W)
        np.testing.assert_allclose(day.x, ref, atol=2e-4, rtol=1e-4)
        checked += 1
    assert checked == 4


def test_breach_cuts_the_window(cube):
    br = cube["breach"].values
    b = DayBatches(cube, **KW, label_norm=None, zscore=False, clip_mad=0)
    hit = 0
    for i in range(len(b)):
        t = int(b.positions[i])
        day = b[i]
        raw = b.raw_windows(t, day.index)
        for n, s in enumerate(day.index):
            past = np.flatnonzero(br[max(0, t - W + 1) : t + 1, s])
            if len(past):
                cut = past[-1] + max(0, t - W + 1) - (t - W + 1)
                assert np.isnan(raw[n, :cut]).all()
                hit += 1
    assert hit > 0


def test_eligibility_rules(cube):
    b = DayBatches(cube, **KW)
    susp = cube["suspended"].values
    listed = cube["listed"].values
    uni = cube["in_universe"].sel(universe="all").values
    for i in range(0, len(b), 25):
        t = int(b.positions[i])
        idx = b[i].index
        assert listed[t, idx].all() and not susp[t, idx].any() and uni[t, idx].all()
    # min_history: the first eligible date of a stock has >= min_history valid bars
    c = cube["bars"].values[..., 3]
    b2 = DayBatches(cube, window=W, min_history=W, horizon=5)
    t = int(b2.positions[0])
    for s in b2[0].index:
        assert np.isfinite(c[max(0, t - W + 1) : t + 1, s]).sum() == W
    # universe restricts
    b3 = DayBatches(cube, universe="csi1000", **KW)
    mem = cube["in_universe"].sel(universe="csi1000").values
    day = b3[len(b3) // 2]
    t = int(b3.positions[len(b3) // 2])
    assert mem[t, day.index].all() and len(day.index) <= mem[t].sum()


def test_size_groups_are_quintiles(cube):
    day = DayBatches(cube, **KW)[10]
    g, size = day.ctx["size_group"], day.ctx["size"]
    counts = np.bincount(g, minlength=5)
    assert counts.max() - counts.min() <= 1
    for k in range(4):
        assert size[g == k].max() <= size[g == k + 1].min()


def test_no_look_ahead(cube):
    """Changing every value after t leaves windows, normalisation, size groups and eligibility at t alone."""
    b = DayBatches(cube, **KW, require_label=False, label_norm=None)
    i = len(b) // 2
    t = int(b.positions[i])
    before = b[i]
    rng = np.random.default_rng(7)
    fut = cube.copy(deep=True)
    for var in ("bars", "size", "mcap"):
        arr = fut[var].values
        arr[t + 1 :] = arr[t + 1 :] * rng.uniform(0.5, 2.0, arr[t + 1 :].shape)
    for var in ("suspended", "breach", "limit_up"):
        arr = fut[var].values
        arr[t + 1 :] = rng.random(arr[t + 1 :].shape) < 0.3
    fut["in_universe"].values[:, t + 1 :] = rng.random(fut["in_universe"].values[:, t + 1 :].shape) < 0.5
    fut = fut.drop_vars(["label_raw", "label_neutral"])
    after = DayBatches(fut, **KW, require_label=False, label_norm=None).batch_at(t)
    assert np.array_equal(before.index, after.index)
    np.testing.assert_array_equal(before.x, after.x)
    for k in ("size", "size_group", "industry", "mask"):
        np.testing.assert_array_equal(before.ctx[k], after.ctx[k])
    # and the sanity check that the perturbation did reach the future
    later = int(b.positions[i + 5])
    moved = DayBatches(fut, **KW, require_label=False).batch_at(later).x
    assert not np.array_equal(b.batch_at(later).x, moved)


def test_a_future_gap_changes_nothing_at_t_in_training_batches(cube):
    """A stock that stops trading after t keeps its place at t: only its label (y) becomes NaN."""
    b = DayBatches(cube, **KW, require_label=True, label_norm="rank")
    i = len(b) // 2
    t = int(b.positions[i])
    before = b[i]
    s = int(before.index[np.isfinite(before.y)][0])
    fut = cube.copy(deep=True)
    fut["bars"].values[t + 3, s, :] = np.nan  # the stock has no bar at t+3: its label at t is missing
    fut = fut.drop_vars(["label_raw", "label_neutral"])
    after = DayBatches(fut, **KW, require_label=True, label_norm="rank").batch_at(t)
    assert np.array_equal(before.index, after.index)
    np.testing.assert_array_equal(before.x, after.x)
    for k in ("size", "size_group", "industry", "mask"):
        np.testing.assert_array_equal(before.ctx[k], after.ctx[k])
    gone = int(np.flatnonzero(after.index == s)[0])
    assert np.isfinite(before.y[gone]) and np.isnan(after.y[gone])


def test_from_spec_and_errors(cube):
    spec = DataSpec(window=W, min_history=20, horizon=5, clip_mad=0.0, zscore=False)
    b = DayBatches.from_spec(cube, spec, dates=("2020-06-01", "2020-09-30"), label_norm="zscore")
    assert b.dates.min() >= pd.Timestamp("2020-06-01") and b.dates.max() <= pd.Timestamp("2020-09-30")
    day = b[0]
    # without z-scoring the last close over itself is exactly 1
    assert np.allclose(day.x[:, -1, 3], 1.0)
    assert abs(day.y.mean()) < 1e-5
    assert len(eligible_dates(cube, "2020-06-01", "2020-09-30", **KW)) == len(
        DayBatches(cube, ("2020-06-01", "2020-09-30"), **KW)
    )
    with pytest.raises(DataError, match="universe"):
        DayBatches(cube, universe="sp500", **KW)
    with pytest.raises(ValueError, match="universe"):
        DataSpec(universe="sp500")
    with pytest.raises(ValueError, match="fields"):
        DataSpec(fields=("open", "open"))
    with pytest.raises(DataError, match="label_norm"):
        DayBatches(cube, label_norm="minmax", **KW)
    # a window shorter than min_history asks for every bar of the window
    short = DayBatches(cube, window=10, min_history=20, horizon=5)
    full = DayBatches(cube, window=10, min_history=10, horizon=5)
    assert np.array_equal(short.eligible, full.eligible)
    with pytest.raises(DataError, match="not in the cube"):
        DayBatches(cube, dates=["1999-01-04"], **KW)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 40), nan_share=st.floats(0, 0.5))
def test_normalised_windows_are_finite_and_standardised(seed, n, nan_share):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(0, 0.3, (n, 12, 6)).astype(np.float32)
    x[rng.random(x.shape) < nan_share] = np.nan
    x[:, -1, 3] = rng.lognormal(0, 0.3, n)  # every stock has a close at t
    out = normalize_windows(x.copy(), ("open", "high", "low", "close", "vwap", "volume"), clip_mad=3.0)
    assert np.isfinite(out).all()
    flat = out.reshape(n, -1)
    src = x.reshape(n, -1)
    for j in range(flat.shape[1]):
        ok = np.isfinite(src[:, j])
        if ok.sum() >= 2 and flat[ok, j].std() > 1e-3:
            assert abs(flat[ok, j].mean()) < 1e-3
            assert abs(flat[ok, j].std() - 1) < 1e-2
        assert (flat[~ok, j] == 0).all()  # missing -> fill value


def test_panel_cache_follows_breach_changes(cube):
    b1 = DayBatches(cube, **KW, require_label=False, label_norm=None)
    i = len(b1) // 2
    t = int(b1.positions[i])
    s = int(b1[i].index[0])
    br = cube["breach"].values.copy()
    br[t - 3, s] = True  # same bars array, new breach: the stock's window is cut 3 days back
    cut = cube.assign(breach=(("date", "symbol"), br))
    b2 = DayBatches(cut, **KW, require_label=False, label_norm=None)
    assert b2._panel is not b1._panel
    assert not b2.eligible[t, s]  # 4 bars after the cut are fewer than min_history
