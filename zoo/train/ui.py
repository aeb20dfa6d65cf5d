"""Start and stop the MLflow UI on a tracking store (loopback only, a free port)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import attrs

from zoo.errors import TrainingError
from zoo.train import tracking

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port the OS reports free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@attrs.define
class UIServer:
    """A running ``mlflow server`` process and the address it answers on."""

    process: subprocess.Popen
    url: str
    log_path: Path

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
    port = port or free_port()
    log_dir = Path(log_dir or tempfile.gettempdir())
    log_path = log_dir / f"mlflow-ui-{port}.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", HOST]
    cmd += ["--port", str(port), "--workers", "1"]
    root = tracking.artifact_root(uri)
    if root:
        cmd += ["--default-artifact-root", root]
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"http://{HOST}:{port}"
    server = UIServer(proc, url, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise TrainingError(f"the MLflow UI exited with code {proc.returncode}; its log says:\n{tail}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    server.stop()
    raise TrainingError(f"the MLflow UI did not answer on {url} within {timeout:.0f}s; see {log_path}")
