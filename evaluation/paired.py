"""Paired tests of daily RankIC series: Newey-West (HAC) standard errors, the table and one verdict per model.

Neighbouring daily ICs of h-day forward returns share h - 1 days of their labels, so a plain t-test
(``mean / (std / sqrt(n))``) treats dependent days as independent and overstates the evidence. Every
t-statistic here is Newey-West: the mean of the daily series (or of a paired difference, on the dates
both series have) regressed on a constant, with statsmodels' HAC covariance (Bartlett kernel, no
small-sample correction, normal p-values) and ``nw_lags(horizon, n)`` lags:
``max(horizon - 1, floor(4 (n / 100) ** (2 / 9)))`` (the label overlap at least, Newey and West's
1994 rule of thumb when that is larger). A difference is called a verdict when ``|t| >= T_THRESHOLD``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from zoo.evaluation.baselines import short_name

from zoo.errors import EvaluationError

#: |NW t| at or above this calls a difference; below it the two are "not distinguishable".
T_THRESHOLD = 2.0
#: Columns of ``paired_table`` (rows: (model, versus)).
PAIRED_COLUMNS = ("diff", "nw_se", "nw_t", "lags", "dates", "seed_mean", "seed_std", "seeds")
#: Names of the headline metrics a parent run gets per horizon h (``verdict_metrics``).
DIFF_METRIC = "0_vs_best_baseline_RankIC_{h}d"
T_METRIC = "0_vs_best_baseline_NW_t_{h}d"
#: Suffix of the ``versus`` label of the best baseline's row.
BEST = " (best baseline)"


@dataclass(frozen=True)
class MeanTest:
    """The mean of a daily series with its Newey-West standard error, t, two-sided p, lags and dates."""

    mean: float
    se: float
    t: float
    p: float
    lags: int
    n: int


def nw_lags(horizon: int, n: int) -> int:
    """Lags of the HAC variance: ``max(horizon - 1, floor(4 (n / 100) ** (2 / 9)))`` (0 for n = 0)."""
    if int(horizon) < 1:
        raise EvaluationError(f"a Newey-West test needs a horizon >= 1 day, got {horizon}")
    auto = int(math.floor(4 * (n / 100) ** (2 / 9))) if n > 0 else 0
    return max(int(horizon) - 1, auto)


def hac_mean(x: np.ndarray | Sequence[float], lags: int) -> MeanTest:
    """Mean of ``x`` (finite values, in date order) with statsmodels' HAC standard error at ``lags``.

    Fewer than 3 values, or a series without variation, give NaN statistics (and the mean).
    """
    from statsmodels.regression.linear_model import OLS  # ~0.5 s to import: only when a test runs

    x = np.asarray(x, dtype=np.float64)
    n = int(x.size)
    nan = float("nan")
    if n < 3 or not np.all(np.isfinite(x)):
        return MeanTest(float(x.mean()) if n else nan, nan, nan, nan, int(lags), n)
    if float(np.ptp(x)) == 0.0:
        return MeanTest(float(x[0]), nan, nan, nan, int(lags), n)
    lags = min(int(lags), n - 1)
    fit = OLS(x, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    se = float(fit.bse[0])
    return MeanTest(float(fit.params[0]), se, float(fit.tvalues[0]), float(fit.pvalues[0]), lags, n)


def ic_test(ic: pd.Series, horizon: int) -> MeanTest:
    """Newey-West test of a daily IC series' mean against 0 (dates without an IC dropped)."""
    x = ic.dropna().to_numpy(dtype=np.float64)
    return hac_mean(x, nw_lags(horizon, x.size))


def _paired(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a - b`` on the dates both have a value, in date order."""
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    return (both.iloc[:, 0] - both.iloc[:, 1]).sort_index()


def paired_test(a: pd.Series, b: pd.Series, horizon: int) -> MeanTest:
    """Newey-West test of the mean daily difference ``a - b`` over the dates where both have an IC."""
    d = _paired(a, b).to_numpy(dtype=np.float64)
    return hac_mean(d, nw_lags(horizon, d.size))


def best_baseline(series: Mapping[str, pd.Series], baselines: Sequence[str]) -> str | None:
    """The baseline with the highest mean daily RankIC (all of them on the models' cells), or None."""
    means = {b: float(series[b].mean()) for b in baselines if b in series and series[b].notna().any()}
    return max(means, key=means.__getitem__) if means else None


def seed_spread(seeds: Mapping[int, pd.Series], other: pd.Series) -> tuple[float, float, int]:
    """Mean and sample std over seeds of each seed's mean daily ``seed - other`` (NaN std below 2 seeds)."""
    diffs = [float(_paired(s, other).mean()) for s in seeds.values()]
    if not diffs:
        return float("nan"), float("nan"), 0
    std = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float("nan")
    return float(np.mean(diffs)), std, len(diffs)


def paired_table(
    series: Mapping[str, pd.Series],
    models: Sequence[str],
    baselines: Sequence[str],
    horizon: int,
    seeds: Mapping[str, Mapping[int, pd.Series]] | None = None,
) -> pd.DataFrame:
    """Each model against the best baseline, then against every other model: rows (model, versus).

    ``series`` holds the daily RankIC of every model and baseline at ``horizon``; ``seeds`` (optional)
    each model's per-seed daily RankIC, for the spread of the difference over seeds. The best
    baseline is the same for every model (``best_baseline``) and its row is marked ``(best baseline)``.
    """
    best = best_baseline(series, baselines)
    rows, index = [], []
    for m in models:
        others = ([best] if best is not None else []) + [o for o in models if o != m]
        for o in others:
            t = paired_test(series[m], series[o], horizon)
            spread = seed_spread((seeds or {}).get(m, {}), series[o])
            rows.append([t.mean, t.se, t.t, t.lags, t.n, *spread])
            index.append((m, f"{short_name(o)}{BEST}" if o == best else short_name(o)))
    names = ["model", "versus"]
    idx = (
        pd.MultiIndex.from_tuples(index, names=names) if index else pd.MultiIndex.from_tuples([], names=names)
    )
    return pd.DataFrame(rows, index=idx, columns=list(PAIRED_COLUMNS))


def best_of(table: pd.DataFrame) -> str | None:
    """The best baseline a ``paired_table`` compares with, or None when it has no baseline."""
    for versus in table.index.get_level_values("versus"):
        if str(versus).endswith(BEST):
            return str(versus)[: -len(BEST)]
    return None


def _versus_best(table: pd.DataFrame, model: str) -> tuple[str, pd.Series] | None:
    """The (best baseline's name, row) of ``model`` in a ``paired_table``, or None without baselines."""
    if model not in table.index.get_level_values("model"):
        return None
    for versus, row in table.loc[model].iterrows():
        if str(versus).endswith(BEST):
            return str(versus)[: -len(BEST)], row
    return None


def verdict_line(model: str, versus: str, row: pd.Series, threshold: float = T_THRESHOLD) -> str:
    """One line: the mean daily RankIC difference and its NW t, or "not distinguishable" below threshold."""
    diff, t, lags = row["diff"], row["nw_t"], int(row["lags"])
    seeds = ""
    if row.get("seeds", 0) and row["seeds"] > 1:
        seeds = f"; {int(row['seeds'])} single seeds {row['seed_mean']:+.3f} +- {row['seed_std']:.3f}"
    if not np.isfinite(t):
        return f"{model} - {versus}: {diff:+.3f} RankIC a day, no t-statistic ({int(row['dates'])} dates)"
    if abs(t) >= threshold:
        return f"{model} - {versus}: {diff:+.3f} RankIC a day, NW t = {t:.1f} (lags {lags}){seeds}"
    return (
        f"{model}: not distinguishable from {versus} "
        f"({diff:+.3f} RankIC a day, NW t = {t:.1f}, lags {lags}{seeds})"
    )


def verdict_lines(table: pd.DataFrame, threshold: float = T_THRESHOLD) -> list[str]:
    """A verdict line per model of a ``paired_table`` against its best baseline (none without baselines)."""
    out = []
    for model in dict.fromkeys(table.index.get_level_values("model")):
        found = _versus_best(table, model)
        if found is not None:
            out.append(verdict_line(model, found[0], found[1], threshold))
    return out


def pairwise_text(table: pd.DataFrame) -> pd.DataFrame:
    """A ``paired_table`` as text, rows models, columns versus: "+0.006 (t 0.3)" per pair."""
    cells = {
        (m, v): "n/a" if not np.isfinite(r["nw_t"]) else f"{r['diff']:+.3f} (t {r['nw_t']:.1f})"
        for (m, v), r in table.iterrows()
    }
    models = list(dict.fromkeys(table.index.get_level_values("model")))
    named = set(table.index.get_level_values("versus"))
    versus = sorted(v for v in named if v not in models) + [m for m in models if m in named]
    return pd.DataFrame(
        [[cells.get((m, v), "") for v in versus] for m in models], index=models, columns=versus
    )


def verdict_metrics(table: pd.DataFrame, model: str, horizon: int) -> dict[str, float]:
    """The model's headline metrics against the best baseline at ``horizon``: difference and NW t."""
    found = _versus_best(table, model)
    if found is None:
        return {}
    row = found[1]
    return {DIFF_METRIC.format(h=horizon): float(row["diff"]), T_METRIC.format(h=horizon): float(row["nw_t"])}
