"""`zoo data slice`: size-balanced slices, also of markets whose tier groups are uneven."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from zoo.datasets import open_cube, write_cube
from zoo.datasets.slicing import GROUPS, SliceWarning, group_quotas, make_slice
from zoo.datasets.synth import make_market

from zoo.cli import main
from zoo.errors import DataError


@pytest.fixture(scope="module")
def uneven():
    """40 stocks: 12 each in the CSI 300 / 500 / 1000 stand-ins and only 4 in none ("other")."""
    cube = make_market(n_stocks=40, seed=0, start="2020-01-01", end="2020-03-31")
    uni = np.zeros_like(cube["in_universe"].values)
    uni[0] = True
    for tier in range(3):
        uni[tier + 1, :, 12 * tier : 12 * (tier + 1)] = True
    cube["in_universe"].values[:] = uni
    return cube


def _counts(sub) -> dict[str, int]:
    groups = list(sub.attrs["slice_group"])
    return {g: groups.count(g) for g in GROUPS}


def test_group_quotas_spread_a_shortfall_over_the_groups_with_spare_stocks():
    assert group_quotas(np.array([12, 12, 12, 4]), 8).tolist() == [10, 9, 9, 4]
    assert group_quotas(np.array([9, 30, 30, 0]), 10).tolist() == [9, 16, 15, 0]  # 9 is all of group 0
    assert group_quotas(np.array([50, 50, 50, 50]), 10).tolist() == [10, 10, 10, 10]
    with pytest.raises(DataError, match="market has 40 stocks, fewer than 4 groups x --per-group 11 = 44"):
        group_quotas(np.array([12, 12, 12, 4]), 11)


def test_a_short_group_is_taken_whole_and_the_others_fill_the_slice(uneven):
    with pytest.warns(SliceWarning, match="group other has only 4 stocks, all taken"):
        sub = make_slice(uneven, per_group=8, seed=0)
    assert sub.sizes["symbol"] == 32
    assert _counts(sub) == {"csi300": 10, "csi500": 9, "csi1000": 9, "other": 4}
    assert set(uneven["symbol"].values[36:]) <= set(sub["symbol"].values)
    assert "all taken" in sub.attrs["slice"]
    w = sub["index_weight"].values.astype(np.float64).sum(axis=2)
    assert np.allclose(w[w > 0], 1.0, atol=1e-5)
    # enough stocks in every group: per_group each, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", SliceWarning)
        even = make_slice(uneven, per_group=4, seed=0)
    assert _counts(even) == dict.fromkeys(GROUPS, 4)
    with pytest.raises(DataError, match="fewer than 4 groups"):
        make_slice(uneven, per_group=11)


def test_cli_slice_says_what_it_took(uneven, tmp_path, capsys):
    write_cube(uneven, tmp_path / "full.zarr")
    code = main(
        ["data", "slice", str(tmp_path / "full.zarr"), "--out", str(tmp_path / "s.zarr"), "--per-group", "8"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "note: make_slice: group other has only 4 stocks, all taken" in out
    assert "csi300 10, csi500 9, csi1000 9, other 4" in out
    assert open_cube(tmp_path / "s.zarr").sizes["symbol"] == 32
