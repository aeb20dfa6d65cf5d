"""The report's sections: each computes its tables from the shared inputs and writes its own part.

A section is a ``compute(inputs, done) -> (fields, metrics)`` (``fields`` are ``EvalResult``
attributes, ``done`` the fields of the sections before it, ``metrics`` headline numbers per column)
and a ``write(result, writer)``. ``SECTIONS`` lists them in the report's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm
from zoo.evaluation import plots
from zoo.evaluation.correlations import factor_correlation, style_correlation
from zoo.evaluation.cube import universe_mask
from zoo.evaluation.groups import MIN_YEAR_DAYS, GroupResult, group_backtest, weekly_schedule
from zoo.evaluation.ic import (
    ic_stats,
    ic_study,
    ic_table,
    label_returns,
    monthly_ic,
    rank_autocorrelation,
    rank_ic,
)
from zoo.evaluation.paired import (
    DIFF_METRIC,
    T_METRIC,
    T_THRESHOLD,
    paired_table,
    verdict_lines,
    verdict_metrics,
)
from zoo.evaluation.report_files import Block, Writer
from zoo.evaluation.styles import style_exposures

from zoo.specs.evaluate import EvalSpec

#: Rows of the Fig. 13-like TOP-group table: (key in GroupResult.top_stats, label, is a percentage).
TOP_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("ann_return", "Annualised return", True),
    ("sharpe", "Sharpe", False),
    ("max_drawdown", "Max drawdown", True),
    ("bench_ann_return", "Universe annualised return", True),
    ("excess_ann_return", "Annualised excess (TOP - universe)", True),
    ("excess_nav_ann_return", "Excess NAV annualised return", True),
    ("excess_sharpe", "Excess Sharpe", False),
    ("excess_max_drawdown", "Excess max drawdown", True),
    ("turnover", "One-way turnover", False),
)
#: Rows of the IC statistics table (alphalens' information analysis): key in ``ic_stats``, label.
IC_STAT_ROWS: tuple[tuple[str, str], ...] = (
    ("mean", "IC mean"),
    ("std", "IC std"),
    ("risk_adjusted", "Risk-adjusted IC (mean / std)"),
    ("t_stat", "Newey-West t (IC)"),
    ("p_value", "Newey-West p (IC)"),
    ("nw_lags", "Newey-West lags"),
    ("skew", "IC skew"),
    ("kurtosis", "IC excess kurtosis"),
    ("n_dates", "Dates"),
)
#: Rows of the top-minus-bottom spread table: key in ``GroupResult.spread_stats``, label.
SPREAD_ROWS: tuple[tuple[str, str], ...] = (
    ("mean_daily", "Mean daily spread"),
    ("mean_annual", "Mean daily spread x 252"),
    ("t_stat", "t-stat (daily spread)"),
    ("cumulative", "Cumulative spread (compounded)"),
    ("n_days", "Days"),
)
#: Rows of the per-year table: column of ``GroupResult.yearly_excess``, label.
YEARLY_ROWS: tuple[tuple[str, str], ...] = (
    ("excess_return", "Excess return (the year's, not annualised)"),
    ("excess_sharpe", "Excess Sharpe"),
    ("excess_max_drawdown", "Excess max drawdown"),
    ("n_days", "Days"),
)

Fields = dict[str, Any]
Metrics = dict[str, dict[str, float]]


@dataclass
class Inputs:
    """What every section reads: the scores (models, then baselines) on the cube trimmed around them."""

    spec: EvalSpec
    scores: xr.DataArray
    cube: xr.Dataset
    models: list[str]
    baselines: list[str]
    universes: list[str]
    exposures: xr.DataArray | None = None
    style_params: dict | None = None
    provenance: pd.DataFrame | None = None
    #: model -> seed -> that seed's own ``(date, symbol)`` score (models with two seeds or more)
    seed_scores: dict[str, dict[int, xr.DataArray]] | None = None

    @property
    def names(self) -> list[str]:
        """Every column: the models, then the baselines."""
        return [*self.models, *self.baselines]

    @property
    def hu(self) -> str:
        """The headline universe."""
        return self.spec.headline_universe

    @property
    def hh(self) -> int:
        """The headline horizon (the shortest one when the spec's is not among its horizons)."""
        s = self.spec
        return int(s.headline_horizon if s.headline_horizon in s.horizons else min(s.horizons))

    @cached_property
    def head_mask(self) -> np.ndarray:
        """Membership of the headline universe on the trimmed cube."""
        return universe_mask(self.cube, self.hu, "evaluation")

    def score(self, name: str) -> xr.DataArray:
        """One column's ``(date, symbol)`` score."""
        return self.scores.sel(model=name).drop_vars("model")


def _empty(names: list[str]) -> Metrics:
    return {m: {} for m in names}


# --------------------------------------------------------------------------- provenance


def compute_provenance(inp: Inputs, done: Fields) -> tuple[Fields, Metrics]:
    """Nothing to compute: the provenance table is given."""
    return {"provenance": inp.provenance}, _empty(inp.names)


def write_provenance(result, w: Writer) -> None:
    """Runs, spec hashes, commits and training settings of each model, as given."""
    if result.provenance is None:
        return
    w.part(
        "Where the scores come from",
        "Runs, spec hashes, commits and the training settings (cuts) of each model.",
    )
    w.csv("provenance", result.provenance)
    w.blocks.append(Block(text=result.provenance.astype(str)))


# --------------------------------------------------------------------------- information analysis


def compute_information(inp: Inputs, done: Fields) -> tuple[Fields, Metrics]:
    """Daily RankIC per column x horizon x universe, the Fig. 8/9 tables, alphalens' statistics, months."""
    s = inp.spec
    summary, series = ic_study(inp.scores, inp.cube, s.horizons, tuple(inp.universes), s.label, s.min_stocks)
    stats = {
        int(h): pd.DataFrame({m: ic_stats(series[(m, int(h), inp.hu)], int(h)) for m in inp.names})
        for h in s.horizons
    }
    table = pd.concat(
        {
            h: t.loc[[k for k, _ in IC_STAT_ROWS]].set_axis([lbl for _, lbl in IC_STAT_ROWS])
            for h, t in stats.items()
        },
        names=["horizon", "statistic"],
    )
    metrics = _empty(inp.names)
    for row in summary.itertuples():
        for k in ("rank_ic", "rank_icir", "win_rate"):
            metrics[row.model][f"ic{row.horizon}.{row.universe}.{k}"] = float(getattr(row, k))
    for m in inp.names:
        for h, t in stats.items():
            metrics[m][f"ic{h}.{inp.hu}.t_stat"] = float(t.loc["t_stat", m])
    fields = {
        "ic_summary": summary,
        "ic_tables": {int(h): ic_table(summary, h) for h in s.horizons},
        "ic_series": series,
        "ic_stats": table,
        "monthly_ic": {m: monthly_ic(series[(m, inp.hh, inp.hu)]) for m in inp.names},
    }
    return fields, metrics


def write_information(result, w: Writer) -> None:
    """The IC tables, the IC statistics, the daily IC series and the IC plots."""
    spec, hu = result.spec, result.spec.headline_universe
    w.part(
        "Information analysis",
        f"Daily RankIC (Spearman) of each score with the {spec.label} forward return. t-statistics are "
        "Newey-West (HAC, lags max(h - 1, 4 (n/100)^(2/9))): overlapping h-day returns make neighbouring "
        "dates dependent, which a plain t-test (alphalens') ignores.",
    )
    ic_kinds = {"RankIC": "num3", "RankICIR": "num2", "IC win rate": "pct1"}
    for h, t in result.ic_tables.items():
        w.table(f"ic_{h}d", t, f"RankIC, {h}-day forward returns ({spec.label}) (Fig. 8/9 layout)", ic_kinds)
    if result.ic_stats is not None:
        kinds = {lbl: "num3" for _, lbl in IC_STAT_ROWS}
        kinds.update({"Risk-adjusted IC (mean / std)": "num2", "Newey-West t (IC)": "num2", "Dates": "int"})
        kinds.update({"IC skew": "num2", "IC excess kurtosis": "num2", "Newey-West lags": "int"})
        w.table(
            "ic_stats",
            result.ic_stats,
            f"IC statistics, universe {hu} (alphalens' table, Newey-West t)",
            kinds,
        )
    _write_ic_plots(result, w)


def _write_ic_plots(result, w: Writer) -> None:
    spec, cols = result.spec, result.columns
    hu = spec.headline_universe
    hh = spec.headline_horizon if spec.headline_horizon in result.ic_tables else min(result.ic_tables)
    for h in result.ic_tables:
        ics = {m: result.ic_series[(m, h, hu)] for m in cols}
        w.figure(
            plots.ic_series(ics, spec.ic_rolling, w.out / f"ic_series_{h}d.png", f"{h}-day RankIC, {hu}")
        )
    w.csv("ic_daily", pd.concat({f"{m}|{h}|{u}": s for (m, h, u), s in result.ic_series.items()}, axis=1))
    head_ics = {m: result.ic_series[(m, hh, hu)] for m in cols}
    w.figure(
        plots.ic_distribution(
            head_ics, w.out / f"ic_hist_qq_{hh}d.png", f"{hh}-day RankIC distribution, {hu}"
        ),
        f"IC histogram and QQ plot ({hh}-day, {hu})",
        "Points off the red line in the QQ plot are fatter tails than a normal IC would have.",
    )
    if result.monthly_ic:
        w.csv(f"ic_monthly_{hh}d", pd.concat(result.monthly_ic, names=["model", "year"]))
        w.figure(
            plots.monthly_heatmaps(
                result.monthly_ic, w.out / f"ic_monthly_{hh}d.png", f"mean {hh}-day RankIC by month, {hu}"
            ),
            f"Monthly mean IC ({hh}-day, {hu})",
        )


# --------------------------------------------------------------------------- paired tests


def _seed_ics(inp: Inputs, h: int) -> dict[str, dict[int, pd.Series]]:
    """Each model's per-seed daily RankIC at ``h`` in the headline universe (models with 2+ seeds)."""
    if not inp.seed_scores:
        return {}
    returns = label_returns(inp.cube, h, inp.spec.label)
    return {
        m: {s: rank_ic(score, returns, inp.head_mask, inp.spec.min_stocks) for s, score in seeds.items()}
        for m, seeds in inp.seed_scores.items()
        if m in inp.models and len(seeds) > 1
    }


def compute_paired(inp: Inputs, done: Fields) -> tuple[Fields, Metrics]:
    """Per horizon, headline universe: each model against the best baseline and each other model."""
    series = done["ic_series"]
    tables = {
        int(h): paired_table(
            {n: series[(n, int(h), inp.hu)] for n in inp.names},
            inp.models,
            inp.baselines,
            int(h),
            _seed_ics(inp, int(h)),
        )
        for h in inp.spec.horizons
    }
    metrics = _empty(inp.names)
    for m in inp.models:
        for h, t in tables.items():
            v = verdict_metrics(t, m, h)
            if v:
                metrics[m][f"ic{h}.{inp.hu}.vs_best_baseline.diff"] = v[DIFF_METRIC.format(h=h)]
                metrics[m][f"ic{h}.{inp.hu}.vs_best_baseline.nw_t"] = v[T_METRIC.format(h=h)]
    return {"paired": tables}, metrics


def write_paired(result, w: Writer) -> None:
    """The paired-test table per horizon and the verdict lines."""
    hu = result.spec.headline_universe
    for h, table in result.paired.items():
        if table.empty:
            continue
        w.table(
            f"paired_{h}d",
            table,
            f"Paired tests, {h}-day RankIC, universe {hu}",
            "num3",
            "Mean daily RankIC difference (model - versus) over the dates both have, its Newey-West "
            f"standard error and t (lags >= {h - 1}); the best baseline has the highest mean RankIC on "
            f"the models' cells; |t| >= {T_THRESHOLD:g} is called a verdict.",
            text=_paired_text(table),
        )
        lines = verdict_lines(table)
        if lines:
            w.lines("", "\n".join(lines))


def _paired_text(table: pd.DataFrame) -> pd.DataFrame:
    kinds = {"diff": "{:+.4f}", "nw_se": "{:.4f}", "nw_t": "{:.2f}", "lags": "{:.0f}", "dates": "{:.0f}"}
    kinds.update({"seed_mean": "{:+.4f}", "seed_std": "{:.4f}", "seeds": "{:.0f}"})
    cols = [c for c in table.columns if c in kinds]
    if not (table["seeds"] > 1).any():  # one seed: no spread to show
        cols = [c for c in cols if not c.startswith("seed")]
    return pd.DataFrame(
        {c: [kinds[c].format(v) if np.isfinite(v) else "n/a" for v in table[c]] for c in cols},
        index=table.index,
    )


# --------------------------------------------------------------------------- returns (quantile groups)


def compute_returns(inp: Inputs, done: Fields) -> tuple[Fields, Metrics]:
    """Weekly quantile groups of every column in every universe, and their tables."""
    groups: dict[tuple[str, str], GroupResult] = {}
    jobs = [(u, m) for u in inp.universes for m in inp.names]
    for u, m in tqdm(jobs, desc="group tests", disable=None, leave=False):
        groups[(m, u)] = group_backtest(inp.score(m), inp.cube, inp.spec.n_groups(u), u, inp.spec.exclude)
    fields: Fields = {"groups": groups}
    for key in ("ladders", "top_tables", "yearly_tables", "spread_tables", "turnover_tables"):
        fields[key] = {}
    for u in inp.universes:
        for key, table in _universe_tables(groups, inp.names, u).items():
            fields[key][u] = table
    metrics = _empty(inp.names)
    for m in inp.names:
        for u in inp.universes:
            metrics[m].update(
                {f"top.{u}.{k}": float(v) for k, v in groups[(m, u)].top_stats().items() if k != "n_days"}
            )
            metrics[m][f"spread.{u}.mean_annual"] = float(
                fields["spread_tables"][u].loc["Mean daily spread x 252", m]
            )
    return fields, metrics


def _universe_tables(groups: dict, names: list[str], u: str) -> dict[str, pd.DataFrame]:
    """The ladder, TOP, yearly, spread and turnover tables of one universe (columns: ``names``)."""
    g = {m: groups[(m, u)] for m in names}
    ladder = pd.DataFrame({m: g[m].group_annual_returns() for m in names})
    ladder.index.name = "group"
    stats = {m: g[m].top_stats() for m in names}
    top = pd.DataFrame(
        {m: [stats[m][k] for k, _, _ in TOP_ROWS] for m in names},
        index=pd.Index([label for _, label, _ in TOP_ROWS], name="TOP group"),
    )
    sp = {m: g[m].spread_stats() for m in names}
    spread = pd.DataFrame(
        {m: [sp[m][k] for k, _ in SPREAD_ROWS] for m in names},
        index=pd.Index([lbl for _, lbl in SPREAD_ROWS], name="TOP minus bottom"),
    )
    turnover = pd.DataFrame({m: g[m].turnover_by_group() for m in names})
    turnover.index.name = "group"
    yearly = _yearly_table({m: g[m].yearly_excess() for m in names})
    return {
        "ladders": ladder,
        "top_tables": top,
        "yearly_tables": yearly,
        "spread_tables": spread,
        "turnover_tables": turnover,
    }


def _yearly_table(yearly: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-year tables of every column as one: rows (year, statistic), one column per model."""
    years = sorted({int(y) for t in yearly.values() for y in t.index})
    index = pd.MultiIndex.from_tuples(
        [(y, lbl) for y in years for _, lbl in YEARLY_ROWS], names=["year", "statistic"]
    )
    cols = {}
    for m, t in yearly.items():
        t = t.reindex(years)
        cols[m] = [t.loc[y, k] if k in t else np.nan for y in years for k, _ in YEARLY_ROWS]
    return pd.DataFrame(cols, index=index)


def write_returns(result, w: Writer) -> None:
    """Per universe: TOP table, group ladder, NAVs, spread, yearly excess; tables, daily CSVs, plots."""
    w.part(
        "Returns analysis (weekly quantile groups)",
        "Percentages are returns; 'annualised' compounds to 252 trading days. Group 1 has the lowest "
        "scores, the last group (TOP) the highest.",
    )
    for u in result.ladders:
        _write_groups(result, w, u)
        _write_spread(result, w, u)
        _write_yearly(result, w, u)


def _write_groups(result, w: Writer, u: str) -> None:
    cols, n = result.columns, result.groups[(result.models[0], u)].n_groups
    top_kinds = {label: ("pct" if pct else "num2") for _, label, pct in TOP_ROWS}
    top_kinds["One-way turnover"] = "pct1"
    w.table(f"top_{u}", result.top_tables[u], f"TOP group of {n}, universe {u} (Fig. 13 layout)", top_kinds)
    w.table(f"groups_{u}", result.ladders[u], f"Annualised return by group, universe {u}", "pct")
    w.figure(
        plots.group_returns(
            {m: result.ladders[u][m] for m in cols}, w.out / f"groups_{u}.png", f"{n} groups, {u}"
        )
    )
    if u == result.spec.headline_universe:
        w.figure(
            plots.group_navs(
                {m: result.groups[(m, u)].group_navs() for m in cols},
                w.out / f"group_navs_{u}.png",
                f"cumulative return per group, {u}",
            ),
            f"Cumulative return per group, universe {u}",
        )


def _write_spread(result, w: Writer, u: str) -> None:
    kinds = {"Mean daily spread": "pct", "Mean daily spread x 252": "pct", "t-stat (daily spread)": "num2"}
    kinds.update({"Cumulative spread (compounded)": "pct", "Days": "int"})
    w.table(
        f"spread_{u}",
        result.spread_tables[u],
        f"TOP minus bottom group, universe {u}",
        kinds,
        "The daily return of the TOP group minus group 1's (alphalens' top-minus-bottom spread).",
    )
    spreads = {m: result.groups[(m, u)].spread() for m in result.columns}
    w.csv(f"spread_daily_{u}", pd.DataFrame(spreads))
    if u == result.spec.headline_universe:
        w.figure(plots.spread_nav(spreads, w.out / f"spread_{u}.png", f"cumulative TOP minus bottom, {u}"))


def _write_yearly(result, w: Writer, u: str) -> None:
    kinds = {"Excess return (the year's, not annualised)": "pct", "Excess Sharpe": "num2"}
    kinds.update({"Excess max drawdown": "pct", "Days": "int"})
    w.table(
        f"yearly_{u}",
        result.yearly_tables[u],
        f"TOP group excess by year, universe {u} (Fig. 16 layout)",
        kinds,
        f"A year with fewer than {MIN_YEAR_DAYS} days of TOP returns (a quarter; e.g. the week held "
        "after the last test year) is partial: its return is shown, its Sharpe is n/a.",
    )
    cols = result.columns
    excess = {m: result.groups[(m, u)].excess() for m in cols}
    w.csv(f"top_excess_daily_{u}", pd.DataFrame(excess))
    w.figure(plots.excess_nav(excess, w.out / f"excess_nav_{u}.png", f"TOP group excess NAV, {u}"))
    yearly = {m: result.groups[(m, u)].yearly_excess() for m in cols}
    w.figure(
        plots.yearly_excess(
            yearly, w.out / f"yearly_excess_{u}.png", f"TOP excess by year, {u}", MIN_YEAR_DAYS
        )
    )


# --------------------------------------------------------------------------- turnover


def compute_turnover(inp: Inputs, done: Fields) -> tuple[Fields, Metrics]:
    """Rank autocorrelation of every column between consecutive weekly signals, headline universe."""
    signal_rows, _ = weekly_schedule(inp.cube["date"].values)
    autocorr = {
        m: rank_autocorrelation(inp.score(m), signal_rows, inp.head_mask, inp.spec.min_stocks).dropna()
        for m in inp.names
    }
    metrics = {m: {f"rank_autocorr.{inp.hu}": float(autocorr[m].mean())} for m in inp.names}
    return {"rank_autocorr": autocorr}, metrics


def write_turnover(result, w: Writer) -> None:
    """The rank autocorrelation table and plot, and the headline universe's turnover by group."""
    hu = result.spec.headline_universe
    w.part(
        "Turnover analysis",
        "Rank autocorrelation: the Spearman correlation of a factor's values at one weekly signal with "
        "its values at the previous one, over the stocks scored at both (1: the ranking never changes). "
        "Group turnover: the mean one-way turnover of each group at its weekly rebalances.",
    )
    if result.rank_autocorr:
        ac = pd.DataFrame(
            {m: [s.mean(), s.median(), float(s.size)] for m, s in result.rank_autocorr.items()},
            index=pd.Index(["Mean", "Median", "Rebalances"], name="rank autocorrelation"),
        )
        w.table(
            f"rank_autocorr_{hu}", ac, f"Factor rank autocorrelation, universe {hu}", {"Rebalances": "int"}
        )
        w.figure(
            plots.rank_autocorr(
                result.rank_autocorr, w.out / f"rank_autocorr_{hu}.png", f"rank autocorrelation, {hu}"
            )
        )
    if hu in result.turnover_tables:
        w.table(
            f"turnover_{hu}",
            result.turnover_tables[hu],
            f"Mean one-way turnover by group, universe {hu}",
            "pct1",
        )


# --------------------------------------------------------------------------- styles and correlations


def compute_styles(inp: Inputs, done: Fields) -> tuple[Fields, Metrics]:
    """Correlation of every column with the style exposures, and between the columns."""
    s = inp.spec
    styles = None
    if s.styles:
        exposures = inp.exposures
        if exposures is None:
            exposures = style_exposures(inp.cube, s.styles, universe="all", **(inp.style_params or {}))
        else:
            exposures = exposures.reindex(date=inp.cube["date"].values, symbol=inp.cube["symbol"].values)
        styles = style_correlation(
            inp.scores, exposures, universe=inp.head_mask, method=s.corr_method, min_count=s.min_stocks
        )
    corr = None
    if len(inp.names) > 1:
        corr = factor_correlation(
            inp.scores,
            universe=inp.head_mask,
            like=inp.scores.isel(model=0),
            method=s.corr_method,
            min_count=s.min_stocks,
        )
    return {"styles": styles, "factor_corr": corr}, _empty(inp.names)


def write_styles(result, w: Writer) -> None:
    """The style correlation and factor correlation tables and heatmaps."""
    method = result.spec.corr_method
    if result.styles is not None or result.factor_corr is not None:
        w.part("Styles and factor correlations")
    if result.styles is not None:
        w.table(
            "styles", result.styles, f"Mean cross-sectional {method} correlation with styles (Fig. 6)", "num3"
        )
        w.figure(plots.heatmap(result.styles, w.out / "styles.png", "score vs style"))
    if result.factor_corr is not None:
        w.table(
            "factor_corr",
            result.factor_corr,
            f"Mean {method} correlation between models and baselines (Fig. 7)",
            "num2",
        )
        w.figure(plots.heatmap(result.factor_corr, w.out / "factor_corr.png", "factor correlation"))


@dataclass(frozen=True)
class Section:
    """One part of the report: what it computes and how it writes it."""

    name: str
    compute: Callable[[Inputs, Fields], tuple[Fields, Metrics]]
    write: Callable[[Any, Writer], None]


#: The report's sections in order (the order of computing and of the pages).
SECTIONS: tuple[Section, ...] = (
    Section("provenance", compute_provenance, write_provenance),
    Section("information", compute_information, write_information),
    Section("paired", compute_paired, write_paired),
    Section("returns", compute_returns, write_returns),
    Section("turnover", compute_turnover, write_turnover),
    Section("styles", compute_styles, write_styles),
)
