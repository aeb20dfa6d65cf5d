"""Data benchmarks (not a test): day batches vs a per-stock loop, Zarr I/O, synthetic generation, append.

Run: ``python bench/bench_data.py [--stocks 5000] [--days 20] [--append-stocks 500] [--only append]``.
Every timing is printed with its reference from the same process, so the ratios (not the seconds)
are what to compare across machines.
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

from zoo.datasets import open_cube, write_cube  # noqa: E402
from zoo.datasets.batches import MAD_SCALE, DayBatches, normalize_windows  # noqa: E402
from zoo.datasets.synth import make_market  # noqa: E402


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


def _real_data() -> Path | None:
    """The shared real data folder, if this checkout sits where it can see it."""
    here = Path(__file__).resolve()
    for root in (here.parents[2], here.parents[3]):
        folder = root / "shared" / "data" / "cn_ashare_tdx_2015_2023"
        if (folder / "daily.parquet").exists():
            return folder
    return None


def _files(path: Path) -> dict[str, int]:
    """Every file under ``path`` -> its inode (what a write replaced shows as a new inode)."""
    return {str(p.relative_to(path)): p.stat().st_ino for p in path.rglob("*") if p.is_file()}


def bench_append(tmp: Path, n_stocks: int) -> None:
    """Appending the last day to an ``n_stocks`` real slice (all dates), against rewriting it whole."""
    import pandas as pd
    from zoo.datasets.append import append_store
    from zoo.datasets.ingest import ingest
    from zoo.datasets.labels import ensure_labels
    from zoo.datasets.schema import APPEND_DATE_CHUNK

    real = _real_data()
    if real is None:
        print("append: skipped (no shared real data here)")
        return
    df = pd.read_parquet(real / "daily.parquet")
    df["symbol"] = df["symbol"].astype(str)
    last = df["date"].max()
    old_syms = np.sort(df.loc[df["date"] < last, "symbol"].unique())
    keep = old_syms[:: max(1, len(old_syms) // n_stocks)][:n_stocks]  # no new symbol on the last day
    df = df[df["symbol"].isin(keep)]
    df[df["date"] < last].to_parquet(tmp / "old.parquet")
    df[df["date"] == last].to_parquet(tmp / "day.parquet")
    kw = dict(symbols_file=real / "stocks.csv", index_file=real / "index_daily.parquet")
    store = tmp / "a.zarr"
    write_cube(ensure_labels(ingest([tmp / "old.parquet"], **kw)), store, date_chunk=APPEND_DATE_CHUNK)
    before = _files(store)
    total = sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / 2**20
    marks = [("start", time.perf_counter(), time.process_time())]

    def mark(msg: str) -> None:
        """Record a step's start (wall and CPU seconds: the shared machine's load shows in the first)."""
        marks.append((msg, time.perf_counter(), time.process_time()))

    result = append_store(store, [tmp / "day.parquet"], **kw, step=mark)
    mark("end")
    after = _files(store)
    fresh = [k for k, ino in after.items() if before.get(k) != ino]
    written = sum((store / k).stat().st_size for k in fresh) / 2**20
    steps = ", ".join(f"{a[0]} {b[2] - a[2]:.2f}s" for a, b in zip(marks[1:-1], marks[2:], strict=True))
    cpu_append = marks[-1][2] - marks[0][2]
    wall_append = marks[-1][1] - marks[0][1]
    c0 = time.process_time()
    write_cube(result.cube, tmp / "whole.zarr", date_chunk=APPEND_DATE_CHUNK)
    cpu_whole = time.process_time() - c0
    c0 = time.process_time()
    cube = ensure_labels(ingest([tmp / "old.parquet", tmp / "day.parquet"], **kw))
    write_cube(cube, tmp / "fresh.zarr", date_chunk=APPEND_DATE_CHUNK)
    cpu_fresh = time.process_time() - c0
    print(
        f"append 1 day to {result.cube.sizes['symbol']} stocks x {result.cube.sizes['date'] - 1} days "
        f"({result.rewritten} write): CPU {cpu_append:.2f}s, wall {wall_append:.2f}s ({steps}, CPU); "
        f"rewrote {len(fresh)} of {len(after)} files, {written:.1f} of {total:.1f} MiB; "
        f"whole-store write of the same cube CPU {cpu_whole:.2f}s; fresh ingest + write CPU "
        f"{cpu_fresh:.2f}s ({cpu_fresh / cpu_append:.2f}x the append)"
    )


def main() -> None:
    """Run every data benchmark (or one, with --only)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--append-stocks", type=int, default=500)
    ap.add_argument("--only", choices=["batches", "io", "synth", "append"], default=None)
    args = ap.parse_args()
    run = {args.only} if args.only else {"batches", "io", "synth", "append"}
    if "batches" in run:
        bench_batches(args.stocks, args.days)
    tmp = Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        if "io" in run:
            bench_io(tmp)
        if "append" in run:
            bench_append(tmp, args.append_stocks)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if "synth" in run:
        bench_synth_default()


if __name__ == "__main__":
    main()
