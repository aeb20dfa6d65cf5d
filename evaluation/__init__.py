"""Factor evaluation: IC, weekly quantile groups, styles, correlations, plots, reports (docs/evaluation.md).

Import the submodules (``evaluation.ic``, ``evaluation.groups``, ``evaluation.styles``,
``evaluation.correlations``, ``evaluation.report``, ``evaluation.tracking``); this package does not
import them eagerly, so ``import evaluation`` stays cheap (no matplotlib, no MLflow).
"""
