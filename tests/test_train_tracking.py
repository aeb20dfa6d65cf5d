"""Runs, resume and the MLflow layout, on a tiny stand-in data source (no cube needed)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from zoo.errors import TrainingError
from zoo.specs import load_spec, spec_hash
from zoo.tracking import runs as tracking
from zoo.tracking.metrics import run_metrics
from zoo.train.days import Day
from zoo.train.runner import run_spec

torch.set_num_threads(1)


class ToySource:
    """A tiny market: the last step's first field predicts the label (a stand-in for a cube)."""

    def __init__(self, n: int = 40, window: int = 15, seed: int = 0) -> None:
        self.dates = pd.bdate_range("2018-01-01", "2021-12-31")[::9].values.astype("datetime64[ns]")
        self.symbols = np.array([f"S{i:03d}" for i in range(n)])
        self.store = "toy"
        self.window, self.seed, self.fetched = window, seed, 0
        rng = np.random.default_rng(seed)
        self.size = rng.normal(size=n).astype(np.float32)
        self.signal = rng.normal(size=(len(self.dates), n)).astype(np.float32)
        self.noise = rng.normal(size=(len(self.dates), n)).astype(np.float32)

    def fingerprint(self) -> str:
        return hashlib.sha256(self.signal.tobytes()).hexdigest()[:12]

    def day(self, i: int) -> Day:
        self.fetched += 1
        rng = np.random.default_rng([self.seed, i])
        x = rng.normal(size=(len(self.symbols), self.window, 6)).astype(np.float32)
        x[:, -1, 0] = self.signal[i]
        y = self.signal[i] + self.noise[i]
        ctx = {
            "size": torch.from_numpy(self.size),
            "industry": torch.zeros(len(self.symbols), dtype=torch.int64),
            "mask": torch.ones(len(self.symbols), dtype=torch.bool),
        }
        return Day(self.dates[i], self.symbols, torch.from_numpy(x), torch.from_numpy(y), ctx)

    def _da(self, values: np.ndarray) -> xr.DataArray:
        coords = {"date": self.dates, "symbol": self.symbols}
        return xr.DataArray(values, dims=("date", "symbol"), coords=coords)

    def label(self, horizon: int) -> xr.DataArray:
        return self._da(self.signal + self.noise)

    def expected_return(self, horizon: int) -> xr.DataArray:
        return self._da(self.signal)


SETS = (
    "data.window=15",
    "data.horizon=2",
    "train.test_years=[2020, 2021]",
    "train.train_years=1",
    "train.seeds=[0, 1]",
    "train.max_epochs=2",
    "train.days_per_epoch=6",
    "train.valid_stride=2",
    "train.lr=0.01",
)


def _spec(name: str = "gru", extra: tuple[str, ...] = ()):
    return load_spec(f"specs/{name}.toml", (*SETS, *extra))


@pytest.fixture()
def uri(tmp_path):
    return f"sqlite:///{tmp_path}/mlflow.db"


class Boom(Exception):
    pass


def test_run_logs_layout_and_resumes_without_redoing(uri, tmp_path):
    spec = _spec()
    src = ToySource()
    done: list[tuple[int, int]] = []

    def stop_after_first(year: int, seed: int) -> None:
        done.append((year, seed))
        raise Boom("simulated kill after the first child run")

    with pytest.raises(Boom):
        run_spec(spec, src, experiment="exp", uri=uri, on_child_done=stop_after_first)
    assert done == [(2020, 0)]

    c = tracking.client(uri)
    exp = c.get_experiment_by_name("exp")
    parents = c.search_runs([exp.experiment_id], "tags.`zoo.role` = 'parent'")
    assert len(parents) == 1 and parents[0].info.status == "FAILED"

    # a child left RUNNING by a process killed outright (no chance to mark it) is not mistaken for live work
    ghost = c.create_run(
        exp.experiment_id,
        tags={"mlflow.parentRunId": parents[0].info.run_id, "zoo.role": "child", "zoo.test_year": "2020"},
    ).info.run_id

    seen: list[tuple[int, int]] = []
    res = run_spec(spec, src, experiment="exp", uri=uri, on_child_done=lambda y, s: seen.append((y, s)))
    assert (res.trained, res.reused) == (3, 1)
    assert seen == [(2020, 1), (2021, 0), (2021, 1)]  # the finished (2020, 0) was not redone

    parents = c.search_runs([exp.experiment_id], "tags.`zoo.role` = 'parent'")
    assert len(parents) == 1
    parent = parents[0]
    assert c.get_run(ghost).info.status == "KILLED"
    assert parent.info.run_id == res.parent_run_id and parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["zoo.spec_hash"] == spec_hash(spec) == res.spec_hash
    assert tags["zoo.spec_name"] == "gru" and tags["zoo.data_fingerprint"] == src.fingerprint()
    assert tags["zoo.data_store"] == "toy" and tags["zoo.version"] and tags["zoo.git_commit"]
    params = parent.data.params
    assert params["train.loss.name"] == "ic" and params["data.window"] == "15"
    assert params["model.trunk.0.name"] == "gru"
    assert "description" not in params  # the run's description (mlflow.note.content) says it
    # copies that sort first: the compare page's parallel-coordinates plot starts on them
    assert (params["0_loss"], params["0_decomposition"], params["0_variant"]) == ("ic", "identity", "gru")
    # the headline as metrics, every number in the run's training table
    numbers = run_metrics(c, parent)
    for h in (10, 20):
        assert -1 <= numbers[f"rank_ic_{h}d"] <= 1
        assert f"rank_icir_{h}d" in numbers and f"ic_win_rate_{h}d" in numbers
        assert {f"rank_ic_{h}d_seed0", f"rank_ic_{h}d_seed1", f"n_dates_{h}d"} <= set(numbers)
        assert parent.data.metrics[f"0_RankIC_{h}d"] == pytest.approx(res.metrics[f"rank_ic_{h}d"])
        assert parent.data.metrics[f"0_RankIC_{h}d_seed_std"] == pytest.approx(
            res.metrics[f"rank_ic_{h}d_seed_std"]
        )
    assert numbers["rank_ic_10d"] > 0.2  # the planted signal is strong
    assert all(k.startswith("0_") for k in parent.data.metrics) and len(parent.data.metrics) <= 30
    assert {k: numbers[k] for k in res.metrics} == pytest.approx(res.metrics)
    top = {a.path for a in c.list_artifacts(parent.info.run_id)}
    assert top == {"spec.toml", "scores", "model", "pyfunc", "metrics"}  # newest test year: model/, pyfunc/
    # the UI's Source and Dataset columns: the command and commit, the data store and its fingerprint
    assert tags["mlflow.source.type"] == "LOCAL" and tags["mlflow.source.name"]
    assert tags["zoo.git_commit"].startswith(tags.get("mlflow.source.git.commit", "unknown"))
    (inp,) = parent.inputs.dataset_inputs
    assert (inp.dataset.name, inp.dataset.digest) == ("toy", src.fingerprint())
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "training"
    spec_text = open(c.download_artifacts(parent.info.run_id, "spec.toml", str(tmp_path))).read()
    assert 'name = "gru"' in spec_text
    ens = tracking.download_scores(c, parent.info.run_id, "scores/ensemble.zarr")
    assert ens.dims == ("date", "symbol") and ens.dtype == np.float32
    years = pd.DatetimeIndex(ens["date"].values).year
    assert set(years) == {2020, 2021}
    xr.testing.assert_allclose(ens, res.score)

    children = c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    finished = [r for r in children if r.info.status == "FINISHED"]
    keys = sorted((int(r.data.tags["zoo.test_year"]), int(r.data.tags["zoo.seed"])) for r in finished)
    assert keys == [(2020, 0), (2020, 1), (2021, 0), (2021, 1)]  # each exactly once
    child = finished[0]
    assert child.data.tags["zoo.role"] == "child" and child.data.tags["zoo.spec_hash"] == res.spec_hash
    hist = c.get_metric_history(child.info.run_id, "valid_rank_ic")
    assert [m.step for m in hist] == [0, 1]
    # the curves come first in the run's metrics (the run page draws them in that order)
    assert set(list(child.data.metrics)[:2]) == {"train_loss", "valid_rank_ic"}
    assert child.data.metrics["0_test_year"] == int(child.data.tags["zoo.test_year"])
    assert [d.dataset.digest for d in child.inputs.dataset_inputs] == [src.fingerprint()]
    assert child.data.tags["mlflow.source.name"] == tags["mlflow.source.name"]
    assert len(c.get_metric_history(child.info.run_id, "train_loss")) == 2
    arts = {a.path for a in c.list_artifacts(child.info.run_id, "weights")}
    assert arts == {"weights/state_dict.pt"}
    state = torch.load(c.download_artifacts(child.info.run_id, "weights/state_dict.pt", str(tmp_path)))
    from zoo.compose import build_model

    build_model(spec.model, 6).load_state_dict(state)  # the weights rebuild through the registry
    preds = tracking.download_scores(c, child.info.run_id, "predictions/scores.zarr")
    assert preds.sizes["symbol"] == 40

    # a third run of the same spec redoes nothing at all
    again = run_spec(spec, src, experiment="exp", uri=uri)
    assert (again.trained, again.reused) == (0, 4)
    xr.testing.assert_allclose(again.score, res.score)


def test_same_seed_same_numbers_and_bad_config_is_clear(uri):
    spec = _spec(extra=("train.test_years=[2021]", "train.seeds=[5]"))
    a = run_spec(spec, ToySource(), experiment="a", uri=uri)
    b = run_spec(spec, ToySource(), experiment="b", uri=uri)
    xr.testing.assert_equal(a.score, b.score)
    with pytest.raises(TrainingError, match="2030"):
        run_spec(_spec(extra=("train.test_years=[2030]",)), ToySource(), experiment="c", uri=uri)
    with pytest.raises(TrainingError, match="purge_days=2"):
        run_spec(_spec(extra=("train.purge_days=2",)), ToySource(), experiment="c", uri=uri)


def test_resume_parent_reopens_and_reports_changed_plugin_versions():
    from types import SimpleNamespace

    from zoo.tracking.parent import resume_parent

    calls = []
    c = SimpleNamespace(
        update_run=lambda rid, status: calls.append(("status", rid, status)),
        set_tag=lambda rid, k, v: calls.append(("tag", rid, k, v)),
    )
    tags = {"zoo.role": "parent", "zoo.spec_hash": "abc", "zoo.plugins": '{"m": "sha256:1"}'}
    data = SimpleNamespace(tags=tags)
    parent = SimpleNamespace(info=SimpleNamespace(run_id="r1", status="KILLED"), data=data)
    lines = []
    assert resume_parent(c, parent, {"m": "sha256:2"}, lines.append, "gru") == "r1"
    assert lines[0] == "[gru] resuming parent run r1 (spec abc)"
    assert lines[1].startswith(
        "[gru] plugin versions changed since this run started (m: sha256:1 -> sha256:2):"
    )
    assert calls == [("status", "r1", "RUNNING"), ("tag", "r1", "zoo.plugins_resumed", '{"m": "sha256:2"}')]
    lines.clear()
    calls.clear()
    running = SimpleNamespace(info=SimpleNamespace(run_id="r1", status="RUNNING"), data=data)
    resume_parent(c, running, {"m": "sha256:1"}, lines.append, "gru")
    assert calls == [] and len(lines) == 1
