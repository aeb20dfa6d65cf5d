"""Benchmark: one whole-market fit with every stock per step (the reference) vs sampled steps.

Run: ``.venv/bin/python bench/bench_fit.py --data full.zarr [--model gru] [--stocks 1000] [--reps 1]
[--year 2022] [--set K=V ...]``.

Both fits run in this process through the shipped fit (``zoo.train.jobs.neural_fit``) with the main
job's cuts (``specs/studies/main.toml``) and the report's label, on one CPU thread, on the same source
(the reference first, so any day it leaves in the source's cache helps the sampled fit only where the
sampled fit reads whole days: validation and test). Reps alternate reference and sampled. Prints the
wall and CPU seconds of each fit, their ratios (reference / sampled; the goal of issue 22 is >= 4),
both test RankICs, and the load average before and after: CPU seconds are the steadier measure on a
busy machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from zoo.evaluation.ic import ic_of  # noqa: E402

from zoo.registry import get_registry  # noqa: E402
from zoo.specs import load_spec  # noqa: E402
from zoo.train.data import open_source  # noqa: E402
from zoo.train.jobs import FitContext, neural_fit  # noqa: E402
from zoo.train.main_job import MAIN_CUTS  # noqa: E402
from zoo.train.splits import rolling_splits  # noqa: E402


def one_fit(spec, source, year: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and test RankIC of one fit of ``spec`` (seed 0) on ``source``."""
    t = spec.train
    purge = t.purge_days if t.purge_days is not None else spec.data.horizon + 1
    (split,) = rolling_splits(source.dates, [year], t.train_years, t.valid_years, purge)
    ctx = FitContext(spec, source, split, 0, get_registry(()), lambda *_: None, f"{spec.name} {year}")
    w0, c0 = time.perf_counter(), time.process_time()
    product = neural_fit(ctx)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    ic = ic_of(product.score, source.label(spec.data.horizon), t.min_stocks)["rank_ic"]
    return wall, cpu, ic


def main() -> None:
    """Reference and sampled fits, alternated; print seconds, ratios, RankICs and the load."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the whole market as a Zarr store")
    ap.add_argument("--model", default="gru", help="built-in spec name (gru, decompgru, ...)")
    ap.add_argument("--stocks", type=int, default=1000, help="train.stocks_per_day of the sampled fit")
    ap.add_argument("--year", type=int, default=2022)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="extra spec overrides (after the cuts)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = [o for o, _ in MAIN_CUTS] + [f'data.store="{args.data}"', "train.threads=1", *args.set]
    ref = load_spec(args.model, [*base, "train.stocks_per_day=0"])
    new = load_spec(args.model, [*base, f"train.stocks_per_day={args.stocks}"])
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    source = open_source(ref.data)
    print(f"opened {args.data} in {time.perf_counter() - t0:.1f}s", flush=True)
    rows = []
    for rep in range(args.reps):
        for label, spec in (("all stocks", ref), (f"{args.stocks} a step", new)):
            wall, cpu, ic = one_fit(spec, source, args.year)
            rows.append((label, wall, cpu, ic))
            print(
                f"rep {rep} {args.model} {label:>14}: {wall:7.1f}s wall {cpu:7.1f}s CPU  RankIC {ic:.4f}",
                flush=True,
            )
    ref_rows = [r for r in rows if r[0] == "all stocks"]
    new_rows = [r for r in rows if r[0] != "all stocks"]
    best = lambda rs, k: min(r[k] for r in rs)  # noqa: E731
    print(
        f"reference / sampled: wall {best(ref_rows, 1) / best(new_rows, 1):.2f}x, "
        f"CPU {best(ref_rows, 2) / best(new_rows, 2):.2f}x (best of {args.reps}; goal >= 4x)"
    )
    print(f"load average before {load0[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
