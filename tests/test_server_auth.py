"""``zoo server`` with a lock: a non-loopback address needs a login (MLflow's basic-auth app)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from zoo.errors import ZooError
from zoo.train import server_auth

REPO = Path(__file__).resolve().parents[1]
ZOO = "import sys; from zoo.cli import main; sys.exit(main(sys.argv[1:]))"
USER, PASSWORD = "zoo-admin", "a-long-test-password-7"


def _no_creds(monkeypatch) -> None:
    for var in (server_auth.USER_ENV, server_auth.PASSWORD_ENV):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "zoo.example.org"])
def test_a_non_loopback_server_without_credentials_is_refused(host, tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    _no_creds(monkeypatch)
    assert main(["server", "--host", host, "--folder", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "needs a login" in err and "MLFLOW_TRACKING_USERNAME" in err and "--insecure" in err
    assert not (tmp_path / "mlflow.db").exists()  # refused before anything started


def test_loopback_is_told_apart():
    assert all(map(server_auth.is_loopback, ["127.0.0.1", "127.8.0.1", "::1", "localhost"]))
    assert not any(map(server_auth.is_loopback, ["0.0.0.0", "::", "10.0.0.5", "example.org"]))


def test_credentials_come_from_an_owner_only_file_or_the_environment(tmp_path, monkeypatch):
    _no_creds(monkeypatch)
    assert server_auth.read_credentials() is None
    monkeypatch.setenv(server_auth.USER_ENV, "u")
    monkeypatch.setenv(server_auth.PASSWORD_ENV, "p" * 14)
    assert server_auth.read_credentials() == server_auth.Credentials("u", "p" * 14)
    assert "p" * 14 not in repr(server_auth.read_credentials())
    f = tmp_path / "creds"
    f.write_text("alice:s3cret-s3cret\n")
    f.chmod(0o644)
    with pytest.raises(ZooError, match=r"group or others can read it; chmod 600"):
        server_auth.read_credentials(f)
    f.chmod(0o600)
    assert server_auth.read_credentials(f) == server_auth.Credentials("alice", "s3cret-s3cret")
    f.write_text("no-colon\n")
    with pytest.raises(ZooError, match="expected one line USER:PASSWORD"):
        server_auth.read_credentials(f)


def _get(url: str, creds: tuple[str, str] | None = None) -> int:
    headers = {}
    if creds:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(creds).encode()).decode()
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory):
    """``zoo server --host 0.0.0.0`` (credentials from the environment), as a user starts it."""
    from test_cluster_processes import _free_port

    folder = tmp_path_factory.mktemp("server")
    port = _free_port()
    env = {**os.environ, server_auth.USER_ENV: USER, server_auth.PASSWORD_ENV: PASSWORD}
    log = open(folder / "zoo-server.out", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            ZOO,
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--folder",
            str(folder),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 600
        while "login required" not in (folder / "zoo-server.out").read_text():
            assert proc.poll() is None and time.monotonic() < end, (folder / "zoo-server.out").read_text()
            time.sleep(1)
        yield url, folder
    finally:
        proc.send_signal(signal.SIGTERM)  # zoo server stops mlflow server and its workers
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.slow
def test_unauthenticated_requests_get_401_and_an_authenticated_train_logs(locked_server, tmp_path):
    from zoo.datasets.labels import ensure_labels
    from zoo.datasets.schema import write_cube
    from zoo.datasets.synth import make_market

    url, folder = locked_server
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=10"
    assert _get(search) == 401
    assert _get(search, (USER, "a-wrong-password-000")) == 401
    assert _get(search, (USER, PASSWORD)) == 200
    assert PASSWORD not in (folder / server_auth.AUTH_INI).read_text()
    cube = ensure_labels(make_market(n_stocks=30, start="2017-01-01", end="2019-03-31", seed=7))
    store = write_cube(cube, tmp_path / "cube.zarr")
    sets = [
        "data.window=15",
        "data.min_history=10",
        "data.horizon=2",
        "train.test_years=[2019]",
        "train.train_years=1",
        "train.seeds=[0]",
        "train.max_epochs=1",
        "train.days_per_epoch=4",
        "train.valid_stride=10",
    ]
    args = ["train", str(REPO / "specs/gru.toml"), "--data", str(store)]
    for s in sets:
        args += ["--set", s]
    env = {k: v for k, v in os.environ.items() if k not in (server_auth.USER_ENV, server_auth.PASSWORD_ENV)}
    env["MLFLOW_TRACKING_URI"] = url
    anonymous = subprocess.run(
        [sys.executable, "-c", ZOO, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert anonymous.returncode == 2 and "401" in anonymous.stderr, anonymous.stderr
    env.update({server_auth.USER_ENV: USER, server_auth.PASSWORD_ENV: PASSWORD})
    run = subprocess.run(
        [sys.executable, "-c", ZOO, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    runs = f"{url}/api/2.0/mlflow/runs/search"
    assert _post(runs, {"experiment_ids": ["0"]}) == 401  # nobody else reads the runs
    body = _post(runs, {"experiment_ids": _experiment_ids(url)}, (USER, PASSWORD))
    statuses = sorted(r["info"]["status"] for r in body["runs"])
    assert statuses == ["FINISHED", "FINISHED"]  # the parent and its one child, logged through the lock


def _experiment_ids(url: str) -> list[str]:
    body = _post(f"{url}/api/2.0/mlflow/experiments/search", {"max_results": 10}, (USER, PASSWORD))
    return [e["experiment_id"] for e in body["experiments"]]


def _post(url: str, payload: dict, creds: tuple[str, str] | None = None):
    headers = {"Content-Type": "application/json"}
    if creds:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(creds).encode()).decode()
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code
