"""Stock-sampled training days: stratified shares, the day's groups kept, causality, reproducible fits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo.datasets.batches import DayBatches
from zoo.datasets.labels import ensure_labels
from zoo.datasets.sampling import stratified_sample
from zoo.datasets.synth import make_market

KW = dict(window=30, min_history=20, horizon=5)


@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    frac=st.floats(0.01, 1.2),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_each_group_keeps_its_share(sizes, frac, seed):
    groups = np.repeat(np.arange(len(sizes)), sizes)
    np.random.default_rng(seed).shuffle(groups)
    n = len(groups)
    k = max(1, int(frac * n))
    picked = stratified_sample(groups, k, np.random.default_rng(seed))
    assert len(picked) == min(k, n) and np.all(np.diff(picked) > 0)
    if k < n:
        got = np.bincount(groups[picked], minlength=len(sizes))
        assert np.all(np.abs(got - np.asarray(sizes) * k / n) < 1)


def test_the_draw_is_uniform_inside_a_group_and_reproducible():
    groups = np.repeat([0, 1], [50, 150])
    picks = np.zeros(200)
    for s in range(400):
        picks[stratified_sample(groups, 40, np.random.default_rng(s))] += 1
    # each stock of a group is drawn with probability k / n = 0.2: 80 of 400 draws, binomial sd 8
    assert np.all(np.abs(picks - 80) < 5 * 8)
    a = stratified_sample(groups, 40, np.random.default_rng(7))
    assert np.array_equal(a, stratified_sample(groups, 40, np.random.default_rng(7)))
    assert not np.array_equal(a, stratified_sample(groups, 40, np.random.default_rng(8)))


@pytest.fixture(scope="module")
def cube():
    return ensure_labels(make_market(n_stocks=80, start="2020-01-01", end="2020-12-31", seed=3), (5,))


def test_a_sampled_batch_keeps_the_days_size_groups(cube):
    b = DayBatches(cube, label_norm=None, **KW)  # raw labels, as the training source keeps them
    t = int(b.positions[40])
    full = b.batch_at(t)
    part = b.batch_at(t, sample=25, rng=np.random.default_rng(0))
    assert part.x.shape == (25, 30, 6) and len(part.y) == 25
    where = np.searchsorted(full.index, part.index)
    assert np.array_equal(full.index[where], part.index)
    assert np.array_equal(part.ctx["size_group"], full.ctx["size_group"][where])
    np.testing.assert_array_equal(part.y, full.y[where])
    counts = np.bincount(part.ctx["size_group"], minlength=5)
    assert counts.max() - counts.min() <= 1  # equal-count quintiles keep equal shares
    # windows are normalised across the sample: z-scored columns of the 25 stocks
    flat = part.x.reshape(25, -1)
    assert np.abs(flat.mean(axis=0)).max() < 1e-4
    assert np.abs(full.x[where].reshape(25, -1).mean(axis=0)).max() > 1e-2  # not the whole day's z-scores
    assert b.batch_at(t, sample=10_000, rng=np.random.default_rng(0)).x.shape == full.x.shape


def test_a_sampled_batch_uses_no_future_data(cube):
    b = DayBatches(cube, **KW)
    t = int(b.positions[60])
    bars = cube["bars"].values.copy()
    bars[t + 1 :] *= np.float32(3.0)
    size = cube["size"].values.copy()
    size[t + 1 :] = -size[t + 1 :]
    later = cube.assign(bars=(cube["bars"].dims, bars), size=(cube["size"].dims, size))
    one = b.batch_at(t, sample=30, rng=np.random.default_rng(5))
    two = DayBatches(ensure_labels(later.drop_vars(["label_raw", "label_neutral"]), (5,)), **KW).batch_at(
        t, sample=30, rng=np.random.default_rng(5)
    )
    assert np.array_equal(one.index, two.index)
    np.testing.assert_array_equal(one.x, two.x)
    np.testing.assert_array_equal(one.ctx["size_group"], two.ctx["size_group"])


def _fit(cube, stocks_per_day: int, seed: int = 0):
    """One GRU fit (test year 2020) on ``cube`` with ``train.stocks_per_day``; its test score."""
    from zoo.registry import get_registry
    from zoo.specs import load_spec
    from zoo.train.data import CubeSource
    from zoo.train.jobs import FitContext, neural_fit
    from zoo.train.splits import rolling_splits

    sets = [
        "data.window=15",
        "data.horizon=2",
        "data.min_history=10",
        "train.max_epochs=2",
        "train.days_per_epoch=6",
        "train.valid_stride=3",
        f"train.stocks_per_day={stocks_per_day}",
    ]
    spec = load_spec("gru", overrides=sets)
    source = CubeSource(cube, spec.data)
    (split,) = rolling_splits(source.dates, [2020], 1, 1, spec.data.horizon + 1)
    ctx = FitContext(spec, source, split, seed, get_registry(()), lambda *_: None, "t")
    return neural_fit(ctx)


@pytest.fixture(scope="module")
def three_years():
    return make_market(n_stocks=60, start="2018-01-01", end="2020-12-31", seed=9)


def test_a_sampled_fit_is_reproducible_and_scores_every_stock(three_years):
    whole = _fit(three_years, 0)
    a, b = _fit(three_years, 20), _fit(three_years, 20)
    np.testing.assert_array_equal(a.score.values, b.score.values)  # the same seed draws the same stocks
    assert not np.array_equal(a.score.values, whole.score.values, equal_nan=True)
    assert not np.array_equal(a.score.values, _fit(three_years, 20, seed=1).score.values, equal_nan=True)
    # test days score every eligible stock, as the unsampled fit does
    np.testing.assert_array_equal(np.isfinite(a.score.values), np.isfinite(whole.score.values))


def test_the_default_keeps_every_spec_hash():
    from zoo.specs import load_spec, spec_hash

    assert spec_hash(load_spec("gru")) == spec_hash(load_spec("gru", overrides=["train.stocks_per_day=0"]))
    assert spec_hash(load_spec("gru")) != spec_hash(load_spec("gru", overrides=["train.stocks_per_day=500"]))
