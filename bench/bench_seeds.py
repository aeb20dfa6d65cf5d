"""Benchmark: the main job's three seeds of one spec in one process, and two levers of issue 23.

Run: ``.venv/bin/python bench/bench_seeds.py [--model gru] [--days 30] [--year 2022] [--data embedded]``.

On one CPU thread, on one source (its days built before timing, as on a worker after the first fit),
the spec with the main job's cuts and recipe (``specs/studies/main.toml``) is fitted for seeds 0, 42
and 3407 through the shipped ``neural_fit``: first as the main job trains (the reference), then with
``--days`` training days per epoch (fewer steps: not bit-identical, so its RankICs matter as much
as its seconds). Prints each fit's seconds and test RankIC, the ratio of the three fits' CPU
seconds (reference / fewer days), and whether the batched-seeds lever is open: one forward over the
three seeds' stacked weights with ``torch.func.stack_module_state`` + ``vmap`` (the error is printed).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench_fit import one_fit, split_of, warm_days  # noqa: E402

from zoo.compose import build_model  # noqa: E402
from zoo.specs import load_spec  # noqa: E402
from zoo.train.data import open_source  # noqa: E402
from zoo.train.main_job import MAIN_CUTS, MAIN_RECIPE  # noqa: E402

SEEDS = (0, 42, 3407)


def vmap_status(spec, source, year: int) -> str:
    """Try one forward of the seeds' models stacked with ``torch.func``; what happened."""
    from torch.func import functional_call, stack_module_state

    models = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        models.append(build_model(spec.model, len(spec.data.fields)).eval())
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    split = split_of(spec, source, year)
    day = source.day(int(split.test[0]))

    def one(p, b, x):
        return functional_call(base, (p, b), (x, day.ctx))

    try:
        with torch.no_grad():
            out = torch.func.vmap(one, in_dims=(0, 0, None))(params, buffers, day.x)
    except Exception as exc:  # the lever's answer, printed
        return f"not available: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return f"available: scores {tuple(out.shape)}"


def main() -> None:
    """Three seeds as the main job trains them, three with ``--days``; ratio; the vmap lever."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gru")
    ap.add_argument("--days", type=int, default=30, help="train.days_per_epoch of the cheaper fits")
    ap.add_argument("--year", type=int, default=2022)
    ap.add_argument("--data", default="embedded")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cuts = [o for o, _ in (*MAIN_CUTS, *MAIN_RECIPE)]
    store = [f'data.store="{args.data}"', "train.threads=1"]
    ref = load_spec(args.model, [*cuts, *store])
    new = load_spec(args.model, [*cuts, *store, f"train.days_per_epoch={args.days}"])
    load0 = os.getloadavg()
    source = open_source(ref.data)
    n, warm = warm_days(ref, source, args.year)
    print(f"built {n} validation and test days in {warm:.1f}s (once)", flush=True)
    totals = {}
    days = (ref.train.days_per_epoch, args.days)
    for label, spec in zip((f"{d} days/epoch" for d in days), (ref, new), strict=True):
        cpu_sum = 0.0
        for seed in SEEDS:
            wall, cpu, ic = one_fit(spec, source, args.year, seed=seed)
            cpu_sum += cpu
            print(f"{args.model} {label} seed {seed:4d}: {wall:6.1f}s wall {cpu:6.1f}s CPU  RankIC {ic:.4f}")
        totals[label] = cpu_sum
    (a, ta), (b, tb) = totals.items()
    print(f"three seeds, CPU: {a} {ta:.1f}s, {b} {tb:.1f}s, ratio {ta / tb:.2f}x")
    print(f"batched seeds (stack_module_state + vmap, one forward): {vmap_status(ref, source, args.year)}")
    print(f"load average before {load0[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
