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


def yearly_excess(yearly: Mapping[str, pd.DataFrame], path: Path, title: str = "", min_days: int = 0) -> Path:
    """Bars of the TOP group's excess return per calendar year, models side by side.

    A year with fewer than ``min_days`` days (column ``n_days``) is labelled with its day count.
    """
    frame = pd.DataFrame({m: t["excess_return"] for m, t in yearly.items()})
    days = pd.DataFrame({m: t["n_days"] for m, t in yearly.items() if "n_days" in t}).max(axis=1)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(frame.shape[1], 1)
    x = np.arange(frame.shape[0])
    for i, model in enumerate(frame.columns):
        ax.bar(x + i * width - 0.4 + width / 2, frame[model].to_numpy() * 100, width, label=model)
    labels = [
        f"{y}\n({int(days[y])} days, partial)" if y in days.index and days[y] < min_days else str(y)
        for y in frame.index
    ]
    ax.set_xticks(x, labels)
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


def _grid(n: int, cols: int, width: float, height: float) -> tuple[plt.Figure, np.ndarray]:
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def group_navs(navs: Mapping[str, pd.DataFrame], path: Path, title: str = "") -> Path:
    """Cumulative return of every group (bottom dark, TOP bright) and the universe, one panel per model."""
    fig, axes = _grid(len(navs), 2, 11, 3.0)
    for ax, (model, nav) in zip(axes, navs.items(), strict=False):
        groups = [c for c in nav.columns if c != "universe"]
        colours = plt.cm.viridis(np.linspace(0, 1, max(len(groups), 2)))
        for c, g in zip(colours, groups, strict=False):
            ax.plot(
                nav.index, (nav[g] - 1) * 100, color=c, lw=0.9, label=f"{g}" if g in (1, groups[-1]) else None
            )
        if "universe" in nav:
            ax.plot(nav.index, (nav["universe"] - 1) * 100, color="k", ls="--", lw=1, label="universe")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("cumulative %")
        ax.set_title(model, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7, loc="upper left", title="group", title_fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def spread_nav(spreads: Mapping[str, pd.Series], path: Path, title: str = "") -> Path:
    """Compounded top-minus-bottom spread (TOP group return minus group 1), one line per model."""
    fig, ax = plt.subplots(figsize=(9, 4))
    for model, sp in spreads.items():
        ax.plot(sp.index, ((1 + sp.fillna(0.0)).cumprod() - 1) * 100, label=model, lw=1.2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("cumulative spread %")
    ax.legend(fontsize=8)
    ax.set_title(title or "TOP minus bottom group")
    return _save(fig, path)


def ic_distribution(ics: Mapping[str, pd.Series], path: Path, title: str = "") -> Path:
    """Per model: a histogram of the daily IC (mean and std written in) and its normal QQ plot."""
    from scipy import stats

    n = max(len(ics), 1)
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.3 * n), squeeze=False)
    for (hist, qq), (model, ic) in zip(axes, ics.items(), strict=False):
        x = ic.dropna().to_numpy()
        if x.size < 2:
            hist.set_title(f"{model}: too few dates", fontsize=9)
            continue
        hist.hist(x, bins=30, color="tab:blue", alpha=0.8)
        hist.axvline(x.mean(), color="tab:red", lw=1.2)
        hist.set_title(f"{model}: mean {x.mean():.3f}, std {x.std(ddof=1):.3f}", fontsize=9)
        (osm, osr), (slope, intercept, _) = stats.probplot(x, dist="norm")
        qq.plot(osm, osr, ".", ms=2, color="tab:blue")
        qq.plot(osm, slope * osm + intercept, color="tab:red", lw=1)
        qq.set_xlabel("normal quantile", fontsize=8)
        qq.set_ylabel("IC quantile", fontsize=8)
        qq.set_title(f"{model}: QQ against the normal", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def monthly_heatmaps(tables: Mapping[str, pd.DataFrame], path: Path, title: str = "") -> Path:
    """Mean IC per (year, month), one heat map per model on one colour scale."""
    fig, axes = _grid(len(tables), 3, 13, 0.6 + 0.45 * max((len(t) for t in tables.values()), default=1))
    vmax = max(
        [float(np.nanmax(np.abs(t.to_numpy()))) for t in tables.values() if np.isfinite(t.to_numpy()).any()]
        or [0.1]
    )
    for ax, (model, t) in zip(axes, tables.items(), strict=False):
        values = t.to_numpy(dtype=float)
        ax.imshow(values, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_xticks(range(12), [str(m) for m in range(1, 13)], fontsize=7)
        ax.set_yticks(range(len(t)), [str(y) for y in t.index], fontsize=7)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
        ax.set_title(model, fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def rank_autocorr(series: Mapping[str, pd.Series], path: Path, title: str = "") -> Path:
    """The factor's rank autocorrelation between consecutive rebalances, one line per model."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for model, s in series.items():
        ax.plot(s.index, s.to_numpy(), label=f"{model} (mean {s.mean():.2f})", lw=1)
    ax.set_ylabel("rank autocorrelation")
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title or "factor rank autocorrelation")
    return _save(fig, path)
