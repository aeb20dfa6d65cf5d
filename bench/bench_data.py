"""Data benchmarks (not a test): day batches vs a per-stock copying loop, Zarr I/O, synthetic generation.

Run: ``python bench/bench_data.py [--stocks 5000] [--days 20]``. Every timing is printed with its
reference from the same process, so the ratios (not the seconds) are what to compare across machines.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import open_cube, write_cube  # noqa: E402
from datasets.batches import MAD_SCALE, DayBatches, normalize_windows  # noqa: E402
from datasets.synth import make_market  # noqa: E402


def per_stock_windows(cube: xr.Dataset, t: int, idx: np.ndarray, window: int) -> np.ndarray:
    """The plain way: copy and normalise each stock's window in a Python loop."""
    bars = cube["bars"].values
    breach = cube["breach"].values
    x = np.full((len(idx), window, 6), np.nan, dtype=np.float32)
    for n, s in enumerate(idx):
        lo = max(0, t - window + 1)
        seg = bars[lo : t + 1, s].copy()
        cut = np.flatnonzero(breach[lo : t + 1, s])
        if len(cut):
            seg[: cut[-1]] = np.nan
        seg[:, :5] /= bars[t, s, 3]
        seg[:, 5] /= np.nanmean(seg[:, 5])
        x[n, window - len(seg) :] = seg
    return x


def cross_section_reference(x: np.ndarray, clip_mad: float = 5.0) -> np.ndarray:
    """Clip at clip_mad MADs and z-score per (step, field) with numpy's nan-functions, then fill."""
    flat = x.reshape(len(x), -1)
    med = np.nanmedian(flat, axis=0)
    mad = np.nanmedian(np.abs(flat - med), axis=0)
    flat = np.clip(flat, med - clip_mad * MAD_SCALE * mad, med + clip_mad * MAD_SCALE * mad)
    sd = np.nanstd(flat, axis=0)
    flat = (flat - np.nanmean(flat, axis=0)) / np.where(sd > 1e-8, sd, 1)
    return np.nan_to_num(flat.reshape(x.shape))


def _timed(fn, reps: int) -> float:
    """Best-of-``reps`` seconds of one call."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_batches(n_stocks: int, n_days: int) -> None:
    """Day batches against the per-stock copying loop on the same days, at several cross-section sizes."""
    t0 = time.perf_counter()
    cube = make_market(n_stocks=n_stocks, start="2021-01-01", end="2022-06-30", seed=0)
    gen = time.perf_counter() - t0
    print(f"synthetic market {n_stocks} stocks x {cube.sizes['date']} days generated in {gen:.2f}s")
    t0 = time.perf_counter()
    batches = DayBatches(cube, window=150, min_history=120, horizon=10, label_norm="rank")
    print(f"DayBatches setup (panel, eligibility, labels): {time.perf_counter() - t0:.2f}s")
    days = batches.positions[:: max(1, len(batches) // n_days)][:n_days]
    full = np.mean([_timed(lambda t=t: batches.batch_at(int(t)), 1) for t in days])
    n_full = np.mean([batches.eligible[int(t)].sum() for t in days])
    print(f"  whole day batch at N={n_full:.0f}: {full * 1e3:.1f} ms/day over {len(days)} days")
    t = int(days[len(days) // 2])
    elig = np.flatnonzero(batches.eligible[t])
    rng = np.random.default_rng(0)
    for n in (300, 1000, len(elig)):
        idx = np.sort(rng.choice(elig, size=min(n, len(elig)), replace=False))
        fast_w = _timed(lambda idx=idx: batches.raw_windows(t, idx), 3)
        slow_w = _timed(lambda idx=idx: per_stock_windows(cube, t, idx, 150), 1)
        raw = batches.raw_windows(t, idx)
        fast_all = _timed(lambda raw=raw: normalize_windows(raw.copy(), batches.fields), 3) + fast_w
        slow_raw = per_stock_windows(cube, t, idx, 150)
        slow_all = _timed(lambda r=slow_raw: cross_section_reference(r), 1) + slow_w
        err = float(
            np.abs(cross_section_reference(slow_raw) - normalize_windows(raw.copy(), batches.fields)).max()
        )
        print(
            f"  N={len(idx):5d}: windows (gather + breach cut) {fast_w * 1e3:6.1f} ms vs per-stock copying "
            f"loop {slow_w * 1e3:7.1f} ms -> {slow_w / fast_w:5.1f}x; "
            f"with normalisation {fast_all * 1e3:6.1f} ms "
            f"vs {slow_all * 1e3:7.1f} ms -> {slow_all / fast_all:4.1f}x (max abs diff {err:.1e})"
        )


def bench_io(tmp: Path) -> None:
    """Write and read throughput of a cube, against a raw numpy save/load of the same bytes."""
    cube = make_market(n_stocks=2000, start="2019-01-01", end="2022-12-31", seed=1)
    mb = sum(v.nbytes for v in cube.data_vars.values()) / 2**20
    t0 = time.perf_counter()
    write_cube(cube, tmp / "c.zarr")
    w = time.perf_counter() - t0
    t0 = time.perf_counter()
    open_cube(tmp / "c.zarr")
    r = time.perf_counter() - t0
    t0 = time.perf_counter()
    np.savez(tmp / "c.npz", **{k: v.values for k, v in cube.data_vars.items()})
    wn = time.perf_counter() - t0
    t0 = time.perf_counter()
    with np.load(tmp / "c.npz") as z:
        for k in z.files:
            z[k]
    rn = time.perf_counter() - t0
    disk = sum(p.stat().st_size for p in (tmp / "c.zarr").rglob("*") if p.is_file()) / 2**20
    print(
        f"cube {mb:.0f} MiB in memory ({disk:.0f} MiB on disk): write {mb / w:.0f} MiB/s "
        f"(raw npz {mb / wn:.0f} MiB/s, ratio {wn / w:.2f}), read+validate {mb / r:.0f} MiB/s "
        f"(raw npz {mb / rn:.0f} MiB/s, ratio {rn / r:.2f})"
    )


def bench_synth_default() -> None:
    """Generation time at the default size (1,000 stocks x 10 years), against a plain random walk."""
    t0 = time.perf_counter()
    cube = make_market()
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    np.exp(np.cumsum(rng.standard_t(4, size=(cube.sizes["date"], cube.sizes["symbol"], 6)), axis=0))
    walk = time.perf_counter() - t0
    print(
        f"make_market() default {cube.sizes['symbol']} stocks x {cube.sizes['date']} days: {gen:.2f}s "
        f"({gen / walk:.1f}x a bare 6-field random walk of the same shape, {walk:.2f}s)"
    )


def main() -> None:
    """Run every data benchmark."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=20)
    args = ap.parse_args()
    bench_batches(args.stocks, args.days)
    tmp = Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        bench_io(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bench_synth_default()


if __name__ == "__main__":
    main()
