"""Files of an index-enhancement back-test: Fig. 26 tables (Markdown + CSV), excess-NAV plots, logs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from zoo.evaluation.enhance.backtest import EnhanceResult
from zoo.evaluation.enhance.stats import STAT_ROWS, format_table


def headline_metrics(results: Mapping[str, EnhanceResult]) -> dict[str, float]:
    """Whole-period statistics as metrics ``enhance_<index>_<stat>``, plus relaxed and held week counts."""
    out: dict[str, float] = {}
    for index, res in results.items():
        for stat in STAT_ROWS:
            out[f"enhance_{index}_{stat}"] = float(res.stats.loc[stat, "all"])
        status = res.rebalances["status"]
        out[f"enhance_{index}_relaxed_weeks"] = float((status == "relaxed").sum())
        out[f"enhance_{index}_held_weeks"] = float((status == "hold").sum())
        out[f"enhance_{index}_rebalances"] = float(len(status))
    return out


def plot_excess_nav(results: Mapping[str, EnhanceResult], title: str = "") -> object:
    """One figure: the excess NAV of every index (report Fig. 23-25 in one panel), a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for index, res in results.items():
        ax.plot(res.daily.index, res.daily["excess_nav"], label=index, linewidth=1.2)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylabel("excess NAV (portfolio / index)")
    ax.set_title(title or "Index enhancement: excess NAV")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_index(res: EnhanceResult, title: str = "") -> object:
    """NAV of the portfolio and the index (left axis) and the excess NAV (right axis) for one index."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(res.daily.index, res.daily["nav"], label="enhanced portfolio", linewidth=1.2)
    ax.plot(res.daily.index, res.daily["bench_nav"], label=f"{res.index} (stand-in)", linewidth=1.2)
    ax.set_ylabel("NAV")
    ax2 = ax.twinx()
    ax2.fill_between(
        res.daily.index, 1.0, res.daily["excess_nav"], color="tab:red", alpha=0.25, label="excess"
    )
    ax2.set_ylabel("excess NAV")
    lines = ax.get_legend_handles_labels()
    extra = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], loc="upper left")
    ax.set_title(title or f"{res.index}: enhanced portfolio vs index")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def summary_markdown(results: Mapping[str, EnhanceResult], title: str = "Index enhancement") -> str:
    """The Fig. 26 tables of every index plus a line on relaxed / held weeks, as Markdown."""
    parts = [f"## {title}", ""]
    for index, res in results.items():
        log = res.rebalances
        parts += [format_table(res.stats, index), ""]
        relaxed = log.loc[log["status"] == "relaxed"]
        held = log.loc[log["status"] == "hold"]
        parts.append(
            f"{index}: {len(log)} rebalances {log.index.min():%Y-%m-%d} .. {log.index.max():%Y-%m-%d}, "
            f"{len(relaxed)} relaxed, {len(held)} held (no trade), median {log['n_candidates'].median():.0f} "
            f"candidates, median solve {np.median(log['solve_seconds']) * 1e3:.0f} ms."
        )
        if res.skipped:
            parts.append(f"{len(res.skipped)} weeks skipped (no index weights on the trade date).")
        if len(relaxed):
            steps = relaxed["relaxed"].value_counts()
            parts.append("Relaxations: " + "; ".join(f"`{s}` x{n}" for s, n in steps.items()) + ".")
        parts.append("")
    return "\n".join(parts)


def write_outputs(results: Mapping[str, EnhanceResult], out_dir: str | Path, title: str = "") -> Path:
    """Write tables, logs and plots under ``out_dir`` (the MLflow ``enhance/`` layout); return it."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(summary_markdown(results, title or "Index enhancement"), encoding="utf-8")
    table = pd.concat({index: res.stats for index, res in results.items()}, names=["index", "stat"])
    table.to_csv(out / "stats.csv")
    fig = plot_excess_nav(results, title)
    fig.savefig(out / "excess_nav.png", dpi=120)
    plt.close(fig)
    for index, res in results.items():
        sub = out / index
        sub.mkdir(exist_ok=True)
        res.stats.to_csv(sub / "stats.csv")
        res.daily.to_csv(sub / "daily.csv", float_format="%.8g")
        res.rebalances.to_csv(sub / "rebalances.csv", float_format="%.8g")
        fig = plot_index(res)
        fig.savefig(sub / "nav.png", dpi=120)
        plt.close(fig)
    return out
