"""Where one main-job fit's time goes, in CPU seconds of this process (robust to other load).

python bench/fit_profile.py specs/decompgru.toml [OVERRIDE ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from zoo.compose import build_model
from zoo.registry import get_registry
from zoo.specs import load_spec
from zoo.train import trainer
from zoo.train.data import open_source
from zoo.train.days import DaySet
from zoo.train.main_job import MAIN_CUTS
from zoo.train.splits import resolve_purge, rolling_splits
from zoo.train.trainer import fit_config


def main() -> None:
    """Build the days, fit, validate and predict one test year (2022), timing each part."""
    torch.set_num_threads(1)
    spec = load_spec(sys.argv[1], [c for c, _ in MAIN_CUTS] + sys.argv[2:])
    t, cpu = spec.train, time.process_time
    c0 = cpu()
    src = open_source(spec.data)
    c_open = cpu() - c0
    purge = resolve_purge(t.purge_days, spec.data.horizon)
    split = rolling_splits(src.dates, [2022], t.train_years, t.valid_years, purge)[0]
    valid = split.valid[:: t.valid_stride]
    c0 = cpu()
    for i in [*split.train, *valid]:
        src.day(int(i))
    for i in split.test:
        src.test_day(int(i))
    c_build = cpu() - c0
    n_days = len(split.train) + len(valid) + len(split.test)

    def days(pos, fetch):
        return DaySet(src.dates[pos], lambda j: fetch(int(pos[j])), cache_bytes=0)

    reg = get_registry(tuple(spec.plugins))
    torch.manual_seed(0)
    model = build_model(spec.model, len(spec.data.fields), reg)
    loss = reg.build("loss", t.loss.name, t.loss.params, 0)
    spent = {"valid": 0.0}
    plain = trainer.evaluate_rank_ic

    def timed(*args, **kwargs):
        c = cpu()
        out = plain(*args, **kwargs)
        spent["valid"] += cpu() - c
        return out

    trainer.evaluate_rank_ic = timed
    c0 = cpu()
    result = trainer.fit(model, loss, days(split.train, src.day), days(valid, src.day), fit_config(spec), 0)
    c_train = cpu() - c0 - spent["valid"]
    c0 = cpu()
    trainer.predict(model, days(split.test, src.test_day))
    c_pred = cpu() - c0
    steps = result.epochs_run * t.days_per_epoch
    n = np.mean([src.day(int(i)).n for i in split.train[:50]])
    print(
        f"{spec.name}: open + labels {c_open:.1f}s | build {n_days} day batches {c_build:.1f}s "
        f"({1000 * c_build / n_days:.1f} ms/day) | train {result.epochs_run} epochs x "
        f"{t.days_per_epoch} steps {c_train:.1f}s ({1000 * c_train / steps:.1f} ms/step at N~{n:.0f}) | "
        f"validation {spent['valid']:.1f}s | "
        f"predict {len(split.test)} days {c_pred:.1f}s (CPU seconds)"
    )


if __name__ == "__main__":
    main()
