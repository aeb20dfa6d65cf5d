"""A zoo model as an MLflow ``pyfunc`` model: score a date outside ``zoo`` with ``zoo predict``'s numbers.

:class:`ZooPyfunc` is the code of the MLflow model ``zoo.train.pyfunc_log.log_pyfunc`` logs beside a
run's ``model/`` folder; MLflow builds it by running the models-from-code file ``pyfunc_entry.py``
(never by unpickling), so loading imports the installed ``zoo`` (the pinned ``decompzoo``
requirement) and uses the training pipeline's own day builder, with nothing unpickled (weights with
``weights_only=True``, estimators from their data documents). ``predict`` takes a frame with a
``date`` (``YYYY-MM-DD`` or ``latest``) and an optional ``store`` per row (default: the store the
model was trained on) and returns the rows of ``zoo predict``'s table for each date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from zoo.train.pyfunc_log import ARTIFACT, OUTPUT_COLUMNS


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
