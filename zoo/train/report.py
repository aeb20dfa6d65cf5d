"""Tables for the terminal: the Fig. 8 layout of a study and a side-by-side run comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from zoo.errors import TrainingError
from zoo.evaluation import paired
from zoo.tracking import runs as tracking
from zoo.tracking.metrics import run_metrics
from zoo.tracking.store import resolve_parents, run_labels

#: Headline metrics a parent run carries, in display order.
HEADLINE = tuple(f"{m}_{h}d" for h in (10, 20) for m in ("rank_ic", "rank_icir", "ic_win_rate"))
#: The seeds' spread of the RankIC (``zoo.train.collect.seed_metrics``), shown when a run has it.
SEED_SPREAD = tuple(f"rank_ic_{h}d_seed_{s}" for h in (10, 20) for s in ("mean", "std"))
#: The paired test against the best baseline (``zoo.train.verdicts``), shown when a run has it.
VERDICT = tuple(name.format(h=h) for h in (10, 20) for name in (paired.DIFF_METRIC, paired.T_METRIC))
_ROWS = (("rank_ic", "RankIC"), ("rank_icir", "RankICIR"), ("ic_win_rate", "IC win rate"))


def fig8_table(
    metrics: Mapping[str, Mapping[str, float]],
    horizon: int = 10,
    extra: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Rows RankIC / RankICIR / IC win rate, one column per model (the report's Fig. 8/9 layout)."""
    cols = {**dict(metrics), **dict(extra or {})}
    data = {name: [m.get(f"{k}_{horizon}d", float("nan")) for k, _ in _ROWS] for name, m in cols.items()}
    return pd.DataFrame(data, index=[label for _, label in _ROWS])


def seed_table(
    metrics: Mapping[str, Mapping[str, float]], horizons: Sequence[int] = (10, 20)
) -> pd.DataFrame:
    """One row per model: the seed ensemble's RankIC, every seed's own, their mean, std and range.

    Read a difference between two models against ``std`` (the seed-to-seed spread of one model).
    """
    rows = {}
    for name, m in metrics.items():
        row: dict[str, float] = {}
        for h in horizons:
            seeds = sorted(
                (int(k.rsplit("seed", 1)[1]), v)
                for k, v in m.items()
                if k.startswith(f"rank_ic_{h}d_seed") and k.rsplit("seed", 1)[1].isdigit()
            )
            row[f"{h}d ensemble"] = m.get(f"rank_ic_{h}d", float("nan"))
            row.update({f"{h}d seed {s}": v for s, v in seeds})
            for stat in ("mean", "std", "min", "max"):
                row[f"{h}d {stat}"] = m.get(f"rank_ic_{h}d_seed_{stat}", float("nan"))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def display_name(variant: str) -> str:
    """``decompgru-weighted_mse`` -> ``DecompGRU-MSE`` (the report's column names)."""
    names = {"gru": "GRU", "decompgru": "DecompGRU", "ic": "IC", "weighted_mse": "MSE", "mse": "MSE"}
    return "-".join(names.get(p, p) for p in variant.split("-"))


def latest_experiment(c) -> str:
    """Name of the experiment whose newest parent run is the most recent."""
    runs = c.search_runs(
        [e.experiment_id for e in c.search_experiments()],
        filter_string="tags.`zoo.role` = 'parent'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise TrainingError("no zoo runs in the store yet; run `zoo main`, `zoo train` or `zoo study`")
    return c.get_experiment(runs[0].info.experiment_id).name


def compare_runs(
    uri: str,
    experiment: str | None = None,
    metrics: Sequence[str] = (*HEADLINE, *SEED_SPREAD, *VERDICT),
) -> pd.DataFrame:
    """One column per parent run (the newest finished per spec hash): the params that differ, then the
    headline metrics (read from the runs' ``metrics/*.csv`` tables and metrics, ``run_metrics``). The
    parents left out (and why) are in ``attrs["skipped"]``.

    Seed-spread and verdict rows no run has (runs logged before they existed, one seed: no std, no
    baseline: no verdict) are left out; the verdicts' best baseline and selection years are tag rows.
    """
    c = tracking.client(uri)
    name = experiment or latest_experiment(c)
    exp = c.get_experiment_by_name(name)
    if exp is None:
        known = ", ".join(e.name for e in c.search_experiments()) or "(none)"
        raise TrainingError(f"no experiment {name!r} in {uri}; experiments: {known}")
    _, chosen, skipped = resolve_parents(c, name, TrainingError)
    labels = run_labels(chosen)
    params = pd.DataFrame({label: r.data.params for label, r in zip(labels, chosen, strict=True)})
    differ = params[params.nunique(axis=1, dropna=False) > 1]
    differ = differ.drop(index=["name", "description"], errors="ignore")
    differ = differ[~differ.index.str.startswith(tracking.HEADLINE_PREFIX)]  # copies for the UI
    # Long values (lists, paths) would make the table unreadable in a terminal.
    differ = differ.map(lambda v: "-" if pd.isna(v) else (v if len(str(v)) <= 24 else str(v)[:21] + "..."))
    numbers = [run_metrics(c, r) for r in chosen]  # the runs' metric tables and headline metrics
    rows = {k: [n.get(k, float("nan")) for n in numbers] for k in metrics}
    met = pd.DataFrame(rows, index=labels).T
    optional = (*SEED_SPREAD, *VERDICT)
    met = met.drop(index=[k for k in optional if k in met.index and met.loc[k].isna().all()])
    tags = {"status": None, "spec_hash": "zoo.spec_hash", "selection_years": "zoo.selection_years"}
    tags.update({f"best_baseline_{h}d": f"zoo.best_baseline_{h}d" for h in (10, 20)})
    status = pd.DataFrame(
        {
            lb: [r.info.status if t is None else r.data.tags.get(t, "-") for t in tags.values()]
            for lb, r in zip(labels, chosen, strict=True)
        },
        index=list(tags),
    )
    status = status.loc[
        [k for k in status.index if k in ("status", "spec_hash") or (status.loc[k] != "-").any()]
    ]
    out = pd.concat([status, differ.astype(object), met.round(4).astype(object)])
    out.attrs["experiment"] = name
    out.attrs["skipped"] = skipped
    out.attrs["pairwise"] = pairwise_tests(c, chosen, labels)
    return out


def pairwise_tests(c, parents: Sequence, labels: Sequence[str]) -> dict[int, pd.DataFrame]:
    """Per horizon, each run's mean daily RankIC difference from each other's with its Newey-West t,
    from the daily RankICs ``zoo main`` / ``zoo study`` logged (``verdicts/ic_daily.csv``); {} unless
    every run has them."""
    import tempfile

    from zoo.tracking.store import local_artifact
    from zoo.train.verdicts import IC_ARTIFACT

    if len(parents) < 2:
        return {}
    series: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, run in zip(labels, parents, strict=True):
            try:
                path = local_artifact(c, run.info.run_id, IC_ARTIFACT, tmp, TrainingError)
            except TrainingError:
                return {}
            series[label] = pd.read_csv(path, index_col=0, parse_dates=True)
    horizons = [h for h in series[labels[0]].columns if all(h in s for s in series.values())]
    return {
        int(h): paired.pairwise_text(
            paired.paired_table({m: s[h] for m, s in series.items()}, list(labels), [], int(h))
        )
        for h in horizons
    }
