"""Benchmark: a short DecompGRU fit + test-year prediction at train.threads = auto (0), 1 and N cores.

Run: ``.venv/bin/python bench/bench_threads.py [--days 4] [--test-days 8] [--repeats 1]`` (no ``nice``:
the point is how the fit shares the machine). Two conditions, in this process: "quiet" (whatever else
runs on the machine) and "busy" (a busy-loop process this bench starts, pinned to core 0). In each,
the reference is 1 thread; every line prints seconds and the ratio to that reference (< 1: faster).
The old default was torch's own, one thread per core (the "N threads" line). ``auto`` is what
``train.threads = 0`` does now (``zoo.train.threads``): the free cores, at least one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from zoo.compose import build_model  # noqa: E402
from zoo.registry import get_registry  # noqa: E402
from zoo.specs import load_spec  # noqa: E402
from zoo.train.data import open_source  # noqa: E402
from zoo.train.days import source_dayset  # noqa: E402
from zoo.train.splits import resolve_purge, rolling_splits  # noqa: E402
from zoo.train.threads import ThreadPolicy, usable_cores  # noqa: E402
from zoo.train.trainer import (  # noqa: E402
    fit,
    fit_config,  # noqa: E402
    predict,
)

SPEC = Path(__file__).resolve().parents[1] / "specs" / "decompgru.toml"


class Case:
    """The README's cut example, shorter: one fit and one prediction, reused for every thread count."""

    def __init__(self, days: int, test_days: int) -> None:
        sets = [
            "train.loss.name=weighted_mse",
            "train.test_years=[2022]",
            "train.seeds=[0]",
            "train.max_epochs=1",
            f"train.days_per_epoch={days}",
        ]
        self.spec = spec = load_spec(SPEC, overrides=sets)
        src = open_source(spec.data)
        t = spec.train
        purge = resolve_purge(t.purge_days, spec.data.horizon)
        split = rolling_splits(src.dates, t.test_years, t.train_years, t.valid_years, purge)[0]
        self.train = source_dayset(src, split.train, src.day)
        self.valid = source_dayset(src, split.valid[:: max(1, len(split.valid) // 4)], src.day)
        self.test = source_dayset(src, split.test[:test_days], src.day)
        self.registry = get_registry(())
        self.cfg = fit_config(spec)

    def run(self, threads: int) -> tuple[float, float, int]:
        """(fit seconds, predict seconds, threads used) at ``threads`` (0 = auto)."""
        policy = ThreadPolicy(threads)
        torch.manual_seed(0)
        t = self.spec.train
        model = build_model(self.spec.model, len(self.spec.data.fields), self.registry)
        loss = self.registry.build("loss", t.loss.name, t.loss.params, 0)
        t0 = time.perf_counter()
        fit(model, loss, self.train, self.valid, self.cfg, 0, lambda *a: policy.update(), "bench")
        t1 = time.perf_counter()
        predict(model, self.test, self.cfg.precision)
        return t1 - t0, time.perf_counter() - t1, max(policy.used)


def busy_loop() -> subprocess.Popen:
    """A process that keeps core 0 busy (as another user's job would)."""
    return subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])


def main() -> None:
    """Quiet, then with core 0 busy: auto / 1 / N threads, best of ``--repeats``, ratios to 1 thread."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=4, help="training days in the one epoch")
    ap.add_argument("--test-days", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    cores = usable_cores()
    case = Case(args.days, args.test_days)
    case.run(1)  # warm-up: day tensors cached, kernels loaded
    print(f"torch {torch.__version__}, {cores} cores; DecompGRU, {args.days} training days + valid, ", end="")
    print(f"{args.test_days} test days predicted; best of {args.repeats}; ratio = time / time at 1 thread")
    for condition in ("quiet", "busy"):
        proc = busy_loop() if condition == "busy" else None
        try:
            time.sleep(1.0 if proc else 0.0)  # let the loop show in the CPU counters auto reads
            load = os.getloadavg()[0]
            rows = {}
            for label, threads in (("1 thread", 1), (f"{cores} threads", cores), ("auto (0)", 0)):
                runs = [case.run(threads) for _ in range(args.repeats)]
                rows[label] = (min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2])
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
        ref = rows["1 thread"]
        print(f"{condition} (load average {load:.1f} at start):")
        for label, (f, p, used) in rows.items():
            print(
                f"  {label:<10} fit {f:6.2f}s ({f / ref[0]:4.2f}x)  predict {p:6.2f}s ({p / ref[1]:4.2f}x)"
                f"  total {(f + p) / (ref[0] + ref[1]):4.2f}x  [{used} thread(s) used]"
            )


if __name__ == "__main__":
    main()
