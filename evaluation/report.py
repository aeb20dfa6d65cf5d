"""All of the report's factor tests for a set of model scores: tables, plots, headline numbers, report file.

``evaluate(scores, cube, spec, out_dir)`` is the one entry point: it prepares the inputs (the models'
scores, the baseline factors of ``spec.baselines`` scored on the models' cells only, the cube trimmed
around them), then runs the report's sections (``evaluation.report_sections.SECTIONS``), each of
which computes its own tables and writes its own part of the report (``evaluation.report_files``).
``format_ic_table``, ``text_table`` and ``top_group_line`` format what the terminal shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import tomli_w
import xarray as xr
from zoo.evaluation.baselines import baseline_scores, is_baseline, model_mask, short_name
from zoo.evaluation.groups import GroupResult
from zoo.evaluation.ic import ic_table, with_model_dim
from zoo.evaluation.paired import verdict_lines
from zoo.evaluation.report_files import Writer, formatted, html_table, markdown_table, write_pages
from zoo.evaluation.report_sections import (
    IC_STAT_ROWS,
    SECTIONS,
    SPREAD_ROWS,
    TOP_ROWS,
    YEARLY_ROWS,
    Inputs,
)

from zoo.errors import EvaluationError
from zoo.specs.evaluate import EvalSpec

__all__ = [
    "IC_STAT_ROWS",
    "SPREAD_ROWS",
    "TOP_ROWS",
    "YEARLY_ROWS",
    "EvalResult",
    "evaluate",
    "format_ic_table",
    "formatted",
    "html_table",
    "markdown_table",
    "text_table",
    "top_group_line",
]

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
    #: per horizon, headline universe: paired tests (``evaluation.paired.paired_table``)
    paired: dict[int, pd.DataFrame] = field(default_factory=dict)

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
        verdicts = verdict_lines(self.paired[h]) if h in self.paired else []
        if verdicts:
            lines += [f"{h}-day verdicts (Newey-West t, a verdict when |t| >= 2):", *verdicts, ""]
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


def _inputs(
    scores: xr.DataArray, cube: xr.Dataset, spec: EvalSpec, plugins: Sequence[str], **given
) -> Inputs:
    """The models' scores with the baselines (on the models' cells), on the cube trimmed around them."""
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
    universes = list(dict.fromkeys(spec.universes))
    if spec.headline_universe not in universes:
        universes.insert(0, spec.headline_universe)
    return Inputs(spec, scores, cube, models, baselines, universes, **given)


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
    seed_scores: dict[str, dict[int, xr.DataArray]] | None = None,
) -> EvalResult:
    """Run every factor test on ``scores`` (model, date, symbol) and write tables, plots and a report.

    With ``out_dir`` None nothing is written. ``exposures`` (style, date, symbol) are computed from the
    cube when not given; ``style_params`` are passed to ``evaluation.styles.style_exposures``. The
    baselines of ``spec.baselines`` come from the registry with ``plugins`` loaded. ``provenance``
    (rows: what, columns: models) is shown in the report as it is. ``seed_scores`` (model -> seed ->
    score) adds the seeds' spread of each paired difference.
    """
    spec = spec or EvalSpec()
    given = {"exposures": exposures, "style_params": style_params, "provenance": provenance}
    inp = _inputs(scores, cube, spec, plugins, seed_scores=seed_scores, **given)
    fields: dict = {}
    metrics: dict[str, dict[str, float]] = {m: {} for m in inp.names}
    for section in SECTIONS:
        new, numbers = section.compute(inp, fields)
        fields.update(new)
        for m, values in numbers.items():
            metrics[m].update(values)
    result = EvalResult(spec=spec, models=inp.models, metrics=metrics, baselines=inp.baselines, **fields)
    if out_dir is not None:
        _write(result, Path(out_dir), title)
    return result


def _write(result: EvalResult, out: Path, title: str) -> None:
    """Tables (CSV + Markdown), PNG plots, report.md and a self-contained report.html under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    # the settings these numbers came from, as an [evaluate] table a spec can reuse
    (out / "eval_spec.toml").write_text(tomli_w.dumps({"evaluate": attrs.asdict(result.spec)}))
    w = Writer(out, [out / "eval_spec.toml"])
    for section in SECTIONS:
        section.write(result, w)
    w.files += write_pages(out, title, _intro(result), result.summary(), w.blocks)
    result.files += w.files
    result.out_dir = out


def _intro(result: EvalResult) -> str:
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
    return intro
