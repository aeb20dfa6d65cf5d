"""What a parent run shows in the MLflow UI: a curated headline (<= 30 metrics) and tables for the rest;
a moved store that keeps its artifacts; the UI addresses `zoo ui` prints."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from zoo.specs import EnhanceSpec
from zoo.specs.evaluate import EvalSpec
from zoo.tracking import view
from zoo.tracking.metrics import MAX_PARENT_METRICS, headline, run_metrics
from zoo.tracking.parent import EVAL_HORIZONS, enhance_headline, headline_metrics, top_headline

REPO = Path(__file__).resolve().parents[1]
#: The verdict metrics (issue 27: reserved room), one difference and one t per horizon.
VERDICT = [f"0_vs_best_baseline_{m}_{h}d" for h in EVAL_HORIZONS for m in ("RankIC", "NW_t")]


def test_every_headline_together_fits_the_cap():
    """Training, evaluation (every universe), enhancement (every default index) and verdicts: <= 30."""
    seeds = (0, 42, 3407)
    train = {
        f"{k}_{h}d": 0.1 for h in EVAL_HORIZONS for k in ("rank_ic", "rank_icir", "ic_win_rate", "n_dates")
    }
    for h in EVAL_HORIZONS:
        train.update({f"rank_ic_{h}d_seed{s}": 0.1 for s in seeds})
        train.update({f"rank_ic_{h}d_seed_{s}": 0.1 for s in ("mean", "std", "min", "max")})
    stats = ("ann_return", "sharpe", "max_drawdown", "excess_ann_return", "excess_sharpe", "turnover")
    evaluation = {f"top.{u}.{k}": 0.1 for u in EvalSpec().universes for k in stats}
    enhance = {
        f"enhance_{i}_{s}": 0.1 for i in EnhanceSpec().indexes for s in ("excess_return", "excess_sharpe")
    }
    enhance.update({f"enhance_{i}_turnover": 0.1 for i in EnhanceSpec().indexes})
    names = {
        *headline_metrics(train),
        *top_headline(evaluation, EvalSpec().headline_universe),
        *enhance_headline(enhance),
        *VERDICT,
    }
    assert len(names) <= MAX_PARENT_METRICS
    assert len(headline_metrics(train)) == 10 and len(enhance_headline(enhance)) == 2 * len(
        EnhanceSpec().indexes
    )
    assert "0_TOP_excess_all" in names and "0_TOP_excess_csi300" not in names  # other universes: tables
    with pytest.raises(ValueError, match="0_"):
        headline({"rank_ic_10d": 0.1})  # a parent logs no metric outside the headline


def test_runs_view_address_holds_sort_and_columns():
    v = view.runs_view()
    assert v["orderByKey"] == "metrics.`0_RankIC_10d`" and v["orderByAsc"] is False
    assert "metrics.`0_vs_best_baseline_NW_t_10d`" in v["selectedColumns"]
    assert (
        view.view_key(v)
        == view.view_key(json.loads(json.dumps(v)))
        != view.view_key(view.runs_view(sort="x"))
    )
    url = view.compare_url("http://h:1", "3", ["a", "b"])
    assert (
        url
        == "http://h:1/#/compare-runs?runs=%5B%22a%22%2C%20%22b%22%5D&experiments=%5B%223%22%5D&workflowType=machine_learning"
    )


SETS = [
    "data.window=30",
    "data.min_history=20",
    "train.test_years=[2016]",
    "train.train_years=1",
    "train.seeds=[0]",
    "train.max_epochs=1",
    "train.days_per_epoch=4",
    "train.valid_stride=20",
]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A tiny study of two specs on synth:30 in its own zoo home, trained, evaluated and enhanced."""
    from zoo.cli import main

    tmp = tmp_path_factory.mktemp("layout")
    home = tmp / "a"
    home.mkdir()
    study = tmp / "study.toml"
    study.write_text(
        f'[study]\nname = "lay"\nspecs = ["{REPO}/specs/gru.toml"]\nlabels = {{ weighted_mse = "mse" }}\n'
        '[study.grid]\n"train.loss" = ["ic", "weighted_mse"]\n'
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("ZOO_HOME", str(home))
    mp.setenv("DECOMPZOO_CACHE", str(tmp / "cache"))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["study", str(study), "--data", "synth:30"] + [a for s in SETS for a in ("--set", s)]
    try:
        assert main(args) == 0
        assert main(["evaluate", "lay", "--set", "horizons=[10]"]) == 0
        assert main(["enhance", "lay", "--index", "csi500", "--no-styles"]) == 0
        yield tmp, home
    finally:
        mp.undo()


def _parents(c):
    exp = c.get_experiment_by_name("lay")
    return c.search_runs([exp.experiment_id], "tags.`zoo.role` = 'parent'")


def test_a_parent_run_carries_the_headline_and_its_tables_the_rest(evaluated):
    from mlflow.tracking import MlflowClient

    _, home = evaluated
    c = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    for run in _parents(c):
        metrics = run.data.metrics
        assert len(metrics) + len(VERDICT) <= MAX_PARENT_METRICS and all(k.startswith("0_") for k in metrics)
        assert {"0_RankIC_10d", "0_TOP_excess_all", "0_enhance_csi500_excess_return"} <= set(metrics)
        tables = {f.path for f in c.list_artifacts(run.info.run_id, "metrics")}
        assert tables == {"metrics/training.csv", "metrics/evaluation.csv", "metrics/enhance_csi500.csv"}
        numbers = run_metrics(c, run)
        assert len(numbers) > 100  # per universe, per baseline, per group ...: in the tables
        assert numbers["0_RankIC_10d"] == pytest.approx(numbers["rank_ic_10d"])
        assert numbers["0_TOP_excess_all"] == pytest.approx(numbers["eval.top.all.excess_ann_return"])
        assert "eval.top.csi300.excess_ann_return" in numbers and "0_TOP_excess_csi300" not in numbers


def _locations(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT artifact_uri FROM runs").fetchall()
        rows += con.execute("SELECT artifact_location FROM experiments WHERE name = 'lay'").fetchall()
    return [r[0] for r in rows]


def test_a_moved_store_reads_and_writes_its_own_artifacts(evaluated, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from zoo.cli import main
    from zoo.tracking.store import local_artifact
    from zoo.train.report import compare_runs

    tmp, home = evaluated
    moved, copied = tmp / "moved", tmp / "copied"
    shutil.move(home, moved)  # the original place is gone
    monkeypatch.setenv("ZOO_HOME", str(moved))
    monkeypatch.setenv("DECOMPZOO_CACHE", str(tmp / "cache"))
    assert main(["compare", "--experiment", "lay"]) == 0
    out, err = capsys.readouterr()
    assert "store moved: artifact locations under" in err and "rank_ic_10d" in out
    table = compare_runs(f"sqlite:///{moved / 'mlflow.db'}", "lay")
    assert table.loc["rank_ic_10d"].notna().all()  # read from the runs' tables, in the new place
    assert all(str(moved) in loc for loc in _locations(moved / "mlflow.db"))
    c = MlflowClient(f"sqlite:///{moved / 'mlflow.db'}")
    exp = c.get_experiment_by_name("lay")
    assert exp.tags["zoo.artifacts_moved_from"].endswith(f"{home.name}/mlartifacts")
    run = _parents(c)[0]
    report = local_artifact(c, run.info.run_id, "evaluation/report.html", str(tmp))
    assert report.is_relative_to(moved) and "DecompZoo evaluation" in report.read_text()
    assert main(["evaluate", "lay", "--set", "horizons=[10]"]) == 0  # reads scores, logs back, here
    assert (moved / "reports" / "lay" / "report.html").exists()
    # a copy is a store of its own: it writes beside itself, never into the one it was copied from
    shutil.copytree(moved, copied)
    files = {p: p.stat().st_mtime_ns for p in (moved / "mlartifacts").rglob("*") if p.is_file()}
    monkeypatch.setenv("ZOO_HOME", str(copied))
    assert main(["enhance", "lay", "--index", "csi500", "--no-styles"]) == 0
    assert all(str(copied) in loc for loc in _locations(copied / "mlflow.db"))
    assert {p: p.stat().st_mtime_ns for p in (moved / "mlartifacts").rglob("*") if p.is_file()} == files
    assert all(str(moved) in loc for loc in _locations(moved / "mlflow.db"))  # the original is untouched
