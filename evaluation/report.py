"""All of the report's factor tests for a set of model scores: tables, plots, headline numbers, report file.

``evaluate(scores, cube, spec, out_dir)`` is the one entry point; ``format_ic_table`` and
``top_group_line`` format what the main job prints. The baseline factors of ``spec.baselines``
(``evaluation.baselines``) are columns of every table beside the models, on the models' cells only.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import tomli_w
import xarray as xr
from tqdm.auto import tqdm
from zoo.evaluation import plots
from zoo.evaluation.baselines import baseline_scores, is_baseline, model_mask, short_name
from zoo.evaluation.correlations import factor_correlation, style_correlation
from zoo.evaluation.cube import universe_mask
from zoo.evaluation.groups import MIN_YEAR_DAYS, GroupResult, group_backtest, weekly_schedule
from zoo.evaluation.ic import ic_stats, ic_study, ic_table, monthly_ic, rank_autocorrelation, with_model_dim
from zoo.evaluation.styles import style_exposures

from zoo.errors import EvaluationError
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
#: Trading days of history the style exposures need before the first scored date.
STYLE_LOOKBACK = 260
#: Rows of the IC statistics table (alphalens' information analysis): key in ``ic_stats``, label.
IC_STAT_ROWS: tuple[tuple[str, str], ...] = (
    ("mean", "IC mean"),
    ("std", "IC std"),
    ("risk_adjusted", "Risk-adjusted IC (mean / std)"),
    ("t_stat", "t-stat (IC)"),
    ("p_value", "p-value (IC)"),
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


@dataclass
class EvalResult:
    """Everything ``evaluate`` computed: tables (DataFrames), group back-tests, metrics and written files.

    ``models`` are the scored models, ``baselines`` the baseline factors' labels; every table has a
    column (or key) for each of ``columns`` (models first).
    """

    spec: EvalSpec
    models: list[str]
    ic_summary: pd.DataFrame
    ic_tables: dict[int, pd.DataFrame]
    ic_series: dict[tuple[str, int, str], pd.Series]
    groups: dict[tuple[str, str], GroupResult]
    ladders: dict[str, pd.DataFrame]
    top_tables: dict[str, pd.DataFrame]
    yearly_tables: dict[str, pd.DataFrame]
    styles: pd.DataFrame | None
    factor_corr: pd.DataFrame | None
    metrics: dict[str, dict[str, float]]
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)
    #: alphalens' information table per horizon, headline universe: rows (horizon, statistic)
    ic_stats: pd.DataFrame | None = None
    #: mean IC per (year, month) of each column, headline horizon and universe
    monthly_ic: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: rank autocorrelation of each column between consecutive weekly signals, headline universe
    rank_autocorr: dict[str, pd.Series] = field(default_factory=dict)
    #: per universe: the TOP-minus-bottom spread's statistics (rows SPREAD_ROWS)
    spread_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: per universe: mean one-way turnover of every group (rows groups 1..G)
    turnover_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: where each model comes from (run, spec hash, commit, training settings); rows keys, columns models
    provenance: pd.DataFrame | None = None

    @property
    def columns(self) -> list[str]:
        """The models, then the baselines: the columns of every table."""
        return [*self.models, *self.baselines]

    def top_line(self, model: str, universe: str | None = None) -> str:
        """The TOP-group line of one model (see ``top_group_line``)."""
        return top_group_line(self, model, universe)

    def summary(self) -> str:
        """The IC table of the headline horizon and universe, then one TOP-group line per model."""
        h = (
            self.spec.headline_horizon
            if self.spec.headline_horizon in self.ic_tables
            else min(self.ic_tables)
        )
        lines = [format_ic_table(self, h, self.spec.headline_universe), ""]
        lines += [self.top_line(m) for m in self.columns]
        return "\n".join(lines)


def _fmt(v: float, pct: bool = False, digits: int = 3) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v * 100:.2f}%" if pct else f"{v:.{digits}f}"


def format_ic_table(result: EvalResult | pd.DataFrame, horizon: int = 10, universe: str = "all") -> str:
    """The report's Fig. 8 as text: rows RankIC / RankICIR / IC win rate, one column per model.

    ``result`` is an EvalResult or the long IC summary (``evaluation.ic.ic_study``'s first value).
    """
    summary = result.ic_summary if isinstance(result, EvalResult) else result
    table = ic_table(summary, horizon)
    if universe not in table.index.get_level_values("universe"):
        raise EvaluationError(f"no IC results for universe {universe!r}")
    sub = table.xs(universe, level="universe")
    digits = {m: 2 if m != "RankIC" else 3 for m in sub.index}
    return f"{horizon}-day RankIC, universe {universe}\n" + text_table(sub, digits)


#: Printed under a text table that has baseline columns.
BASELINE_NOTE = (
    "right of '|': baseline factors (data up to t only) on exactly the models' dates, stocks and universes"
)


def text_table(table: pd.DataFrame, digits: int | dict[str, int] = 3) -> str:
    """A plain-text table (rows = metrics, columns = models); baseline columns after a '|', footnoted.

    ``digits`` is one count or a count per row label.
    """
    models = [c for c in table.columns if not is_baseline(c)]
    bases = [c for c in table.columns if is_baseline(c)]
    width = max(12, *(len(short_name(c)) + 2 for c in table.columns))
    rowname = max(12, *(len(str(r)) for r in table.index))

    def cells(cols: list, row: pd.Series) -> str:
        n = digits.get(row.name, 3) if isinstance(digits, dict) else digits
        return "".join(f"{_fmt(row[c], digits=n):>{width}}" for c in cols)

    sep = "  |" if bases else ""
    head = "".join(f"{str(c):>{width}}" for c in models) + sep
    lines = [f"{'':<{rowname}}" + head + "".join(f"{short_name(c):>{width}}" for c in bases)]
    for _, row in table.iterrows():
        lines.append(f"{str(row.name):<{rowname}}" + cells(models, row) + sep + cells(bases, row))
    if bases:
        lines.append(BASELINE_NOTE)
    return "\n".join(lines)


def top_group_line(result: EvalResult, model: str, universe: str | None = None) -> str:
    """One line: the TOP group's annualised return, Sharpe, max drawdown, excess return and turnover.

    "ann. excess" is the report's: the TOP group's annualised return minus the universe's.
    """
    u = universe or result.spec.headline_universe
    key = (model, u)
    if key not in result.groups:
        raise EvaluationError(f"no group test for model {model!r} in universe {u!r}")
    g = result.groups[key]
    s = g.top_stats()
    return (
        f"TOP group ({u}, {g.n_groups} groups) {model}: ann. return {_fmt(s['ann_return'], True)}, "
        f"Sharpe {_fmt(s['sharpe'], digits=2)}, max drawdown {_fmt(s['max_drawdown'], True)}, "
        f"ann. excess {_fmt(s['excess_ann_return'], True)}, one-way turnover {_fmt(s['turnover'], digits=2)}"
    )


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (index included)."""
    frame = df.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [" ".join(str(x) for x in c) for c in frame.columns]
    idx_names = [str(n) if n is not None else "" for n in (frame.index.names or [None])]
    head = idx_names + [str(c) for c in frame.columns]

    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "n/a" if not math.isfinite(float(v)) else f"{float(v):.{digits}g}"
        return str(v)

    rows = []
    for key, row in frame.iterrows():
        keys = list(key) if isinstance(key, tuple) else [key]
        rows.append([cell(k) for k in keys] + [cell(v) for v in row.to_numpy()])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _trim(cube: xr.Dataset, scores: xr.DataArray, lookahead: int) -> xr.Dataset:
    """The cube from STYLE_LOOKBACK rows before the first score to ``lookahead`` rows after the last."""
    any_score = np.isfinite(scores.values).any(axis=(0, 2))
    if not any_score.any():
        raise EvaluationError("the scores have no finite value on the cube's dates and symbols")
    rows = np.flatnonzero(any_score)
    lo = max(rows[0] - STYLE_LOOKBACK, 0)
    hi = min(rows[-1] + lookahead + 1, cube.sizes["date"])
    return cube.isel(date=slice(lo, hi))


def _prepare(scores: xr.DataArray, cube: xr.Dataset) -> xr.DataArray:
    scores = with_model_dim(scores)
    names = [str(m) for m in scores["model"].values]
    if len(set(names)) != len(names):
        raise EvaluationError(f"model names must be unique, got {names}")
    # lists, because Zarr v3 hands back numpy StringDType, which does not cast to "<U"
    mine = np.array(scores["symbol"].values.tolist(), dtype=str)
    if np.intersect1d(mine, np.array(cube["symbol"].values.tolist(), dtype=str)).size == 0:
        raise EvaluationError(
            "the scores share no symbol with the cube; was it made from another data store?"
        )
    aligned = scores.reindex(date=cube["date"].values, symbol=cube["symbol"].values)
    return aligned.astype(np.float32).assign_coords(model=names)


def evaluate(
    scores: xr.DataArray,
    cube: xr.Dataset,
    spec: EvalSpec | None = None,
    out_dir: str | Path | None = None,
    *,
    exposures: xr.DataArray | None = None,
    title: str = "DecompZoo factor evaluation",
    style_params: dict | None = None,
    plugins: Sequence[str] = (),
    provenance: pd.DataFrame | None = None,
) -> EvalResult:
    """Run every factor test on ``scores`` (model, date, symbol) and write tables, plots and a report.

    With ``out_dir`` None nothing is written. ``exposures`` (style, date, symbol) are computed from the
    cube when not given; ``style_params`` are passed to ``evaluation.styles.style_exposures``. The
    baselines of ``spec.baselines`` come from the registry with ``plugins`` loaded. ``provenance``
    (rows: what, columns: models) is shown in the report as it is.
    """
    spec = spec or EvalSpec()
    scores = _prepare(scores, cube)
    models = [str(m) for m in scores["model"].values]
    baselines: list[str] = []
    if spec.baselines:
        # on the full cube (their look-back reaches before the first score), then cut to the models' cells
        base = baseline_scores(cube, spec.baselines, model_mask(scores), plugins=plugins)
        baselines = [str(m) for m in base["model"].values]
        clash = [m for m in models if is_baseline(m)]
        if clash:
            raise EvaluationError(f"model names {clash} end like baseline labels; rename those models")
        scores = xr.concat([scores, base], dim="model")
    cube = _trim(cube, scores, lookahead=max(spec.horizons) + 15)
    scores = scores.sel(date=cube["date"].values)
    names = [*models, *baselines]
    universes = list(dict.fromkeys(spec.universes))
    if spec.headline_universe not in universes:
        universes.insert(0, spec.headline_universe)

    summary, series = ic_study(scores, cube, spec.horizons, tuple(universes), spec.label, spec.min_stocks)
    ic_tables = {int(h): ic_table(summary, h) for h in spec.horizons}

    groups: dict[tuple[str, str], GroupResult] = {}
    jobs = [(u, m) for u in universes for m in names]
    for u, m in tqdm(jobs, desc="group tests", disable=None, leave=False):
        score = scores.sel(model=m).drop_vars("model")
        groups[(m, u)] = group_backtest(score, cube, spec.n_groups(u), u, spec.exclude)
    head_mask = universe_mask(cube, spec.headline_universe, "evaluation")
    ladders, top_tables, yearly_tables = {}, {}, {}
    for u in universes:
        ladders[u] = pd.DataFrame({m: groups[(m, u)].group_annual_returns() for m in names})
        ladders[u].index.name = "group"
        stats = {m: groups[(m, u)].top_stats() for m in names}
        top_tables[u] = pd.DataFrame(
            {m: [stats[m][k] for k, _, _ in TOP_ROWS] for m in names},
            index=pd.Index([label for _, label, _ in TOP_ROWS], name="TOP group"),
        )
        yearly_tables[u] = _yearly_table({m: groups[(m, u)].yearly_excess() for m in names})

    styles_table = None
    if spec.styles:
        if exposures is None:
            exposures = style_exposures(cube, spec.styles, universe="all", **(style_params or {}))
        else:
            exposures = exposures.reindex(date=cube["date"].values, symbol=cube["symbol"].values)
        styles_table = style_correlation(
            scores, exposures, universe=head_mask, method=spec.corr_method, min_count=spec.min_stocks
        )
    corr = None
    if len(names) > 1:
        corr = factor_correlation(
            scores,
            universe=head_mask,
            like=scores.isel(model=0),
            method=spec.corr_method,
            min_count=spec.min_stocks,
        )

    hu = spec.headline_universe
    hh = spec.headline_horizon if spec.headline_horizon in spec.horizons else min(spec.horizons)
    stats = {
        int(h): pd.DataFrame({m: ic_stats(series[(m, int(h), hu)]) for m in names}) for h in spec.horizons
    }
    ic_stats_table = pd.concat(
        {
            h: t.loc[[k for k, _ in IC_STAT_ROWS]].set_axis([lbl for _, lbl in IC_STAT_ROWS])
            for h, t in stats.items()
        },
        names=["horizon", "statistic"],
    )
    monthly = {m: monthly_ic(series[(m, int(hh), hu)]) for m in names}
    signal_rows, _ = weekly_schedule(cube["date"].values)
    autocorr = {
        m: rank_autocorrelation(
            scores.sel(model=m).drop_vars("model"), signal_rows, head_mask, spec.min_stocks
        ).dropna()
        for m in names
    }
    spread_tables, turnover_tables = {}, {}
    for u in universes:
        sp = {m: groups[(m, u)].spread_stats() for m in names}
        spread_tables[u] = pd.DataFrame(
            {m: [sp[m][k] for k, _ in SPREAD_ROWS] for m in names},
            index=pd.Index([lbl for _, lbl in SPREAD_ROWS], name="TOP minus bottom"),
        )
        turnover_tables[u] = pd.DataFrame({m: groups[(m, u)].turnover_by_group() for m in names})
        turnover_tables[u].index.name = "group"

    metrics = _metrics(names, summary, groups, universes)
    for m in names:
        for h, t in stats.items():
            metrics[m][f"ic{h}.{hu}.t_stat"] = float(t.loc["t_stat", m])
        metrics[m][f"rank_autocorr.{hu}"] = float(autocorr[m].mean())
        for u in universes:
            metrics[m][f"spread.{u}.mean_annual"] = float(spread_tables[u].loc["Mean daily spread x 252", m])
    result = EvalResult(
        spec=spec,
        models=models,
        ic_summary=summary,
        ic_tables=ic_tables,
        ic_series=series,
        groups=groups,
        ladders=ladders,
        top_tables=top_tables,
        yearly_tables=yearly_tables,
        styles=styles_table,
        factor_corr=corr,
        metrics=metrics,
        baselines=baselines,
        ic_stats=ic_stats_table,
        monthly_ic=monthly,
        rank_autocorr=autocorr,
        spread_tables=spread_tables,
        turnover_tables=turnover_tables,
        provenance=provenance,
    )
    if out_dir is not None:
        _write(result, Path(out_dir), title)
    return result


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


def _metrics(models, summary, groups, universes) -> dict[str, dict[str, float]]:
    """Headline numbers per model under flat names, e.g. ``ic10.all.rank_ic``, ``top.all.sharpe``."""
    out: dict[str, dict[str, float]] = {m: {} for m in models}
    for row in summary.itertuples():
        for k in ("rank_ic", "rank_icir", "win_rate"):
            out[row.model][f"ic{row.horizon}.{row.universe}.{k}"] = float(getattr(row, k))
    for m in models:
        for u in universes:
            for k, v in groups[(m, u)].top_stats().items():
                if k != "n_days":
                    out[m][f"top.{u}.{k}"] = float(v)
    return out


#: How a table's cells are printed: a percentage, a number of 2 or 3 decimals, a count, or text.
Kind = str
KINDS: dict[Kind, object] = {
    "pct": lambda v: f"{v * 100:.2f}%",
    "pct1": lambda v: f"{v * 100:.1f}%",
    "num2": lambda v: f"{v:.2f}",
    "num3": lambda v: f"{v:.3f}",
    "int": lambda v: f"{v:.0f}",
}


def formatted(df: pd.DataFrame, kinds: Kind | dict[str, Kind]) -> pd.DataFrame:
    """The table as text: ``kinds`` is one kind for all cells, or one per row label (last index level)."""

    def cell(v: object, kind: Kind) -> str:
        if isinstance(v, str):
            return v
        if v is None or not np.isfinite(float(v)):
            return "n/a"
        return KINDS[kind](float(v))  # type: ignore[operator]

    rows = []
    for key, row in df.iterrows():
        label = key[-1] if isinstance(key, tuple) else key
        kind = kinds if isinstance(kinds, str) else kinds.get(str(label), "num3")
        rows.append([cell(v, kind) for v in row.to_numpy()])
    return pd.DataFrame(rows, index=df.index, columns=df.columns)


def html_table(text: pd.DataFrame) -> str:
    """An HTML table of a text table: baseline columns shaded and named short, index levels as headers."""
    names = [str(n) if n is not None else "" for n in text.index.names]
    head = "".join(f"<th class='idx'>{html.escape(n)}</th>" for n in names)
    for c in text.columns:
        if is_baseline(c):
            head += f"<th class='base'>{html.escape(short_name(c))}<br><small>baseline</small></th>"
        else:
            head += f"<th>{html.escape(str(c))}</th>"
    body = []
    for key, row in text.iterrows():
        keys = list(key) if isinstance(key, tuple) else [key]
        cells = "".join(f"<th class='idx'>{html.escape(str(k))}</th>" for k in keys)
        cells += "".join(
            f"<td class='base'>{html.escape(v)}</td>" if is_baseline(c) else f"<td>{html.escape(v)}</td>"
            for c, v in zip(text.columns, row.to_numpy(), strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


@dataclass
class _Section:
    """One block of the report: a heading, a note, a table (text) or a plot."""

    heading: str = ""
    note: str = ""
    text: pd.DataFrame | None = None
    plot: Path | None = None
    level: int = 2


def _write(result: EvalResult, out: Path, title: str) -> None:
    """Tables (CSV + Markdown), PNG plots, report.md and a self-contained report.html under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    spec = result.spec
    # the settings these numbers came from, as an [evaluate] table a spec can reuse
    (out / "eval_spec.toml").write_text(tomli_w.dumps({"evaluate": attrs.asdict(spec)}))
    result.files.append(out / "eval_spec.toml")
    sections: list[_Section] = []
    cols = result.columns

    def table(
        name: str, df: pd.DataFrame, heading: str, kinds: Kind | dict[str, Kind], note: str = ""
    ) -> None:
        df.to_csv(out / f"{name}.csv")
        text = formatted(df, kinds)
        (out / f"{name}.md").write_text(markdown_table(text) + "\n")
        result.files += [out / f"{name}.csv", out / f"{name}.md"]
        sections.append(_Section(heading, note, text))

    def figure(path: Path, heading: str = "", note: str = "") -> None:
        result.files.append(path)
        sections.append(_Section(heading, note, plot=path))

    def part(heading: str, note: str = "") -> None:
        sections.append(_Section(heading, note, level=1))

    hu = spec.headline_universe
    hh = spec.headline_horizon if spec.headline_horizon in result.ic_tables else min(result.ic_tables)
    ic_kinds = {"RankIC": "num3", "RankICIR": "num2", "IC win rate": "pct1"}
    if result.provenance is not None:
        part(
            "Where the scores come from",
            "Runs, spec hashes, commits and the training settings (cuts) of each model.",
        )
        prov = result.provenance
        prov.to_csv(out / "provenance.csv")
        result.files.append(out / "provenance.csv")
        sections.append(_Section(text=prov.astype(str)))

    part(
        "Information analysis",
        f"Daily RankIC (Spearman) of each score with the {spec.label} forward return. The t-stat tests a "
        "mean IC of 0 over the dates; overlapping h-day returns make neighbouring dates dependent, so it "
        "overstates the evidence for h > 1 (as alphalens' does).",
    )
    for h, t in result.ic_tables.items():
        table(f"ic_{h}d", t, f"RankIC, {h}-day forward returns ({spec.label}) (Fig. 8/9 layout)", ic_kinds)
    if result.ic_stats is not None:
        stat_kinds = {lbl: "num3" for _, lbl in IC_STAT_ROWS}
        stat_kinds.update({"Risk-adjusted IC (mean / std)": "num2", "t-stat (IC)": "num2", "Dates": "int"})
        stat_kinds.update({"IC skew": "num2", "IC excess kurtosis": "num2"})
        table(
            "ic_stats",
            result.ic_stats,
            f"IC statistics, universe {hu} (alphalens' information table)",
            stat_kinds,
        )
    for h in result.ic_tables:
        ics = {m: result.ic_series[(m, h, hu)] for m in cols}
        figure(plots.ic_series(ics, spec.ic_rolling, out / f"ic_series_{h}d.png", f"{h}-day RankIC, {hu}"))
    pd.concat({f"{m}|{h}|{u}": s for (m, h, u), s in result.ic_series.items()}, axis=1).to_csv(
        out / "ic_daily.csv"
    )
    result.files.append(out / "ic_daily.csv")
    head_ics = {m: result.ic_series[(m, hh, hu)] for m in cols}
    figure(
        plots.ic_distribution(head_ics, out / f"ic_hist_qq_{hh}d.png", f"{hh}-day RankIC distribution, {hu}"),
        f"IC histogram and QQ plot ({hh}-day, {hu})",
        "Points off the red line in the QQ plot are fatter tails than a normal IC would have.",
    )
    if result.monthly_ic:
        pd.concat(result.monthly_ic, names=["model", "year"]).to_csv(out / f"ic_monthly_{hh}d.csv")
        result.files.append(out / f"ic_monthly_{hh}d.csv")
        figure(
            plots.monthly_heatmaps(
                result.monthly_ic, out / f"ic_monthly_{hh}d.png", f"mean {hh}-day RankIC by month, {hu}"
            ),
            f"Monthly mean IC ({hh}-day, {hu})",
        )

    part(
        "Returns analysis (weekly quantile groups)",
        "Percentages are returns; 'annualised' compounds to 252 trading days. Group 1 has the lowest "
        "scores, the last group (TOP) the highest.",
    )
    for u in result.ladders:
        n = result.groups[(result.models[0], u)].n_groups
        top_kinds = {label: ("pct" if pct else "num2") for _, label, pct in TOP_ROWS}
        top_kinds["One-way turnover"] = "pct1"
        table(f"top_{u}", result.top_tables[u], f"TOP group of {n}, universe {u} (Fig. 13 layout)", top_kinds)
        table(f"groups_{u}", result.ladders[u], f"Annualised return by group, universe {u}", "pct")
        figure(
            plots.group_returns(
                {m: result.ladders[u][m] for m in cols}, out / f"groups_{u}.png", f"{n} groups, {u}"
            )
        )
        if u == hu:
            figure(
                plots.group_navs(
                    {m: result.groups[(m, u)].group_navs() for m in cols},
                    out / f"group_navs_{u}.png",
                    f"cumulative return per group, {u}",
                ),
                f"Cumulative return per group, universe {u}",
            )
        sp_kinds = {
            "Mean daily spread": "pct",
            "Mean daily spread x 252": "pct",
            "t-stat (daily spread)": "num2",
        }
        sp_kinds.update({"Cumulative spread (compounded)": "pct", "Days": "int"})
        table(
            f"spread_{u}",
            result.spread_tables[u],
            f"TOP minus bottom group, universe {u}",
            sp_kinds,
            "The daily return of the TOP group minus group 1's (alphalens' top-minus-bottom spread).",
        )
        spreads = {m: result.groups[(m, u)].spread() for m in cols}
        pd.DataFrame(spreads).to_csv(out / f"spread_daily_{u}.csv")
        result.files.append(out / f"spread_daily_{u}.csv")
        if u == hu:
            figure(plots.spread_nav(spreads, out / f"spread_{u}.png", f"cumulative TOP minus bottom, {u}"))
        yk = {"Excess return (the year's, not annualised)": "pct", "Excess Sharpe": "num2"}
        yk.update({"Excess max drawdown": "pct", "Days": "int"})
        table(
            f"yearly_{u}",
            result.yearly_tables[u],
            f"TOP group excess by year, universe {u} (Fig. 16 layout)",
            yk,
            f"A year with fewer than {MIN_YEAR_DAYS} days of TOP returns (a quarter; e.g. the week held "
            "after the last test year) is partial: its return is shown, its Sharpe is n/a.",
        )
        excess = {m: result.groups[(m, u)].excess() for m in cols}
        pd.DataFrame(excess).to_csv(out / f"top_excess_daily_{u}.csv")
        result.files.append(out / f"top_excess_daily_{u}.csv")
        figure(plots.excess_nav(excess, out / f"excess_nav_{u}.png", f"TOP group excess NAV, {u}"))
        yearly = {m: result.groups[(m, u)].yearly_excess() for m in cols}
        figure(
            plots.yearly_excess(
                yearly, out / f"yearly_excess_{u}.png", f"TOP excess by year, {u}", MIN_YEAR_DAYS
            )
        )

    part(
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
        table(f"rank_autocorr_{hu}", ac, f"Factor rank autocorrelation, universe {hu}", {"Rebalances": "int"})
        figure(
            plots.rank_autocorr(
                result.rank_autocorr, out / f"rank_autocorr_{hu}.png", f"rank autocorrelation, {hu}"
            )
        )
    if hu in result.turnover_tables:
        table(
            f"turnover_{hu}",
            result.turnover_tables[hu],
            f"Mean one-way turnover by group, universe {hu}",
            "pct1",
        )

    if result.styles is not None or result.factor_corr is not None:
        part("Styles and factor correlations")
    if result.styles is not None:
        table(
            "styles",
            result.styles,
            f"Mean cross-sectional {spec.corr_method} correlation with styles (Fig. 6)",
            "num3",
        )
        figure(plots.heatmap(result.styles, out / "styles.png", "score vs style"))
    if result.factor_corr is not None:
        table(
            "factor_corr",
            result.factor_corr,
            f"Mean {spec.corr_method} correlation between models and baselines (Fig. 7)",
            "num2",
        )
        figure(plots.heatmap(result.factor_corr, out / "factor_corr.png", "factor correlation"))
    _write_reports(result, out, title, sections)


def _write_reports(result: EvalResult, out: Path, title: str, sections: list[_Section]) -> None:
    spec = result.spec
    intro = (
        f"Models: {', '.join(result.models)}. Horizons {list(spec.horizons)} days, label {spec.label}; "
        f"universes {list(result.ladders)}; weekly groups (last trading day of the ISO week, trade at the "
        f"next day's close, excluding {', '.join(spec.exclude)}), equal weight, no costs."
    )
    if result.baselines:
        intro += (
            f" Baselines (one-line factors from the cube, data up to t only; 'zoo list factor'): "
            f"{', '.join(short_name(b) for b in result.baselines)}, each scored on exactly the cells where "
            f"every model has a score, in the same universes; their columns are shaded and marked 'baseline'."
        )
    md = [f"# {title}", "", intro, "", "```", result.summary(), "```", ""]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
        f"<pre>{html.escape(result.summary())}</pre>",
    ]
    for sec in sections:
        if sec.heading:
            md += [f"{'#' * (sec.level + 1)} {sec.heading}", ""]
            parts.append(f"<h{sec.level + 1}>{html.escape(sec.heading)}</h{sec.level + 1}>")
        if sec.note:
            md += [sec.note, ""]
            parts.append(f"<p class='note'>{html.escape(sec.note)}</p>")
        if sec.text is not None:
            md += [markdown_table(sec.text), ""]
            parts.append(html_table(sec.text))
        elif sec.plot is not None:
            md += [f"![{sec.plot.stem}]({sec.plot.name})", ""]
            data = base64.b64encode(sec.plot.read_bytes()).decode("ascii")
            parts.append(f'<p><img alt="{sec.plot.stem}" src="data:image/png;base64,{data}"></p>')
    (out / "report.md").write_text("\n".join(md))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 12px}"
        "table{border-collapse:collapse;font-size:13px;margin:6px 0}"
        "td,th{padding:2px 6px;text-align:right;border-bottom:1px solid #ddd;white-space:nowrap}"
        "thead th{white-space:normal;vertical-align:bottom;max-width:110px;word-wrap:break-word}"
        "th.idx{text-align:left}.base{background:#f3f3f3;color:#444}"
        ".scroll{overflow-x:auto;max-width:100%}.note{color:#555;font-size:13px}"
        "pre{font-size:11px;overflow-x:auto}img{max-width:100%}h2{border-bottom:2px solid #333}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
    (out / "report.html").write_text(page)
    result.files += [out / "report.md", out / "report.html"]
    result.out_dir = out
