"""What adjustment factors change on the shared market: label coverage and the baselines' RankIC.

    python experiments/adjustment_factors.py [--data ../shared/data/cn_ashare_tdx_2015_2023] \
        [--work /tmp/adjust] [--out results/data/adjustment-factors.csv]

Builds two qlib provider folders from the shared market's ``daily.parquet`` with
``zoo.datasets.readers.qlib.dump_qlib``: one with factor 1, one with factor steps at the flagged
ex-rights days (``limit_breach`` rows whose close dropped beyond the limit: a bonus issue or split
lowers the price; at such a day the factor steps by previous close / open, so the adjusted
overnight gap is zero and the day's own move is kept), both with a ``csi300.txt`` of yearly spells
(the parquet ingest's CSI 300 stand-in members on each year's first trading day, held to the
year's end). It ingests the parquet and both folders with the shipped ``zoo.datasets.ingest``,
checks that the factor-1 folder gives the parquet's raw bars bit for bit and the factor folder
the parquet's raw bars to float32 rounding, that ``csi300`` follows the spells exactly, and writes
label coverage and the built-in baselines' mean daily RankIC (against each cube's own
``label_raw``, universe ``all``) to a CSV with the command and the commit.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from zoo.datasets.ingest import ingest
from zoo.datasets.labels import ensure_labels
from zoo.datasets.readers.qlib import dump_qlib
from zoo.evaluation.ic import ic_summary, label_returns, rank_ic

from zoo.registry import get_registry

BASELINES = ("reversal_5", "reversal_20", "momentum_60", "low_vol_20", "low_turnover_20")
HORIZONS = (10, 20)


def ex_rights_factor(df: pd.DataFrame) -> tuple[np.ndarray, int, int]:
    """A cumulative factor per row (rows sorted by symbol, date) stepping at flagged drops; and the counts."""
    prev = df.groupby("symbol", observed=True)["close"].shift(1).to_numpy(np.float64)
    flagged = df["limit_breach"].to_numpy().astype(bool)
    drop = flagged & (df["close"].to_numpy() < prev)
    step = np.where(drop, prev / df["open"].to_numpy(np.float64), 1.0)
    factor = pd.Series(step).groupby(df["symbol"].to_numpy()).cumprod().to_numpy()
    return factor, int(flagged.sum()), int(drop.sum())


def yearly_spells(cube) -> pd.DataFrame:
    """CSI 300 stand-in members on each year's first trading day, as spells to that year's end."""
    dates = pd.DatetimeIndex(cube["date"].values)
    member = cube["in_universe"].sel(universe="csi300").values
    rows = []
    for year in sorted(set(dates.year)):
        first = np.flatnonzero(dates.year == year)[0]
        for s in np.flatnonzero(member[first]):
            rows.append(
                ("csi300", str(cube["symbol"].values[s]), dates[first], pd.Timestamp(f"{year}-12-31"))
            )
    return pd.DataFrame(rows, columns=["index", "symbol", "start", "end"])


def measure(cube, name: str) -> list[dict]:
    """Label coverage and baseline RankIC rows of one cube."""
    cube = ensure_labels(cube, HORIZONS)
    registry = get_registry()
    listed = cube["listed"].values
    rows = []
    for h in HORIZONS:
        lab = cube["label_raw"].sel(horizon=h).values
        rows.append(
            dict(cube=name, horizon=h, metric="label coverage, all cells", value=np.isfinite(lab).mean())
        )
        rows.append(
            dict(
                cube=name,
                horizon=h,
                metric="label coverage, listed cells",
                value=np.isfinite(lab)[listed].mean(),
            )
        )
        ret = label_returns(cube, h, "raw")
        uni = cube["in_universe"].sel(universe="all").values
        for f in BASELINES:
            score = registry.build("factor", f)(cube)
            s = ic_summary(rank_ic(score, ret, uni))
            rows.append(
                dict(cube=name, horizon=h, metric=f"RankIC {f}", value=s["rank_ic"], n_dates=s["n_dates"])
            )
    rows.append(dict(cube=name, horizon=0, metric="breach cells", value=int(cube["breach"].values.sum())))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/cn_ashare_tdx_2015_2023")
    ap.add_argument("--work", default="/tmp/adjust")
    ap.add_argument("--out", default="results/data/adjustment-factors.csv")
    ap.add_argument("--every", type=int, default=1, help="Every k-th symbol only (a quick check).")
    args = ap.parse_args()
    git = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True).stdout.strip()  # the code this run uses
    work = Path(args.work)
    cols = ["date", "symbol", "open", "high", "low", "close", "volume", "amount", "vwap"]
    df = pd.read_parquet(Path(args.data) / "daily.parquet", columns=[*cols, "limit_breach"])
    df["date"] = pd.to_datetime(df["date"])
    df["symbol"] = df["symbol"].astype(str)
    df = df[df["symbol"].isin(np.sort(df["symbol"].unique())[:: args.every])]
    df = df.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    factor, n_flagged, n_steps = ex_rights_factor(df)
    work.mkdir(parents=True, exist_ok=True)
    df[cols].to_parquet(work / "bars.parquet")

    t0 = time.perf_counter()
    plain = ensure_labels(ingest([work / "bars.parquet"]), HORIZONS)
    seconds = {"parquet, no factor": time.perf_counter() - t0}
    spells = yearly_spells(plain)
    rows = measure(plain, "parquet, no factor")
    ref_bars = plain["bars"].values
    ref_symbols = plain["symbol"].values
    del plain
    gc.collect()

    dump_qlib(df[cols], work / "qlib_f1", spells=spells)
    dump_qlib(df[cols].assign(adj_factor=factor), work / "qlib_adj", spells=spells)
    del df
    gc.collect()
    checks = []
    for name, folder in (("qlib, factor 1", "qlib_f1"), ("qlib, factor steps", "qlib_adj")):
        t0 = time.perf_counter()
        cube = ensure_labels(ingest([work / folder]), HORIZONS)
        seconds[name] = time.perf_counter() - t0
        assert (cube["symbol"].values == ref_symbols).all()
        raw = cube["raw_bars"].values
        same = (raw == ref_bars) | (np.isnan(raw) & np.isnan(ref_bars))
        close = np.isclose(raw, ref_bars, rtol=2.4e-7, atol=0, equal_nan=True)
        checks.append(
            f"{name}: raw bars equal the parquet's in {same.mean():.6%} of values, "
            f"within 2 ulp in {close.mean():.6%}"
        )
        member = cube["in_universe"].sel(universe="csi300").values
        want = _spell_panel(spells, pd.DatetimeIndex(cube["date"].values), ref_symbols)
        checks.append(f"{name}: csi300 equals the spells: {bool((member == want).all())}")
        rows += measure(cube, name)
        del cube
        gc.collect()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    for name, sec in seconds.items():  # wall clock on a shared machine: read as a ratio, same run
        rows.append(dict(cube=name, horizon=0, metric="ingest + labels, wall seconds", value=sec))
    out = pd.DataFrame(rows)
    out["command"] = " ".join(["python", *sys.argv])
    out["commit"] = commit
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    print(f"flagged rows {n_flagged}, factor steps at {n_steps} (flagged drops)")
    print("\n".join(checks))
    print(
        out.pivot_table(index=["horizon", "metric"], columns="cube", values="value").to_string(
            float_format="%.4f"
        )
    )


def _spell_panel(spells: pd.DataFrame, dates: pd.DatetimeIndex, symbols: np.ndarray) -> np.ndarray:
    """The spells as a (D, S) bool panel, one spell at a time (an independent check of the reader's)."""
    out = np.zeros((len(dates), len(symbols)), bool)
    col = {s: j for j, s in enumerate(symbols)}
    for sym, a, b in spells[["symbol", "start", "end"]].itertuples(index=False):
        if sym in col:
            out[(dates >= a) & (dates <= b), col[sym]] = True
    return out


if __name__ == "__main__":
    main()
