"""Benchmark: one day's inference (no autograd) by block size, with and without the block-wise pass.

Run: ``.venv/bin/python bench/bench_inference.py [--models gru decompgru] [--stocks 3400] [--reps 3]``.

Builds each built-in spec's model (seed 0) on one CPU thread and scores one random day of ``--stocks``
stocks (the whole shared market has ~3,400 a day) under ``torch.no_grad``: first as the code did before
issue 22 (``eval_chunk_size`` = ``chunk_size`` = 1,000, each stage over the whole day), then at each
block size with ``fuse_stockwise`` off and on. Prints microseconds per stock (best of ``--reps``), the
ratio to the reference, and whether the scores are bit-identical to the reference's (else the largest
difference).
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

from zoo.compose import ZooModel, build_model  # noqa: E402
from zoo.specs import load_spec  # noqa: E402


def best_seconds(model: ZooModel, x: torch.Tensor, ctx: dict, reps: int) -> tuple[float, torch.Tensor]:
    """Best wall seconds of ``reps`` scorings of one day (after one warm-up) and the scores."""
    with torch.no_grad():
        out = model(x, ctx)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            out = model(x, ctx)
            times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    """Reference, then every block size unfused and fused; print us/stock, ratio and bit-identity."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["gru", "decompgru"])
    ap.add_argument("--stocks", type=int, default=3400)
    ap.add_argument("--chunks", type=int, nargs="+", default=[1000, 512, 256, 128, 64])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n = args.stocks
    gen = torch.Generator().manual_seed(0)
    for name in args.models:
        spec = load_spec(name)
        torch.manual_seed(0)
        model = build_model(spec.model, len(spec.data.fields)).eval()
        x = torch.randn(n, spec.data.window, len(spec.data.fields), generator=gen)
        ctx = {
            "mask": torch.ones(n, dtype=torch.bool),
            "size": torch.randn(n, generator=gen),
            "size_group": torch.randint(0, 5, (n,), generator=gen),
        }
        model.eval_chunk_size, model.fuse_stockwise = 1000, False  # the code before issue 22
        ref_s, ref = best_seconds(model, x, ctx, args.reps)
        print(f"{name:10} reference (blocks of 1000, stage by stage): {ref_s * 1e6 / n:6.1f} us/stock")
        for fuse in (False, True):
            for chunk in args.chunks:
                model.eval_chunk_size, model.fuse_stockwise = chunk, fuse
                s, out = best_seconds(model, x, ctx, args.reps)
                print(
                    f"{name:10} blocks of {chunk:4d} {'block-wise pass' if fuse else 'stage by stage ':15}: "
                    f"{s * 1e6 / n:6.1f} us/stock  {ref_s / s:4.2f}x  identical={torch.equal(out, ref)} "
                    f"(max |diff| {(out - ref).abs().max().item():.1e})",
                    flush=True,
                )
    print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
