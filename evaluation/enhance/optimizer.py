"""One rebalance of the index-enhanced portfolio: a cvxpy LP with the report's constraints.

Maximise ``s'(w - b) - penalty * |w - b|_1`` over the candidate stocks, where ``s`` is the
cross-sectionally z-scored model score, ``b`` the benchmark weights and ``w`` the new weights, subject to

* long only, fully invested: ``w >= 0``, ``sum(w) == 1``;
* ``sum(w[constituents]) >= min_constituent_weight``;
* ``|w_i - b_i| <= stock_band`` for every stock;
* ``|X (w - b)| <= style_band`` for every style row of the exposures ``X``;
* ``|H (w - b)| <= industry_band`` for every industry row of the one-hot matrix ``H``;
* ``sum |w - w0| <= max_turnover`` (``w0`` = the drifted pre-trade weights; waived on the initial build);
* tradability at the trade close: a stock that is suspended, price-less, limit-up or limit-down is
  frozen at ``w0`` (the report's "剔除 ST、涨跌停、停牌股票": neither bought nor sold); ST stocks are
  never bought (``st_policy = "no_buy"``) or, with ``"exit"``, are sold to zero when they can be sold.

Tradability is physical and always wins: when it contradicts a stock's band (say a suspended stock
that drifted above ``b + stock_band``), that one stock is pinned at its nearest tradable weight and
counted in ``n_pinned``. ``w = w0`` always satisfies tradability, so once the relaxation ladder has
dropped every relaxable constraint the week is feasible: the back-test never dies on a bad week.

Relaxation: while the LP is infeasible, the next step of ``spec.relax_order`` is added (steps are
cumulative); once it is feasible, every earlier step is tried without (latest first) and left out
when the week stays feasible, so the logged steps are the ones the week needed. Only a numerical
failure of every solver (or an initial build with nothing buyable) ends in ``hold``: no trade.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from attrs import define, field

from zoo.errors import EvaluationError
from zoo.specs.enhance import EnhanceSpec, parse_relax_step

#: Statuses a rebalance ends with.
STATUS_OPTIMAL = "optimal"  # solved with the spec's bounds
STATUS_RELAXED = "relaxed"  # solved after one or more relaxation steps (listed in ``relaxed``)
STATUS_HOLD = "hold"  # every solver failed numerically: no trade, the drifted weights are kept


@define
class RebalanceInput:
    """Everything one rebalance needs, as aligned ``(n,)`` arrays over the candidate stocks."""

    symbols: np.ndarray
    score: np.ndarray  # raw model score, NaN where the stock was not scored
    bench: np.ndarray  # benchmark weights (0 outside the index)
    prev: np.ndarray  # drifted pre-trade weights (all 0 on the initial build)
    industry: np.ndarray  # integer industry codes
    exposures: np.ndarray  # (k, n) style exposures, NaN allowed (treated as 0 = the standardised mean)
    style_names: tuple[str, ...] = ()
    suspended: np.ndarray | None = None  # no trade possible (suspended, not listed or no close)
    limit_up: np.ndarray | None = None  # frozen, like a suspended stock
    limit_down: np.ndarray | None = None  # frozen, like a suspended stock
    st: np.ndarray | None = None  # never bought; sold to zero with st_policy "exit"
    initial: bool = False  # building from cash: the turnover limit does not apply

    def flag(self, name: str) -> np.ndarray:
        """One tradability flag as a boolean array, all False when not given."""
        value = getattr(self, name)
        return np.zeros(self.symbols.shape[0], dtype=bool) if value is None else np.asarray(value, dtype=bool)


@define
class Limits:
    """The bound values in force for one solve (the spec's, possibly relaxed); ``inf`` = dropped."""

    turnover: float
    style: float
    industry: float
    stock_band: float
    constituent: float

    @classmethod
    def from_spec(cls, spec: EnhanceSpec, initial: bool = False) -> Limits:
        """The spec's bounds; the turnover limit is dropped on the initial build from cash."""
        return cls(
            turnover=math.inf if initial else spec.max_turnover,
            style=spec.style_band,
            industry=spec.industry_band,
            stock_band=spec.stock_band,
            constituent=spec.min_constituent_weight,
        )

    @classmethod
    def from_steps(cls, spec: EnhanceSpec, steps: Sequence[str], initial: bool = False) -> Limits:
        """The spec's bounds with the relaxation ``steps`` applied in order (a later step on a name wins)."""
        limits = cls.from_spec(spec, initial=initial)
        for step in steps:
            limits = limits.relaxed(spec, step)
        return limits

    def relaxed(self, spec: EnhanceSpec, step: str) -> Limits:
        """A copy with one relaxation step ``NAME*FACTOR`` applied to the spec's value of NAME."""
        name, factor = parse_relax_step(step)
        base = {
            "turnover": spec.max_turnover,
            "style": spec.style_band,
            "industry": spec.industry_band,
            "stock_band": spec.stock_band,
            "constituent": spec.min_constituent_weight,
        }[name]
        value = math.inf if math.isinf(factor) else base * factor
        if name == "turnover" and math.isinf(self.turnover):
            value = math.inf  # already waived (initial build): never tighten
        fields = {k: getattr(self, k) for k in ("turnover", "style", "industry", "stock_band", "constituent")}
        fields[name] = value
        return Limits(**fields)


@define
class RebalanceResult:
    """The new weights of one rebalance and how they were obtained."""

    weights: np.ndarray
    status: str
    limits: Limits
    lower: np.ndarray  # per-stock bounds in force (band intersected with tradability)
    upper: np.ndarray
    relaxed: tuple[str, ...] = ()
    solver: str = ""
    solve_seconds: float = 0.0
    n_pinned: int = 0
    messages: list[str] = field(factory=list)


def zscore(score: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score of the finite scores; NaN (unscored) and a constant score become 0."""
    out = np.zeros(score.shape, dtype=np.float64)
    ok = np.isfinite(score)
    if ok.sum() < 2:
        return out
    vals = score[ok].astype(np.float64)
    std = vals.std()
    if std > 1e-12 * max(1.0, np.abs(vals).max()):
        out[ok] = (vals - vals.mean()) / std
    return out


def trade_bounds(inp: RebalanceInput, spec: EnhanceSpec) -> tuple[np.ndarray, np.ndarray]:
    """What tradability alone allows at the trade close: per-stock (lower, upper) weight bounds."""
    prev = np.asarray(inp.prev, dtype=np.float64)
    n = prev.shape[0]
    lower = np.zeros(n)
    upper = np.full(n, np.inf)
    st = inp.flag("st")
    upper[st] = prev[st]
    if spec.st_policy == "exit":
        upper[st] = 0.0
    # The report excludes limit-up, limit-down and suspended stocks at the trade: a long-only book can
    # neither drop what it holds of them nor add to them, so their weight stays where it drifted.
    frozen = inp.flag("suspended") | inp.flag("limit_up") | inp.flag("limit_down")
    lower[frozen] = prev[frozen]
    upper[frozen] = prev[frozen]
    return lower, upper


def stock_bounds(
    inp: RebalanceInput, spec: EnhanceSpec, band: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band intersected with tradability, which wins where they clash: (lower, upper, pinned)."""
    bench = np.asarray(inp.bench, dtype=np.float64)
    t_lo, t_hi = trade_bounds(inp, spec)
    b_lo = np.maximum(bench - band, 0.0)
    b_hi = bench + band
    lower = np.maximum(b_lo, t_lo)
    upper = np.minimum(b_hi, t_hi)
    clash = lower > upper
    # The tradable weight nearest to the band: the trade interval lies wholly above or below it.
    nearest = np.where(t_hi < b_lo, t_hi, t_lo)
    lower[clash] = nearest[clash]
    upper[clash] = nearest[clash]
    return lower, upper, clash


def industry_matrix(industry: np.ndarray) -> sp.csr_matrix:
    """One-hot ``(m, n)`` sparse matrix of the industries present among the candidates."""
    codes, inverse = np.unique(np.asarray(industry), return_inverse=True)
    n = inverse.shape[0]
    return sp.csr_matrix((np.ones(n), (inverse, np.arange(n))), shape=(codes.shape[0], n))


def _build(
    inp: RebalanceInput,
    spec: EnhanceSpec,
    limits: Limits,
    s: np.ndarray,
    ind: sp.csr_matrix,
    expo: np.ndarray,
) -> tuple[cp.Problem, cp.Variable, np.ndarray, np.ndarray, int]:
    """The LP for one set of limits, plus the per-stock bounds used."""
    bench = np.asarray(inp.bench, dtype=np.float64)
    prev = np.asarray(inp.prev, dtype=np.float64)
    lower, upper, clash = stock_bounds(inp, spec, limits.stock_band)
    # cvxpy wants finite bounds; no weight exceeds 1 in a long-only fully invested book.
    upper_f = np.minimum(upper, 1.0)
    lower_f = np.minimum(lower, upper_f)
    w = cp.Variable(bench.shape[0], bounds=[lower_f, upper_f])
    active = w - bench
    cons = [cp.sum(w) == 1]
    members = bench > 0
    if limits.constituent > 0 and members.any():
        cons.append(cp.sum(w[np.flatnonzero(members)]) >= limits.constituent)
    if math.isfinite(limits.style) and expo.shape[0] > 0:
        cons.append(cp.abs(expo @ active) <= limits.style)
    if math.isfinite(limits.industry) and ind.shape[0] > 0:
        cons.append(cp.abs(ind @ active) <= limits.industry)
    if math.isfinite(limits.turnover):
        cons.append(cp.norm1(w - prev) <= limits.turnover)
    objective = s @ w
    if spec.active_penalty > 0:
        objective = objective - spec.active_penalty * cp.norm1(active)
    return cp.Problem(cp.Maximize(objective), cons), w, lower_f, upper_f, int(clash.sum())


def _solve_once(problem: cp.Problem, solvers: Sequence[str]) -> tuple[str, str, list[str]]:
    """Try each solver until one returns a definite status; (status, solver, messages)."""
    messages: list[str] = []
    for name in solvers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "solution may be inaccurate" is handled via the status
                problem.solve(solver=name)
        except cp.error.SolverError as exc:
            messages.append(f"{name}: solver error: {exc}".splitlines()[0])
            continue
        status = problem.status
        if status in (cp.OPTIMAL, cp.INFEASIBLE):
            return status, name, messages
        if status in (cp.OPTIMAL_INACCURATE, cp.INFEASIBLE_INACCURATE):
            messages.append(f"{name}: {status}, trying the next solver")
            continue
        messages.append(f"{name}: status {status}")
    return "failed", "", messages


def solve_rebalance(inp: RebalanceInput, spec: EnhanceSpec) -> RebalanceResult:
    """Solve one rebalance, walking the spec's relaxation ladder while the week is infeasible."""
    n = np.asarray(inp.symbols).shape[0]
    for name in ("score", "bench", "prev", "industry"):
        if np.asarray(getattr(inp, name)).shape != (n,):
            raise EvaluationError(
                f"rebalance input {name!r} has shape {np.shape(getattr(inp, name))}, want ({n},)"
            )
    expo = np.nan_to_num(np.asarray(inp.exposures, dtype=np.float64).reshape(-1, n), nan=0.0)
    if spec.styles and inp.style_names:
        missing = [s for s in spec.styles if s not in inp.style_names]
        if missing:
            raise EvaluationError(
                f"enhance.styles names {missing} but the exposures have {list(inp.style_names)}"
            )
        expo = expo[[inp.style_names.index(s) for s in spec.styles]]
    s = zscore(np.asarray(inp.score, dtype=np.float64))
    ind = industry_matrix(inp.industry)
    solvers = (spec.solver, *[f for f in spec.fallback_solvers if f != spec.solver])
    messages: list[str] = []
    start = time.perf_counter()

    def attempt(steps: Sequence[str]):
        limits = Limits.from_steps(spec, steps, initial=inp.initial)
        problem, w, lower, upper, n_pinned = _build(inp, spec, limits, s, ind, expo)
        status, solver, msgs = _solve_once(problem, solvers)
        messages.extend(msgs)
        weights = None
        if status == cp.OPTIMAL:
            weights = np.clip(np.asarray(w.value, dtype=np.float64), lower, upper)
        return status, (weights, limits, lower, upper, n_pinned, solver)

    steps: list[str] = []
    status, found = attempt(steps)
    ladder = list(spec.relax_order)
    while status == cp.INFEASIBLE and ladder:
        steps.append(ladder.pop(0))
        status, found = attempt(steps)
    if status == cp.OPTIMAL and len(steps) > 1:
        # Undo the steps the week did not need (latest first, so a step a later one subsumes goes too).
        for j in range(len(steps) - 2, -1, -1):
            fewer = steps[:j] + steps[j + 1 :]
            status_j, found_j = attempt(fewer)
            if status_j == cp.OPTIMAL:
                steps, found = fewer, found_j
        status = cp.OPTIMAL
    weights, limits, lower, upper, n_pinned, solver = found
    if status == cp.OPTIMAL:
        outcome = STATUS_RELAXED if steps else STATUS_OPTIMAL
    else:  # numerical failure, or infeasible with every relaxation spent: keep the book as it is
        reason = "infeasible after every relaxation" if status == cp.INFEASIBLE else "every solver failed"
        messages.append(f"{reason}: no trade, drifted weights kept")
        outcome, weights = STATUS_HOLD, np.asarray(inp.prev, dtype=np.float64).copy()
    return RebalanceResult(
        weights=weights,
        status=outcome,
        limits=limits,
        lower=lower,
        upper=upper,
        relaxed=tuple(steps),
        solver=solver,
        solve_seconds=time.perf_counter() - start,
        n_pinned=n_pinned,
        messages=messages,
    )
