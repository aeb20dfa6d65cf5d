"""Losses, label normalisation, splits, ensemble and the trainer on tiny hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from zoo.errors import TrainingError
from zoo.registry import get_registry
from zoo.train.days import Day, list_dayset
from zoo.train.ensemble import ensemble, standardize, stitch
from zoo.train.labels import normalize_labels, rank_ic
from zoo.train.splits import default_test_years, resolve_purge, rolling_splits
from zoo.train.trainer import FitConfig, fit, predict

torch.set_num_threads(1)


def _loss(name: str, **params):
    return get_registry().build("loss", name, params, 0)


# ----------------------------------------------------------------------------- losses


def test_losses_are_registered_with_label_norms():
    reg = get_registry()
    assert reg.names("loss") == ["ic", "weighted_mse"]
    assert _loss("ic").label_norm == "rank"
    assert _loss("weighted_mse").label_norm == "zscore"
    assert reg.make_config("loss", "weighted_mse").tau == 1.0
    assert reg.make_config("loss", "weighted_mse").alpha == 2.0


def test_weighted_mse_matches_formula_on_hand_case():
    y = torch.tensor([-1.0, 0.5, 1.0, 2.0, 3.0])
    p = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0])
    s = [0.0, 0.0, 0.0, 1.0, 2.0]  # ReLU(y - 1)
    w = [1 + 2 * (1 / (1 + math.exp(-si)) - 0.5) for si in s]
    expect = sum(wi * (yi - 0.0) ** 2 for wi, yi in zip(w, y.tolist(), strict=True)) / 5
    got = _loss("weighted_mse")(p, y).item()
    assert got == pytest.approx(expect, rel=1e-6)
    # hand numbers: w = 1, 1, 1, 1.4621, 1.7616
    assert w[3] == pytest.approx(1.462117, abs=1e-5) and w[4] == pytest.approx(1.761594, abs=1e-5)


def test_weighted_mse_weights_the_long_end_and_respects_mask():
    loss = _loss("weighted_mse")
    # the same absolute error costs more at a high label than at a low one
    hi = loss(torch.tensor([2.0]), torch.tensor([3.0])).item()
    lo = loss(torch.tensor([-4.0]), torch.tensor([-3.0])).item()
    assert hi > lo * 1.5
    # masked / NaN entries take no part
    y = torch.tensor([1.0, float("nan"), 100.0])
    p = torch.tensor([0.0, 5.0, 0.0])
    m = torch.tensor([True, True, False])
    assert loss(p, y, m).item() == pytest.approx(1.0)


def test_ic_loss_is_negative_correlation_and_its_gradient_raises_it():
    torch.manual_seed(0)
    y = torch.randn(200)
    pred = torch.randn(200, requires_grad=True)
    loss = _loss("ic")
    val = loss(pred, y)
    corr = np.corrcoef(pred.detach().numpy(), y.numpy())[0, 1]
    assert val.item() == pytest.approx(-corr, abs=1e-5)
    opt = torch.optim.SGD([pred], lr=5.0)
    corrs = [corr]
    for _ in range(30):
        opt.zero_grad()
        loss(pred, y).backward()
        opt.step()
        corrs.append(np.corrcoef(pred.detach().numpy(), y.numpy())[0, 1])
    assert all(b > a for a, b in zip(corrs, corrs[1:], strict=False))
    assert corrs[-1] > 0.5


def test_ic_loss_of_constant_prediction_is_finite():
    pred = torch.zeros(10, requires_grad=True)
    val = _loss("ic")(pred, torch.randn(10))
    val.backward()
    assert torch.isfinite(val) and torch.isfinite(pred.grad).all()


# ----------------------------------------------------------------------------- labels


def test_normalize_labels_rank_and_zscore():
    y = torch.tensor([3.0, 1.0, float("nan"), 2.0, 100.0])
    valid = torch.tensor([True, True, True, True, False])
    r = normalize_labels(y, valid, "rank")
    z = normalize_labels(y, valid, "zscore")
    keep = torch.tensor([True, True, False, True, False])
    assert torch.equal(r[~keep], torch.zeros(2)) and torch.equal(z[~keep], torch.zeros(2))
    np.testing.assert_allclose(r[keep].numpy(), [1.224745, -1.224745, 0.0], atol=1e-5)
    assert z[keep].mean().abs() < 1e-6 and z[keep].std(unbiased=False) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(TrainingError, match="label normalisation"):
        normalize_labels(y, valid, "minmax")


def test_rank_ic_matches_pandas_spearman():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    b[:5] = np.nan
    valid = torch.ones(50, dtype=torch.bool)
    got = rank_ic(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32), valid)
    assert got == pytest.approx(pd.Series(a).corr(pd.Series(b), method="spearman"), abs=1e-5)


# ----------------------------------------------------------------------------- splits


@settings(max_examples=40, deadline=None)
@given(
    horizon=st.integers(1, 25),
    extra=st.integers(0, 10),
    train_years=st.integers(1, 3),
    skip=st.integers(0, 5),
)
def test_purge_gap_holds_on_every_split(horizon, extra, train_years, skip):
    dates = pd.bdate_range("2014-01-01", "2021-12-31").values[skip:]
    purge = resolve_purge(horizon + 1 + extra if extra else None, horizon)
    assert purge >= horizon + 1
    splits = rolling_splits(dates, [2019, 2020, 2021], train_years, 1, purge)
    for sp in splits:
        for a, b in ((sp.train, sp.valid), (sp.valid, sp.test)):
            # the label of the last day of a part uses closes up to index + 1 + horizon
            assert a[-1] + 1 + horizon < b[0]
            assert b[0] - a[-1] - 1 >= purge
        years = pd.DatetimeIndex(dates[sp.test]).year
        assert (years == sp.test_year).all()
        assert (pd.DatetimeIndex(dates[sp.valid]).year == sp.test_year - 1).all()
        assert pd.DatetimeIndex(dates[sp.train]).year.min() == sp.test_year - 1 - train_years


def test_splits_refuse_short_purge_and_missing_years():
    with pytest.raises(TrainingError, match="purge_days=5"):
        resolve_purge(5, 10)
    dates = pd.bdate_range("2019-01-01", "2020-12-31").values
    with pytest.raises(TrainingError, match="2023"):
        rolling_splits(dates, [2023], 1, 1, 11)
    with pytest.raises(TrainingError, match="no room"):
        rolling_splits(dates, [2019], 1, 1, 11)


def test_default_test_years_are_the_last_full_years_with_room():
    dates = pd.bdate_range("2014-06-01", "2023-02-01").values
    assert default_test_years(dates, 2, 1) == (2020, 2021, 2022)
    assert default_test_years(dates, 6, 1, count=5) == (2022,)  # 2014 is partial: training starts 2015
    with pytest.raises(TrainingError, match="set train.test_years"):
        default_test_years(dates, 8, 1)


# ----------------------------------------------------------------------------- ensemble


def test_stitch_and_ensemble_standardise_per_date():
    syms = np.array(["A", "B", "C", "D"])
    d = np.datetime64("2021-01-04", "ns")
    preds = [(d, np.array(["C", "A", "B"]), np.array([3.0, 1.0, 2.0], dtype=np.float32))]
    s1 = stitch(preds, syms)
    assert s1.dims == ("date", "symbol") and s1.name == "score" and s1.dtype == np.float32
    assert np.isnan(s1.sel(symbol="D").item())
    s2 = s1 * 100 + 7  # same ranks, other scale: standardised they are equal
    ens = ensemble([s1, s2])
    np.testing.assert_allclose(ens.values[0, :3], standardize(s1).values[0, :3], atol=1e-6)
    np.testing.assert_allclose(ens.values[0, :3], [-1.224745, 0.0, 1.224745], atol=1e-5)
    with pytest.raises(TrainingError, match="symbol 'Z'"):
        stitch([(d, np.array(["Z"]), np.array([1.0]))], syms)


# ----------------------------------------------------------------------------- trainer


class _Linear(nn.Module):
    """Stand-in model: a linear score of the last step's features."""

    def __init__(self, f: int) -> None:
        super().__init__()
        self.lin = nn.Linear(f, 1)

    def forward(self, x, ctx):
        return self.lin(x[:, -1, :]).squeeze(-1)


def _days(n_days: int, n: int, seed: int, beta: float = 1.0) -> list[Day]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_days):
        x = rng.normal(size=(n, 6, 3)).astype(np.float32)
        y = (beta * x[:, -1, 0] + rng.normal(size=n)).astype(np.float32)
        mask = np.ones(n, dtype=bool)
        mask[:2] = False
        out.append(
            Day(
                np.datetime64("2020-01-01", "ns") + np.timedelta64(k, "D"),
                np.array([f"S{i}" for i in range(n)]),
                torch.from_numpy(x),
                torch.from_numpy(y),
                {"mask": torch.from_numpy(mask)},
            )
        )
    return out


def test_fit_learns_restores_best_and_is_deterministic():
    train, valid = list_dayset(_days(20, 40, 0)), list_dayset(_days(5, 40, 1))
    cfg = FitConfig(lr=0.05, max_epochs=4, patience=2, days_per_epoch=10)
    states, hists = [], []
    for _ in range(2):
        torch.manual_seed(3)
        model = _Linear(3)
        res = fit(model, _loss("ic"), train, valid, cfg, seed=3)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        hists.append(res.history)
    assert hists[0] == hists[1]
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k])
    ics = [h["valid_rank_ic"] for h in hists[0]]
    assert res.best_valid_ic == pytest.approx(max(ics)) and res.best_epoch == int(np.argmax(ics))
    assert res.best_valid_ic > 0.4  # the planted beta gives RankIC ~0.7
    # the restored weights are the best epoch's: re-evaluating gives the best IC
    from zoo.train.trainer import evaluate_rank_ic

    assert evaluate_rank_ic(model, valid) == pytest.approx(res.best_valid_ic, abs=1e-6)
    preds = predict(model, valid)
    assert len(preds) == 5 and np.isnan(preds[0][2][:2]).all() and np.isfinite(preds[0][2][2:]).all()


def test_fit_stops_early_after_patience():
    train, valid = list_dayset(_days(6, 30, 0, beta=0.0)), list_dayset(_days(3, 30, 1, beta=0.0))
    torch.manual_seed(0)
    res = fit(_Linear(3), _loss("weighted_mse"), train, valid, FitConfig(max_epochs=50, patience=2), seed=0)
    assert res.stopped_early and res.epochs_run == res.best_epoch + 3


def test_fit_refuses_days_without_enough_stocks():
    days = _days(3, 8, 0)
    with pytest.raises(TrainingError, match="at least 10"):
        fit(_Linear(3), _loss("ic"), list_dayset(days), list_dayset(days), FitConfig(max_epochs=1), seed=0)


def test_training_rank_ic_matches_scipy_with_ties_and_scores_a_constant_zero():
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from zoo.train.labels import normalize_labels, rank_ic

    rng = np.random.default_rng(0)
    pred = rng.integers(0, 5, 200).astype(np.float32)  # many ties
    y = rng.integers(0, 7, 200).astype(np.float32)
    valid = torch.from_numpy(rng.random(200) > 0.1)
    ok = valid.numpy()
    expected = spearmanr(pred[ok], y[ok]).statistic
    got = rank_ic(torch.from_numpy(pred), torch.from_numpy(y), valid)
    assert abs(got - expected) < 1e-5
    assert rank_ic(torch.zeros(50), torch.randn(50), torch.ones(50, dtype=torch.bool)) == 0.0
    ranks = normalize_labels(torch.tensor([3.0, 1.0, 3.0, 3.0, 0.0]), torch.ones(5, dtype=torch.bool), "rank")
    assert ranks[0] == ranks[2] == ranks[3]  # equal labels, equal targets
