"""Label winsorising (the report's 去极值) and why the weighted MSE needs it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from zoo.registry import get_registry
from zoo.train.days import Day, list_dayset
from zoo.train.labels import normalize_labels, winsorize
from zoo.train.trainer import FitConfig, fit, predict

torch.set_num_threads(1)


def test_winsorize_clips_at_median_plus_minus_mad_band_and_ignores_invalid():
    y = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 100.0, -50.0, 7.0])
    valid = torch.tensor([True, True, True, True, True, True, True, False])
    out = winsorize(y, valid, 1.0)
    # valid: 0 1 2 3 4 100 -50 -> median 2 (lower median of 7 = 2), |y - 2| = 2 1 0 1 2 98 52 -> MAD 2
    band = 1.4826 * 2.0
    expect = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 2 + band, 2 - band, 7.0])
    torch.testing.assert_close(out, expect)
    assert torch.equal(winsorize(y, valid, 0.0), y)


def test_normalize_labels_zscore_after_winsorising_bounds_the_tail():
    rng = np.random.default_rng(0)
    y = torch.tensor(rng.standard_t(2, size=2000), dtype=torch.float32)
    valid = torch.ones(2000, dtype=torch.bool)
    raw = normalize_labels(y, valid, "zscore")
    clipped = normalize_labels(y, valid, "zscore", clip_mad=3.0)
    assert raw.abs().max() > 10 and clipped.abs().max() < 4
    assert clipped.mean().abs() < 1e-5 and clipped.std(unbiased=False) == pytest.approx(1.0, abs=1e-4)


class _Linear(nn.Module):
    """A score linear in the last step's first field, starting at zero (a constant: RankIC 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(1, 1)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        return self.fc(x[:, -1, :1]).squeeze(1)


def _lottery_days(n_days: int, seed: int) -> list[Day]:
    """Days where a 'lottery' trait lowers the typical return but now and then pays off hugely.

    Its mean label is higher, every rank statistic lower: the A-share low-volatility pattern in miniature.
    """
    rng = np.random.default_rng(seed)
    days = []
    for d in range(n_days):
        n = 300
        trait = rng.integers(0, 2, n).astype(np.float32)
        y = rng.normal(0.0, 0.01, n) - 0.01 * trait
        y[(trait == 1) & (rng.random(n) < 0.04)] += 0.6
        x = np.zeros((n, 3, 1), np.float32)
        x[:, -1, 0] = trait - 0.5
        days.append(
            Day(
                date=np.datetime64("2020-01-01") + np.timedelta64(d, "D"),
                symbols=np.array([f"s{i}" for i in range(n)]),
                x=torch.from_numpy(x),
                y=torch.from_numpy(y.astype(np.float32)),
                ctx={"mask": torch.ones(n, dtype=torch.bool)},
            )
        )
    return days


def _test_rank_ic(params: dict) -> float:
    loss = get_registry().build("loss", "weighted_mse", params, 0)
    model = _Linear()
    cfg = FitConfig(lr=0.02, max_epochs=4, patience=4)
    fit(model, loss, list_dayset(_lottery_days(30, 0)), list_dayset(_lottery_days(10, 1)), cfg, seed=0)
    test = _lottery_days(10, 2)
    ics = [
        spearmanr(score, day.y.numpy()).statistic
        for day, (_, _, score) in zip(test, predict(model, list_dayset(test)), strict=True)
    ]
    return float(np.mean(ics))


def test_weighted_mse_chases_the_mean_without_winsorising_and_the_bulk_with_the_default():
    # Unclipped z-scores let the jackpots set the regression: the lottery trait scores high, RankIC < 0.
    assert _test_rank_ic({"label_clip_mad": 0.0}) < -0.1
    # The loss's default winsorising (the report's 去极值) makes the same fit rank the bulk right.
    assert _test_rank_ic({}) > 0.1
