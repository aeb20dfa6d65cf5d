"""The deployable model of a parent run: spec and every seed's weights in `model/`, also as a pyfunc model."""

from __future__ import annotations

import tempfile
from pathlib import Path

from zoo.tracking import runs as tracking
from zoo.train.plan import SpecPlan

#: Artifact folder of a final run holding the deployable model (``zoo predict``, ``zoo register``).
MODEL_DIR = "model"


def log_model(plan: SpecPlan, c) -> None:
    """Gather the spec and every seed's weights under the parent's ``model/`` (one loadable folder).

    Layout: ``spec.toml``, ``meta.json`` (spec hash, seeds, data fingerprint / schema / dates) and
    ``seed<N>/`` with that seed's ``weights/`` files (``state_dict.pt`` for a network). A final run
    has one split; a study parent gives its newest test year's. The same folder is logged again as
    an MLflow pyfunc model under ``pyfunc/`` (``zoo.train.pyfunc_model``).
    """
    import json
    import shutil

    import numpy as np

    from zoo.errors import TrainingError
    from zoo.specs import canonical_toml
    from zoo.tracking import store as runs
    from zoo.train.pyfunc_log import log_pyfunc

    split = plan.splits[-1]
    dates = np.asarray(plan.source.dates).astype("datetime64[D]")
    children = tracking.finished_children(c, plan.experiment_id, plan.parent_id, plan.spec_hash)
    tags = c.get_run(plan.parent_id).data.tags
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / MODEL_DIR
        root.mkdir()
        (root / "spec.toml").write_text(canonical_toml(plan.spec))
        for seed in plan.spec.train.seeds:
            child = children[(split.test_year, seed)]
            weights = runs.local_artifact(c, child.info.run_id, "weights", tmp, TrainingError)
            shutil.copytree(weights, root / f"seed{seed}")
        meta = {
            "format": 1,
            "kind": "final" if plan.final else "study",
            "test_year": None if plan.final else int(split.test_year),
            "spec_name": plan.spec.name,
            "spec_hash": plan.spec_hash,
            "seeds": list(plan.spec.train.seeds),
            "plugins": json.loads(tags.get("zoo.plugins", "[]")),
            "data_fingerprint": plan.fingerprint,
            "data_schema": json.loads(tags["zoo.data_schema"]) if "zoo.data_schema" in tags else None,
            "data_store": str(plan.source.store),
            "data_last_date": str(dates[-1]),
            "train": [str(dates[split.train[0]]), str(dates[split.train[-1]])],
            "valid": [str(dates[split.valid[0]]), str(dates[split.valid[-1]])],
            "until": str(dates[split.valid[-1]]),
            "run_id": plan.parent_id,
        }
        (root / "meta.json").write_text(json.dumps(meta, indent=1))
        c.log_artifacts(plan.parent_id, str(root), MODEL_DIR)
        log_pyfunc(c, plan.parent_id, root)
