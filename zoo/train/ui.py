"""Start and stop ``mlflow server``: the UI on a tracking store, or a tracking server for a cluster.

Both bind to 127.0.0.1 unless the caller names another address (``zoo server --host``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import attrs

from zoo.errors import TrainingError, ZooError
from zoo.tracking import runs as tracking
from zoo.tracking import store as runs
from zoo.tracking import view

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port the OS reports free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def log_folder(uri: str) -> Path:
    """Where a server's log goes: beside a sqlite store, else in the zoo home (``$ZOO_HOME`` or here)."""
    db = runs.sqlite_path(uri)
    return db.resolve().parent if db is not None else runs.zoo_home()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def interrupt_on_termination() -> dict:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt (as Ctrl-C), so ``finally`` blocks stop servers.

    Returns the previous handlers; in a thread other than the main one nothing changes.
    """
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, _interrupt)
        except ValueError:  # not the main thread: only Ctrl-C and the server's own exit apply
            break
    return previous


@attrs.define
class UIServer:
    """A running ``mlflow server`` process and the address it answers on."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def wait(self) -> None:
        """Block until the server exits, Ctrl-C, SIGTERM or SIGHUP, then stop it (and its workers).

        The server runs in its own process group (so a Ctrl-C in the terminal reaches it only through
        us, once); a SIGTERM to this process would otherwise end it and leave the group running.
        """

        previous = interrupt_on_termination()
        try:
            while self.process.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its workers (its own process group)."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


def start_ui(
    uri: str | None = None, port: int = 0, timeout: float = 90.0, log_dir: Path | None = None
) -> UIServer:
    """Start the MLflow UI on ``uri`` bound to 127.0.0.1 and wait until it answers ``/health``."""
    uri = uri or tracking.tracking_uri()
    root = tracking.artifact_root(uri)
    extra = ["--default-artifact-root", root] if root else []
    return start_server(uri, HOST, port, extra, timeout=timeout, log_dir=log_dir, what="MLflow UI")


def start_tracking_server(
    folder: Path,
    host: str = HOST,
    port: int = 0,
    timeout: float = 90.0,
    log_dir: Path | None = None,
    auth=None,
) -> UIServer:
    """``mlflow server`` for a cluster: sqlite ``folder/mlflow.db``, artifacts served from ``mlartifacts/``.

    Clients (drivers, workers, the UI) then need only the HTTP address: the server proxies artifacts
    (``--serve-artifacts``), so nothing but the server touches the database or the artifact folder.
    ``auth`` (``server_auth.Credentials``): MLflow's basic-auth app with that admin user.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracking.client(uri)  # create (and migrate) the store here, under its lock, before the server opens it
    extra = ["--serve-artifacts", "--artifacts-destination", (folder / tracking.ARTIFACT_DIR).as_uri()]
    if host != HOST:
        extra += ["--allowed-hosts", "*"]  # the operator chose to listen beyond loopback
    env = None
    if auth is not None:
        from zoo.train import server_auth

        extra += ["--app-name", "basic-auth"]
        env = {**os.environ, **server_auth.auth_environment(folder, auth)}
    server = start_server(
        uri, host, port, extra, timeout=timeout, log_dir=log_dir, what="MLflow server", env=env
    )
    if auth is not None:
        try:
            server_auth.check_login(server.url, auth)
        except BaseException:
            server.stop()
            raise
    return server


def start_server(
    uri: str,
    host: str,
    port: int,
    extra: list[str],
    timeout: float = 90.0,
    log_dir: Path | None = None,
    what: str = "MLflow server",
    env: dict[str, str] | None = None,
) -> UIServer:
    """Run ``mlflow server`` on ``host:port`` (port 0: a free one) and wait until it answers ``/health``."""
    port = port or free_port(host)
    log_dir = Path(log_dir) if log_dir is not None else log_folder(uri)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"mlflow-server-{port}.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host]
    cmd += ["--port", str(port), "--workers", "1", *extra]
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    log.close()
    url = f"http://{HOST if host in ('0.0.0.0', '::') else host}:{port}"
    server = UIServer(proc, url, log_path)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise TrainingError(f"the {what} exited with code {proc.returncode}; its log says:\n{tail}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return server
            except OSError:
                pass
            time.sleep(0.5)
    except BaseException:  # Ctrl-C or SIGTERM while it starts: its process group must not outlive us
        server.stop()
        raise
    server.stop()
    raise TrainingError(f"the {what} did not answer on {url} within {timeout:.0f}s; see {log_path}")


@attrs.frozen
class StudyView:
    """An experiment holding zoo runs, as ``zoo ui`` lists it: its shared runs view and parent runs."""

    name: str
    experiment_id: str
    #: Key of the experiment's shared runs-table view (``zoo.tracking.view.share_runs_view``).
    share_key: str
    #: The study's parent runs (the newest finished per spec), oldest first.
    parents: tuple[str, ...]

    def runs_url(self, url: str) -> str:
        """The runs table: model-training layout, sorted by the headline RankIC, headline columns shown."""
        return view.runs_table_url(url, self.experiment_id, self.share_key)

    def compare_url(self, url: str) -> str:
        """The compare page of the study's parent runs (empty when it has fewer than two)."""
        return view.compare_url(url, self.experiment_id, self.parents) if len(self.parents) > 1 else ""


def mark_experiments(uri: str) -> list[StudyView]:
    """Tag every experiment that holds zoo runs as model training and give it the zoo's shared runs
    view; each one's :class:`StudyView`, newest first.

    Stores written before the zoo set the tags at creation get them here, once.
    """
    c = tracking.client(uri)
    out = []
    for exp in c.search_experiments(order_by=["last_update_time DESC"], max_results=1000):
        if c.search_runs([exp.experiment_id], "tags.`zoo.role` = 'parent'", max_results=1):
            tracking.describe_experiment(c, exp.experiment_id)
            key = view.share_runs_view(c, exp.experiment_id)
            try:
                parents = tuple(r.info.run_id for r in runs.resolve_parents(c, exp.name).runs)
            except ZooError:  # no finished parent yet: nothing to compare
                parents = ()
            out.append(StudyView(exp.name, exp.experiment_id, key, parents))
    return out
