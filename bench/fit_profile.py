"""Where one main-job fit's time goes, in CPU seconds of this process (robust to other load).

    python bench/fit_profile.py decompgru [OVERRIDE ...]

The fit is the shipped one, ``zoo.train.jobs.neural_fit`` (device, stock sampling and all), on test
year 2022 with the main job's cuts. Day batches are built first (timed apart); validation and
prediction are timed by wrapping the trainer's own ``evaluate_rank_ic`` and ``predict``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from zoo.registry import get_registry
from zoo.specs import load_spec
from zoo.train import trainer
from zoo.train.data import open_source
from zoo.train.jobs import FitContext, neural_fit
from zoo.train.main_job import MAIN_CUTS
from zoo.train.splits import resolve_purge, rolling_splits


def timed_in(module, name: str, spent: dict[str, float]) -> None:
    """Replace ``module.name`` by itself plus a CPU-time count under ``spent[name]``."""
    plain = getattr(module, name)
    spent[name] = 0.0

    def wrapper(*args, **kwargs):
        c = time.process_time()
        try:
            return plain(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - c

    setattr(module, name, wrapper)


def main() -> None:
    """Build the days, then run the shipped fit of one test year (2022), timing each part."""
    torch.set_num_threads(1)
    spec = load_spec(sys.argv[1], [c for c, _ in MAIN_CUTS] + sys.argv[2:])
    t, cpu = spec.train, time.process_time
    c0 = cpu()
    src = open_source(spec.data)
    c_open = cpu() - c0
    split = rolling_splits(
        src.dates, [2022], t.train_years, t.valid_years, resolve_purge(t.purge_days, spec.data.horizon)
    )[0]
    valid = split.valid[:: t.valid_stride]
    c0 = cpu()
    for i in [*split.train, *valid]:
        src.day(int(i))
    for i in split.test:
        src.test_day(int(i))
    c_build = cpu() - c0
    n_days = len(split.train) + len(valid) + len(split.test)
    spent: dict[str, float] = {}
    timed_in(trainer, "evaluate_rank_ic", spent)
    timed_in(trainer, "predict", spent)
    epochs = []
    ctx = FitContext(
        spec, src, split, 0, get_registry(tuple(spec.plugins)), lambda e, _: epochs.append(e), ""
    )
    c0 = cpu()
    neural_fit(ctx)
    c_fit = cpu() - c0
    c_train = c_fit - spent["evaluate_rank_ic"] - spent["predict"]
    steps = len(epochs) * (t.days_per_epoch or len(split.train))
    n = np.mean([src.day(int(i)).n for i in split.train[:50]])
    print(
        f"{spec.name}: open + labels {c_open:.1f}s | build {n_days} day batches {c_build:.1f}s "
        f"({1000 * c_build / n_days:.1f} ms/day) | train {len(epochs)} epochs x "
        f"{t.days_per_epoch} steps {c_train:.1f}s "
        f"({1000 * c_train / max(steps, 1):.1f} ms/step at N~{n:.0f}) | "
        f"validation {spent['evaluate_rank_ic']:.1f}s | "
        f"predict {len(split.test)} days {spent['predict']:.1f}s (CPU seconds)"
    )


if __name__ == "__main__":
    main()
