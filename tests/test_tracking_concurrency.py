"""Several processes opening one new sqlite MLflow store and creating one experiment at the same moment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Each process imports first, says it is ready, waits for "go", then opens the store and
# get-or-creates the same experiments as every other process: the moment the bugs need.
SCRIPT = """
import sys, time
from pathlib import Path
from zoo.tracking import runs as tracking
uri, ctl, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
(ctl / f"ready-{me}").touch()
while not (ctl / "go").exists():
    time.sleep(0.002)
c = tracking.client(uri)
ids = [tracking.ensure_experiment(c, f"study-{k}", uri) for k in range(8)]
print(",".join(ids))
"""


def test_new_sqlite_store_and_experiments_are_safe_under_concurrent_processes(tmp_path):
    n = 4
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, uri, str(tmp_path), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(n)
    ]
    deadline = time.monotonic() + 300
    while len(list(tmp_path.glob("ready-*"))) < n and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    ids = {out.strip() for out, _ in outs}
    assert len(ids) == 1  # every process got the same experiment for every name

    from zoo.tracking import runs as tracking

    c = tracking.client(uri)  # the store still opens afterwards
    names = sorted(e.name for e in c.search_experiments() if e.name.startswith("study-"))
    assert names == [f"study-{k}" for k in range(8)]  # exactly one of each
    assert (tmp_path / "mlflow.db.lock").exists()  # the lock lives beside the store
