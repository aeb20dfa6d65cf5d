"""Benchmark: the main job's study (cut settings) run serially vs on a local Dask cluster.

Run: ``.venv/bin/python bench/bench_study.py [--workers 2] [--data embedded] [--set K=V ...]``.
Trains the study twice from empty MLflow stores in a temporary folder, in this process: first with
the serial executor (the reference), then with ``--workers N`` Dask workers (cluster start-up
included); prints both wall clocks, the ratio (goal >= 1.6x for 2 workers on 2 idle cores), the load
average before and after, and checks that both gave bit-identical ensemble scores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from zoo.train.executors import DaskExecutor, SerialExecutor  # noqa: E402
from zoo.train.jobs import DEFAULT_OPENER  # noqa: E402
from zoo.train.main_job import MAIN_CUTS, MAIN_RECIPE, MAIN_STUDY  # noqa: E402
from zoo.train.study import load_study, run_study  # noqa: E402


def run(executor, overrides: list[str], folder: Path) -> tuple[float, list]:
    """Wall clock of one study run into a fresh store, and its results."""
    t0 = time.perf_counter()
    results = run_study(
        load_study(MAIN_STUDY),
        overrides,
        uri=f"sqlite:///{folder}/mlflow.db",
        experiment="bench",
        log=lambda msg: None,
        executor=executor,
        opener=DEFAULT_OPENER,
    )
    return time.perf_counter() - t0, results


def main() -> None:
    """Serial, then Dask; print times, ratio, load and whether the numbers agree."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", default="embedded")
    ap.add_argument("--set", action="append", default=[], help="extra spec overrides (after the cuts)")
    args = ap.parse_args()
    overrides = [o for o, _ in (*MAIN_CUTS, *MAIN_RECIPE)]
    overrides += ["train.threads=1", f'data.store="{args.data}"', *args.set]
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s").mkdir()
        (Path(tmp) / "d").mkdir()
        t_serial, serial = run(SerialExecutor(), overrides, Path(tmp) / "s")
        t_start = time.perf_counter()
        ex = DaskExecutor(workers=args.workers)
        t_up = time.perf_counter() - t_start
        try:
            t_dask, dask = run(ex, overrides, Path(tmp) / "d")
        finally:
            ex.close()
    load1 = os.getloadavg()
    fits = sum(r.trained for r in serial)
    same = all(a.score.identical(b.score) for a, b in zip(serial, dask, strict=True))
    print(f"study {MAIN_STUDY.name} on {args.data}, {len(serial)} specs, {fits} fits, cut settings")
    print(f"serial:            {t_serial:7.1f} s")
    print(f"dask {args.workers} workers:    {t_dask + t_up:7.1f} s  (cluster start {t_up:.1f} s)")
    print(f"ratio serial/dask: {t_serial / (t_dask + t_up):.2f}x")
    print(f"ensemble scores bit-identical: {same}")
    print(f"load average before {load0[0]:.1f}, after {load1[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
