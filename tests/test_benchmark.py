"""`zoo benchmark`: the benchmark study end to end on a tiny market, and its results folder."""

from __future__ import annotations

import pandas as pd
import pytest

from zoo.train.benchmark import seed_spread
from zoo.train.study import load_study


def test_seed_spread_is_the_spread_of_each_seeds_mean_over_years():
    seeds = pd.DataFrame(
        {
            "model": ["A"] * 4 + ["B"] * 2,
            "test_year": [2020, 2021, 2020, 2021, 2020, 2020],
            "seed": [0, 0, 1, 1, 0, 1],
            "rank_ic": [0.1, 0.3, 0.0, 0.2, 0.05, 0.07],
        }
    )
    out = seed_spread(seeds)
    assert out.loc["A", "mean"] == pytest.approx(0.15) and out.loc["A", "std"] == pytest.approx(0.0707106781)
    assert (out.loc["A", "min"], out.loc["A", "max"], out.loc["A", "seeds"]) == pytest.approx((0.1, 0.2, 2))
    assert out.loc["B", "mean"] == pytest.approx(0.06)


def test_the_benchmark_study_is_the_fig8_four_and_two_classic_baselines():
    study = load_study("benchmark")
    assert [v.name for v in study.variants] == [
        "gru-ic",
        "decompgru-ic",
        "gru-mse",
        "decompgru-mse",
        "lightgbm",
        "ridge",
    ]
    assert "train.seeds=[0, 42, 3407]" in study.variants[0].overrides
    assert "train.test_years=[2020, 2021, 2022]" in study.variants[0].overrides


@pytest.mark.slow
def test_zoo_benchmark_writes_its_tables_and_resumes(tmp_path, monkeypatch):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZOO_HOME", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    sets = [
        "train.test_years=[2022]",
        "train.seeds=[0]",
        "train.max_epochs=1",
        "train.days_per_epoch=3",
        "train.valid_stride=20",
        "train.train_years=1",
        "data.window=30",
        "data.min_history=20",
    ]
    argv = ["benchmark", "--data", "synth:40", "--workers", "0", "--out", str(tmp_path / "res")]
    argv += [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    res = tmp_path / "res"
    names = {p.name for p in res.iterdir()}
    assert {
        "README.md",
        "rank_ic_10d.csv",
        "rank_ic_20d.csv",
        "seed_runs.csv",
        "seed_spread.csv",
        "enhance.csv",
        "top_group_all.csv",
        "ic_by_universe_10d.csv",
    } <= names
    seeds = pd.read_csv(res / "seed_runs.csv")
    assert sorted(seeds["model"]) == sorted(
        ["GRU-IC", "DecompGRU-IC", "GRU-MSE", "DecompGRU-MSE", "lightgbm", "ridge"]
    )
    table = pd.read_csv(res / "rank_ic_10d.csv", index_col=0)
    assert "low_vol_20 (baseline)" in table.columns and "oracle" in table.columns
    text = (res / "README.md").read_text()
    assert "zoo benchmark --data synth:40" in text and "commit:" in text and "load average" in text
    # a rerun trains nothing again and writes the same tables
    assert main(argv) == 0
    pd.testing.assert_frame_equal(pd.read_csv(res / "rank_ic_10d.csv", index_col=0), table)
