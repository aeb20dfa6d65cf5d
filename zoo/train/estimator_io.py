"""Fitted estimators as data, never as pickles: LightGBM's own text model, a linear model's numbers.

A fitted ``estimator`` component is stored as one JSON document (``estimator.json`` in a child run's
``weights/``): ``{"format": 1, "kind": ..., ...}``. ``lightgbm`` holds the booster's text model
(``Booster.model_to_string``, best iteration only: what ``LGBMRegressor.predict`` uses); ``linear``
holds the optional standardisation (mean, scale) and the coefficients and intercept of a linear model
(a ``Pipeline([StandardScaler, Ridge])`` or a bare ``Ridge``/``LinearRegression``), with their dtypes,
so the reloaded model repeats scikit-learn's arithmetic exactly. Reading a document builds plain
numbers and a ``lightgbm.Booster``: nothing in it can run code. Anything else has no data format and
is refused at save time (zoo stores no pickles).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import numpy as np

from zoo.errors import TrainingError

#: The version of the document written by :func:`to_json`.
FORMAT = 1


@attrs.frozen(eq=False)
class BoosterModel:
    """A LightGBM booster read back from its text model; ``predict`` as the fitted regressor's."""

    booster: Any

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``X`` (the stored model holds the best iteration only)."""
        return self.booster.predict(X)


@attrs.frozen(eq=False)
class LinearModel:
    """``((X - mean) / scale) @ coef + intercept`` in scikit-learn's dtypes (no scaling: mean None)."""

    coef: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``X``, the same operations as ``StandardScaler`` then ``Ridge``."""
        X = np.array(X, copy=True)
        if self.mean is not None:
            X -= self.mean.astype(X.dtype)
        if self.scale is not None:
            X /= self.scale.astype(X.dtype)
        return X @ self.coef + self.intercept


def _array(a: Any) -> dict[str, Any]:
    a = np.asarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "values": a.ravel().tolist()}


def _read_array(d: dict[str, Any], where: str) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    if dtype.kind != "f":
        raise TrainingError(f"{where}: array dtype {dtype} is not a float")
    return np.asarray(d["values"], dtype=dtype).reshape(d["shape"])


def _linear_parts(estimator: Any) -> tuple[Any, Any] | None:
    """(scaler or None, linear model) of a ``Pipeline([scale, linear])`` or a bare linear model."""
    steps = [s for _, s in getattr(estimator, "steps", [])] or [estimator]
    *pre, last = steps
    if not (hasattr(last, "coef_") and hasattr(last, "intercept_")) or len(pre) > 1:
        return None
    if pre and not (hasattr(pre[0], "mean_") and hasattr(pre[0], "scale_")):
        return None
    return (pre[0] if pre else None), last


def to_json(estimator: Any, where: str = "estimator") -> str:
    """The fitted ``estimator`` as a JSON document; a kind with no data format is refused."""
    booster = getattr(estimator, "booster_", None)
    if booster is None and type(estimator).__name__ == "Booster":
        booster = estimator
    if booster is not None:
        doc: dict[str, Any] = {"kind": "lightgbm", "model": booster.model_to_string()}
    elif (parts := _linear_parts(estimator)) is not None:
        scaler, linear = parts
        doc = {"kind": "linear", "coef": _array(linear.coef_), "intercept": _array(linear.intercept_)}
        if scaler is not None:
            mean = scaler.mean_ if getattr(scaler, "with_mean", True) else None
            scale = scaler.scale_ if getattr(scaler, "with_std", True) else None
            doc.update(
                mean=None if mean is None else _array(mean), scale=None if scale is None else _array(scale)
            )
    else:
        raise TrainingError(
            f"{where}: a fitted {type(estimator).__name__} has no data format zoo can store (a LightGBM "
            f"model, or a linear model with coef_ and intercept_, optionally after a StandardScaler); "
            f"zoo stores no pickles"
        )
    return json.dumps({"format": FORMAT, **doc})


def from_json(text: str | bytes, where: str = "estimator.json") -> BoosterModel | LinearModel:
    """The model a :func:`to_json` document describes; a bad document is one ``TrainingError`` line."""
    try:
        doc = json.loads(text)
        kind = doc["kind"]
        if doc.get("format") != FORMAT:
            raise TrainingError(f"{where}: format {doc.get('format')!r}, this zoo reads format {FORMAT}")
        if kind == "lightgbm":
            import lightgbm

            return BoosterModel(lightgbm.Booster(model_str=doc["model"]))
        if kind == "linear":
            opt = {k: _read_array(doc[k], where) for k in ("mean", "scale") if doc.get(k) is not None}
            return LinearModel(_read_array(doc["coef"], where), _read_array(doc["intercept"], where), **opt)
    except TrainingError:
        raise
    except Exception as exc:  # a truncated or edited document: say which file, not a traceback
        raise TrainingError(
            f"{where}: not a readable estimator document ({type(exc).__name__}: {exc})"
        ) from None
    raise TrainingError(f"{where}: unknown estimator kind {kind!r} (lightgbm or linear)")
