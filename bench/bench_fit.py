"""Benchmark: one whole-market fit with every stock per step (the reference) vs sampled steps.

Run: ``.venv/bin/python bench/bench_fit.py --data full.zarr [--model gru] [--stocks 1000] [--reps 1]
[--year 2022] [--set K=V ...]``.

The fits run in this process through the shipped fit (``zoo.train.jobs.neural_fit``) with the
whole-market benchmark's cuts (``specs/studies/benchmark.toml``: those the main job had when issue 22
was filed) and the report's label, on one CPU thread, on the same source.
The reference is the fit as it was before issue 22: every stock in every training step, and inference
(validation, test) in blocks of 1,000 stocks, stage by stage (``ZooModel.eval_chunk_size = 1000``,
``fuse_stockwise = False``). The new fit samples ``--stocks`` a step and scores with the shipped
inference settings. The split's validation and test days are built once before either fit is timed
(printed apart), as every fit of that year on a worker finds them. Reps alternate reference and new.
Prints the wall and CPU seconds of each fit, their ratios (reference / new; the goal of issue 22 is
>= 4), both test RankICs, and the load average before and after: CPU seconds are the steadier
measure on a busy machine.
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

from zoo.compose import ZooModel  # noqa: E402
from zoo.registry import get_registry  # noqa: E402
from zoo.specs import load_spec  # noqa: E402
from zoo.train.data import open_source  # noqa: E402
from zoo.train.jobs import FitContext, neural_fit  # noqa: E402
from zoo.train.source import capability  # noqa: E402
from zoo.train.splits import rolling_splits  # noqa: E402
from zoo.train.study import load_study  # noqa: E402


def benchmark_cuts() -> list[str]:
    """The whole-market benchmark's common settings (``specs/studies/benchmark.toml``: its cuts)."""
    study = load_study("benchmark")
    return [o for o in study.variants[0].overrides if not o.startswith("train.stocks_per_day")]


#: Inference as it was before issue 22: blocks of 1,000 stocks, each stage over the whole day.
BEFORE = {"eval_chunk_size": 1000, "fuse_stockwise": False}


def split_of(spec, source, year: int):
    """The spec's rolling split with test year ``year``."""
    t = spec.train
    purge = t.purge_days if t.purge_days is not None else spec.data.horizon + 1
    (split,) = rolling_splits(source.dates, [year], t.train_years, t.valid_years, purge)
    return split


def warm_days(spec, source, year: int) -> tuple[int, float]:
    """Build (and cache) the split's validation and test days; how many and the seconds it took."""
    split = split_of(spec, source, year)
    t0 = time.perf_counter()
    test_day = capability(source, "test_day") or source.day
    for i in split.valid[:: spec.train.valid_stride]:
        source.day(int(i))
    for i in split.test:
        test_day(int(i))
    return len(split.valid[:: spec.train.valid_stride]) + len(split.test), time.perf_counter() - t0


def one_fit(
    spec, source, year: int, inference: dict | None = None, seed: int = 0
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and test RankIC of one fit of ``spec`` (``seed``) on ``source``.

    ``inference``: ZooModel class settings for this fit only (``BEFORE``: the code before issue 22).
    """
    t = spec.train
    split = split_of(spec, source, year)
    shipped = {k: getattr(ZooModel, k) for k in (inference or {})}
    for k, v in (inference or {}).items():
        setattr(ZooModel, k, v)
    ctx = FitContext(spec, source, split, seed, get_registry(()), lambda *_: None, f"{spec.name} {year}")
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        product = neural_fit(ctx)
    finally:
        for k, v in shipped.items():
            setattr(ZooModel, k, v)
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
    base = [*benchmark_cuts(), f'data.store="{args.data}"', "train.threads=1", *args.set]
    ref = load_spec(args.model, [*base, "train.stocks_per_day=0"])
    new = load_spec(args.model, [*base, f"train.stocks_per_day={args.stocks}"])
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    source = open_source(ref.data)
    print(f"opened {args.data} in {time.perf_counter() - t0:.1f}s", flush=True)
    n_days, warm = warm_days(ref, source, args.year)
    print(f"built {n_days} validation and test days in {warm:.1f}s (once, for both fits)", flush=True)
    rows = []
    fits = (
        ("all stocks", ref, BEFORE),
        (f"{args.stocks} a step, inference before", new, BEFORE),
        (f"{args.stocks} a step", new, None),
    )
    for rep in range(args.reps):
        for label, spec, inference in fits:
            wall, cpu, ic = one_fit(spec, source, args.year, inference)
            rows.append((label, wall, cpu, ic))
            print(
                f"rep {rep} {args.model} {label:>30}: {wall:7.1f}s wall {cpu:7.1f}s CPU  RankIC {ic:.4f}",
                flush=True,
            )
    ref_rows = [r for r in rows if r[0] == "all stocks"]
    mid_rows = [r for r in rows if r[0].endswith("before")]
    new_rows = [r for r in rows if r[0] == fits[-1][0]]
    best = lambda rs, k: min(r[k] for r in rs)  # noqa: E731
    for name, rs in (("sampling alone", mid_rows), ("sampling + inference", new_rows)):
        print(
            f"reference / {name}: wall {best(ref_rows, 1) / best(rs, 1):.2f}x, "
            f"CPU {best(ref_rows, 2) / best(rs, 2):.2f}x (best of {args.reps}; goal >= 4x)"
        )
    print(f"load average before {load0[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
