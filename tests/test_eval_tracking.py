"""`zoo evaluate` / evaluate_runs: read parents' scores from MLflow, log tables, plots and metrics back."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from zoo.evaluation import tracking
from zoo.evaluation.ic import forward_returns
from zoo.evaluation.testing import tiny_cube

from zoo.errors import EvaluationError
from zoo.specs.evaluate import EvalSpec
from zoo.tracking.metrics import run_metrics

SPEC_TOML = """name = "{name}"
[evaluate]
horizons = [5]
universes = ["all"]
styles = ["size", "reversal"]
min_stocks = 5
baselines = ["low_vol_20"]
[evaluate.groups]
all = 4
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An MLflow sqlite store with one study of two parent runs (and a child) and the cube they used."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    c = MlflowClient(tracking_uri=uri)
    exp = c.create_experiment("study", artifact_location=(root / "mlartifacts").as_uri())
    rng = np.random.default_rng(0)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (80, 40)), axis=0))
    cube = tiny_cube(close)
    fwd = forward_returns(cube, 5)
    ids = {}
    for name, noise in (("good", 0.01), ("weak", 0.2)):
        score = fwd + noise * xr.DataArray(rng.normal(size=close.shape), coords=fwd.coords, dims=fwd.dims)
        score = score.where(np.arange(80)[:, None] >= 20).rename("score")
        tags = {
            "zoo.role": "parent",
            "zoo.spec_name": name,
            "zoo.data_store": "",
            "zoo.data_fingerprint": "fp",
        }
        rid = c.create_run(exp, run_name=name, tags=tags).info.run_id
        d = root / name
        d.mkdir()
        (d / "spec.toml").write_text(SPEC_TOML.format(name=name))
        c.log_artifact(rid, str(d / "spec.toml"))
        score = score.assign_coords(symbol=np.asarray(score["symbol"].values).astype(object))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score.to_dataset().to_zarr(d / "ensemble.zarr", mode="w", consolidated=False)
        c.log_artifacts(rid, str(d / "ensemble.zarr"), "scores/ensemble.zarr")
        c.set_terminated(rid)  # a finished parent: a study is read from its finished runs
        ids[name] = rid
    child = c.create_run(exp, run_name="child", tags={"zoo.role": "child", "mlflow.parentRunId": ids["good"]})
    ids["child"] = child.info.run_id
    return uri, cube, ids, c


def test_study_is_evaluated_and_logged(store, tmp_path):
    uri, cube, ids, c = store
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.csv").write_text("not from this evaluation")
    study = tracking.evaluate_runs("study", uri=uri, out_dir=tmp_path / "out", cube=cube, echo=lambda s: None)
    assert study.parents == {"good": ids["good"], "weak": ids["weak"]}
    assert study.result.spec.horizons == (5,) and study.result.spec.n_groups("all") == 4
    assert study.report.exists() and "data:image/png" in study.report.read_text()
    good_run, weak_run = c.get_run(ids["good"]), c.get_run(ids["weak"])
    # every number in the runs' evaluation table; only the TOP group's headline as metrics
    good, weak = run_metrics(c, good_run), run_metrics(c, weak_run)
    assert sorted(good_run.data.metrics) == ["0_TOP_excess_all", "0_TOP_sharpe_all", "0_TOP_turnover_all"]
    assert "eval.ic5.all.rank_ic" not in good_run.data.metrics
    assert good["eval.ic5.all.rank_ic"] > weak["eval.ic5.all.rank_ic"] > 0
    assert "eval.top.all.sharpe" in good
    # the baseline's numbers (on both models' cells) go to every parent under their own prefix
    assert study.result.baselines == ["low_vol_20 (baseline)"]
    key = "eval.baseline.low_vol_20.ic5.all.rank_ic"
    assert (
        good[key]
        == weak[key]
        == pytest.approx(study.result.metrics["low_vol_20 (baseline)"]["ic5.all.rank_ic"])
    )
    logged = {f.path for f in c.list_artifacts(ids["weak"], "evaluation")}
    assert {"evaluation/report.html", "evaluation/ic_5d.csv", "evaluation/factor_corr.md"} <= logged
    assert "evaluation/styles.png" in logged and "evaluation/stale.csv" not in logged
    # the headline TOP excess sorts first in the UI; the report says where each score comes from
    assert good["0_TOP_excess_all"] == pytest.approx(good["eval.top.all.excess_ann_return"])
    assert good["0_TOP_sharpe_all"] == pytest.approx(good["eval.top.all.sharpe"])
    assert good["0_TOP_turnover_all"] == pytest.approx(good["eval.top.all.turnover"])
    page = study.report.read_text()
    assert "Where the scores come from" in page and ids["good"] in page and "evaluated at commit" in page
    prov = study.result.provenance
    assert prov.loc["run", "weak"] == ids["weak"] and prov.loc["spec hash", "good"] == "?"


def test_a_child_run_id_evaluates_its_parent_only(store, tmp_path):
    uri, cube, ids, _ = store
    study = tracking.evaluate_runs(
        ids["child"], uri=uri, out_dir=tmp_path, cube=cube, log_to_mlflow=False, overrides=["groups.all=2"]
    )
    assert list(study.parents) == ["good"]
    assert study.result.groups[("good", "all")].n_groups == 2


def test_cli_evaluate(store, tmp_path, monkeypatch):
    from zoo.cli import main

    uri, cube, ids, _ = store
    monkeypatch.setattr(tracking, "_open_cube", lambda store, rid: cube)
    rc = main(["evaluate", "study", "--tracking-uri", uri, "--out", str(tmp_path), "--no-log"])
    assert rc == 0
    assert (tmp_path / "report.html").exists() and (tmp_path / "top_all.md").exists()
    assert main(["evaluate", "no-such-study", "--tracking-uri", uri]) == 2


def test_a_failed_rerun_hides_no_finished_run(store, tmp_path):
    uri, cube, ids, c = store
    exp = c.get_run(ids["good"]).info.experiment_id
    c.set_tag(ids["good"], "zoo.spec_hash", "g00d")
    tags = {"zoo.role": "parent", "zoo.spec_name": "good", "zoo.spec_hash": "g00d"}
    failed = c.create_run(exp, run_name="good", tags=tags).info.run_id  # newest, no scores
    c.set_terminated(failed, status="FAILED")
    said: list[str] = []
    try:
        study = tracking.evaluate_runs(
            "study", uri=uri, out_dir=tmp_path, cube=cube, log_to_mlflow=False, echo=said.append
        )
    finally:
        c.delete_run(failed)
        c.delete_tag(ids["good"], "zoo.spec_hash")
    assert study.parents == {"good": ids["good"], "weak": ids["weak"]}
    assert any(f"skipped good ({failed[:8]}, spec g00d, FAILED): not finished" in line for line in said)


def test_unknown_target_and_bad_overrides(store):
    uri, cube, _, _ = store
    with pytest.raises(EvaluationError, match="neither a run id nor a study"):
        tracking.evaluate_runs("nope", uri=uri, cube=cube)
    with pytest.raises(EvaluationError, match=r"evaluate: unknown key\(s\) colour"):
        tracking.apply_overrides(EvalSpec(), ["evaluate.colour=1"])
    with pytest.raises(EvaluationError, match="label"):
        tracking.apply_overrides(EvalSpec(), ["evaluate.label=excess"])
    with pytest.raises(EvaluationError, match="spec.toml"):
        tracking.eval_spec_from_toml("[evaluate]\nhorizons = [0]\n", "run x spec.toml")


def test_provenance_marks_training_cuts_against_the_defaults():
    from types import SimpleNamespace

    run = SimpleNamespace(
        info=SimpleNamespace(run_id="r1", status="FINISHED"),
        data=SimpleNamespace(
            tags={
                "zoo.spec_hash": "abc123def456",
                "zoo.git_commit": "deadbeef",
                "zoo.data_store": "embedded",
            },
            params={
                "train.max_epochs": "2",
                "train.seeds": "[0]",
                "train.patience": "15",
                "train.lr": "0.001",
            },
        ),
    )
    prov = tracking.run_provenance(run)
    assert prov["spec hash"] == "abc123def456" and prov["git commit"] == "deadbeef"
    assert prov["max epochs"] == "2 (default 100)" and prov["seeds"] == "[0] (default [0, 42, 3407])"
    assert prov["patience"] == "15" and prov["learning rate"] == "0.001"  # the report's own: no mark
    assert prov["test years"] == "?"  # a run logged without the key


def test_seed_spread_comes_from_the_children(tmp_path):
    """A parent with two seeds: each seed's score is read from its children, stitched over the test
    years, and the report's paired tests carry the seeds' spread of the difference."""
    from mlflow.tracking import MlflowClient
    from zoo.evaluation.ic import rank_ic

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = MlflowClient(tracking_uri=uri)
    exp = c.create_experiment("seeded", artifact_location=(tmp_path / "mlartifacts").as_uri())
    rng = np.random.default_rng(1)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (80, 40)), axis=0))
    cube = tiny_cube(close)
    fwd = forward_returns(cube, 5)

    def save(score, where, rid, path):
        score = score.rename("score").assign_coords(symbol=np.asarray(score["symbol"].values).astype(object))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score.to_dataset().to_zarr(where, mode="w", consolidated=False)
        c.log_artifacts(rid, str(where), path)

    def noisy(scale):
        return (
            fwd + scale * xr.DataArray(rng.normal(size=close.shape), coords=fwd.coords, dims=fwd.dims)
        ).where(np.arange(80)[:, None] >= 20)

    seeds = {0: noisy(0.01), 1: noisy(0.03)}
    ids = {}
    for name in ("a", "b"):
        tags = {"zoo.role": "parent", "zoo.spec_name": name, "zoo.data_store": "", "zoo.spec_hash": name}
        rid = c.create_run(exp, run_name=name, tags=tags).info.run_id
        (tmp_path / name).mkdir()
        (tmp_path / name / "spec.toml").write_text(SPEC_TOML.format(name=name))
        c.log_artifact(rid, str(tmp_path / name / "spec.toml"))
        save(seeds[0] if name == "a" else noisy(0.2), tmp_path / name / "e.zarr", rid, "scores/ensemble.zarr")
        c.set_terminated(rid)
        ids[name] = rid
    dates = fwd["date"].values
    for seed, score in seeds.items():  # parent a: two seeds x two test years
        for half, part in enumerate((dates[:40], dates[40:])):
            tags = {"zoo.role": "child", "mlflow.parentRunId": ids["a"], "zoo.spec_hash": "a"}
            tags |= {"zoo.seed": str(seed), "zoo.test_year": str(2020 + half)}
            cid = c.create_run(exp, tags=tags).info.run_id
            save(score.sel(date=part), tmp_path / f"s{seed}{half}.zarr", cid, "predictions/scores.zarr")
            c.set_terminated(cid)
    run = c.get_run(ids["a"])
    got = tracking.seed_scores(c, run, str(tmp_path))
    assert sorted(got) == [0, 1] and got[1].sizes["date"] == 80
    xr.testing.assert_allclose(got[1].reset_coords(drop=True), seeds[1].reset_coords(drop=True))
    assert tracking.seed_scores(c, c.get_run(ids["b"]), str(tmp_path)) == {}  # no children: no spread
    study = tracking.evaluate_runs(
        "seeded", uri=uri, out_dir=tmp_path / "out", cube=cube, echo=lambda s: None
    )
    row = study.result.paired[5].loc[("a", "b")]
    b = study.result.ic_series[("b", 5, "all")]
    per_seed = [float((rank_ic(seeds[s], fwd) - b).mean()) for s in (0, 1)]
    assert row["seeds"] == 2 and row["seed_std"] == pytest.approx(np.std(per_seed, ddof=1))
    from zoo.tracking.metrics import run_metrics

    metrics = run_metrics(c, c.get_run(ids["a"]))  # eval.* numbers live in the run's evaluation table
    assert metrics["eval.ic5.all.vs_best_baseline.nw_t"] == pytest.approx(
        study.result.paired[5].loc[("a", "low_vol_20 (best baseline)"), "nw_t"]
    )
