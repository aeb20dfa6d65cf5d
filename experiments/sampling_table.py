"""The sampling study's fits as a table: each (variant, seed) test RankIC and wall clock, read from MLflow.

Run after (or while) ``zoo study sampling --data full.zarr`` runs, on its store:
    python experiments/sampling_table.py --uri sqlite:///PATH/mlflow.db [--out results/sampling/fits.csv]
Prints one row per finished fit and, per variant, the mean, std, min and max over its seeds. The wall
clock is the child run's (start to end): it depends on the machine's load at that time, which the
study does not record, so compare speeds with ``bench/bench_fit.py`` instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_csv  # noqa: E402

from zoo.tracking import runs as tracking  # noqa: E402


def fits(uri: str, experiment: str) -> pd.DataFrame:
    """One row per finished child run: variant, seed, test RankIC, minutes from start to end."""
    c = tracking.client(uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"no experiment {experiment!r} in {uri}")
    rows = []
    for run in c.search_runs([exp.experiment_id], "tags.`zoo.role` = 'child'", max_results=10_000):
        ic = run.data.metrics.get(f"{tracking.HEADLINE_PREFIX}test_RankIC")
        if run.info.status != "FINISHED" or ic is None:
            continue
        parent = c.get_run(run.data.tags["mlflow.parentRunId"]).info.run_name
        minutes = (run.info.end_time - run.info.start_time) / 60_000
        rows.append(
            {"variant": parent, "seed": int(run.data.tags["zoo.seed"]), "rank_ic": ic, "minutes": minutes}
        )
    return pd.DataFrame(rows).sort_values(["variant", "seed"]).reset_index(drop=True)


def main() -> None:
    """Print (and write) the fits and the per-variant spread over seeds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uri", required=True)
    ap.add_argument("--experiment", default="sampling")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    table = fits(args.uri, args.experiment)
    command = f"python experiments/sampling_table.py --uri {args.uri}" + (
        f" --out {args.out}" if args.out else ""
    )
    write_csv(table, args.out, command)
    spread = table.groupby("variant")["rank_ic"].agg(["mean", "std", "min", "max", "count"])
    print(spread.round(4).to_string())


if __name__ == "__main__":
    main()
