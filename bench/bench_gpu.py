"""Device benchmark (not a test): train step, inference and day windows on a GPU (or the CPU), and the
projected wall time of the report's full protocol on that device.

Run: ``python bench/bench_gpu.py [--device auto|cpu|cuda[:N]] [--quick]``. It needs torch, numpy and
the project's model code only (no zarr, xarray, pandas, mlflow or cattrs: the models are built from
``specs/*.toml`` read with ``tomllib`` into plain objects and ready component configs; the data is a
synthetic panel). The day windows use ``datasets.windows``, which also needs ``array_api_compat``;
without it that line says so and the rest runs.

Printed, for GRU and DecompGRU at each N: the train step (forward, backward, Adam, IC loss, as the
trainer runs it) and inference in ms, peak device memory, the same model's CPU step in this process
and the ratio; the day window build (gather + normalise) on the device and with numpy; a short fit
(the trainer's own ``fit``) on a synthetic market with a planted signal, which gives seconds per
epoch and the epochs early stopping needed; concurrent fits on one GPU (k models stepping on their
own CUDA streams) against one at a time; and the projection with every assumption printed.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import threading
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zoo.compose import build_model  # noqa: E402
from zoo.registry import get_registry  # noqa: E402
from zoo.train.days import Day, list_dayset  # noqa: E402
from zoo.train.device import autocast, matmul_precision, resolve_device  # noqa: E402
from zoo.train.trainer import FitConfig, fit, train_step  # noqa: E402

T, F = 150, 6
SPECS = ("gru", "decompgru")

# The report's protocol (docs/training.md): 4 specs (GRU, DecompGRU x IC, weighted MSE), 3 test
# years, 3 seeds; per fit 4 training years (~970 days, less the purge) and 1 validation year.
PROTOCOL = dict(specs=4, test_years=3, seeds=3, train_days=960, valid_days=240, test_days=242, max_epochs=100)


# ----------------------------------------------------------------------------- models without cattrs


def _ref(registry, slot: str, table) -> SimpleNamespace:
    """A component reference whose params are already the component's config object (no cattrs)."""
    table = {"name": table} if isinstance(table, str) else dict(table)
    name = table.pop("name")
    return SimpleNamespace(name=name, params=registry.get(slot, name).config(**table))


def plain_model_spec(name: str, registry) -> SimpleNamespace:
    """``specs/NAME.toml``'s ``[model]`` as the plain object ``zoo.compose.build_model`` reads."""
    raw = tomllib.loads((REPO / "specs" / f"{name}.toml").read_text())
    if "extends" in raw:
        raise SystemExit(f"specs/{name}.toml uses extends; bench_gpu reads self-contained specs only")
    m = raw["model"]
    branches = {
        key: SimpleNamespace(
            encoder=[_ref(registry, "encoder", e) for e in b.get("encoder", [])],
            mixer=_ref(registry, "mixer", b.get("mixer", "identity")),
            enabled=b.get("enabled", True),
            input=b.get("input"),
        )
        for key, b in m["branches"].items()
    }
    return SimpleNamespace(
        decomposition=_ref(registry, "decomposition", m["decomposition"]),
        branches=branches,
        norm=m.get("norm", "layernorm"),
        trunk=[_ref(registry, "encoder", e) for e in m.get("trunk", [])],
        head=_ref(registry, "head", m["head"]),
        fusion=_ref(registry, "fusion", m["fusion"]) if "fusion" in m else None,
        estimator=None,
    )


def ic_loss() -> torch.nn.Module:
    """The IC loss, from its ready config object (no cattrs)."""
    registry = get_registry()
    return registry.build("loss", "ic", registry.get("loss", "ic").config(), 0)


def make_model(name: str, device: torch.device, seed: int = 0) -> torch.nn.Module:
    """The spec's model, built under ``seed`` on ``device``."""
    registry = get_registry()
    torch.manual_seed(seed)
    return build_model(plain_model_spec(name, registry), F, registry).to(device)


# ----------------------------------------------------------------------------- timing helpers


def sync(device: torch.device) -> None:
    """Wait for the device (timings must include the kernels, not only their launch)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, reps: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``reps`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return float(np.median(out))


def random_day(n: int, device: torch.device, seed: int = 0) -> Day:
    """One day of n stocks shaped as the trainer sees it, on ``device``."""
    g = torch.Generator().manual_seed(seed)
    ctx = {
        "size": torch.randn(n, generator=g),
        "size_group": torch.randint(0, 5, (n,), generator=g),
        "industry": torch.randint(0, 28, (n,), generator=g),
        "mask": torch.ones(n, dtype=torch.bool),
    }
    day = Day(
        np.datetime64("2022-01-03", "ns") + np.timedelta64(seed, "D"),
        np.array([f"S{i}" for i in range(n)]),
        torch.randn(n, T, F, generator=g).to(device),
        torch.randn(n, generator=g).to(device),
        {k: v.to(device) for k, v in ctx.items()},
        n_labelled=n,
    )
    return day


def peak_memory(device: torch.device) -> str:
    """Peak device memory since the last reset (CUDA), else this process's peak resident memory."""
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB (device)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB (process RSS)"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


# ----------------------------------------------------------------------------- measurements


def step_and_inference(
    name: str, n: int, device: torch.device, reps: int, precision: str
) -> dict[str, float]:
    """Train step and inference seconds of ``name`` at N = n on ``device``."""
    model = make_model(name, device)
    loss_fn = ic_loss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True if device.type == "cuda" else None)
    day = random_day(n, device)
    cfg = FitConfig(precision=precision)
    reset_peak(device)

    def infer():
        with torch.no_grad(), autocast(device, precision):
            model(day.x, day.ctx)

    with matmul_precision(device, precision):
        model.train()
        step = timed(lambda: train_step(model, loss_fn, opt, day, "rank", cfg), device, reps)
        model.eval()
        inference = timed(infer, device, reps)
    return {"step": step, "inference": inference, "memory": peak_memory(device)}


def windows_per_day(n: int, device: torch.device, days: int) -> tuple[float | None, str]:
    """Seconds to gather + normalise one day's windows on ``device`` (and a line comparing with numpy)."""
    try:
        import array_api_compat.torch as tx
        from zoo.datasets.fields import FIELDS
        from zoo.datasets.windows import gather_windows, normalize_windows
    except ImportError as exc:
        return None, f"skipped ({exc.name} is not installed here: carry its wheel)"
    rng = np.random.default_rng(0)
    d = days + T
    price = np.exp(np.cumsum(rng.normal(0, 0.02, (n, d, 1)), axis=1)).astype(np.float32)
    panel = np.concatenate(
        [price * rng.uniform(0.98, 1.02, (n, d, 5)), rng.lognormal(10, 1, (n, d, 1))], axis=2
    )
    panel = panel.astype(np.float32)
    panel[rng.random((n, d)) < 0.03] = np.nan
    breach = rng.random((d - T + 1, n)) < 0.001
    last_breach = np.maximum.accumulate(np.where(breach, np.arange(len(breach))[:, None], -1), axis=0)
    idx = np.sort(rng.choice(n, size=int(0.95 * n), replace=False))
    host = (panel, last_breach.astype(np.int64), idx)
    dev = tuple(tx.asarray(a, device=device) for a in host)

    def build(arrays, t):
        return normalize_windows(gather_windows(arrays[0], arrays[1], t, arrays[2], T), FIELDS)

    on_device = timed(lambda: [build(dev, t) for t in range(days)], device, reps=3, warmup=1) / days
    numpy = timed(lambda: [build(host, t) for t in range(min(days, 3))], torch.device("cpu"), 1, 1) / min(
        days, 3
    )
    err = float((build(dev, 0).cpu() - torch.from_numpy(build(host, 0))).abs().max())
    where = f"torch on {device}"
    return on_device, (
        f"{on_device * 1e3:.2f} ms/day on {where} vs numpy {numpy * 1e3:.1f} ms/day "
        f"(x{numpy / on_device:.1f}), N={len(idx)}, max abs diff {err:.1e}; "
        f"panel {panel.nbytes / 2**20:.0f} MiB"
    )


def synthetic_market(n: int, days: int, device: torch.device, seed: int = 0) -> list[Day]:
    """Days whose label is a noisy function of the last 5 days' return (a planted, learnable signal)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(days):
        x = torch.randn(n, T, F, generator=g)
        signal = -x[:, -5:, 3].sum(1)  # short-term reversal on the close field
        y = signal + 3.0 * torch.randn(n, generator=g)
        ctx = {"size": torch.randn(n, generator=g), "mask": torch.ones(n, dtype=torch.bool)}
        day = Day(
            np.datetime64("2020-01-01", "ns") + np.timedelta64(k, "D"),
            np.arange(n).astype(str),
            x.to(device),
            y.to(device),
            {key: v.to(device) for key, v in ctx.items()},
            n_labelled=n,
        )
        out.append(day)
    return out


def short_fit(name: str, n: int, device: torch.device, train: int, valid: int, epochs: int, patience: int):
    """The trainer's fit on the synthetic market: seconds per epoch and epochs run / best epoch."""
    days = synthetic_market(n, train + valid, device)
    model = make_model(name, device)
    loss_fn = ic_loss()
    cfg = FitConfig(max_epochs=epochs, patience=patience, min_stocks=3)
    t0 = time.perf_counter()
    result = fit(model, loss_fn, list_dayset(days[:train]), list_dayset(days[train:]), cfg, seed=0)
    sync(device)
    return (time.perf_counter() - t0) / result.epochs_run, result


def concurrent_speedup(name: str, n: int, device: torch.device, k: int, steps: int) -> float:
    """Throughput of k models stepping at once (one thread and CUDA stream each) over one at a time."""
    models = [make_model(name, device, seed=s) for s in range(k)]
    loss_fn = ic_loss()
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3, fused=True) for m in models]
    day = random_day(n, device)
    cfg = FitConfig()
    streams = [torch.cuda.Stream(device) for _ in range(k)]

    def run(i: int) -> None:
        with torch.cuda.stream(streams[i]):
            for _ in range(steps):
                train_step(models[i], loss_fn, opts[i], day, "rank", cfg)

    for i in range(k):
        run(i)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    for i in range(k):
        run(i)
    sync(device)
    serial = time.perf_counter() - t0
    threads = [threading.Thread(target=run, args=(i,)) for i in range(k)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    sync(device)
    return serial / (time.perf_counter() - t0)


def fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


# ----------------------------------------------------------------------------- main


def main() -> None:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--quick", action="store_true", help="small repetitions and fit (for a CPU)")
    ap.add_argument("--stocks", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--fit-stocks", type=int, default=None, help="stocks of the short fit (default: max N)")
    ap.add_argument("--fit-epochs", type=int, default=None, help="max epochs of the short fit")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cpu = torch.device("cpu")
    quick = args.quick
    reps = 2 if quick else 20
    t_start = time.perf_counter()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(
        f"bench_gpu on {device} ({gpu}); torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{platform.processor() or platform.machine()}; precision {args.precision}; "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    results: dict[tuple[str, int], dict[str, float]] = {}
    for name in SPECS:
        for n in args.stocks:
            r = step_and_inference(name, n, device, reps, args.precision)
            line = (
                f"{name:<10} N={n:>5}: train step {r['step'] * 1e3:8.1f} ms, inference "
                f"{r['inference'] * 1e3:7.1f} ms, peak memory {r['memory']}"
            )
            if device.type != "cpu":
                c = step_and_inference(name, n, cpu, 1, "fp32")
                line += f"; CPU step {c['step'] * 1e3:,.0f} ms -> x{c['step'] / r['step']:.0f} on {device}"
            else:
                line += "; CPU step: this is the CPU (ratio 1)"
            results[(name, n)] = r
            print(line, flush=True)
    n_max = max(args.stocks)
    build_s, text = windows_per_day(n_max, device, 5 if quick else 20)
    print(f"day windows (gather + breach cut + normalise), N={n_max}: {text}", flush=True)

    fit_n = args.fit_stocks or (300 if quick else n_max)
    fit_epochs = args.fit_epochs or (3 if quick else 100)
    patience = 2 if quick else 15
    train, valid = (20, 10) if quick else (60, 30)
    per_epoch, res = short_fit("decompgru", fit_n, device, train, valid, fit_epochs, patience)
    stopped = "stopped early" if res.stopped_early else "hit the cap"
    print(
        f"short fit (decompgru-ic, N={fit_n}, {train} train + {valid} valid synthetic days, "
        f"patience {patience}): {res.epochs_run} epochs ({stopped}; best epoch {res.best_epoch}, "
        f"valid RankIC {res.best_valid_ic:.3f}), {per_epoch:.2f} s/epoch"
    )
    speedup = 1.0
    if device.type == "cuda":
        speedup = concurrent_speedup("decompgru", n_max, device, k=3, steps=10 if quick else 30)
        print(
            f"3 DecompGRU fits at once on one GPU (a thread + stream each) vs one at a time: "
            f"x{speedup:.2f} throughput"
        )

    # ---- projection of the report's full protocol
    p = PROTOCOL
    epochs = res.epochs_run if res.stopped_early else p["max_epochs"]
    fits = p["specs"] * p["test_years"] * p["seeds"]
    per_fit = {}
    for name in SPECS:
        r = results[(name, n_max)]
        epoch_s = p["train_days"] * r["step"] + p["valid_days"] * r["inference"]
        per_fit[name] = epochs * epoch_s + p["test_days"] * r["inference"]
    day_bytes = n_max * T * F * 4
    cached_days = int(2_000_000_000 // day_bytes)
    rebuilt = max(p["train_days"] + p["valid_days"] - cached_days, 0)
    if build_s is not None:
        per_fit = {k: v + epochs * rebuilt * build_s for k, v in per_fit.items()}
    windows_note = (
        f"the other {rebuilt} rebuilt every epoch at the measured ms/day"
        if build_s is not None
        else f"the other {rebuilt} rebuilt every epoch (cost not measured here, not added)"
    )
    serial = sum(per_fit.values()) / len(SPECS) * fits
    print(
        f"projection of the report's protocol on {device}: {fits} fits = {p['specs']} specs "
        f"(GRU, DecompGRU x IC, weighted MSE) x {p['test_years']} test years x {p['seeds']} seeds; "
        f"per fit {epochs} epochs x "
        f"({p['train_days']} train steps + {p['valid_days']} validation days) + {p['test_days']} test days; "
        f"N={n_max} stocks a day"
    )
    for name in SPECS:
        print(f"  {name}: {fmt_hours(per_fit[name])} per fit")
    print(
        f"  total one fit at a time: {fmt_hours(serial)}; with {speedup:.2f}x from concurrent fits: "
        f"{fmt_hours(serial / speedup)}"
    )
    print(
        "  assumptions: the weighted-MSE step costs what the IC step costs; epochs = the short fit's "
        f"epochs when early stopping ended it, else the cap ({p['max_epochs']}); day windows cached on the "
        f"device within 2 GB ({cached_days} days of {day_bytes / 2**20:.0f} MiB), {windows_note}; "
        "opening the cube, MLflow logging and evaluation not included; the real market's epochs to "
        "early stopping can differ from the synthetic signal's"
    )
    total = time.perf_counter() - t_start
    print(f"bench_gpu wall time {total:.0f} s")


if __name__ == "__main__":
    main()
