"""Bench: one index-enhancement rebalance (1,000-stock index, ~1,800 candidates) per cvxpy solver.

Reference: the same LP written out by hand in matrix form and solved by ``scipy.optimize.linprog``
(HiGHS), in the same process. Prints, per solver, the median wall time of a whole ``solve_rebalance``
call (problem build + cvxpy canonicalisation + solve), its ratio to the reference, and the gap of
its objective to the reference's. Run: ``PYTHONPATH=. .venv/bin/python bench/bench_enhance.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from zoo.evaluation.enhance.optimizer import (
    RebalanceInput,
    industry_matrix,
    solve_rebalance,
    stock_bounds,
    zscore,
)

from zoo.specs.enhance import EnhanceSpec


def make_input(n_index: int, n_outside: int, n_styles: int, n_industries: int, seed: int) -> RebalanceInput:
    """A realistic week: cap-like index weights, last week's book drifted, 1 % of stocks flagged each way."""
    rng = np.random.default_rng(seed)
    n = n_index + n_outside
    bench = np.zeros(n)
    bench[:n_index] = rng.lognormal(0, 1.0, n_index)
    bench /= bench.sum()
    prev = np.clip(bench + rng.normal(0, 0.002, n) * (rng.random(n) < 0.5), 0, None)
    prev[n_index:] = np.where(rng.random(n_outside) < 0.1, rng.uniform(0, 0.004, n_outside), 0.0)
    prev /= prev.sum()
    expo = rng.normal(size=(n_styles, n))

    def flag() -> np.ndarray:
        return rng.random(n) < 0.01

    return RebalanceInput(
        symbols=np.arange(n).astype(str),
        score=rng.normal(size=n),
        bench=bench,
        prev=prev,
        industry=rng.integers(0, n_industries, n),
        exposures=expo,
        style_names=tuple(f"s{k}" for k in range(n_styles)),
        suspended=flag(),
        limit_up=flag(),
        limit_down=flag(),
        st=flag(),
    )


def reference_lp(inp: RebalanceInput, spec: EnhanceSpec) -> tuple[np.ndarray, float]:
    """The same LP by hand: variables [w, u >= |w - b|, v >= |w - w0|]; solved by linprog/HiGHS."""
    n = inp.bench.shape[0]
    b, w0 = inp.bench, inp.prev
    s = zscore(inp.score)
    lo, hi, _ = stock_bounds(inp, spec, spec.stock_band)
    eye, zero = sp.identity(n, format="csr"), sp.csr_matrix((n, n))
    x = sp.csr_matrix(np.nan_to_num(inp.exposures))
    h = industry_matrix(inp.industry)
    k, m = x.shape[0], h.shape[0]
    member = sp.csr_matrix((b > 0).astype(float)[None, :])
    a_ub = sp.vstack(
        [
            sp.hstack([-member, sp.csr_matrix((1, 2 * n))]),
            sp.hstack([x, sp.csr_matrix((k, 2 * n))]),
            sp.hstack([-x, sp.csr_matrix((k, 2 * n))]),
            sp.hstack([h, sp.csr_matrix((m, 2 * n))]),
            sp.hstack([-h, sp.csr_matrix((m, 2 * n))]),
            sp.hstack([eye, -eye, zero]),
            sp.hstack([-eye, -eye, zero]),
            sp.hstack([eye, zero, -eye]),
            sp.hstack([-eye, zero, -eye]),
            sp.hstack([sp.csr_matrix((1, 2 * n)), sp.csr_matrix(np.ones((1, n)))]),
        ],
        format="csr",
    )
    xb, hb = x @ b, h @ b
    b_ub = np.concatenate(
        [
            [-spec.min_constituent_weight],
            spec.style_band + xb,
            spec.style_band - xb,
            spec.industry_band + hb,
            spec.industry_band - hb,
            b,
            -b,
            w0,
            -w0,
            [spec.max_turnover],
        ]
    )
    a_eq = sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, 2 * n))])
    cost = np.concatenate([-s, np.full(n, spec.active_penalty), np.zeros(n)])
    bounds = np.concatenate([np.stack([lo, np.minimum(hi, 1.0)], 1), np.tile([0.0, np.inf], (2 * n, 1))])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"reference LP failed: {res.message}")
    return res.x[:n], -res.fun


def objective(w: np.ndarray, inp: RebalanceInput, spec: EnhanceSpec) -> float:
    """The LP's objective at ``w``."""
    return float(zscore(inp.score) @ w - spec.active_penalty * np.abs(w - inp.bench).sum())


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` over ``repeats`` calls, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    """Print the solver table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=int, default=1000)
    ap.add_argument("--outside", type=int, default=800)
    ap.add_argument("--styles", type=int, default=10)
    ap.add_argument("--industries", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    inp = make_input(args.index, args.outside, args.styles, args.industries, args.seed)
    spec = EnhanceSpec()
    n = inp.bench.shape[0]
    print(
        f"one rebalance: {args.index} index members + {args.outside} outside = {n} candidates, "
        f"{args.styles} styles, {args.industries} industries, median of {args.repeats}"
    )
    ref_t, (_ref_w, ref_obj) = timed(lambda: reference_lp(inp, spec), args.repeats)
    print(f"{'reference linprog(HiGHS)':28s} {ref_t * 1e3:8.1f} ms  ratio 1.00  objective {ref_obj:.6f}")
    for solver in ("CLARABEL", "HIGHS", "OSQP", "SCS"):
        s = EnhanceSpec(solver=solver, fallback_solvers=())
        t, res = timed(lambda s=s: solve_rebalance(inp, s), args.repeats)
        obj = objective(res.weights, inp, spec)
        turnover = np.abs(res.weights - inp.prev).sum()
        print(
            f"cvxpy + {solver:20s} {t * 1e3:8.1f} ms  ratio {t / ref_t:4.2f}  status {res.status:8s} "
            f"objective gap {obj - ref_obj:+.2e}  turnover {turnover:.4f}  "
            f"sum {res.weights.sum():.8f}"
        )


if __name__ == "__main__":
    main()
