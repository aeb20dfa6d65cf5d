"""Matplotlib PNG figures of the factor tests (headless: the Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # evaluation runs on servers and in CI without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def group_returns(ladders: Mapping[str, pd.Series], path: Path, title: str = "") -> Path:
    """Bars of every group's annualised return, one panel row per model (benchmark as a dashed line)."""
    n = max(len(ladders), 1)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.4 * n), squeeze=False)
    for ax, (model, ladder) in zip(axes[:, 0], ladders.items(), strict=False):
        groups = ladder.drop("universe", errors="ignore")
        ax.bar([str(g) for g in groups.index], groups.to_numpy() * 100, color="tab:blue")
        if "universe" in ladder.index:
            ax.axhline(ladder["universe"] * 100, color="k", ls="--", lw=1, label="universe (equal weight)")
            ax.legend(loc="upper left", fontsize=8)
        ax.set_ylabel("ann. return %")
        ax.set_title(f"{model}", fontsize=9)
    axes[-1, 0].set_xlabel("group (1 = lowest score, last = TOP)")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def excess_nav(excess: Mapping[str, pd.Series], path: Path, title: str = "") -> Path:
    """TOP-group excess NAV (compounded daily excess over the universe) over time, one line per model."""
    fig, ax = plt.subplots(figsize=(9, 4))
    for model, ex in excess.items():
        ax.plot(ex.index, (1 + ex.fillna(0.0)).cumprod(), label=model, lw=1.2)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel("excess NAV")
    ax.legend(fontsize=8)
    ax.set_title(title or "TOP group excess NAV")
    return _save(fig, path)


def yearly_excess(yearly: Mapping[str, pd.DataFrame], path: Path, title: str = "") -> Path:
    """Bars of the TOP group's excess return per calendar year, models side by side."""
    frame = pd.DataFrame({m: t["excess_return"] for m, t in yearly.items()})
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(frame.shape[1], 1)
    x = np.arange(frame.shape[0])
    for i, model in enumerate(frame.columns):
        ax.bar(x + i * width - 0.4 + width / 2, frame[model].to_numpy() * 100, width, label=model)
    ax.set_xticks(x, [str(y) for y in frame.index])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("excess return %")
    ax.legend(fontsize=8)
    ax.set_title(title or "TOP group excess return by year")
    return _save(fig, path)


def ic_series(ics: Mapping[str, pd.Series], window: int, path: Path, title: str = "") -> Path:
    """Daily RankIC (thin) with its rolling mean (thick), one panel row per model."""
    n = max(len(ics), 1)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.4 * n), squeeze=False, sharex=True)
    for ax, (model, ic) in zip(axes[:, 0], ics.items(), strict=False):
        ax.plot(ic.index, ic.to_numpy(), color="tab:gray", lw=0.5, alpha=0.7)
        ax.plot(ic.index, ic.rolling(window, min_periods=max(1, window // 2)).mean(), color="tab:red", lw=1.5)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylabel("RankIC")
        ax.set_title(f"{model} (rolling {window}-day mean in red)", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def heatmap(table: pd.DataFrame, path: Path, title: str = "", vmax: float = 1.0) -> Path:
    """A signed heatmap of a table (style or factor correlations) with the values written in."""
    fig, ax = plt.subplots(figsize=(1.3 + 1.1 * table.shape[1], 1.0 + 0.55 * table.shape[0]))
    im = ax.imshow(table.to_numpy(dtype=float), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
    for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    ax.set_title(title)
    return _save(fig, path)
