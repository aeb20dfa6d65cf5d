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

from evaluation import plots
from evaluation._cube import universe_mask
from evaluation.baselines import baseline_scores, is_baseline, model_mask, short_name
from evaluation.correlations import factor_correlation, style_correlation
from evaluation.groups import GroupResult, group_backtest
from evaluation.ic import _with_model_dim, ic_study, ic_table
from evaluation.styles import style_exposures
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
    scores = _with_model_dim(scores)
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
) -> EvalResult:
    """Run every factor test on ``scores`` (model, date, symbol) and write tables, plots and a report.

    With ``out_dir`` None nothing is written. ``exposures`` (style, date, symbol) are computed from the
    cube when not given; ``style_params`` are passed to ``evaluation.styles.style_exposures``. The
    baselines of ``spec.baselines`` come from the registry with ``plugins`` loaded.
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
    ladders, top_tables, yearly_tables = {}, {}, {}
    for u in universes:
        ladders[u] = pd.DataFrame({m: groups[(m, u)].group_annual_returns() for m in names})
        ladders[u].index.name = "group"
        stats = {m: groups[(m, u)].top_stats() for m in names}
        top_tables[u] = pd.DataFrame(
            {m: [stats[m][k] for k, _, _ in TOP_ROWS] for m in names},
            index=pd.Index([label for _, label, _ in TOP_ROWS], name="TOP group"),
        )
        yearly_tables[u] = pd.concat({m: groups[(m, u)].yearly_excess() for m in names}, axis=1)

    head_mask = universe_mask(cube, spec.headline_universe, "evaluation")
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

    metrics = _metrics(names, summary, groups, universes)
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
    )
    if out_dir is not None:
        _write(result, Path(out_dir), title)
    return result


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


def _write(result: EvalResult, out: Path, title: str) -> None:
    """Tables (CSV + Markdown), PNG plots, report.md and a self-contained report.html under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    spec = result.spec
    # the settings these numbers came from, as an [evaluate] table a spec can reuse
    (out / "eval_spec.toml").write_text(tomli_w.dumps({"evaluate": attrs.asdict(spec)}))
    result.files.append(out / "eval_spec.toml")
    sections: list[tuple[str, str, pd.DataFrame | None, Path | None]] = []

    def table(name: str, df: pd.DataFrame, heading: str, plot: Path | None = None) -> None:
        df.to_csv(out / f"{name}.csv")
        (out / f"{name}.md").write_text(markdown_table(df) + "\n")
        result.files += [out / f"{name}.csv", out / f"{name}.md"]
        sections.append((heading, name, df, plot))

    def figure(path: Path, heading: str) -> None:
        result.files.append(path)
        sections.append((heading, path.stem, None, path))

    hu = spec.headline_universe
    for h, t in result.ic_tables.items():
        table(f"ic_{h}d", t, f"RankIC, {h}-day forward returns ({spec.label}) (Fig. 8/9 layout)")
        ics = {m: result.ic_series[(m, h, hu)] for m in result.columns}
        figure(
            plots.ic_series(ics, spec.ic_rolling, out / f"ic_series_{h}d.png", f"{h}-day RankIC, {hu}"), ""
        )
    pd.concat({f"{m}|{h}|{u}": s for (m, h, u), s in result.ic_series.items()}, axis=1).to_csv(
        out / "ic_daily.csv"
    )
    result.files.append(out / "ic_daily.csv")
    for u in result.ladders:
        n = result.groups[(result.models[0], u)].n_groups
        table(f"top_{u}", result.top_tables[u], f"TOP group of {n}, universe {u} (Fig. 13 layout)")
        table(f"groups_{u}", result.ladders[u], f"Annualised return by group, universe {u}")
        figure(
            plots.group_returns(
                {m: result.ladders[u][m] for m in result.columns}, out / f"groups_{u}.png", f"{n} groups, {u}"
            ),
            "",
        )
        table(
            f"yearly_{u}", result.yearly_tables[u], f"TOP group excess by year, universe {u} (Fig. 16 layout)"
        )
        excess = {m: result.groups[(m, u)].excess() for m in result.columns}
        pd.DataFrame(excess).to_csv(out / f"top_excess_daily_{u}.csv")
        result.files.append(out / f"top_excess_daily_{u}.csv")
        figure(plots.excess_nav(excess, out / f"excess_nav_{u}.png", f"TOP group excess NAV, {u}"), "")
        yearly = {m: result.groups[(m, u)].yearly_excess() for m in result.columns}
        figure(plots.yearly_excess(yearly, out / f"yearly_excess_{u}.png", f"TOP excess by year, {u}"), "")
    if result.styles is not None:
        table(
            "styles",
            result.styles,
            f"Mean cross-sectional {spec.corr_method} correlation with styles (Fig. 6)",
        )
        figure(plots.heatmap(result.styles, out / "styles.png", "score vs style"), "")
    if result.factor_corr is not None:
        table(
            "factor_corr",
            result.factor_corr,
            f"Mean {spec.corr_method} correlation between models and baselines (Fig. 7)",
        )
        figure(plots.heatmap(result.factor_corr, out / "factor_corr.png", "factor correlation"), "")
    _write_reports(result, out, title, sections)


def _write_reports(result: EvalResult, out: Path, title: str, sections) -> None:
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
            f"every model has a score, in the same universes; their columns are marked '(baseline)'."
        )
    md = [f"# {title}", "", intro, "", "```", result.summary(), "```", ""]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
        f"<pre>{html.escape(result.summary())}</pre>",
    ]
    for heading, _name, df, plot in sections:
        if heading:
            md += [f"## {heading}", ""]
            parts.append(f"<h2>{html.escape(heading)}</h2>")
        if df is not None:
            md += [markdown_table(df), ""]
            parts.append(df.to_html(float_format=lambda v: f"{v:.4g}", na_rep="n/a", border=0))
        elif plot is not None:
            md += [f"![{plot.stem}]({plot.name})", ""]
            data = base64.b64encode(plot.read_bytes()).decode("ascii")
            parts.append(f'<p><img alt="{plot.stem}" src="data:image/png;base64,{data}"></p>')
    (out / "report.md").write_text("\n".join(md))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}img{max-width:100%}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
    (out / "report.html").write_text(page)
    result.files += [out / "report.md", out / "report.html"]
    result.out_dir = out
