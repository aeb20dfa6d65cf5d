"""Studies on a real Dask LocalCluster (2 worker processes): same numbers as serial, faults, resume."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
import xarray as xr
from test_train_tracking import ToySource

from zoo.errors import TrainingError
from zoo.tracking import runs as tracking
from zoo.train.study import load_study, run_study

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
#: A folder the test and the (already started) workers share: files in it arm the faults below.
CTL = "ZOO_TEST_DASK_CTL"

SETS = [
    "data.window=15",
    "data.horizon=2",
    "train.test_years=[2020, 2021]",
    "train.train_years=1",
    "train.seeds=[0, 1]",
    "train.max_epochs=2",
    "train.days_per_epoch=6",
    "train.valid_stride=2",
    "train.threads=1",
]


class KillOnceSource(ToySource):
    """A ToySource whose first fetch after a few days SIGKILLs its own process, once per test."""

    def day(self, i: int):
        ctl = Path(os.environ.get(CTL, "/nonexistent"))
        if (ctl / "arm-kill").exists() and self.fetched >= 5:
            try:
                fd = os.open(ctl / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)  # a worker dies mid-fit, as under the OOM killer
        return super().day(i)


class FailYearSource(ToySource):
    """A ToySource that cannot build the test days of the year written in ``<ctl>/fail-year``."""

    def test_day(self, i: int):
        flag = Path(os.environ.get(CTL, "/nonexistent")) / "fail-year"
        if flag.exists() and str(self.dates[i])[:4] == flag.read_text():
            raise TrainingError(f"test day {str(self.dates[i])[:10]} is broken on purpose")
        return self.day(i)


def open_toy(data_spec) -> ToySource:
    """Opener the workers import by name."""
    return ToySource()


def open_kill_once(data_spec) -> ToySource:
    """Opener of :class:`KillOnceSource`."""
    return KillOnceSource()


def open_fail_year(data_spec) -> ToySource:
    """Opener of :class:`FailYearSource`."""
    return FailYearSource()


@pytest.fixture(scope="module")
def ctl(tmp_path_factory):
    return tmp_path_factory.mktemp("ctl")


@pytest.fixture(scope="module")
def cluster(ctl):
    from zoo.train.executors import DaskExecutor

    # Worker processes inherit it when they start, restarted ones (after a SIGKILL) included.
    os.environ[CTL] = str(ctl)
    ex = DaskExecutor(workers=2)
    yield ex
    ex.close()
    os.environ.pop(CTL, None)


def _study(tmp_path: Path, name: str) -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(
        f'[study]\nname = "{name}"\nspecs = ["{REPO}/specs/gru.toml"]\n'
        '[study.grid]\n"train.loss" = ["ic", "weighted_mse"]\n'
    )
    return p


def _children(uri: str, experiment: str) -> list:
    c = tracking.client(uri)
    exp = c.get_experiment_by_name(experiment)
    return [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("zoo.role") == "child"]


def _finished_scores(uri: str, experiment: str) -> dict:
    c = tracking.client(uri)
    out = {}
    for r in _children(uri, experiment):
        if r.info.status == "FINISHED":
            key = (r.info.run_name, r.data.tags["zoo.seed"])
            assert key not in out, f"{key} finished twice"
            out[key] = tracking.download_scores(c, r.info.run_id, "predictions/scores.zarr")
    return out


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serial")
    uri = f"sqlite:///{tmp}/mlflow.db"
    results = run_study(load_study(_study(tmp, "s")), SETS, uri=uri, open_source=open_toy)
    return uri, results


def test_dask_equals_serial_and_a_killed_worker_loses_nothing(cluster, ctl, serial_run, tmp_path):
    (ctl / "arm-kill").touch()
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    results = run_study(
        load_study(_study(tmp_path, "d")), SETS, uri=uri, open_source=open_kill_once, executor=cluster
    )
    assert (ctl / "killed").exists()  # a worker really was SIGKILLed mid-fit
    s_uri, serial = serial_run
    assert [r.name for r in results] == [r.name for r in serial]
    for a, b in zip(results, serial, strict=True):
        assert a.spec_hash == b.spec_hash and (a.trained, a.reused) == (4, 0)
        xr.testing.assert_identical(a.score, b.score)  # bit-identical ensembles
        assert a.metrics == b.metrics
    dask_scores, serial_scores = _finished_scores(uri, "d"), _finished_scores(s_uri, "s")
    assert sorted(dask_scores) == sorted(serial_scores) and len(dask_scores) == 8  # each (year, seed) once
    for key, score in dask_scores.items():
        xr.testing.assert_identical(score, serial_scores[key])
    lost = [r for r in _children(uri, "d") if r.info.status != "FINISHED"]
    assert len(lost) == 1 and lost[0].info.status == "FAILED"  # the killed attempt, closed by the driver
    assert "worker lost" in lost[0].data.tags["zoo.failure"]
    c = tracking.client(uri)
    child = next(r for r in _children(uri, "d") if r.info.status == "FINISHED")
    assert [m.step for m in c.get_metric_history(child.info.run_id, "valid_rank_ic")] == [0, 1]
    assert child.data.tags["zoo.worker"]  # host:pid of the worker that ran it


def test_a_failing_job_marks_only_its_child_failed_and_a_rerun_redoes_only_it(cluster, ctl, tmp_path):
    (ctl / "fail-year").write_text("2021")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    study = _study(tmp_path, "f")
    sets = [*SETS, "train.seeds=[0]"]
    with pytest.raises(TrainingError, match="broken on purpose"):
        run_study(load_study(study), sets, uri=uri, open_source=open_fail_year, executor=cluster)
    status = {r.info.run_name: r.info.status for r in _children(uri, "f")}
    assert status == {
        "gru-ic-2020-s0": "FINISHED",
        "gru-ic-2021-s0": "FAILED",
        "gru-weighted_mse-2020-s0": "FINISHED",
        "gru-weighted_mse-2021-s0": "FAILED",
    }
    c = tracking.client(uri)
    parents = c.search_runs([c.get_experiment_by_name("f").experiment_id], "tags.`zoo.role` = 'parent'")
    assert {p.info.status for p in parents} == {"FAILED"}
    (ctl / "fail-year").unlink()
    results = run_study(load_study(study), sets, uri=uri, open_source=open_fail_year, executor=cluster)
    assert [(r.trained, r.reused) for r in results] == [(1, 1), (1, 1)]


def test_driver_interrupted_then_resumed_on_dask(cluster, serial_run, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    study = _study(tmp_path, "r")

    def ctrl_c(year: int, seed: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C right after the first fit was logged

    with pytest.raises(KeyboardInterrupt):
        run_study(
            load_study(study), SETS, uri=uri, open_source=open_toy, executor=cluster, on_child_done=ctrl_c
        )
    status = [r.info.status for r in _children(uri, "r")]
    assert status.count("FINISHED") == 1 and set(status) <= {"FINISHED", "KILLED"}
    # Which fit finishes first is the cluster's choice; the rerun redoes exactly the other seven.
    results = run_study(load_study(study), SETS, uri=uri, open_source=open_toy, executor=cluster)
    assert sum(r.reused for r in results) == 1 and sum(r.trained for r in results) == 7
    status = [r.info.status for r in _children(uri, "r")]
    assert status.count("FINISHED") == 8  # each (spec, year, seed) once; the interrupted ones KILLED
    serial = _finished_scores(serial_run[0], "s")
    for key, score in _finished_scores(uri, "r").items():
        xr.testing.assert_identical(score, serial[key])


def test_remote_executor_needs_an_importable_opener(cluster, tmp_path):
    with pytest.raises(TrainingError, match="importable"):
        run_study(
            load_study(_study(tmp_path, "x")),
            SETS,
            uri=f"sqlite:///{tmp_path}/mlflow.db",
            open_source=lambda d: ToySource(),
            executor=cluster,
        )


def test_local_workers_keep_glibcs_adaptive_allocator(cluster):
    # Dask's nanny default MALLOC_TRIM_THRESHOLD_=65536 turns a training loop's tensor churn into page
    # faults (docs/distributed.md); the local cluster's workers must not inherit it.
    envs = cluster.client.run(
        lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS"))
    )
    assert len(envs) == 2
    assert all(trim is None and omp == "1" for trim, omp in envs.values())


def test_both_executors_declare_the_executor_interface(cluster):
    from zoo.train.executors import FitExecutor, SerialExecutor

    assert isinstance(SerialExecutor(), FitExecutor)
    assert isinstance(cluster, FitExecutor)
    assert not isinstance(object(), FitExecutor)
