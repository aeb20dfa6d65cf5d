"""The shared cube calculations (zoo.datasets.calc): each rule once, for labels, factors, styles and IC."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import numpy as np
from zoo.datasets.calc import (
    carried,
    forward_simple_returns,
    min_observations,
    one_day_log_returns,
    one_day_simple_returns,
)

ROOT = Path(__file__).resolve().parents[1]
CORE = ("forward_returns", "daily_returns", "log_returns", "ffill", "rolling_sum", "forward_simple_returns")


def test_carried_keeps_the_last_finite_value():
    x = np.array([[np.nan, 1.0], [2.0, np.inf], [np.nan, np.nan], [3.0, 4.0]])
    want = np.array([[np.nan, 1.0], [2.0, 1.0], [2.0, 1.0], [3.0, 4.0]])
    np.testing.assert_array_equal(carried(x), want)


def test_one_day_returns_skip_gaps_and_breaches():
    close = np.array([[10.0, 10.0], [11.0, np.nan], [12.1, 12.0], [13.31, 13.2]])
    breach = np.zeros_like(close, dtype=bool)
    breach[3, 1] = True
    simple = one_day_simple_returns(close, breach)
    np.testing.assert_allclose(simple[:, 0], [np.nan, 0.1, 0.1, 0.1], equal_nan=True)
    assert np.isnan(simple[1:, 1]).all()  # a missing bar at t=1 and a breach at t=3
    np.testing.assert_allclose(one_day_log_returns(close, breach), np.log1p(simple), equal_nan=True)


def test_forward_returns_are_causal_in_the_label_window_only():
    rng = np.random.default_rng(0)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (30, 5)), axis=0))
    breach = np.zeros(close.shape, dtype=bool)
    y = forward_simple_returns(close, breach, 5)
    bumped = close.copy()
    bumped[20:] *= 1.5  # the future from t=20 on: labels ending before it stay
    y2 = forward_simple_returns(bumped, breach, 5)
    np.testing.assert_array_equal(y[:13], y2[:13])
    assert not np.allclose(y[14:20], y2[14:20])


def test_min_observations():
    assert min_observations(20, 0.5) == 10
    assert min_observations(3, 0.1) == 1
    assert min_observations(3, 0.1, floor=2) == 2
    assert min_observations(7, 0.5) == 4


def test_each_core_calculation_is_defined_once():
    defs = Counter()
    for folder in ("zoo", "datasets", "evaluation", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            if ".venv" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            defs.update(n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in CORE)
    assert {k: v for k, v in defs.items() if v > 1} == {}
