"""A zoo model as an MLflow ``pyfunc`` model: score a date outside ``zoo`` with ``zoo predict``'s numbers.

``log_pyfunc`` saves, beside a run's ``model/`` folder, an MLflow model (``pyfunc/``) whose one
artifact is that folder (spec, meta, each seed's ``state_dict.pt`` or ``estimator.json``) and whose
code is :class:`ZooPyfunc`, referenced by a models-from-code file (``pyfunc_entry.py``) rather than
pickled: loading it imports the installed ``zoo`` (the pinned ``decompzoo`` requirement) and so uses
the training pipeline's own day builder, with nothing unpickled (weights with ``weights_only=True``,
estimators from their data documents). ``mlflow.pyfunc.load_model(...).predict(frame)`` takes a
frame with a ``date`` (``YYYY-MM-DD`` or ``latest``) and an optional ``store`` per row (default: the
store the model was trained on) and returns the rows of ``zoo predict``'s table for each date.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

#: The run's artifact folder holding the MLflow model, and the name of the zoo folder inside it.
PYFUNC_DIR, ARTIFACT = "pyfunc", "model"
#: The models-from-code file MLflow stores and runs to build :class:`ZooPyfunc` when loading.
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


class ZooPyfunc(mlflow.pyfunc.PythonModel):
    """Each seed of a zoo model scores a date on the training pipeline's own day; seeds ensembled."""

    def load_context(self, context: Any) -> None:
        """Read the zoo model folder (spec, meta, weights) shipped as the ``model`` artifact."""
        from zoo.train.predict import bundle_from_folder

        self.bundle = bundle_from_folder(Path(context.artifacts[ARTIFACT]))
        self._sources: dict[str, Any] = {}

    def _source(self, store: str | None) -> Any:
        import attrs

        from zoo.train.data import open_source

        key = store or ""
        if key not in self._sources:
            data = self.bundle.spec.data if not store else attrs.evolve(self.bundle.spec.data, store=store)
            self._sources[key] = open_source(data)
        return self._sources[key]

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """``zoo predict``'s table (date, symbol, score, rank, percentile) for each row's date and store."""
        from zoo.train.predict import score_date

        frame = pd.DataFrame(model_input)
        tables = []
        for row in frame.to_dict("records"):
            store = row.get("store")
            store = None if store is None or (isinstance(store, float) and pd.isna(store)) else str(store)
            pred = score_date(self.bundle, self._source(store), str(row["date"]))
            tables.append(pred.table.assign(date=str(pred.date))[list(OUTPUT_COLUMNS)])
        return pd.concat(tables, ignore_index=True)


def log_pyfunc(c: Any, run_id: str, model_dir: Path) -> None:
    """Save the zoo model folder ``model_dir`` as an MLflow pyfunc model and log it under ``pyfunc/``."""
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
