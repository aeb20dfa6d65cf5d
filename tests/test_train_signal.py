"""End to end on a small synthetic market with a strong planted trend: the models learn it."""

from __future__ import annotations

import pytest
import torch

from zoo.specs import load_spec
from zoo.train.data import CubeSource
from zoo.train.runner import run_spec

torch.set_num_threads(1)

# A one-year train / one-year valid / one-year test roll, one seed, a few short epochs: ~5 s a model.
SETS = (
    "data.window=60",
    "data.min_history=40",
    "train.test_years=[2019]",
    "train.train_years=1",
    "train.seeds=[0]",
    "train.max_epochs=6",
    "train.days_per_epoch=40",
    "train.valid_stride=4",
    "train.patience=3",
    "train.lr=0.003",
)


@pytest.fixture(scope="module")
def market():
    from zoo.datasets.synth import make_market, oracle_rank_ic

    # Strong trend piece, no reversal piece: most of the oracle's edge is visible in past prices.
    cube = make_market(
        n_stocks=80, start="2016-01-01", end="2019-12-31", seed=0, signal_strength=8.0, reversal_weight=0.0
    )
    oracle = oracle_rank_ic(cube, 10, dates=slice("2019-01-01", "2019-12-31"))
    return cube, oracle


@pytest.mark.parametrize("loss", ["ic", "weighted_mse"])
@pytest.mark.parametrize("name", ["gru", "decompgru"])
def test_models_reach_half_the_oracle_rank_ic(market, name, loss, tmp_path):
    cube, oracle = market
    assert oracle > 0.4  # the planted signal is strong
    spec = load_spec(f"specs/{name}.toml", (*SETS, f"train.loss={loss}"))
    src = CubeSource(cube, spec.data, store="memory")
    res = run_spec(spec, src, experiment="signal", uri=f"sqlite:///{tmp_path}/mlflow.db")
    assert res.metrics["n_dates_10d"] >= 200
    assert res.metrics["rank_ic_10d"] >= 0.5 * oracle, (res.metrics, oracle)
    # scores exist only for the test year, for stocks the source deemed eligible
    years = set(res.score["date"].dt.year.values.tolist())
    assert years == {2019}


def test_perturbing_the_future_changes_no_earlier_score(market, tmp_path):
    import numpy as np
    import xarray as xr

    cube, _ = market
    cut = np.datetime64("2019-06-03")
    rng = np.random.default_rng(1)
    future = cube["date"].values >= cut
    bars = cube["bars"].values.copy()
    bars[future] *= rng.uniform(0.5, 1.5, size=bars[future].shape).astype(np.float32)
    changed = cube.drop_vars(["label_raw", "label_neutral"], errors="ignore").assign(
        bars=(cube["bars"].dims, bars, cube["bars"].attrs)
    )
    sets = (*SETS, "train.max_epochs=2", "train.days_per_epoch=10")
    spec = load_spec("specs/decompgru.toml", sets)
    a = run_spec(spec, CubeSource(cube, spec.data, "a"), experiment="a", uri=f"sqlite:///{tmp_path}/a.db")
    b = run_spec(spec, CubeSource(changed, spec.data, "b"), experiment="b", uri=f"sqlite:///{tmp_path}/b.db")
    before = a.score["date"].values < cut
    assert before.sum() > 50 and (~before).sum() > 50
    xr.testing.assert_equal(a.score.isel(date=before), b.score.isel(date=before))
    assert not np.allclose(a.score.isel(date=~before), b.score.isel(date=~before), equal_nan=True)
