"""Log a zoo model folder as an MLflow ``pyfunc`` model (the code is ``zoo.train.pyfunc_model``).

``log_pyfunc`` saves, beside a run's ``model/`` folder, an MLflow model (``pyfunc/``) whose one
artifact is that folder (spec, meta, each seed's ``state_dict.pt`` or ``estimator.json``) and whose
code is :class:`zoo.train.pyfunc_model.ZooPyfunc`, referenced by a models-from-code file
(``pyfunc_entry.py``) rather than pickled. This module only writes; it imports nothing that scores.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

#: The run's artifact folder holding the MLflow model, and the name of the zoo folder inside it.
PYFUNC_DIR, ARTIFACT = "pyfunc", "model"
#: The models-from-code file MLflow stores and runs to build ``ZooPyfunc`` when loading.
ENTRY = Path(__file__).with_name("pyfunc_entry.py")
#: Output columns (``zoo predict``'s table without the per-universe membership columns).
OUTPUT_COLUMNS = ("date", "symbol", "score", "rank", "percentile")


def signature() -> Any:
    """Input: ``date`` and optionally ``store`` (strings); output: the per-stock score table."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([ColSpec("string", "date"), ColSpec("string", "store", required=False)])
    outputs = Schema(
        [
            ColSpec("string", "date"),
            ColSpec("string", "symbol"),
            ColSpec("float", "score"),
            ColSpec("long", "rank"),
            ColSpec("double", "percentile"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_pyfunc(c: Any, run_id: str, model_dir: Path) -> None:
    """Save the zoo model folder ``model_dir`` as an MLflow pyfunc model and log it under ``pyfunc/``."""
    import mlflow.pyfunc

    import zoo

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # no input example on purpose: one would make MLflow score a date while saving
        warnings.filterwarnings("ignore", message=".*input example was not provided")
        path = Path(tmp) / PYFUNC_DIR
        mlflow.pyfunc.save_model(
            str(path),
            python_model=str(ENTRY),
            artifacts={ARTIFACT: str(model_dir)},
            signature=signature(),
            pip_requirements=[f"decompzoo=={zoo.__version__}"],
        )
        c.log_artifacts(run_id, str(path), PYFUNC_DIR)
