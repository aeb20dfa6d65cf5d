"""A Dask cluster of separate processes: ``dask scheduler``, two ``dask worker``s and the ``zoo`` driver.

Each test starts its own scheduler and workers from the command line (``dask`` of this venv, free
ports, no nanny: a killed worker stays dead) and runs ``zoo study ... --scheduler tcp://127.0.0.1:PORT``
as a subprocess, then kills one of the parts: a worker mid-fit (``ZOO_FAULT_POINT=fit-epoch`` in that
worker's environment), the driver (SIGKILL once a fit has finished), the scheduler (SIGTERM while fits
run). The printed tables must equal a serial run's bit for bit. Every process is killed in a finalizer.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.faults import FAULT_ENV

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).with_name("dask")
SETS = [
    "data.window=15",
    "data.min_history=10",
    "data.horizon=2",
    "train.test_years=[2019]",
    "train.train_years=1",
    "train.seeds=[0, 1]",
    "train.max_epochs=2",
    "train.days_per_epoch=6",
    "train.valid_stride=10",
    "train.threads=1",
]
ZOO = "import sys; from zoo.cli import main; sys.exit(main(sys.argv[1:]))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, "PYTHONPATH")}
    env.update(extra)
    return env


class Cluster:
    """A scheduler and named workers as subprocesses; :meth:`stop` kills whatever still runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([str(DASK), *args], cwd=self.folder, env=env, stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def _wait_log(self, name: str, text: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in (self.folder / f"{name}.log").read_text():
                return
            if self.procs[name].poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{name} did not log {text!r}:\n{(self.folder / f'{name}.log').read_text()}")

    def start_scheduler(self) -> None:
        """``dask scheduler`` on 127.0.0.1:PORT, no dashboard."""
        args = ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"]
        self._spawn("scheduler", args, _env())
        self._wait_log("scheduler", "Scheduler at:")

    def start_worker(self, name: str, **env: str) -> None:
        """``dask worker ADDRESS --name NAME``: one thread, no nanny (a killed worker stays dead)."""
        args = ["worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        self._spawn(name, args, _env(**env))
        self._wait_log(name, "Registered to:")

    def start(self, *workers: str) -> None:
        """The scheduler, then one worker per name."""
        self.start_scheduler()
        for name in workers:
            self.start_worker(name)

    def stop(self) -> None:
        """SIGKILL every process still running and reap it."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 30-stock cube, a 2-spec study file (4 fits) and the serial run's printed output."""
    from zoo.datasets.labels import ensure_labels
    from zoo.datasets.schema import write_cube
    from zoo.datasets.synth import make_market

    tmp = tmp_path_factory.mktemp("cluster")
    cube = ensure_labels(make_market(n_stocks=30, start="2017-01-01", end="2019-03-31", seed=7))
    store = write_cube(cube, tmp / "cube.zarr")
    study = tmp / "study.toml"
    study.write_text(
        f'[study]\nname = "c"\nspecs = ["{REPO}/specs/gru.toml"]\n'
        '[study.grid]\n"train.loss" = ["ic", "weighted_mse"]\n'
    )
    serial = _driver(study, store, tmp / "serial.db", [])
    assert serial.returncode == 0, serial.stderr
    return study, store, serial.stdout


def _args(study: Path, store: Path, extra: list[str]) -> list[str]:
    args = ["study", str(study), "--data", str(store), *extra]
    for s in SETS:
        args += ["--set", s]
    return args


def _driver(study, store, db: Path, extra: list[str], **popen) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", ZOO, *_args(study, store, extra)]
    env = _env(MLFLOW_TRACKING_URI=f"sqlite:///{db}", **popen.pop("env", {}))
    return subprocess.run(cmd, env=env, cwd=db.parent, capture_output=True, text=True, timeout=300)


def _printed(stdout: str) -> tuple[list[str], list[str]]:
    """The metric tables, and each fit's line without its timing: what must equal the serial run's."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("10-day RankIC"))
    end = next(i for i, line in enumerate(lines) if i > start and re.fullmatch(r"\d+ specs in \d+s", line))
    fits = sorted(line.rsplit(" (", 1)[0] for line in lines if "test RankIC" in line)
    return lines[start:end], fits


def _same_as_serial(resumed: str, serial: str) -> None:
    """A resumed run prints the serial run's tables, and its own fits' lines as the serial run did."""
    tables, fits = _printed(resumed)
    assert tables == _printed(serial)[0]
    assert fits and set(fits) <= set(_printed(serial)[1])


def _same_ensembles(db: Path, serial_db: Path) -> None:
    """Every parent's stored ensemble score equals the serial run's, bit for bit."""
    import xarray as xr

    from zoo.tracking import runs as tracking

    def scores(path: Path) -> dict:
        c = tracking.client(f"sqlite:///{path}")
        return {
            r.info.run_name: tracking.download_scores(c, r.info.run_id, "scores/ensemble.zarr")
            for r in _runs(path, "parent")
        }

    got, want = scores(db), scores(serial_db)
    assert sorted(got) == sorted(want) and len(got) == 2
    for name, score in got.items():
        xr.testing.assert_identical(score, want[name])


def _runs(db: Path, role: str) -> list:
    from zoo.tracking import runs as tracking

    c = tracking.client(f"sqlite:///{db}")
    exp = c.get_experiment_by_name("c")
    if exp is None:
        return []
    return [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("zoo.role") == role]


def _poll(predicate, proc: subprocess.Popen, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            if predicate():
                return
        except Exception:  # the driver may be creating the store right now
            pass
        time.sleep(0.3)
    said = proc.communicate(timeout=60)[1][-3000:] if proc.poll() is not None else "(still running)"
    raise AssertionError(f"the driver finished (or timed out) before the fault could be injected: {said}")


def _popen_driver(study, store, db: Path, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-c", ZOO, *_args(study, store, extra)]
    env = _env(MLFLOW_TRACKING_URI=f"sqlite:///{db}")
    return subprocess.Popen(
        cmd, env=env, cwd=db.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_worker_killed_mid_fit_changes_no_printed_number(setup, cluster, tmp_path):
    study, store, serial = setup
    cluster.start_scheduler()
    cluster.start_worker("doomed", **{FAULT_ENV: "fit-epoch"})  # dies at its first fit's first epoch
    cluster.start_worker("steady")
    db = tmp_path / "kill-worker.db"
    run = _driver(study, store, db, ["--scheduler", cluster.address])
    assert run.returncode == 0, run.stderr
    assert cluster.procs["doomed"].wait(timeout=30) == -signal.SIGKILL  # it really died mid-fit
    assert _printed(run.stdout) == _printed(serial)
    children = _runs(db, "child")
    assert sorted(r.info.status for r in children).count("FINISHED") == 4
    _same_ensembles(db, setup[0].parent / "serial.db")
    lost = [r for r in children if r.info.status != "FINISHED"]
    assert (
        len(lost) == 1
        and lost[0].info.status == "FAILED"
        and "worker lost" in lost[0].data.tags["zoo.failure"]
    )


def test_a_killed_driver_resumes_with_the_same_numbers(setup, cluster, tmp_path):
    study, store, serial = setup
    cluster.start("a", "b")
    db = tmp_path / "kill-driver.db"
    driver = _popen_driver(study, store, db, ["--scheduler", cluster.address])
    try:
        _poll(lambda: any(r.info.status == "FINISHED" for r in _runs(db, "child")), driver)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.communicate(timeout=60)
    assert driver.returncode == -signal.SIGKILL
    finished = sum(r.info.status == "FINISHED" for r in _runs(db, "child"))
    assert 1 <= finished < 4
    rerun = _driver(study, store, db, ["--scheduler", cluster.address])
    assert rerun.returncode == 0, rerun.stderr
    assert f"{4 - finished} fits to run" in rerun.stdout  # only the unfinished (year, seed)s
    _same_as_serial(rerun.stdout, serial)
    assert {r.info.status for r in _runs(db, "child")} <= {"FINISHED", "KILLED"}
    assert sum(r.info.status == "FINISHED" for r in _runs(db, "child")) == 4
    assert {r.info.status for r in _runs(db, "parent")} == {"FINISHED"}


def test_a_stopped_scheduler_ends_the_driver_with_one_line_and_the_resume_command(setup, cluster, tmp_path):
    study, store, serial = setup
    cluster.start("a", "b")
    db = tmp_path / "stop-scheduler.db"
    driver = _popen_driver(study, store, db, ["--scheduler", cluster.address])
    try:
        _poll(lambda: any(r.info.status == "RUNNING" for r in _runs(db, "child")), driver)
        cluster.procs["scheduler"].send_signal(signal.SIGTERM)  # the scheduler is stopped
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 2, err
    said = [line for line in err.splitlines() if not line.startswith(("store:", "20"))]
    assert len(said) == 2, err
    assert said[0].startswith(f"error: lost the Dask scheduler {cluster.address}")
    assert said[1].startswith("to resume, run the same command again: zoo study ")
    # nothing half-written: no run left RUNNING, every finished fit complete with its scores
    assert not [r for r in _runs(db, "child") + _runs(db, "parent") if r.info.status == "RUNNING"]
    # the scheduler back on its address, the printed command resumes and gives the serial numbers
    cluster.procs["scheduler"].wait(timeout=30)
    for name in ("scheduler", "a", "b"):
        proc = cluster.procs.pop(name)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    cluster.start("a2", "b2")
    resume = shlex.split(said[1].split(": ", 1)[1])
    assert resume[:2] == ["zoo", "study"]
    rerun = subprocess.run(
        [sys.executable, "-c", ZOO, *resume[1:]],
        env=_env(MLFLOW_TRACKING_URI=f"sqlite:///{db}"),
        cwd=db.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    _same_as_serial(rerun.stdout, serial)


def test_a_worker_without_the_plugin_is_named(setup, cluster, tmp_path):
    study, store, _ = setup
    cluster.start_scheduler()
    cluster.start_worker("bare")  # no tests/ext on its path: cannot import the plugin
    db = tmp_path / "plugin.db"
    extra = [
        "--scheduler",
        cluster.address,
        "--set",
        'model.branches.raw.mixer={name = "shrink_to_mean"}',
    ]
    cmd = [sys.executable, "-c", ZOO, "--plugin", "attention_free_mixer", *_args(study, store, extra)]
    env = _env(MLFLOW_TRACKING_URI=f"sqlite:///{db}", PYTHONPATH=str(REPO / "tests" / "ext"))
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    error = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, run.stderr
    assert "on Dask worker bare (tcp://127.0.0.1:" in error[0] and "'attention_free_mixer'" in error[0], error
