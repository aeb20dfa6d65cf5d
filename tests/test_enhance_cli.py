"""`zoo enhance`: from an MLflow parent run (scores, spec, cube tag) to logged tables, plots and metrics."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zoo.cli import main
from zoo.errors import SpecError
from zoo.specs import EnhanceSpec
from zoo.tracking.metrics import run_metrics


@pytest.fixture(scope="module")
def parent_run(tmp_path_factory):
    """A study 'enh' with one finished parent run: oracle scores on a small synthetic market."""
    from mlflow.tracking import MlflowClient
    from zoo.datasets.schema import write_cube
    from zoo.datasets.synth import make_market

    from zoo.tracking.runs import save_scores

    tmp = tmp_path_factory.mktemp("enhance_cli")
    cube = make_market(n_stocks=160, start="2020-01-01", end="2020-09-30", seed=3, signal_strength=5)
    store = write_cube(cube, tmp / "cube.zarr")
    uri = f"sqlite:///{tmp}/mlflow.db"
    c = MlflowClient(tracking_uri=uri)
    exp = c.create_experiment("enh", artifact_location=(tmp / "mlartifacts").as_uri())
    run = c.create_run(exp, run_name="oracle", tags={"zoo.role": "parent", "zoo.data_store": str(store)})
    rid = run.info.run_id
    with tempfile.TemporaryDirectory() as d:
        spec_path = Path(d) / "spec.toml"
        spec_path.write_text('name = "oracle"\n[enhance]\nmax_turnover = 0.25\n', encoding="utf-8")
        c.log_artifact(rid, str(spec_path))
        score = cube["expected_return"].sel(horizon=10).drop_vars("horizon").rename("score")
        save_scores(score, Path(d) / "ensemble.zarr")
        c.log_artifacts(rid, str(Path(d) / "ensemble.zarr"), "scores/ensemble.zarr")
    c.set_terminated(rid)
    return c, uri, rid, tmp


def test_zoo_enhance_logs_tables_plots_and_metrics(parent_run):
    c, uri, rid, tmp = parent_run
    report = tmp / "report"
    rc = main(["enhance", "enh", "--index", "csi500", "--tracking-uri", uri, "--report", str(report)])
    assert rc == 0
    files = {f.path for f in c.list_artifacts(rid, "enhance")}
    assert {"enhance/summary.md", "enhance/stats.csv", "enhance/excess_nav.png", "enhance/csi500"} <= files
    sub = {f.path for f in c.list_artifacts(rid, "enhance/csi500")}
    assert {f"enhance/csi500/{n}" for n in ("daily.csv", "rebalances.csv", "stats.csv", "nav.png")} <= sub
    run = c.get_run(rid)
    # the headline (excess return and Sharpe) as metrics, every statistic in the run's enhance table
    assert sorted(run.data.metrics) == ["0_enhance_csi500_excess_return", "0_enhance_csi500_excess_sharpe"]
    metrics = run_metrics(c, run)
    assert metrics["0_enhance_csi500_excess_return"] == metrics["enhance_csi500_excess_return"]
    assert "metrics/enhance_csi500.csv" in {f.path for f in c.list_artifacts(rid, "metrics")}
    assert metrics["enhance_csi500_excess_return"] > 0.2  # oracle scores on a strong planted signal
    assert metrics["enhance_csi500_rebalances"] > 20
    # the run's spec.toml set max_turnover = 0.25: every week that needed no relaxation honours it
    with tempfile.TemporaryDirectory() as d:
        local = c.download_artifacts(rid, "enhance/csi500/rebalances.csv", d)
        log = pd.read_csv(local)
    normal = log[(log["status"] == "optimal") & ~log["initial"]]
    assert len(normal) > 20 and normal["turnover"].max() <= 0.25 + 1e-6
    assert np.isclose(metrics["enhance_csi500_turnover"], log.loc[~log["initial"], "turnover"].mean())
    text = (report / "enhance.md").read_text(encoding="utf-8")
    assert "# Index enhancement: enh" in text and "| csi500 |" in text and "excess_return (%)" in text
    assert len(list(report.glob("enhance_oracle_*.png"))) == 1


def test_zoo_enhance_refuses_unknown_targets_and_bad_overrides(parent_run, capsys):
    _c, uri, rid, _tmp = parent_run
    assert main(["enhance", "no-such-study", "--tracking-uri", uri]) == 2
    assert "neither a run id nor a study" in capsys.readouterr().err
    assert main(["enhance", rid, "--tracking-uri", uri, "--set", "enhance.max_turnover=-1"]) == 2
    assert "max_turnover" in capsys.readouterr().err


def test_enhance_spec_from_toml_names_the_key():
    from zoo.cli_enhance import enhance_spec_from_toml

    spec = enhance_spec_from_toml("[enhance]\nstock_band = 0.01\n", ["enhance.indexes=['csi300']"])
    assert spec == EnhanceSpec(stock_band=0.01, indexes=("csi300",))
    with pytest.raises(SpecError, match="relax_order"):
        enhance_spec_from_toml('[enhance]\nrelax_order = ["bogus*2"]\n')
    with pytest.raises(SpecError, match="only enhance"):
        enhance_spec_from_toml("", ["train.patience=3"])
