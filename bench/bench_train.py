"""Training benchmarks (not a test): throughput vs a plain reference loop, matmul roofline share, inference.

Run: ``python bench/bench_train.py [--models gru decompgru] [--stocks 1000 5000] [--steps 3] [--threads 0]
[--no-profile] [--attention] [--inducing M]``.

For each model (default GRU and DecompGRU; also ``crossgru``, ``crossgru2``) at each N (stocks per day,
window 150, 6 fields) it prints
- our trainer's throughput (stock-windows / s, forward + backward + Adam step, one day per step,
  the day's tensors already cached as the trainer keeps them);
- the same model trained by a plain reference loop written the way common open-source GRU factor
  trainers do it (a (date, instrument) x 900-column DataFrame, sliced per epoch with ``.loc``,
  rows shuffled, mini-batches of rows turned into tensors each step), and the ratio ours / reference;
- the achieved FLOP rate of the step (FLOPs counted by ``torch.utils.flop_counter``) as a share of
  this CPU's float32 matmul throughput, measured in the same run on a large square matmul;
- inference time per day at the largest N;
- where the time goes (the top operators of one profiled step; ``--no-profile`` skips this and the FLOPs).

``--attention`` adds the ``cross_attention`` mixer alone (one forward + backward on ``(N, 50, 64)``,
4 heads, every stock attending to every stock vs 16 inducing "market" tokens), each in a fresh process:
seconds as a ratio to ``group_demean`` timed in that process, and the process's peak memory above its
inputs next to what one N x N x T' float32 tensor (and the heads' N x N x T' x 4 scores) would take.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo.compose import build_model  # noqa: E402
from zoo.registry import get_registry  # noqa: E402
from zoo.specs import load_spec  # noqa: E402
from zoo.train.days import Day, list_dayset  # noqa: E402
from zoo.train.trainer import FitConfig, fit  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
T, F = 150, 6


def matmul_gflops(n: int = 1024, reps: int = 8) -> float:
    """This CPU's float32 matmul rate (GFLOP/s) on an n x n product, best of ``reps``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def make_days(n: int, days: int, seed: int = 0) -> list[Day]:
    """Random day batches shaped like the trainer's (inputs are irrelevant to the timing)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(days):
        ctx = {
            "size": torch.randn(n, generator=g),
            "size_group": torch.randint(0, 5, (n,), generator=g),
            "industry": torch.randint(0, 28, (n,), generator=g),
            "mask": torch.ones(n, dtype=torch.bool),
        }
        date = np.datetime64("2021-01-01", "ns") + np.timedelta64(k, "D")
        syms = np.array([f"S{i}" for i in range(n)])
        out.append(Day(date, syms, torch.randn(n, T, F, generator=g), torch.randn(n, generator=g), ctx))
    return out


def step_flops(model: torch.nn.Module, day: Day) -> int:
    """FLOPs of one forward + backward on ``day`` (matmuls and convolutions, as torch counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        model(day.x, day.ctx).pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def ours(spec, n: int, steps: int) -> tuple[float, float, torch.nn.Module, Day]:
    """Seconds per step of our trainer (one epoch of ``steps`` days; validation kept to one day)."""
    days = make_days(n, steps + 1)
    torch.manual_seed(0)
    model = build_model(spec.model, F, get_registry())
    loss = get_registry().build("loss", "ic", {}, 0)
    train, valid = list_dayset(days[:steps]), list_dayset(days[steps:])
    fit(model, loss, list_dayset(days[:1]), valid, FitConfig(max_epochs=1, min_stocks=3), seed=0)  # warm-up
    t = time.perf_counter()
    fit(model, loss, train, valid, FitConfig(max_epochs=1, min_stocks=3), seed=0)
    total = time.perf_counter() - t
    t = time.perf_counter()
    model.eval()
    with torch.no_grad():
        model(days[-1].x, days[-1].ctx)
    valid_s = time.perf_counter() - t
    return (total - valid_s) / steps, valid_s, model, days[0]


def reference(spec, n: int, steps: int, batch_rows: int = 2000) -> float:
    """Seconds per ``n`` stock-windows of the plain loop: DataFrame slicing, shuffled row mini-batches."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2021-01-01", periods=steps)
    index = pd.MultiIndex.from_product([dates, [f"S{i}" for i in range(n)]], names=["datetime", "instrument"])
    cols = [f"{f}{t}" for t in range(T) for f in range(F)]
    df = pd.DataFrame(rng.standard_normal((len(index), T * F), dtype=np.float32), index=index, columns=cols)
    df["label"] = rng.standard_normal(len(index)).astype(np.float32)
    torch.manual_seed(0)
    model = build_model(spec.model, F, get_registry())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ctx_all = {"size": torch.randn(batch_rows), "mask": torch.ones(batch_rows, dtype=torch.bool)}

    def epoch() -> int:
        seen = 0
        part = df.loc[dates[0] : dates[-1]]  # per-epoch slicing, as the reference trainers do
        x_all, y_all = part[cols].values, part["label"].values
        order = rng.permutation(len(part))
        for i in range(0, len(order), batch_rows):
            rows = order[i : i + batch_rows]
            x = torch.from_numpy(x_all[rows].reshape(-1, T, F).copy())
            y = torch.from_numpy(y_all[rows].copy())
            ctx = {k: v[: len(rows)] for k, v in ctx_all.items()}
            pred = model(x, ctx)
            loss = ((pred - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(rows)
        return seen

    warm = torch.from_numpy(df[cols].values[:batch_rows].reshape(-1, T, F).copy())
    warm_ctx = {
        k: v[: len(warm)] for k, v in ctx_all.items()
    }  # fewer rows than a batch when n * steps is small
    model(warm, warm_ctx).sum().backward()  # first-call allocations, as ours gets a warm-up fit
    opt.zero_grad()
    t = time.perf_counter()
    seen = epoch()
    return (time.perf_counter() - t) / seen * n


def top_ops(model: torch.nn.Module, day: Day, k: int = 6) -> str:
    """The operators that take the most self CPU time in one training step."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model(day.x, day.ctx).pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    return ", ".join(f"{e.key} {100 * e.self_cpu_time_total / total:.0f}%" for e in rows[:k])


def mixer_step(n: int, inducing: int, steps: int = 50, d: int = 64, heads: int = 4) -> dict[str, float]:
    """One forward + backward of the cross_attention mixer on ``(n, steps, d)``, in this process.

    Returns its seconds, the same for ``group_demean`` (the reference) and this process's peak RSS above
    what it held once the inputs existed (Linux ``ru_maxrss``, so run it in a fresh process).
    """
    import resource

    g = torch.Generator().manual_seed(0)
    h = torch.randn(n, steps, d, generator=g, requires_grad=True)
    ctx = {"size": torch.randn(n, generator=g), "mask": torch.rand(n, generator=g) > 0.05}
    reg = get_registry()
    torch.manual_seed(0)
    mixer = reg.build("mixer", "cross_attention", {"heads": heads, "inducing": inducing}, d)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    mixer(h, ctx).pow(2).mean().backward()
    attn_s = time.perf_counter() - t
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    demean = reg.build("mixer", "group_demean", {}, d)
    h.grad = None
    t = time.perf_counter()
    demean(h, ctx).pow(2).mean().backward()
    return {"seconds": attn_s, "reference_seconds": time.perf_counter() - t, "peak_mb": peak_mb}


def attention_choice(stocks: list[int], threads: int) -> None:
    """Print the cross_attention mixer's time and memory, all-pairs vs inducing tokens, at each N."""
    import json
    import subprocess

    for n in stocks:
        for inducing in (0, 16):
            cmd = [sys.executable, __file__, "--threads", str(threads), "--mixer-step", str(n), str(inducing)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            full_mb = n * n * 50 * 4 / 2**20
            mode = "all pairs" if inducing == 0 else f"{inducing} tokens"
            ratio = r["seconds"] / r["reference_seconds"]
            print(
                f"cross_attention ({mode:>9}) N={n:>5}, T'=50, d=64, 4 heads: forward+backward "
                f"{r['seconds']:.3f} s = {ratio:.1f}x group_demean ({r['reference_seconds']:.3f} s); "
                f"peak memory above inputs {r['peak_mb']:.0f} MB (one N x N x T' float32 tensor: "
                f"{full_mb:.0f} MB, the 4 heads' scores: {4 * full_mb:.0f} MB)",
                flush=True,
            )


def with_inducing(spec, tokens: int):
    """``spec`` with every ``cross_attention`` mixer routed through ``tokens`` inducing tokens."""
    import attrs

    from zoo.specs import ComponentRef

    def swap(ref):
        if ref.name != "cross_attention":
            return ref
        return ComponentRef(ref.name, {**ref.params, "inducing": tokens})

    branches = {k: attrs.evolve(b, mixer=swap(b.mixer)) for k, b in spec.model.branches.items()}
    return attrs.evolve(spec, model=attrs.evolve(spec.model, branches=branches))


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["gru", "decompgru"], help="spec names in specs/")
    ap.add_argument("--stocks", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--no-profile", action="store_true", help="skip the FLOP count and the operator profile")
    ap.add_argument("--attention", action="store_true", help="the cross_attention mixer alone, two ways")
    ap.add_argument(
        "--inducing", type=int, default=0, help="set every cross_attention mixer's inducing tokens to this"
    )
    ap.add_argument("--mixer-step", type=int, nargs=2, help=argparse.SUPPRESS)  # N, inducing: one child
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mixer_step:
        import json

        print(json.dumps(mixer_step(*args.mixer_step)))
        return
    roof = matmul_gflops()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads; float32 matmul roofline {roof:.1f} GFLOP/s")
    if args.attention:
        attention_choice(args.stocks, args.threads)
    specs = {name: load_spec(REPO / "specs" / f"{name}.toml") for name in args.models}
    if args.inducing:
        specs = {f"{name}[{args.inducing} tok]": with_inducing(s, args.inducing) for name, s in specs.items()}
    for name, spec in specs.items():
        for n in args.stocks:
            step_s, infer_s, model, day = ours(spec, n, args.steps)
            ref_s = reference(spec, n, args.steps)
            line = (
                f"{name:<10} N={n:>5}: ours {n / step_s:>8.0f} windows/s ({step_s:.3f} s/day), "
                f"reference {n / ref_s:>8.0f} windows/s, ratio {ref_s / step_s:.2f}x; "
            )
            if not args.no_profile:
                flops = step_flops(model, day)
                share = flops / step_s / 1e9 / roof
                line += (
                    f"{flops / 1e9:.2f} GFLOP/step = {flops / step_s / 1e9:.1f} GFLOP/s "
                    f"= {100 * share:.0f}% of matmul; "
                )
            print(line + f"inference {infer_s:.3f} s/day", flush=True)
        if not args.no_profile:
            print(f"  where the time goes ({name}, N={args.stocks[-1]}): {top_ops(model, day)}")


if __name__ == "__main__":
    main()
