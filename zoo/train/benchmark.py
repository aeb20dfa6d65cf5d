"""The benchmark's results as data: what `zoo benchmark` printed, as CSVs and a README under ``results/``.

``write_results`` takes the main-job result of the benchmark study (its Fig. 8 / 9 tables with the
baselines, the evaluation), the enhancement statistics and the per-seed test RankICs, and writes them
beside the command and commit that produced them. Nothing here trains or evaluates.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from zoo.tracking import runs as tracking
from zoo.train.main_job import REPORT_FIG8
from zoo.train.report import fig8_table

#: The built-in study ``zoo benchmark`` runs (``specs/studies/benchmark.toml``).
BENCHMARK_STUDY = "benchmark"
#: The report's Fig. 13 (TOP group); its Fig. 8 is ``zoo.train.main_job.REPORT_FIG8``, one copy for both jobs.
REPORT = {
    "fig13": pd.DataFrame(
        {
            "GRU-IC": [44.61, 1.61, -33.31, 38.53, 0.53],
            "GRU-MSE": [45.60, 1.57, -30.40, 39.52, 0.50],
            "DecompGRU-IC": [49.18, 1.58, -36.73, 43.10, 0.52],
            "DecompGRU-MSE": [52.82, 1.61, -35.49, 46.74, 0.53],
        },
        index=["ann. return %", "Sharpe", "max drawdown %", "ann. excess %", "one-way turnover"],
    ),
}


def seed_table(c, parent_ids: Mapping[str, str]) -> pd.DataFrame:
    """Each child run's test RankIC: one row per (model, test year, seed), from MLflow."""
    rows = []
    for model, pid in parent_ids.items():
        run = c.get_run(pid)
        for child in c.search_runs(
            [run.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{pid}'", max_results=1000
        ):
            tags, ic = child.data.tags, child.data.metrics.get(f"{tracking.HEADLINE_PREFIX}test_RankIC")
            if "zoo.test_year" in tags and "zoo.seed" in tags and ic is not None:  # finished fits only
                rows.append(
                    {
                        "model": model,
                        "test_year": int(tags["zoo.test_year"]),
                        "seed": int(tags["zoo.seed"]),
                        "rank_ic": ic,
                    }
                )
    return pd.DataFrame(rows, columns=["model", "test_year", "seed", "rank_ic"])


def seed_spread(seeds: pd.DataFrame) -> pd.DataFrame:
    """Per model: the mean over years of each seed's test RankIC, then their mean, std, min and max."""
    per_seed = seeds.groupby(["model", "seed"])["rank_ic"].mean().unstack("seed")
    out = pd.DataFrame({"mean": per_seed.mean(axis=1), "std": per_seed.std(axis=1, ddof=1)})
    out["min"], out["max"], out["seeds"] = per_seed.min(axis=1), per_seed.max(axis=1), per_seed.count(axis=1)
    return out


def _markdown(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub table (numbers rounded)."""
    body = df.round(digits).astype(object).where(df.notna(), "")
    head = "| | " + " | ".join(map(str, body.columns)) + " |"
    rule = "|---" * (len(body.columns) + 1) + "|"
    rows = [
        "| " + str(i) + " | " + " | ".join(map(str, r)) + " |"
        for i, r in zip(body.index, body.values, strict=True)
    ]
    return "\n".join([head, rule, *rows])


def _provenance(command: str, elapsed: float) -> str:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"command: `{command}`\n\ncommit: `{tracking.git_commit()}`; finished "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} after {elapsed:.0f} s; load average "
        f"(1 / 5 / 15 min) at the end: {load}; {os.cpu_count()} cores\n"
    )


def write_results(
    out: Path, main: Mapping, seeds: pd.DataFrame, enhance: pd.DataFrame | None, command: str
) -> Path:
    """Write the benchmark's tables as CSVs and ``README.md`` under ``out`` (replaced as a whole)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for h, table in main["tables"].items():
        table.to_csv(tmp / f"rank_ic_{h}d.csv")
    seeds.to_csv(tmp / "seed_runs.csv", index=False)
    spread = seed_spread(seeds) if len(seeds) else pd.DataFrame()
    spread.to_csv(tmp / "seed_spread.csv")
    evaluation = main.get("evaluation")
    report = getattr(evaluation, "result", None)
    top = None
    if report is not None:
        for u, t in report.top_tables.items():
            t.to_csv(tmp / f"top_group_{u}.csv")
        for h, t in report.ic_tables.items():
            t.to_csv(tmp / f"ic_by_universe_{h}d.csv")
        top = report.top_tables.get("all")
    if enhance is not None:
        enhance.to_csv(tmp / "enhance.csv")
    text = [
        "# Whole-market benchmark",
        "",
        "Written by `zoo benchmark` (every CSV here is what that run printed or computed; "
        "`specs/studies/benchmark.toml` states the models, years, seeds, recipe and cuts).",
        "",
        _provenance(command, main.get("elapsed", 0.0)),
        "## 10-day RankIC, universe all (layout of the report's Fig. 8), baselines on the same cells",
        "",
        _markdown(main["tables"][10]),
        "",
        "The report's Fig. 8 (Wind data, CSI All Share, 2019-2025), for orientation only:",
        "",
        _markdown(fig8_table(REPORT_FIG8, 10)),
        "",
        "## Seed spread of the test RankIC (mean over the test years per seed)",
        "",
        _markdown(spread, 4) if len(spread) else "(no finished child runs)",
        "",
    ]
    if top is not None:
        text += [
            "## TOP group, universe all (the report's Fig. 13)",
            "",
            _markdown(top),
            "",
            "The report's Fig. 13:",
            "",
            _markdown(REPORT["fig13"], 2),
            "",
        ]
    if enhance is not None:
        text += [
            "## Index enhancement (the report's Fig. 26)",
            "",
            _markdown(enhance),
            "",
            "The report's Fig. 26, CSI 500, DecompGRU-MSE: ann. excess 11.65 %, tracking error 5.88 %, "
            "excess Sharpe 1.91.",
            "",
        ]
    (tmp / "README.md").write_text("\n".join(text))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
